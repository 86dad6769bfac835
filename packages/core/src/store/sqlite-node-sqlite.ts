/**
 * The node:sqlite binding (DatabaseSync): Deno's, and Node's from 22.13 on where better-sqlite3
 * is not built for the running Node (sqlite-node.ts decides). Looked up at run time, not
 * imported: Node 20 has no node:sqlite, and its host loads this file too.
 */
import { type SqliteDriver, SqliteStore, type SqlValue, statementCache } from './sqlite.ts';

interface Statement {
  run(...params: SqlValue[]): { changes: number | bigint };
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
}
interface Database {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  close(): void;
}
type DatabaseSync = new (path: string) => Database;

/** node:sqlite's DatabaseSync, or undefined on a runtime without it (Node < 22.13). */
function databaseSync(): DatabaseSync | undefined {
  const { process } = globalThis as {
    process?: { getBuiltinModule?(id: string): { DatabaseSync?: DatabaseSync } | undefined };
  };
  return process?.getBuiltinModule?.('node:sqlite')?.DatabaseSync;
}

export function nodeSqliteDriver(db: Database): SqliteDriver {
  const statement = statementCache((sql) => db.prepare(sql));
  return {
    name: 'node:sqlite',
    exec: (sql) => db.exec(sql),
    run: (sql, params = []) => ({ changes: Number(statement(sql).run(...params).changes) }),
    get: <T>(sql: string, params: SqlValue[] = []) =>
      statement(sql).get(...params) as T | undefined,
    all: <T>(sql: string, params: SqlValue[] = []) => statement(sql).all(...params) as T[],
    transaction<T>(fn: () => T): T {
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = fn();
        db.exec('COMMIT');
        return result;
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    },
    close: () => db.close(),
  };
}

/** Opens (creating if needed) a SQLite file; throws on a runtime without node:sqlite. */
export function openNodeSqlite(path: string): SqliteDriver {
  const DatabaseSync = databaseSync();
  if (!DatabaseSync)
    throw new Error('node:sqlite: not on this runtime (Node >= 22.13 and Deno have it)');
  return nodeSqliteDriver(new DatabaseSync(path));
}

/** The store on Deno. */
export function openSqliteStore(path: string): SqliteStore {
  return new SqliteStore(openNodeSqlite(path));
}
