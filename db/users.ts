// Users, API keys and personal access tokens.
import { randomBytes } from 'node:crypto';
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
