// Request authentication: openQA's API-key HMAC signature, personal access tokens (Bearer, or
// Basic with the user name and the token as password). A request with no credentials is
// anonymous (reads are public, as in openQA); a request with bad credentials is refused.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { OpenDatabase } from '../../db/connect.js';
import { verifySignature } from '../../domain/auth/hmac.js';
import { KubeqaError } from '../../domain/errors.js';
import { isRole, type Principal } from './principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling (undefined: anonymous); throws for bad credentials. Memoised per request. */
    authenticate(): Promise<Principal | undefined>;
    principalPromise?: Promise<Principal | undefined>;
  }
}

export interface AuthOptions {
  /** Current Unix time in seconds (tests move the clock). */
  now?: () => number;
}

/**
 * The strings a client may have signed for this URL. openQA's clients sign path?query with
 * spaces as `+` (Perl) and `~` as `%7E` (Python); the request line carries them as sent.
 */
export function signingCandidates(rawUrl: string): string[] {
  const candidates = new Set<string>([rawUrl]);
  candidates.add(rawUrl.replace(/%20/g, '+'));
  candidates.add(rawUrl.replace(/%20/g, '+').replace(/~/g, '%7E'));
  candidates.add(rawUrl.replace(/%7E/gi, '~'));
  return [...candidates];
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export const SESSION_COOKIE = 'kubeqa_session';

/** One cookie's value from the Cookie header. */
export function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (header(request, 'cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

const denied = (message: string, hint?: string) => new KubeqaError('KQ_ERR_UNAUTHORIZED', message, hint);

/** An API key as the signature check needs it (a lookup may return more of the row). */
export interface SigningKey {
  secret: string;
  expired: boolean;
}

/** Finds an API key by its public part (undefined: no such key). */
export type SigningKeyLookup<K extends SigningKey> = (key: string) => Promise<K | undefined> | K | undefined;

/** The key with its user, as `authenticate` and the asset download route look it up. */
export async function apiKeyWithUser(
  database: OpenDatabase,
  key: string,
): Promise<(SigningKey & { user_id: number; username: string; role: string }) | undefined> {
  const [row] = await database.query<SigningKey & { user_id: number; username: string; role: string }>(
    `select k.secret, (k.t_expiration is not null and k.t_expiration < now()) as expired,
            u.id as user_id, u.username, u.role
       from api_keys k join users u on u.id = k.user_id where k.key = $1`,
    [key],
  );
  return row;
}

/**
 * openQA's API-key signature on a request (X-API-Key, X-API-Microtime, X-API-Hash over any spelling
 * of the URL a client may have signed): undefined when the request carries none, the key's row
 * when it holds; KQ_ERR_UNAUTHORIZED saying what is wrong otherwise.
 */
export async function verifyApiKeyRequest<K extends SigningKey>(
  request: FastifyRequest,
  lookup: SigningKeyLookup<K>,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<K | undefined> {
  const key = header(request, 'x-api-key');
  const hash = header(request, 'x-api-hash');
  if (!key && !hash) return undefined;
  const timestamp = header(request, 'x-api-microtime') ?? '';
  if (!key || !hash)
    throw denied('incomplete API-key signature', 'send X-API-Key, X-API-Microtime and X-API-Hash together');
  const row = await lookup(key);
  if (!row)
    throw denied('unknown API key', 'create a key with `kubeqa` or in the UI and put it in client.conf');
  if (row.expired) throw denied('the API key has expired', 'create a new API key');
  let verdict: ReturnType<typeof verifySignature> = { ok: false, reason: 'bad-hash' };
  for (const candidate of signingCandidates(request.url)) {
    verdict = verifySignature(row.secret, candidate, timestamp, hash, nowSeconds);
    if (verdict.ok || verdict.reason !== 'bad-hash') break;
  }
  if (verdict.ok) return row;
  if (verdict.reason === 'stale') {
    throw denied(
      'timestamp mismatch: X-API-Microtime is more than 300 s from the server clock',
      'sync the clocks (NTP)',
    );
  }
  if (verdict.reason === 'malformed') throw denied('malformed X-API-Microtime or X-API-Hash');
  throw denied('invalid API-key signature for this path', 'check the secret that goes with the key');
}

export async function authenticate(
  request: FastifyRequest,
  database: OpenDatabase,
  options: AuthOptions = {},
): Promise<Principal | undefined> {
  const signed = await verifyApiKeyRequest(request, (key) => apiKeyWithUser(database, key), options.now?.());
  if (signed) return principalOf(signed, 'api-key');
  const sessionId = cookie(request, SESSION_COOKIE);
  if (sessionId && !header(request, 'authorization')) {
    const [row] = await database.query<{
      csrf_token: string;
      user_id: number;
      username: string;
      role: string;
    }>(
      `select s.csrf_token, u.id as user_id, u.username, u.role from sessions s join users u on u.id = s.user_id
        where s.id = $1 and s.t_expiration > now()`,
      [sha256(sessionId)],
    );
    if (!row) throw denied('the session has expired', 'log in again');
    // Cookies ride along with any request a browser makes, including forged cross-site ones:
    // changes need the page's CSRF token as well.
    if (!['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
      const given = header(request, 'x-csrf-token') ?? '';
      const expected = Buffer.from(row.csrf_token);
      if (given.length !== expected.length || !timingSafeEqual(Buffer.from(given), expected)) {
        throw new KubeqaError(
          'KQ_ERR_FORBIDDEN',
          'missing or wrong CSRF token',
          'send the token from GET /api/v1/session in X-CSRF-Token',
        );
      }
    }
    return { ...principalOf(row, 'session'), csrfToken: row.csrf_token };
  }
  const authorization = header(request, 'authorization');
  if (authorization) {
    let token: string | undefined;
    let username: string | undefined;
    const [scheme, value = ''] = authorization.split(/\s+/, 2);
    if (scheme?.toLowerCase() === 'bearer') token = value;
    else if (scheme?.toLowerCase() === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      username = decoded.slice(0, colon);
      token = decoded.slice(colon + 1);
    }
    if (!token)
      throw denied(
        'unsupported Authorization header',
        'use "Bearer <token>" or Basic with the token as password',
      );
    const [row] = await database.query<{ expired: boolean; user_id: number; username: string; role: string }>(
      `select (t.t_expiration is not null and t.t_expiration < now()) as expired, u.id as user_id, u.username, u.role
         from access_tokens t join users u on u.id = t.user_id where t.token_hash = $1`,
      [sha256(token)],
    );
    if (!row || (username !== undefined && username !== row.username)) throw denied('invalid access token');
    if (row.expired) throw denied('the access token has expired', 'create a new token');
    return principalOf(row, 'token');
  }
  return undefined;
}

function principalOf(
  row: { user_id: number; username: string; role: string },
  via: Principal['via'],
): Principal {
  return { userId: row.user_id, username: row.username, role: isRole(row.role) ? row.role : 'viewer', via };
}
