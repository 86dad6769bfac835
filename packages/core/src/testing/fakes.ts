/** Fakes for tests of the exporter's own logic: a clock to advance by hand, an object store in memory. */
import type { ObjectInfo, PutObjectOptions } from '@aperture-export/s3';
import { S3Error } from '@aperture-export/s3';
import type { Clock, ObjectStore } from '../index.ts';

export class FakeClock implements Clock {
  #now: number;
  #timers: Array<{ at: number; fn: () => void; id: number }> = [];
  #nextId = 1;

  constructor(start = Date.UTC(2026, 10, 28, 12, 0, 0)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.push({ at: this.#now + ms, fn, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((timer) => timer.id !== handle);
  }

  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Moves time on, firing due timers in order and letting their promises settle. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((timer) => timer !== due);
      this.#now = due.at;
      due.fn();
      await settle();
    }
    this.#now = until;
    await settle();
  }
}

/** Lets pending promise chains run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

interface StoredObject {
  body: Uint8Array;
  metadata: Record<string, string>;
}

export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, StoredObject>();
  readonly calls: string[] = [];
  /** Errors to throw from the next calls, in order. */
  readonly failures: S3Error[] = [];
  /** Throw this after a PUT was stored (a crash or lost reply after the upload). */
  failAfterPut: Error | undefined;

  async putObject(key: string, body: Uint8Array, options: PutObjectOptions = {}): Promise<unknown> {
    this.calls.push(`PUT ${key}`);
    const failure = this.failures.shift();
    if (failure) throw failure;
    if (options.createOnly && this.objects.has(key)) {
      throw new S3Error({
        status: 412,
        code: 'PreconditionFailed',
        message: 'exists',
        operation: `PutObject ${key}`,
      });
    }
    this.objects.set(key, { body: body.slice(), metadata: { ...options.metadata } });
    if (this.failAfterPut) {
      const error = this.failAfterPut;
      this.failAfterPut = undefined;
      throw error;
    }
    return {};
  }

  async getObject(key: string): Promise<Uint8Array> {
    this.calls.push(`GET ${key}`);
    const object = this.objects.get(key);
    if (!object) throw new S3Error({ status: 404, code: 'NoSuchKey', message: 'no such key' });
    return object.body.slice();
  }

  /** Keeps no metadata, as some providers may not. */
  dropMetadata = false;

  async headObject(key: string): Promise<ObjectInfo | undefined> {
    this.calls.push(`HEAD ${key}`);
    const object = this.objects.get(key);
    if (!object) return undefined;
    return {
      key,
      size: object.body.byteLength,
      etag: undefined,
      lastModified: undefined,
      metadata: this.dropMetadata ? {} : object.metadata,
    };
  }
}

export const accessDenied = () =>
  new S3Error({
    status: 403,
    code: 'AccessDenied',
    message: 'Access Denied',
    operation: 'PutObject k',
  });
