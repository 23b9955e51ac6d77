// openQA's API-key request signature, as its Perl and Python clients compute it:
//   X-API-Key       the key
//   X-API-Microtime the current Unix time in whole seconds (the name is historical)
//   X-API-Hash      hex HMAC-SHA1, keyed with the secret, over `path[?query]` + that time
// The server accepts a signature within ±300 s of its own clock. Pure functions, no I/O.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const HMAC_WINDOW_SECONDS = 300;

/** A type alias, not an interface, so it fits wherever a plain header record is wanted. */
export type SignedHeaders = {
  'X-API-Key': string;
  'X-API-Microtime': string;
  'X-API-Hash': string;
};

/** The hex signature of `pathQuery` (path plus `?query` when there is one) at `timestamp`. */
export function apiHash(secret: string, pathQuery: string, timestamp: string | number): string {
  return createHmac('sha1', secret).update(`${pathQuery}${timestamp}`).digest('hex');
}

/** Headers that sign a request for `pathQuery` now (or at `nowSeconds`). */
export function signRequest(
  key: string,
  secret: string,
  pathQuery: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): SignedHeaders {
  return {
    'X-API-Key': key,
    'X-API-Microtime': String(nowSeconds),
    'X-API-Hash': apiHash(secret, pathQuery, nowSeconds),
  };
}

export type SignatureVerdict = { ok: true } | { ok: false; reason: 'stale' | 'bad-hash' | 'malformed' };

/** Check a signature against the secret: time within the window, hash equal in constant time. */
export function verifySignature(
  secret: string,
  pathQuery: string,
  timestamp: string,
  hash: string,
  nowSeconds = Math.floor(Date.now() / 1000),
  windowSeconds = HMAC_WINDOW_SECONDS,
): SignatureVerdict {
  // Python's openqa-client sends time.time() with a fraction; the signature covers the string as sent.
  if (!/^\d+(\.\d+)?$/.test(timestamp) || !/^[0-9a-f]{40}$/i.test(hash))
    return { ok: false, reason: 'malformed' };
  if (Math.abs(nowSeconds - Number(timestamp)) > windowSeconds) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(apiHash(secret, pathQuery, timestamp), 'hex');
  const given = Buffer.from(hash, 'hex');
  return expected.length === given.length && timingSafeEqual(expected, given)
    ? { ok: true }
    : { ok: false, reason: 'bad-hash' };
}
