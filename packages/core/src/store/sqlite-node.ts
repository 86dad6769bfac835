/** The SQLite store on Node, through better-sqlite3 (12.x: 13 needs Node 22). */
import Database from 'better-sqlite3';
import { type SqliteDriver, SqliteStore, type SqlValue, statementCache } from './sqlite.ts';

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

/** Opens (creating if needed) the store in a SQLite file. */
export function openSqliteStore(path: string): SqliteStore {
  return new SqliteStore(betterSqliteDriver(new Database(path)));
}
