// Users, API keys and personal access tokens.
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../domain/auth/password.js';
import { KubeqaError } from '../domain/errors.js';
import { sha256 } from '../webui/auth/authenticate.js';
import type { Role } from '../webui/auth/principal.js';
import type { QueryFn } from './connect.js';

export interface ApiKeyRow {
  id: number;
  key: string;
  secret: string;
  t_expiration: Date | null;
  t_created: Date;
}

/** The user with this name, created with `role` if missing. */
export async function ensureUser(q: QueryFn, username: string, role: Role = 'viewer'): Promise<number> {
  const [row] = await q<{ id: number }>(
    `insert into users (username, role) values ($1, $2)
     on conflict (username) do update set username = excluded.username returning id`,
    [username, role],
  );
  return (row as { id: number }).id;
}

/** A new API key pair: 16 hex digits each, as openQA makes them. */
export async function createApiKey(q: QueryFn, userId: number, expiresAt?: Date | null): Promise<ApiKeyRow> {
  const key = randomBytes(8).toString('hex').toUpperCase();
  const secret = randomBytes(8).toString('hex').toUpperCase();
  const [row] = await q<ApiKeyRow>(
    'insert into api_keys (key, secret, user_id, t_expiration) values ($1, $2, $3, $4) returning id, key, secret, t_expiration, t_created',
    [key, secret, userId, expiresAt ?? null],
  );
  return row as ApiKeyRow;
}

export async function listApiKeys(q: QueryFn, userId: number): Promise<ApiKeyRow[]> {
  return q<ApiKeyRow>(
    'select id, key, secret, t_expiration, t_created from api_keys where user_id = $1 order by id',
    [userId],
  );
}

export async function deleteApiKey(q: QueryFn, userId: number, id: number): Promise<void> {
  const rows = await q('delete from api_keys where id = $1 and user_id = $2 returning id', [id, userId]);
  if (rows.length === 0)
    throw new KubeqaError('KQ_ERR_NOT_FOUND', `API key ${id} does not exist for this user`);
}

/** A personal access token; only its hash is stored, the token is returned once. */
export async function createAccessToken(
  q: QueryFn,
  userId: number,
  name: string,
  expiresAt?: Date | null,
): Promise<string> {
  const token = `kq_${randomBytes(24).toString('base64url')}`;
  await q('insert into access_tokens (token_hash, name, user_id, t_expiration) values ($1, $2, $3, $4)', [
    sha256(token),
    name,
    userId,
    expiresAt ?? null,
  ]);
  return token;
}

/** Sets a local account's password (scrypt). */
export async function setPassword(q: QueryFn, userId: number, password: string): Promise<void> {
  if (password.length < 8) {
    throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'the password must have at least 8 characters');
  }
  await q('update users set password_hash = $2, t_updated = now() where id = $1', [
    userId,
    await hashPassword(password),
  ]);
}

export interface SessionRow {
  id: string;
  csrfToken: string;
  expiresAt: Date;
}

/** A browser session for a user: a random id for the cookie and a CSRF token for the page. */
export async function createSession(
  q: QueryFn,
  userId: number,
  lifetimeSeconds: number,
): Promise<SessionRow> {
  const id = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(24).toString('base64url');
  const expiresAt = new Date(Date.now() + lifetimeSeconds * 1000);
  await q('insert into sessions (id, user_id, csrf_token, t_expiration) values ($1, $2, $3, $4)', [
    sha256(id),
    userId,
    csrfToken,
    expiresAt,
  ]);
  return { id, csrfToken, expiresAt };
}

export async function deleteSession(q: QueryFn, id: string): Promise<void> {
  await q('delete from sessions where id = $1', [sha256(id)]);
}

/**
 * The embedded mode's local admin: the user `admin` with role admin, its password set when one
 * is given, and an API key made when it has none (returned so `kubeqa up` can write client.conf).
 */
export async function ensureLocalAdmin(
  q: QueryFn,
  password?: string,
): Promise<{ userId: number; apiKey: ApiKeyRow }> {
  const userId = await ensureUser(q, 'admin', 'admin');
  await q("update users set role = 'admin' where id = $1", [userId]);
  if (password !== undefined) await setPassword(q, userId, password);
  const [existing] = await listApiKeys(q, userId);
  return { userId, apiKey: existing ?? (await createApiKey(q, userId)) };
}

export interface OidcUser {
  /** The provider's subject (`sub`), stable for the person. */
  subject: string;
  username: string;
  email?: string;
  fullname?: string;
  /** The role the provider's claims give; undefined: a new user gets `defaultRole`, others keep theirs. */
  role?: Role;
  defaultRole: Role;
}

/**
 * The account of an OIDC login, created on the first login and updated from the claims on each
 * later one (found by subject, so a renamed user keeps their account). A user name already held
 * by another account (a local one, or another subject) is never taken over.
 */
export async function upsertOidcUser(
  q: QueryFn,
  user: OidcUser,
): Promise<{ id: number; username: string; role: Role }> {
  const [existing] = await q<{ id: number; username: string; role: Role }>(
    'select id, username, role from users where oidc_subject = $1',
    [user.subject],
  );
  const [holder] = await q<{ id: number }>('select id from users where username = $1', [user.username]);
  if (existing) {
    // a rename at the provider follows only when the new name is free
    const username = !holder || holder.id === existing.id ? user.username : existing.username;
    const [row] = await q<{ id: number; username: string; role: Role }>(
      `update users set username = $2, email = $3, fullname = $4, role = coalesce($5, role), t_updated = now()
        where id = $1 returning id, username, role`,
      [existing.id, username, user.email ?? null, user.fullname ?? null, user.role ?? null],
    );
    return row as { id: number; username: string; role: Role };
  }
  if (holder) {
    throw new KubeqaError(
      'KQ_ERR_CONFLICT',
      `the user name ${user.username} already belongs to another account`,
      'an admin can rename that account, or set KUBEQA_OIDC_USERNAME_CLAIM to a claim that is unique',
    );
  }
  const [row] = await q<{ id: number; username: string; role: Role }>(
    `insert into users (username, email, fullname, role, oidc_subject) values ($1, $2, $3, $4, $5)
     returning id, username, role`,
    [user.username, user.email ?? null, user.fullname ?? null, user.role ?? user.defaultRole, user.subject],
  );
  return row as { id: number; username: string; role: Role };
}
