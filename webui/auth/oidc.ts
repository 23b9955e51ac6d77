// OpenID Connect login for deployments: the authorization-code flow with PKCE (S256), as a
// confidential client (client secret, HTTP Basic) or a public one. No library: discovery, the
// token request and the ID token's signature (JWKS, RS/PS/ES 256–512, EdDSA) use fetch and
// node:crypto. The pending login (state, nonce, PKCE verifier, where to return) travels in an
// HttpOnly cookie sealed with HMAC-SHA256, so any replica can finish it.
import {
  constants,
  createHash,
  createHmac,
  createPublicKey,
  type JsonWebKey,
  randomBytes,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import { KubeqaError } from '../../domain/errors.js';
import type { Role } from './principal.js';

export interface OidcConfig {
  issuer: string;
  clientId: string;
  /** Absent: a public client (PKCE alone). */
  clientSecret?: string;
  /** The callback URL registered at the provider; absent: derived from the request's host. */
  redirectUri?: string;
  scopes: string[];
  /** The claim that becomes the user name (falls back to email, then the subject). */
  usernameClaim: string;
  /** The claim whose values decide the role (a string or an array of strings, e.g. groups). */
  roleClaim: string;
  adminValues: string[];
  operatorValues: string[];
  /** The role of a new user whose claims name no role. */
  defaultRole: Role;
  /** Key for sealing the pending-login cookie. */
  stateKey: Buffer;
}

export interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
}

export interface IdClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat?: number;
  nonce?: string;
  azp?: string;
  [claim: string]: unknown;
}

/** What the pending-login cookie holds. */
export interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  redirectUri: string;
  /** Unix seconds after which the login must start again. */
  expires: number;
}

export const PENDING_COOKIE = 'kubeqa_oidc';
/** How long a user may take at the provider's login page. */
export const PENDING_LIFETIME_SECONDS = 600;
/** Clock difference tolerated between us and the provider. */
const CLOCK_SKEW_SECONDS = 120;

const b64url = (data: Buffer) => data.toString('base64url');
const random = (bytes: number) => b64url(randomBytes(bytes));

/** PKCE's S256 challenge of a verifier. */
export function codeChallenge(verifier: string): string {
  return b64url(createHash('sha256').update(verifier).digest());
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const badLogin = (message: string, hint = 'start the login again') =>
  new KubeqaError('KQ_ERR_UNAUTHORIZED', `OIDC login failed: ${message}`, hint);

/** The pending login as a cookie value: base64url(JSON).base64url(HMAC). */
export function sealPending(pending: PendingLogin, key: Buffer): string {
  const body = b64url(Buffer.from(JSON.stringify(pending)));
  return `${body}.${b64url(createHmac('sha256', key).update(body).digest())}`;
}

export function openPending(value: string | undefined, key: Buffer, now: number): PendingLogin {
  if (!value) throw badLogin('no login in progress in this browser (the login cookie is missing)');
  const [body = '', mac = ''] = value.split('.');
  const expected = b64url(createHmac('sha256', key).update(body).digest());
  if (!sameText(mac, expected)) throw badLogin('the login cookie was altered or sealed by another server');
  const pending = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as PendingLogin;
  if (pending.expires < now) throw badLogin('the login took longer than 10 minutes');
  return pending;
}

/** Only a path on this server: no scheme, no host, no protocol-relative `//`. */
export function safeReturnPath(value: string | undefined): string {
  if (!value?.startsWith('/') || value.startsWith('//') || value.includes('\\')) return '/';
  return value;
}

function decodeJwtPart<T>(part: string | undefined, what: string): T {
  try {
    return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as T;
  } catch {
    throw badLogin(`the ID token's ${what} is not JSON`);
  }
}

/** Signature algorithms accepted for ID tokens, with their hash and its length in bytes. */
const HASH_OF_ALG: Record<string, { hash: string; bytes: number }> = {
  RS256: { hash: 'sha256', bytes: 32 },
  RS384: { hash: 'sha384', bytes: 48 },
  RS512: { hash: 'sha512', bytes: 64 },
  PS256: { hash: 'sha256', bytes: 32 },
  PS384: { hash: 'sha384', bytes: 48 },
  PS512: { hash: 'sha512', bytes: 64 },
  ES256: { hash: 'sha256', bytes: 32 },
  ES384: { hash: 'sha384', bytes: 48 },
  ES512: { hash: 'sha512', bytes: 64 },
};

/**
 * Checks an ID token: signature by one of the provider's keys (`alg: none` and HMAC are refused),
 * issuer, audience (and `azp` when there are several), expiry, and the nonce of this login.
 */
export function verifyIdToken(
  token: string,
  keys: JsonWebKey[],
  expect: { issuer: string; clientId: string; nonce: string; now: number },
): IdClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw badLogin('the ID token is not a signed JWT');
  const header = decodeJwtPart<{ alg?: string; kid?: string }>(parts[0], 'header');
  const alg = header.alg ?? '';
  if (!(alg in HASH_OF_ALG) && alg !== 'EdDSA') {
    throw badLogin(`the ID token is signed with ${alg || 'nothing'}, which is not accepted`);
  }
  const candidates = keys.filter((k) => !header.kid || (k as { kid?: string }).kid === header.kid);
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2] ?? '', 'base64url');
  const valid = candidates.some((jwk) => {
    try {
      const key = createPublicKey({ key: jwk, format: 'jwk' });
      if (alg === 'EdDSA') return verify(null, signed, key, signature);
      const { hash, bytes } = HASH_OF_ALG[alg] as { hash: string; bytes: number };
      const options = alg.startsWith('ES')
        ? { key, dsaEncoding: 'ieee-p1363' as const }
        : alg.startsWith('PS')
          ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: bytes }
          : key;
      return verify(hash, signed, options, signature);
    } catch {
      return false;
    }
  });
  if (!valid) throw badLogin("the ID token's signature does not match the provider's keys");
  const claims = decodeJwtPart<IdClaims>(parts[1], 'payload');
  if (claims.iss !== expect.issuer)
    throw badLogin(`the ID token comes from ${claims.iss}, not ${expect.issuer}`);
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(expect.clientId)) throw badLogin('the ID token is not meant for this client');
  if (audiences.length > 1 && claims.azp !== undefined && claims.azp !== expect.clientId) {
    throw badLogin('the ID token was issued to another party (azp)');
  }
  if (typeof claims.exp !== 'number' || claims.exp + CLOCK_SKEW_SECONDS < expect.now) {
    throw badLogin('the ID token has expired');
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') throw badLogin('the ID token has no subject');
  if (typeof claims.nonce !== 'string' || !sameText(claims.nonce, expect.nonce)) {
    throw badLogin('the ID token does not belong to this login (nonce)');
  }
  return claims;
}

function claimValues(claims: Record<string, unknown>, name: string): string[] {
  const value = claims[name];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/**
 * The role the claims give, or undefined when no mapping is configured (then a new user gets the
 * default role and an existing one keeps theirs). With a mapping, the provider decides at every
 * login: admin values win over operator values, neither gives the default role.
 */
export function roleFromClaims(claims: Record<string, unknown>, config: OidcConfig): Role | undefined {
  if (config.adminValues.length === 0 && config.operatorValues.length === 0) return undefined;
  const values = claimValues(claims, config.roleClaim);
  if (values.some((v) => config.adminValues.includes(v))) return 'admin';
  if (values.some((v) => config.operatorValues.includes(v))) return 'operator';
  return config.defaultRole;
}

export function usernameFromClaims(claims: IdClaims, config: OidcConfig): string {
  for (const name of [config.usernameClaim, 'preferred_username', 'email']) {
    const [value] = claimValues(claims, name);
    if (value?.trim()) return value.trim();
  }
  return claims.sub;
}

export interface OidcLogin {
  subject: string;
  username: string;
  email?: string;
  fullname?: string;
  role: Role | undefined;
  returnTo: string;
}

type Fetch = typeof fetch;

export class OidcClient {
  private discovery: Promise<Discovery> | undefined;
  private keys: { at: number; keys: JsonWebKey[] } | undefined;

  constructor(
    readonly config: OidcConfig,
    private readonly fetcher: Fetch = fetch,
  ) {}

  private async getJson<T>(url: string, what: string, init?: RequestInit): Promise<T> {
    let response: Response;
    try {
      response = await this.fetcher(url, { ...init, signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw new KubeqaError(
        'KQ_ERR_UNREACHABLE',
        `the OIDC provider does not answer (${what} at ${url}): ${(error as Error).message}`,
        'check KUBEQA_OIDC_ISSUER and that the provider is reachable from the server',
        { cause: error },
      );
    }
    const text = await response.text();
    if (!response.ok) {
      let detail = text.slice(0, 300);
      try {
        const body = JSON.parse(text) as { error?: string; error_description?: string };
        if (body.error)
          detail = `${body.error}${body.error_description ? `: ${body.error_description}` : ''}`;
      } catch {
        // not JSON: keep the text
      }
      throw new KubeqaError(
        what === 'token' ? 'KQ_ERR_UNAUTHORIZED' : 'KQ_ERR_UNREACHABLE',
        `OIDC ${what} request failed with HTTP ${response.status}: ${detail}`,
        what === 'token' ? 'start the login again' : 'check KUBEQA_OIDC_ISSUER',
      );
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new KubeqaError('KQ_ERR_UNREACHABLE', `the OIDC provider's ${what} answer is not JSON`);
    }
  }

  /** The provider's endpoints (fetched once; a failure is retried on the next login). */
  discover(): Promise<Discovery> {
    this.discovery ??= this.getJson<Discovery>(
      `${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
      'discovery',
    )
      .then((d) => {
        if (d.issuer !== this.config.issuer) {
          throw new KubeqaError(
            'KQ_ERR_INVALID_SETTING',
            `KUBEQA_OIDC_ISSUER is ${this.config.issuer} but the provider calls itself ${d.issuer}`,
            'set KUBEQA_OIDC_ISSUER to exactly the issuer the provider announces',
          );
        }
        return d;
      })
      .catch((error: unknown) => {
        this.discovery = undefined;
        throw error;
      });
    return this.discovery;
  }

  private async signingKeys(refresh: boolean): Promise<JsonWebKey[]> {
    if (!refresh && this.keys && Date.now() - this.keys.at < 3600_000) return this.keys.keys;
    const { jwks_uri } = await this.discover();
    const { keys } = await this.getJson<{ keys: JsonWebKey[] }>(jwks_uri, 'keys');
    this.keys = { at: Date.now(), keys };
    return keys;
  }

  /** Where to send the browser, and the sealed cookie that remembers this login. */
  async start(returnTo: string, redirectUri: string, now: number): Promise<{ url: string; cookie: string }> {
    const { authorization_endpoint } = await this.discover();
    const pending: PendingLogin = {
      state: random(24),
      nonce: random(24),
      verifier: random(48),
      returnTo: safeReturnPath(returnTo),
      redirectUri,
      expires: now + PENDING_LIFETIME_SECONDS,
    };
    const url = new URL(authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: this.config.clientId,
      redirect_uri: redirectUri,
      scope: this.config.scopes.join(' '),
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: codeChallenge(pending.verifier),
      code_challenge_method: 'S256',
    }).toString();
    return { url: url.toString(), cookie: sealPending(pending, this.config.stateKey) };
  }

  /** Finishes a login from the provider's redirect: checks state, redeems the code, checks the token. */
  async finish(
    query: Record<string, string | undefined>,
    cookieValue: string | undefined,
    now: number,
  ): Promise<OidcLogin> {
    if (query.error) {
      throw badLogin(
        `the provider refused: ${query.error}${query.error_description ? ` (${query.error_description})` : ''}`,
      );
    }
    const pending = openPending(cookieValue, this.config.stateKey, now);
    if (!query.state || !sameText(query.state, pending.state)) {
      throw badLogin('the answer does not belong to the login started in this browser (state)');
    }
    if (!query.code) throw badLogin('the provider sent no authorization code');
    const { token_endpoint } = await this.discover();
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code: query.code,
      redirect_uri: pending.redirectUri,
      code_verifier: pending.verifier,
    });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (this.config.clientSecret) {
      const id = encodeURIComponent(this.config.clientId);
      const secret = encodeURIComponent(this.config.clientSecret);
      headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    } else {
      form.set('client_id', this.config.clientId);
    }
    const tokens = await this.getJson<{ id_token?: string }>(token_endpoint, 'token', {
      method: 'POST',
      headers,
      body: form.toString(),
    });
    if (!tokens.id_token)
      throw badLogin('the provider returned no ID token', 'add "openid" to KUBEQA_OIDC_SCOPES');
    const expect = { issuer: this.config.issuer, clientId: this.config.clientId, nonce: pending.nonce, now };
    let claims: IdClaims;
    try {
      claims = verifyIdToken(tokens.id_token, await this.signingKeys(false), expect);
    } catch {
      // the provider may have rotated its keys since we fetched them: fetch them once more
      claims = verifyIdToken(tokens.id_token, await this.signingKeys(true), expect);
    }
    const [email] = claimValues(claims, 'email');
    const [fullname] = claimValues(claims, 'name');
    return {
      subject: claims.sub,
      username: usernameFromClaims(claims, this.config),
      ...(email ? { email } : {}),
      ...(fullname ? { fullname } : {}),
      role: roleFromClaims(claims, this.config),
      returnTo: pending.returnTo,
    };
  }
}
