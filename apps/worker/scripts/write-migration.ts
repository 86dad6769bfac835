/**
 * Writes migrations/0001_init.sql from D1_SCHEMA (core's D1 store), so that what `wrangler d1
 * migrations apply` creates is what the store expects. test/migrations.test.ts checks they agree.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { D1_SCHEMA } from '@aperture-export/core/d1';

export const MIGRATION = fileURLToPath(new URL('../migrations/0001_init.sql', import.meta.url));

export const migrationText = () =>
  `-- The capture store's schema (D1_SCHEMA in packages/core/src/store/d1.ts):\n-- regenerate with \`node --import tsx scripts/write-migration.ts\`.\n${D1_SCHEMA.map((statement) => `${statement};\n`).join('')}`;

if (process.argv[1] === fileURLToPath(import.meta.url)) writeFileSync(MIGRATION, migrationText());
