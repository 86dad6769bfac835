/** The SQLite store on Bun, through bun:sqlite. */
// @ts-expect-error: bun:sqlite exists only on Bun; this adapter is loaded only there.
import { Database } from 'bun:sqlite';
import { type SqliteDriver, SqliteStore, type SqlValue } from './sqlite.ts';

interface BunStatement {
  run(...params: SqlValue[]): { changes: number };
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
}
interface BunDatabase {
  query(sql: string): BunStatement;
  exec(sql: string): void;
  transaction<T>(fn: () => T): { immediate(): T };
  close(): void;
}

export function bunSqliteDriver(db: BunDatabase): SqliteDriver {
  return {
    name: 'bun:sqlite',
    exec: (sql) => db.exec(sql),
    // query() caches the prepared statement per SQL text.
    run: (sql, params = []) => ({ changes: db.query(sql).run(...params).changes }),
    get: <T>(sql: string, params: SqlValue[] = []) =>
      (db.query(sql).get(...params) ?? undefined) as T | undefined,
    all: <T>(sql: string, params: SqlValue[] = []) => db.query(sql).all(...params) as T[],
    transaction: (fn) => db.transaction(fn).immediate(),
    close: () => db.close(),
  };
}

export function openSqliteStore(path: string): SqliteStore {
  return new SqliteStore(bunSqliteDriver(new Database(path, { create: true }) as BunDatabase));
}
