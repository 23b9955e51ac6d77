import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { apiHash, signRequest, verifySignature } from '../../domain/auth/hmac.js';

describe('openQA API-key signature', () => {
  it('is HMAC-SHA1 over path?query followed by the time', () => {
    const expected = createHmac('sha1', 'S3CR3T').update('/api/v1/jobs?state=done1700000000').digest('hex');
    expect(apiHash('S3CR3T', '/api/v1/jobs?state=done', 1700000000)).toBe(expected);
    expect(signRequest('KEY', 'S3CR3T', '/api/v1/jobs?state=done', 1700000000)).toEqual({
      'X-API-Key': 'KEY',
      'X-API-Microtime': '1700000000',
      'X-API-Hash': expected,
    });
  });

  it('accepts a good signature within the window and refuses everything else', () => {
    const now = 1700000000;
    const hash = apiHash('S3CR3T', '/api/v1/isos', now);
    expect(verifySignature('S3CR3T', '/api/v1/isos', String(now), hash, now + 299)).toEqual({ ok: true });
    expect(verifySignature('S3CR3T', '/api/v1/isos', String(now), hash, now + 301)).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(verifySignature('S3CR3T', '/api/v1/isos', String(now), hash, now - 301)).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(verifySignature('wrong', '/api/v1/isos', String(now), hash, now)).toEqual({
      ok: false,
      reason: 'bad-hash',
    });
    expect(verifySignature('S3CR3T', '/api/v1/jobs', String(now), hash, now)).toEqual({
      ok: false,
      reason: 'bad-hash',
    });
    expect(verifySignature('S3CR3T', '/api/v1/isos', 'soon', hash, now)).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(verifySignature('S3CR3T', '/api/v1/isos', String(now), 'abc', now)).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });
});
