/**
 * Dashboard sessions: the admin token once, then a signed cookie. Stateless (an HMAC over the
 * session's expiry and id, keyed by the admin token), so any host can check it, a worker's
 * isolates included, and a new admin token ends every session. Forms and API calls made
 * with the cookie also carry a CSRF token derived from the session (the synchronizer token
 * pattern without server state); the cookie is HttpOnly and SameSite=Strict besides.
 */
import { sameText } from '@aperture-export/gateway';

export const SESSION_COOKIE = 'aperture_session';
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';
/** How long a sign-in lasts. */
export const SESSION_MS = 12 * 3_600_000;
/** How long the sign-in link printed at start works (once). */
export const SIGN_IN_CODE_MS = 3_600_000;

export interface Session {
  id: string;
  expiresMs: number;
  csrfToken: string;
}

const encoder = new TextEncoder();

function base64url(bytes: ArrayBuffer | Uint8Array): string {
  let binary = '';
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(18)));
}

export class SessionKeeper {
  readonly #key: Promise<CryptoKey>;
  readonly #now: () => number;
  /** Sessions signed out in this process, until they would have expired anyway. */
  readonly #revoked = new Map<string, number>();
  #signInCode: { code: string; expiresMs: number } | undefined;

  constructor(adminToken: string, options: { signInCode?: string; now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#key = crypto.subtle.importKey(
      'raw',
      encoder.encode(`aperture-dashboard-session:${adminToken}`),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    if (options.signInCode)
      this.#signInCode = { code: options.signInCode, expiresMs: this.#now() + SIGN_IN_CODE_MS };
  }

  async #sign(text: string): Promise<string> {
    return base64url(await crypto.subtle.sign('HMAC', await this.#key, encoder.encode(text)));
  }

  /** Takes the one-time sign-in code: true once, for the right code, before it expires. */
  useSignInCode(code: string): boolean {
    const current = this.#signInCode;
    if (!current || current.expiresMs < this.#now() || !sameText(code, current.code)) return false;
    this.#signInCode = undefined;
    return true;
  }

  /** A new session: the cookie's value and the session it stands for. */
  async create(): Promise<{ cookie: string; session: Session }> {
    const id = randomId();
    const expiresMs = this.#now() + SESSION_MS;
    const payload = `${expiresMs}.${id}`;
    const cookie = `${payload}.${await this.#sign(payload)}`;
    return { cookie, session: { id, expiresMs, csrfToken: await this.#csrf(id) } };
  }

  /** The session a cookie stands for, if it is ours, unexpired and not signed out. */
  async read(cookie: string | undefined): Promise<Session | undefined> {
    const match = cookie
      ? /^(\d{1,16})\.([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{43})$/.exec(cookie)
      : null;
    if (!match) return undefined;
    const [, expires, id, signature] = match as unknown as [string, string, string, string];
    const expiresMs = Number(expires);
    if (expiresMs < this.#now() || this.#revoked.has(id)) return undefined;
    if (!sameText(signature, await this.#sign(`${expires}.${id}`))) return undefined;
    return { id, expiresMs, csrfToken: await this.#csrf(id) };
  }

  #csrf(id: string): Promise<string> {
    return this.#sign(`csrf.${id}`);
  }

  /** Whether a request's CSRF token is the session's. */
  checkCsrf(session: Session, given: string | undefined): boolean {
    return given !== undefined && sameText(given, session.csrfToken);
  }

  /** Signs a session out (in this process; elsewhere its cookie is gone from the browser). */
  revoke(session: Session): void {
    const now = this.#now();
    for (const [id, expiresMs] of this.#revoked) if (expiresMs < now) this.#revoked.delete(id);
    this.#revoked.set(session.id, session.expiresMs);
  }
}
