/**
 * One behaviour suite that every capture store passes: memory and SQLite on Node (vitest),
 * SQLite on Bun and Deno (runtime-tests/). Later stores (D1, PostgreSQL) run it too.
 */
import assert from 'node:assert/strict';
import { decodeRecords, type ExportRecord, encodeRecord } from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import type { CaptureStore, ClaimRequest, NewCapture } from '../store/types.ts';

type Test = (name: string, fn: () => Promise<void>) => void;

export interface StoreFactory {
  open(): Promise<CaptureStore>;
  /** Opens the same store again (persistent stores only). */
  reopen?(): Promise<CaptureStore>;
}

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

export function captures(count: number, seed = 1): NewCapture[] {
  return makeRecords(count, seed).map(({ id: _, ...capture }) => capture);
}

const DESTINATION = { endpoint: 'https://s3.example.test', bucket: 'exports', prefix: 'prod' };

const request = (overrides: Partial<ClaimRequest> = {}): ClaimRequest => ({
  owner: 'exporter-a',
  destination: DESTINATION,
  limit: 1000,
  maxBytes: 64 * 1024 * 1024,
  nowMs: T0,
  leaseMs: 60_000,
  ...overrides,
});

async function content(store: CaptureStore, claim: Parameters<CaptureStore['claimRecords']>[0]) {
  const parts: Uint8Array[] = [];
  for await (const cbor of store.claimRecords(claim)) parts.push(cbor.slice());
  return parts.flatMap((part) => decodeRecords(part));
}

const stripDuplicate = ({ duplicate: _, ...record }: ExportRecord & { duplicate?: true }) => record;

export function captureStoreSuite(test: Test, factory: StoreFactory): void {
  const withStore = (fn: (store: CaptureStore) => Promise<void>) => async () => {
    const store = await factory.open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };

  test(
    'assigns increasing ids and keeps every field',
    withStore(async (store) => {
      const first = await store.append(captures(3));
      const second = await store.append(captures(2, 2));
      assert.deepEqual(
        [...first, ...second].map((r) => r.id),
        [1, 2, 3, 4, 5],
      );
      const recent = await store.recent({ limit: 10 });
      assert.deepEqual(
        recent.map((r) => r.id),
        [5, 4, 3, 2, 1],
      );
      assert.deepEqual(recent.at(-1), first[0]);
    }),
  );

  test(
    'stores each capture_id once: sent again, in one call or later, it gets the id it has',
    withStore(async (store) => {
      const [a, b] = captures(2);
      const [c] = captures(1, 2);
      const first = await store.append([a!, b!]);
      assert.deepEqual(
        first.map((r) => [r.id, r.duplicate]),
        [
          [1, undefined],
          [2, undefined],
        ],
      );
      // A retry of b (after a lost reply), a new capture, and c twice in one call.
      const again = await store.append([b!, c!, { ...c!, model: 'changed' }]);
      assert.deepEqual(
        again.map((r) => [r.id, r.duplicate]),
        [
          [2, true],
          [3, undefined],
          [3, true],
        ],
      );
      // The first capture with an id wins; the stored record comes back.
      assert.deepEqual(
        { ...again[2], duplicate: undefined },
        { ...again[1], duplicate: undefined },
      );
      assert.equal(again[2]!.model, c!.model);
      assert.equal((await store.counts()).records, 3);
      // An empty capture_id names nothing: such captures are never taken for one another.
      const unnamed = await store.append([
        { ...a!, capture_id: '' },
        { ...a!, capture_id: '' },
      ]);
      assert.deepEqual(
        unnamed.map((r) => [r.id, r.duplicate]),
        [
          [4, undefined],
          [5, undefined],
        ],
      );
    }),
  );

  test(
    'pages and filters recent records by model and login',
    withStore(async (store) => {
      const records = await store.append(captures(12));
      const model = records[1]!.model;
      const byModel = await store.recent({ limit: 50, model });
      assert.ok(byModel.length > 0 && byModel.every((r) => r.model === model));
      const login = records[2]!.identity.login_name;
      const byLogin = await store.recent({ limit: 50, loginName: login });
      assert.ok(byLogin.length > 0 && byLogin.every((r) => r.identity.login_name === login));
      const page = await store.recent({ limit: 3, beforeId: 10 });
      assert.deepEqual(
        page.map((r) => r.id),
        [9, 8, 7],
      );
    }),
  );

  test(
    'filters recent records by API type, status class and time',
    withStore(async (store) => {
      const records = await store.append(captures(40));
      const ids = (list: ExportRecord[]) => list.map((r) => r.id);
      const newestFirst = [...records].reverse();
      const apiType = records[3]!.api_type;
      assert.deepEqual(
        ids(await store.recent({ limit: 100, apiType })),
        ids(newestFirst.filter((r) => r.api_type === apiType)),
      );
      const statusClass = Math.floor(records[4]!.status_code / 100);
      assert.deepEqual(
        ids(await store.recent({ limit: 100, statusClass })),
        ids(newestFirst.filter((r) => Math.floor(r.status_code / 100) === statusClass)),
      );
      const sinceMs = records[10]!.timestamp.getTime();
      const untilMs = records[20]!.timestamp.getTime();
      assert.deepEqual(
        ids(await store.recent({ limit: 100, sinceMs, untilMs })),
        ids(
          newestFirst.filter(
            (r) => r.timestamp.getTime() >= sinceMs && r.timestamp.getTime() < untilMs,
          ),
        ),
      );
    }),
  );

  test(
    'reads one record by id, with what became of its content and its export',
    withStore(async (store) => {
      const records = await store.append(captures(3));
      const first = await store.record(records[0]!.id);
      assert.deepEqual(first, { record: stripDuplicate(records[0]!), contentPurged: false });
      assert.equal(await store.record(999), undefined);
      const claim = (await store.claimNext(request({ limit: 1 })))!;
      await store.completeClaim(claim, T0 + 5, 1234);
      const exported = (await store.record(records[0]!.id))!;
      assert.deepEqual([exported.exportKey, exported.exportedAtMs], [claim.objectKey, T0 + 5]);
      await store.purgeContent({ olderThanMs: Number.MAX_SAFE_INTEGER, requireExported: false });
      const purged = (await store.record(records[1]!.id))!;
      assert.equal(purged.contentPurged, true);
      assert.equal(purged.record.capture, undefined);
      assert.deepEqual(purged.record.usage, records[1]!.usage);
    }),
  );

  test(
    'adds up usage per time bucket and model or login, matching the summary',
    withStore(async (store) => {
      const records = await store.append(captures(30));
      const times = records.map((r) => r.timestamp.getTime());
      const sinceMs = Math.min(...times);
      const untilMs = Math.max(...times); // the newest record is left out
      const bucketMs = Math.max(1, Math.ceil((untilMs - sinceMs) / 4));
      const summary = await store.usageSummary(sinceMs, untilMs);
      for (const groupBy of ['model', 'login'] as const) {
        const points = await store.usageSeries({ sinceMs, untilMs, bucketMs, groupBy });
        const totals = groupBy === 'model' ? summary.byModel : summary.byLogin;
        for (const group of totals) {
          const mine = points.filter((p) => p.key === group.key);
          assert.equal(
            mine.reduce((n, p) => n + p.requests, 0),
            group.requests,
          );
          assert.equal(
            mine.reduce((n, p) => n + p.output_tokens, 0),
            group.output_tokens,
          );
        }
        for (const point of points) {
          assert.equal((point.bucketStartMs - sinceMs) % bucketMs, 0);
          const inBucket = records.filter(
            (r) =>
              r.timestamp.getTime() >= point.bucketStartMs &&
              r.timestamp.getTime() < Math.min(point.bucketStartMs + bucketMs, untilMs) &&
              (groupBy === 'model' ? r.model : r.identity.login_name) === point.key,
          );
          assert.equal(point.requests, inBucket.length);
        }
        const order = points.map((p) => p.bucketStartMs);
        assert.deepEqual(
          order,
          [...order].sort((a, b) => a - b),
        );
      }
      const all = await store.usageSummary(sinceMs);
      assert.equal(
        all.byModel.reduce((n, g) => n + g.requests, 0),
        30,
      );
    }),
  );

  test(
    'names every model and login once, sorted, for filters',
    withStore(async (store) => {
      assert.deepEqual(await store.filterValues(), { models: [], logins: [] });
      const records = await store.append(captures(12));
      const sorted = (values: string[]) =>
        [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      assert.deepEqual(await store.filterValues(), {
        models: sorted(records.map((r) => r.model)),
        logins: sorted(records.map((r) => r.identity.login_name)),
      });
    }),
  );

  test(
    'lists the files exported, newest first',
    withStore(async (store) => {
      await store.append(captures(5));
      assert.deepEqual(await store.recentFiles(10), []);
      const first = (await store.claimNext(request({ limit: 2 })))!;
      await store.completeClaim(first, T0 + 1, 100);
      const second = (await store.claimNext(request({ limit: 3 })))!;
      await store.completeClaim(second, T0 + 2, 200);
      await store.completeClaim(second, T0 + 3, 200); // completed already: no second row
      assert.deepEqual(await store.recentFiles(10), [
        {
          objectKey: second.objectKey,
          endpoint: DESTINATION.endpoint,
          bucket: DESTINATION.bucket,
          records: 3,
          bytes: 200,
          cborBytes: second.cborBytes,
          exportedAtMs: T0 + 2,
        },
        {
          objectKey: first.objectKey,
          endpoint: DESTINATION.endpoint,
          bucket: DESTINATION.bucket,
          records: 2,
          bytes: 100,
          cborBytes: first.cborBytes,
          exportedAtMs: T0 + 1,
        },
      ]);
      assert.equal((await store.recentFiles(1)).length, 1);
    }),
  );

  test(
    'claims files of at most `limit` records and `maxBytes` bytes, in id order, without overlap',
    withStore(async (store) => {
      await store.append(captures(10));
      const a = (await store.claimNext(request({ limit: 4 })))!;
      const b = (await store.claimNext(request({ limit: 4 })))!;
      assert.deepEqual([a.firstId, a.lastId, a.recordCount, b.firstId, b.lastId], [1, 4, 4, 5, 8]);
      const parts = await content(store, a);
      assert.deepEqual(
        parts.map((r) => r.id),
        [1, 2, 3, 4],
      );
      assert.equal(
        a.cborBytes,
        parts.reduce((sum, r) => sum + encodeRecord(r).byteLength, 0),
      );
      const small = (await store.claimNext(request({ maxBytes: 1 })))!;
      assert.equal(small.recordCount, 1, 'a record larger than the budget still gets a file');
      const last = (await store.claimNext(request()))!;
      assert.deepEqual([last.firstId, last.lastId], [10, 10]);
      assert.equal(await store.claimNext(request()), undefined);
    }),
  );

  test(
    'gives every claim its own key: increasing seconds, under the prefix',
    withStore(async (store) => {
      await store.append(captures(5));
      const keys: string[] = [];
      for (let i = 0; i < 5; i++)
        keys.push((await store.claimNext(request({ limit: 1 })))!.objectKey);
      const seconds = Math.floor(T0 / 1000);
      assert.deepEqual(
        keys,
        [0, 1, 2, 3, 4].map((i) => `prod/ts-aperture-export-${seconds + i}.cbor.zstd`),
      );
      await store.append(captures(1, 2));
      const noPrefix = (await store.claimNext(
        request({ destination: { ...DESTINATION, prefix: '' }, nowMs: T0 + 60_000 }),
      ))!;
      assert.equal(noPrefix.objectKey, `ts-aperture-export-${seconds + 60}.cbor.zstd`);
    }),
  );

  test(
    'marks a completed claim exported, once',
    withStore(async (store) => {
      await store.append(captures(6));
      const claim = (await store.claimNext(request({ limit: 4 })))!;
      await store.completeClaim(claim, T0 + 1000, 12345);
      await store.completeClaim(claim, T0 + 2000, 12345);
      const counts = await store.counts();
      assert.deepEqual([counts.records, counts.exportedRecords, counts.pendingRecords], [6, 4, 2]);
      assert.deepEqual(await store.exportTotals(), {
        files: 1,
        records: 4,
        bytes: 12345,
        cborBytes: claim.cborBytes,
      });
      const next = (await store.claimNext(request()))!;
      assert.deepEqual([next.firstId, next.lastId], [5, 6]);
    }),
  );

  test(
    'hands claims back for resumption: its own, and others’ once their lease ran out',
    withStore(async (store) => {
      await store.append(captures(3));
      const mine = (await store.claimNext(request({ limit: 1, owner: 'a' })))!;
      const theirs = (await store.claimNext(request({ limit: 1, owner: 'b', leaseMs: 10_000 })))!;
      assert.deepEqual(
        (await store.resumableClaims('a', T0)).map((c) => c.claimId),
        [mine.claimId],
      );
      assert.equal(await store.leaseClaim(theirs.claimId, 'a', T0, 60_000), undefined);
      assert.deepEqual(
        (await store.resumableClaims('a', T0 + 10_000)).map((c) => c.claimId),
        [mine.claimId, theirs.claimId],
      );
      const taken = (await store.leaseClaim(theirs.claimId, 'a', T0 + 10_000, 60_000))!;
      assert.deepEqual(
        [taken.owner, taken.leaseUntil, taken.objectKey],
        ['a', T0 + 70_000, theirs.objectKey],
      );
    }),
  );

  test(
    're-keys a claim only from the key it still has, under its own prefix',
    withStore(async (store) => {
      await store.append(captures(1));
      const claim = (await store.claimNext(request()))!;
      const moved = (await store.rekeyClaim(claim.claimId, claim.objectKey, T0))!;
      assert.notEqual(moved.objectKey, claim.objectKey);
      assert.equal(moved.keySeconds, claim.keySeconds + 1);
      assert.deepEqual(
        [moved.endpoint, moved.bucket, moved.prefix, moved.objectKey.startsWith('prod/')],
        [DESTINATION.endpoint, DESTINATION.bucket, 'prod', true],
      );
      const stale = (await store.rekeyClaim(claim.claimId, claim.objectKey, T0))!;
      assert.equal(
        stale.objectKey,
        moved.objectKey,
        'a second re-key from the old key changes nothing',
      );
      assert.deepEqual(
        (await content(store, moved)).map((r) => r.id),
        [1],
      );
    }),
  );

  test(
    'keeps a claim at the destination it was made for',
    withStore(async (store) => {
      await store.append(captures(2));
      const a = (await store.claimNext(request({ limit: 1 })))!;
      const elsewhere = { endpoint: '', bucket: 'other', prefix: 'p/q' };
      const b = (await store.claimNext(request({ destination: elsewhere })))!;
      assert.deepEqual(
        [a.endpoint, a.bucket, a.prefix],
        [DESTINATION.endpoint, DESTINATION.bucket, DESTINATION.prefix],
      );
      assert.deepEqual(
        [b.endpoint, b.bucket, b.prefix, b.objectKey.startsWith('p/q/')],
        ['', 'other', 'p/q', true],
      );
      const listed = await store.listClaims();
      assert.deepEqual(
        listed.map((c) => [c.claimId, c.bucket]),
        [
          [a.claimId, DESTINATION.bucket],
          [b.claimId, 'other'],
        ],
      );
      const resumed = await store.resumableClaims('exporter-a', T0);
      assert.deepEqual(
        resumed.map((c) => [c.endpoint, c.bucket, c.prefix, c.objectKey]),
        [a, b].map((c) => [c.endpoint, c.bucket, c.prefix, c.objectKey]),
      );
    }),
  );

  test(
    'renews an owner’s leases while it works, and releases them when it stops',
    withStore(async (store) => {
      await store.append(captures(3));
      const mine = (await store.claimNext(request({ limit: 1, owner: 'a' })))!;
      const theirs = (await store.claimNext(request({ limit: 1, owner: 'b' })))!;
      assert.equal(await store.renewLeases('a', T0 + 50_000, 60_000), 1);
      // b's lease (60 s from T0) ran out; a's was renewed to T0 + 110 s.
      assert.deepEqual(
        (await store.resumableClaims('c', T0 + 100_000)).map((c) => c.claimId),
        [theirs.claimId],
      );
      assert.equal(await store.releaseLeases('a'), 1);
      assert.deepEqual(
        (await store.resumableClaims('c', T0 + 1)).map((c) => c.claimId),
        [mine.claimId],
      );
      assert.ok(await store.leaseClaim(mine.claimId, 'c', T0 + 1, 60_000));
    }),
  );

  test(
    'keeps a claim’s last error, and releases a claim on purpose: its records wait again',
    withStore(async (store) => {
      await store.append(captures(3));
      const claim = (await store.claimNext(request({ limit: 2 })))!;
      const error = {
        code: 'AccessDenied',
        message: 'Access Denied (HeadObject k)',
        atMs: T0,
        permission: 's3:GetObject',
      };
      await store.recordClaimError(claim.claimId, error);
      assert.deepEqual((await store.listClaims())[0]!.lastError, error);
      assert.deepEqual((await store.resumableClaims('exporter-a', T0))[0]!.lastError, error);
      const released = (await store.releaseClaim(claim.claimId))!;
      assert.deepEqual([released.claimId, released.recordCount], [claim.claimId, 2]);
      assert.equal(await store.releaseClaim(claim.claimId), undefined);
      assert.deepEqual(await store.listClaims(), []);
      assert.equal((await store.counts()).pendingRecords, 3);
      // The records go out again, in a new claim.
      const again = (await store.claimNext(request()))!;
      assert.deepEqual([again.firstId, again.lastId], [1, 3]);
      assert.notEqual(again.claimId, claim.claimId);
      assert.equal(again.lastError, undefined);
    }),
  );

  test(
    'purges content by age, keeps usage, never touches claimed records, and with require_export only exported ones',
    withStore(async (store) => {
      const records = await store.append(captures(6));
      const cutoff = records[3]!.timestamp.getTime(); // records 1-3 are older
      const claim = (await store.claimNext(request({ limit: 1 })))!; // record 1 in flight
      assert.equal(await store.purgeContent({ olderThanMs: cutoff, requireExported: true }), 0);
      assert.equal(await store.purgeContent({ olderThanMs: cutoff, requireExported: false }), 2);
      const [r3, r2] = (await store.recent({ limit: 2, beforeId: 4 })) as ExportRecord[];
      assert.equal(r2!.capture, undefined);
      assert.deepEqual(r2!.usage, records[1]!.usage);
      assert.equal(r3!.capture, undefined);
      assert.deepEqual(
        (await content(store, claim))[0],
        records[0],
        'the claimed record keeps its content',
      );
      await store.completeClaim(claim, T0, 1);
      assert.equal(await store.purgeContent({ olderThanMs: cutoff, requireExported: true }), 1);
      assert.equal((await store.counts()).contentPurged, 3);
    }),
  );

  test(
    'adds up tokens and estimated cost by model and by login, from a point in time',
    withStore(async (store) => {
      const records = await store.append(captures(20));
      const since = records[5]!.timestamp.getTime();
      const counted = records.filter((r) => r.timestamp.getTime() >= since);
      const summary = await store.usageSummary(since);
      for (const [groups, keyOf] of [
        [summary.byModel, (r: ExportRecord) => r.model],
        [summary.byLogin, (r: ExportRecord) => r.identity.login_name],
      ] as const) {
        assert.equal(
          groups.reduce((n, g) => n + g.requests, 0),
          counted.length,
        );
        for (const group of groups) {
          const mine = counted.filter((r) => keyOf(r) === group.key);
          assert.equal(group.requests, mine.length);
          assert.equal(
            group.input_tokens,
            mine.reduce((n, r) => n + r.usage.input_tokens, 0),
          );
          assert.equal(
            group.reasoning_tokens,
            mine.reduce((n, r) => n + r.usage.reasoning_tokens, 0),
          );
          const priced = mine.filter((r) => r.estimated_cost);
          assert.ok(
            Math.abs(group.cost_usd - priced.reduce((n, r) => n + r.estimated_cost!.total_usd, 0)) <
              1e-9,
          );
          assert.equal(group.unpriced_requests, mine.length - priced.length);
        }
      }
    }),
  );

  if (factory.reopen) {
    const reopen = factory.reopen;
    test('keeps records, claims, keys and totals across a restart', async () => {
      const store = await factory.open();
      await store.append(captures(4));
      const done = (await store.claimNext(request({ limit: 1 })))!;
      await store.completeClaim(done, T0, 99);
      const open = (await store.claimNext(request({ limit: 2 })))!;
      await store.close();
      const again = await reopen();
      try {
        const counts = await again.counts();
        assert.deepEqual([counts.records, counts.exportedRecords], [4, 1]);
        assert.deepEqual(
          (await again.resumableClaims('someone-else', T0 + 60_000)).map((c) => [
            c.claimId,
            c.objectKey,
            c.bucket,
            c.endpoint,
          ]),
          [[open.claimId, open.objectKey, DESTINATION.bucket, DESTINATION.endpoint]],
        );
        const next = (await again.claimNext(request()))!;
        assert.deepEqual([next.firstId, next.keySeconds], [4, open.keySeconds + 1]);
        assert.equal((await again.append(captures(1, 9)))[0]!.id, 5);
        // Capture ids stay known: a capture stored before the restart is not stored again.
        const [resent] = await again.append(captures(1));
        assert.deepEqual([resent!.id, resent!.duplicate], [1, true]);
        assert.equal((await again.exportTotals()).bytes, 99);
      } finally {
        await again.close();
      }
    });
  }
}
