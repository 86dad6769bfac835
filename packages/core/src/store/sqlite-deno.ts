/** The SQLite store on Deno, through node:sqlite (DatabaseSync). */
// @ts-expect-error: node:sqlite is not in @types/node 20; this adapter runs on Deno (and Node >= 22.5).
import { DatabaseSync } from 'node:sqlite';
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

export function nodeSqliteDriver(db: Database): SqliteDriver {
  const statement = statementCache((sql) => db.prepare(sql));
  return {
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

export function openSqliteStore(path: string): SqliteStore {
  return new SqliteStore(nodeSqliteDriver(new DatabaseSync(path) as Database));
}
