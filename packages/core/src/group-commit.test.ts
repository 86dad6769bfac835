import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.ts';
import { MemoryStore } from './store/memory.ts';
import { openSqliteStore } from './store/sqlite-node.ts';
import type { NewCapture } from './store/types.ts';
import { captures } from './testing/store-conformance.ts';

/** A memory store that counts its transactions, and fails one holding a poisoned capture. */
function countingStore() {
  const store = new MemoryStore();
  const transactions: number[] = [];
  const append = store.append.bind(store);
  store.append = async (batch: NewCapture[]) => {
    if (batch.some((capture) => capture.model === 'poison')) throw new Error('disk says no');
    transactions.push(batch.length);
    return append(batch);
  };
  return { store, transactions };
}

describe('GroupCommit', () => {
  it('writes appends made in one turn in one transaction, each answered with its own records', async () => {
    const { store, transactions } = countingStore();
    const group = new GroupCommit(store);
    const all = captures(10);
    const answers = await Promise.all([
      group.append(all.slice(0, 1)),
      group.append(all.slice(1, 4)),
      group.append(all.slice(4, 10)),
    ]);
    expect(transactions).toEqual([10]);
    expect(answers.map((records) => records.map((r) => r.id))).toEqual([
      [1],
      [2, 3, 4],
      [5, 6, 7, 8, 9, 10],
    ]);
    expect(answers[1]![0]!.capture_id).toBe(all[1]!.capture_id);
  });

  it('writes appends that arrive during a write in the next one, and no more than maxCaptures at once', async () => {
    const { store, transactions } = countingStore();
    const group = new GroupCommit(store, { maxCaptures: 4 });
    const all = captures(12);
    const first = group.append(all.slice(0, 2));
    const second = group.append(all.slice(2, 5)); // 2 + 3 > 4: the next transaction
    await first;
    const third = group.append(all.slice(5, 12)); // larger than maxCaptures: alone
    await Promise.all([second, third]);
    expect(transactions).toEqual([2, 3, 7]);
    expect((await store.counts()).records).toBe(12);
  });

  it('when a transaction fails, tries each append alone: only the one at fault fails', async () => {
    const { store } = countingStore();
    const group = new GroupCommit(store);
    const [a, b] = captures(2);
    const results = await Promise.allSettled([
      group.append([a!]),
      group.append([{ ...b!, model: 'poison' }]),
      group.append([b!]),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ message: 'disk says no' });
    expect((await store.counts()).records).toBe(2);
  });

  it('on SQLite, answers only what is committed: a reopened store has every answered capture', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
    try {
      const path = join(dir, 'store.sqlite');
      const store = openSqliteStore(path);
      const group = new GroupCommit(store);
      const all = captures(200);
      const answered = await Promise.all(all.map((capture) => group.append([capture])));
      expect(group.stats).toEqual({ transactions: 1, captures: 200 });
      expect(answered.flat().map((r) => r.id)).toEqual(all.map((_, i) => i + 1));
      await store.close();
      const reopened = openSqliteStore(path);
      expect((await reopened.counts()).records).toBe(200);
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
