/**
 * Faults on demand, for reliability tests: S3 errors, delays, dropped connections and requests
 * that never get an answer, on the Nth matching request, the first N, or at a seeded rate.
 */
import { seededRandom } from '@aperture-export/codec/testing';

export type Fault =
  | { kind: 'error'; status: number; code: string; message?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' }
  | { kind: 'hang' };

export interface FaultRule {
  fault: Fault;
  /** Only requests with these methods count (e.g. ['PUT']); all when unset. */
  methods?: string[];
  /** The 1-based positions, among matching requests since the rule was added, that fail. */
  nth?: number[];
  /** The first N matching requests fail. */
  first?: number;
  /** Each matching request fails with this probability (seeded, so runs repeat). */
  rate?: number;
}

/** Ready-made S3 errors. */
export const S3_FAULTS = {
  slowDown: {
    kind: 'error',
    status: 503,
    code: 'SlowDown',
    message: 'Please reduce your request rate.',
  },
  internalError: {
    kind: 'error',
    status: 500,
    code: 'InternalError',
    message: 'We encountered an internal error. Please try again.',
  },
  serviceUnavailable: {
    kind: 'error',
    status: 503,
    code: 'ServiceUnavailable',
    message: 'Service is unable to handle request.',
  },
  accessDenied: { kind: 'error', status: 403, code: 'AccessDenied', message: 'Access Denied' },
} as const satisfies Record<string, Fault>;

export class FaultInjector {
  #rules: Array<{ rule: FaultRule; seen: number }> = [];
  #random: () => number;

  constructor(seed = 1) {
    this.#random = seededRandom(seed);
  }

  add(rule: FaultRule): void {
    this.#rules.push({ rule, seen: 0 });
  }

  clear(): void {
    this.#rules = [];
  }

  /** The fault for this request, if a rule fires; the first rule that fires wins. */
  next(method: string): Fault | undefined {
    let chosen: Fault | undefined;
    for (const entry of this.#rules) {
      const { rule } = entry;
      if (rule.methods && !rule.methods.includes(method)) continue;
      entry.seen++;
      const fires =
        rule.nth !== undefined
          ? rule.nth.includes(entry.seen)
          : rule.first !== undefined
            ? entry.seen <= rule.first
            : rule.rate !== undefined
              ? this.#random() < rule.rate
              : true;
      if (fires && !chosen) chosen = rule.fault;
    }
    return chosen;
  }
}
