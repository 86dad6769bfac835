import { test } from 'bun:test';
import { codecSmokeTests } from '@aperture-export/codec/testing/runtime-smoke';

codecSmokeTests(test);
