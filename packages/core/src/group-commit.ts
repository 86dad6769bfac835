/**
 * Group commit for a capture store: appends that arrive close together are written in one
 * transaction, one sync to disk, instead of one each. A gateway sends one capture per LLM
 * request; written one by one, each waits for its own fsync (about 1 ms), and the disk, not the
 * CPU, bounds how many are taken each second.
 *
 * The first append after a quiet moment schedules a write for the next turn of the event loop;
 * the appends that arrive before it runs (the requests read meanwhile, among them those that
 * waited while the last write held the thread) join it. Every caller is answered only once its
 * own captures are durable, with its own records, in its own order.
 */
import type { AppendedRecord, CaptureStore, NewCapture } from './store/types.ts';

export interface GroupCommitOptions {
  /** Most captures in one transaction; the rest wait for the next. Default 1,000. */
  maxCaptures?: number;
  /** Runs the write later: after the callbacks of the current turn. Default setImmediate, or setTimeout 0. */
  schedule?: (write: () => void) => void;
}

interface Waiting {
  captures: NewCapture[];
  resolve(records: AppendedRecord[]): void;
  reject(error: unknown): void;
}

const immediate = (globalThis as { setImmediate?: (fn: () => void) => void }).setImmediate;
// Called on the global object: workerd's setImmediate refuses any other `this`.
const nextTurn: (write: () => void) => void = immediate
  ? (write) => immediate.call(globalThis, write)
  : (write) => setTimeout(write, 0);

export class GroupCommit {
  readonly #store: Pick<CaptureStore, 'append'>;
  readonly #maxCaptures: number;
  readonly #schedule: (write: () => void) => void;
  #waiting: Waiting[] = [];
  #scheduled = false;
  /** Transactions written and captures in them, for the curious (benchmarks, metrics). */
  readonly stats = { transactions: 0, captures: 0 };

  constructor(store: Pick<CaptureStore, 'append'>, options: GroupCommitOptions = {}) {
    this.#store = store;
    this.#maxCaptures = options.maxCaptures ?? 1000;
    this.#schedule = options.schedule ?? nextTurn;
  }

  /** Stores `captures` as CaptureStore.append does, sharing a transaction with its neighbours. */
  append(captures: NewCapture[]): Promise<AppendedRecord[]> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ captures, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        this.#schedule(() => void this.#write());
      }
    });
  }

  async #write(): Promise<void> {
    // Whole appends, up to maxCaptures (an append larger than that goes alone).
    let count = 0;
    let taken = 0;
    while (taken < this.#waiting.length) {
      const next = this.#waiting[taken]!.captures.length;
      if (taken > 0 && count + next > this.#maxCaptures) break;
      count += next;
      taken++;
    }
    const group = this.#waiting.splice(0, taken);
    try {
      const records = await this.#store.append(group.flatMap((waiting) => waiting.captures));
      this.stats.transactions++;
      this.stats.captures += records.length;
      let at = 0;
      for (const waiting of group) {
        waiting.resolve(records.slice(at, at + waiting.captures.length));
        at += waiting.captures.length;
      }
    } catch {
      // Whose captures failed is not known: each append is tried alone, and fails alone.
      for (const waiting of group) {
        try {
          waiting.resolve(await this.#store.append(waiting.captures));
        } catch (error) {
          waiting.reject(error);
        }
      }
    } finally {
      this.#scheduled = this.#waiting.length > 0;
      if (this.#scheduled) this.#schedule(() => void this.#write());
    }
  }
}
