/**
 * The better-sqlite3 binding (12.x: 13 needs Node 22), Node's where its native addon is built
 * for the running Node (sqlite-node.ts decides). Importing it loads no addon: better-sqlite3
 * loads that when the first database opens.
 */
import Database from 'better-sqlite3';
import type { SqliteDriver, SqlValue } from './sqlite.ts';
import { statementCache } from './sqlite.ts';

/** better-sqlite3 binds Buffers, not plain Uint8Arrays, as BLOBs. */
const bindable = (params: SqlValue[]) =>
  params.map((value) =>
    value instanceof Uint8Array
      ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
      : value,
  );

export function betterSqliteDriver(db: Database.Database): SqliteDriver {
  const statement = statementCache((sql) => db.prepare(sql));
  return {
    name: 'better-sqlite3',
    exec: (sql) => void db.exec(sql),
    run: (sql, params = []) => ({ changes: statement(sql).run(...bindable(params)).changes }),
    get: <T>(sql: string, params: SqlValue[] = []) =>
      statement(sql).get(...bindable(params)) as T | undefined,
    all: <T>(sql: string, params: SqlValue[] = []) =>
      statement(sql).all(...bindable(params)) as T[],
    transaction: (fn) => db.transaction(fn).immediate(),
    close: () => db.close(),
  };
}

/** Opens (creating if needed) a SQLite file; throws if the addon is not built for this Node. */
export const openBetterSqlite = (path: string): SqliteDriver =>
  betterSqliteDriver(new Database(path));
