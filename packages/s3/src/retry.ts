/**
 * Retries with exponential backoff and full jitter: before attempt n+1 wait a random time in
 * [0, min(maxDelayMs, baseDelayMs * 2^n)]. Only retryable S3 errors are retried.
 */
import { S3Error } from './errors.ts';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
};

export interface RetryEnvironment {
  random: () => number;
  sleep: (ms: number) => Promise<void>;
}

export const realRetryEnvironment: RetryEnvironment = {
  random: Math.random,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The backoff before the attempt that follows `failedAttempts` failures. */
export function backoffMs(
  policy: RetryPolicy,
  failedAttempts: number,
  random: () => number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedAttempts - 1));
  return Math.floor(random() * ceiling);
}

export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  policy: RetryPolicy,
  environment: RetryEnvironment = realRetryEnvironment,
): Promise<T> {
  for (let attemptNumber = 1; ; attemptNumber++) {
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      const retryable = error instanceof S3Error && error.retryable;
      if (!retryable || attemptNumber >= policy.maxAttempts) throw error;
      await environment.sleep(backoffMs(policy, attemptNumber, environment.random));
    }
  }
}
