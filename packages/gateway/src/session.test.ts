import { describe, expect, it } from 'vitest';
import { SessionTracker } from './session.ts';

describe('SessionTracker', () => {
  it('keeps a login’s requests to a model in one session while they come within the idle window', () => {
    const sessions = new SessionTracker(() => 60_000);
    const a = sessions.sessionFor('alice', 'gpt-4o', 0);
    expect(sessions.sessionFor('alice', 'gpt-4o', 59_000)).toBe(a);
    expect(sessions.sessionFor('alice', 'gpt-4o', 118_000)).toBe(a); // each request extends it
    expect(sessions.sessionFor('alice', 'claude', 118_000)).not.toBe(a);
    expect(sessions.sessionFor('bob', 'gpt-4o', 118_000)).not.toBe(a);
    expect(sessions.sessionFor('alice', 'gpt-4o', 178_001)).not.toBe(a);
  });
});
