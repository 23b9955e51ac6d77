// The pure parts of OIDC login (webui/auth/oidc.ts, webui/server-config.ts): ID token checks with
// real signatures (keys made here with node:crypto), the sealed pending-login cookie, return
// paths, the role mapping, and the settings' validation. The flow itself runs against Dex in
// oidc.test.ts.
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  codeChallenge,
  type OidcConfig,
  openPending,
  roleFromClaims,
  safeReturnPath,
  sealPending,
  verifyIdToken,
} from '../../webui/auth/oidc.js';
import { oidcFromEnv } from '../../webui/server-config.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const NOW = 1_800_000_000;
const expect0 = { issuer: 'https://idp.example', clientId: 'kubeqa', nonce: 'n-123', now: NOW };
const goodClaims = { iss: 'https://idp.example', aud: 'kubeqa', sub: 'u1', exp: NOW + 60, nonce: 'n-123' };

function token(alg: string, key: KeyObject, claims: object, kid = 'k1'): string {
  const head = `${b64({ alg, kid, typ: 'JWT' })}.${b64(claims)}`;
  const signature =
    alg === 'EdDSA'
      ? sign(null, Buffer.from(head), key)
      : alg === 'ES256'
        ? sign('sha256', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' })
        : sign('sha256', Buffer.from(head), key);
  return `${head}.${signature.toString('base64url')}`;
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const jwk = (key: KeyObject, kid: string) => ({ ...key.export({ format: 'jwk' }), kid });
const keys = [jwk(rsa.publicKey, 'k1'), jwk(ec.publicKey, 'k2'), jwk(ed.publicKey, 'k3')];

describe('ID token verification', () => {
  it('accepts RS256, ES256 and EdDSA tokens signed by a provider key with the right claims', () => {
    expect(verifyIdToken(token('RS256', rsa.privateKey, goodClaims, 'k1'), keys, expect0).sub).toBe('u1');
    expect(verifyIdToken(token('ES256', ec.privateKey, goodClaims, 'k2'), keys, expect0).sub).toBe('u1');
    expect(verifyIdToken(token('EdDSA', ed.privateKey, goodClaims, 'k3'), keys, expect0).sub).toBe('u1');
  });

  it('refuses a forged signature, alg none, and a key id of another key', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => verifyIdToken(token('RS256', other.privateKey, goodClaims), keys, expect0)).toThrow(
      /signature does not match/,
    );
    const none = `${b64({ alg: 'none' })}.${b64(goodClaims)}.`;
    expect(() => verifyIdToken(none, keys, expect0)).toThrow(/signed with none, which is not accepted/);
    const hmac = `${b64({ alg: 'HS256' })}.${b64(goodClaims)}.abc`;
    expect(() => verifyIdToken(hmac, keys, expect0)).toThrow(/HS256, which is not accepted/);
    expect(() => verifyIdToken(token('RS256', rsa.privateKey, goodClaims, 'k2'), keys, expect0)).toThrow(
      /signature/,
    );
  });

  it('refuses another issuer, another audience, an expired token and another login (nonce)', () => {
    const check = (claims: object) => () =>
      verifyIdToken(token('RS256', rsa.privateKey, claims), keys, expect0);
    expect(check({ ...goodClaims, iss: 'https://evil.example' })).toThrow(
      /comes from https:\/\/evil.example/,
    );
    expect(check({ ...goodClaims, aud: 'someone-else' })).toThrow(/not meant for this client/);
    expect(check({ ...goodClaims, aud: ['kubeqa', 'x'], azp: 'x' })).toThrow(/another party/);
    expect(check({ ...goodClaims, exp: NOW - 3600 })).toThrow(/expired/);
    expect(check({ ...goodClaims, nonce: 'other' })).toThrow(/nonce/);
    expect(check({ ...goodClaims, sub: '' })).toThrow(/no subject/);
    // within the clock skew
    expect(check({ ...goodClaims, exp: NOW - 60 })).not.toThrow();
  });
});

describe('the pending-login cookie', () => {
  const key = Buffer.alloc(32, 7);
  const pending = {
    state: 's',
    nonce: 'n',
    verifier: 'v',
    returnTo: '/x',
    redirectUri: 'http://h/cb',
    expires: NOW + 600,
  };

  it('opens what it sealed; refuses altered, foreign, expired and missing cookies', () => {
    const sealed = sealPending(pending, key);
    expect(openPending(sealed, key, NOW)).toEqual(pending);
    const [body, mac] = sealed.split('.');
    const altered = `${b64({ ...pending, returnTo: '/evil' })}.${mac}`;
    expect(() => openPending(altered, key, NOW)).toThrow(/altered/);
    expect(() => openPending(`${body}.${mac}`, Buffer.alloc(32, 8), NOW)).toThrow(
      /altered or sealed by another/,
    );
    expect(() => openPending(sealed, key, NOW + 601)).toThrow(/longer than 10 minutes/);
    expect(() => openPending(undefined, key, NOW)).toThrow(/cookie is missing/);
  });

  it('uses the S256 challenge of RFC 7636', () => {
    // the example of RFC 7636, appendix B
    expect(codeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });
});

describe('return paths and roles', () => {
  it('returns only to paths on this server', () => {
    expect(safeReturnPath('/tests/1?x=2')).toBe('/tests/1?x=2');
    for (const bad of ['//evil.example', 'https://evil.example', '/\\evil.example', 'tests', undefined]) {
      expect(safeReturnPath(bad)).toBe('/');
    }
  });

  const config = (admin: string[], operator: string[]): OidcConfig => ({
    issuer: 'https://idp.example',
    clientId: 'kubeqa',
    scopes: ['openid'],
    usernameClaim: 'preferred_username',
    roleClaim: 'groups',
    adminValues: admin,
    operatorValues: operator,
    defaultRole: 'viewer',
    stateKey: Buffer.alloc(32),
  });

  it('maps the role claim: admin over operator, else the default; no mapping leaves roles alone', () => {
    const mapped = config(['qa-admins'], ['qa']);
    expect(roleFromClaims({ groups: ['qa', 'qa-admins'] }, mapped)).toBe('admin');
    expect(roleFromClaims({ groups: ['qa'] }, mapped)).toBe('operator');
    expect(roleFromClaims({ groups: 'qa' }, mapped)).toBe('operator');
    expect(roleFromClaims({ groups: ['sales'] }, mapped)).toBe('viewer');
    expect(roleFromClaims({}, mapped)).toBe('viewer');
    expect(roleFromClaims({ groups: ['qa-admins'] }, config([], []))).toBeUndefined();
  });
});

describe('OIDC settings', () => {
  const base = { KUBEQA_OIDC_ISSUER: 'https://idp.example', KUBEQA_OIDC_CLIENT_ID: 'kubeqa' };

  it('are off without an issuer, and read with defaults', () => {
    expect(oidcFromEnv({})).toEqual({});
    const { oidc, oidcStateKeyIsRandom } = oidcFromEnv({
      ...base,
      KUBEQA_OIDC_ADMIN_VALUES: 'a, b',
      KUBEQA_OIDC_CLIENT_SECRET: 's3cret',
    });
    expect(oidc).toMatchObject({
      issuer: 'https://idp.example',
      clientId: 'kubeqa',
      clientSecret: 's3cret',
      scopes: ['openid', 'profile', 'email'],
      usernameClaim: 'preferred_username',
      roleClaim: 'groups',
      adminValues: ['a', 'b'],
      operatorValues: [],
      defaultRole: 'viewer',
    });
    expect(oidcStateKeyIsRandom).toBeUndefined();
    // every replica derives the same key from the client secret
    expect(oidcFromEnv({ ...base, KUBEQA_OIDC_CLIENT_SECRET: 's3cret' }).oidc?.stateKey).toEqual(
      oidc?.stateKey,
    );
    expect(oidcFromEnv(base).oidcStateKeyIsRandom).toBe(true);
  });

  it('name the setting that is wrong', () => {
    expect(() => oidcFromEnv({ KUBEQA_OIDC_ISSUER: 'https://idp.example' })).toThrow(
      /KUBEQA_OIDC_CLIENT_ID is not set/,
    );
    expect(() => oidcFromEnv({ ...base, KUBEQA_OIDC_ISSUER: 'idp.example' })).toThrow(
      /KUBEQA_OIDC_ISSUER='idp.example' is not valid: not a URL/,
    );
    expect(() => oidcFromEnv({ ...base, KUBEQA_OIDC_SCOPES: 'profile email' })).toThrow(
      /must include openid/,
    );
    expect(() => oidcFromEnv({ ...base, KUBEQA_OIDC_DEFAULT_ROLE: 'root' })).toThrow(
      /KUBEQA_OIDC_DEFAULT_ROLE='root' is not valid: use one of viewer, operator, admin/,
    );
    expect(() => oidcFromEnv({ ...base, KUBEQA_OIDC_REDIRECT_URI: 'ftp://x/cb' })).toThrow(/http\(s\) URL/);
  });
});
