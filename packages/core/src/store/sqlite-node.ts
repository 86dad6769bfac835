/**
 * The SQLite store on Node, through the first binding that works on the running Node:
 *
 * 1. better-sqlite3, when its native addon is built for this Node. `pnpm install` compiles it
 *    for the Node that runs the install, and it is the binding every Node 20 needs (Node 20 has
 *    no node:sqlite) and the one the benchmarks measure.
 * 2. node:sqlite, built in from Node 22.13: nothing to compile, so Node 24 runs from an install
 *    made with Node 20 (whose addon Node 24 cannot load: another NODE_MODULE_VERSION). Node 24
 *    loads it without an ExperimentalWarning; Node 22 prints one, once.
 *
 * Each binding is tried by opening an in-memory database, once per process.
 */
import { type SqliteDriver, SqliteStore } from './sqlite.ts';
import { openBetterSqlite } from './sqlite-better-sqlite3.ts';
import { openNodeSqlite } from './sqlite-node-sqlite.ts';

export interface SqliteBinding {
  name: string;
  /** Opens (creating if needed) a SQLite file, or ':memory:'. */
  open(path: string): SqliteDriver;
}

/** Node's bindings, in the order they are tried. */
export const NODE_SQLITE_BINDINGS: readonly SqliteBinding[] = [
  { name: 'better-sqlite3', open: openBetterSqlite },
  { name: 'node:sqlite', open: openNodeSqlite },
];

/** The first of `bindings` that opens a database here; if none does, an error with each one's. */
export function firstWorkingBinding(bindings: readonly SqliteBinding[]): SqliteBinding {
  const errors: unknown[] = [];
  for (const binding of bindings) {
    try {
      binding.open(':memory:').close();
      return binding;
    } catch (error) {
      errors.push(error);
    }
  }
  throw new AggregateError(
    errors,
    `sqlite-node: no SQLite binding works on Node ${process.versions.node}: ${bindings
      .map((binding, i) => `${binding.name}: ${(errors[i] as Error).message}`)
      .join('; ')}`,
  );
}

let chosen: SqliteBinding | undefined;

/** The binding this process's stores open through, chosen on first use. */
export function nodeSqliteBinding(): SqliteBinding {
  chosen ??= firstWorkingBinding(NODE_SQLITE_BINDINGS);
  return chosen;
}

/** Opens (creating if needed) the store in a SQLite file. */
export function openSqliteStore(path: string): SqliteStore {
  return new SqliteStore(nodeSqliteBinding().open(path));
}
