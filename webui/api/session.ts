// Browser sessions for the UI: log in with a local account (the embedded mode's admin) and get an
// HttpOnly cookie plus a CSRF token that every changing request must echo in X-CSRF-Token.
//   POST   /session  {username, password}  → {user, role, csrf_token} + Set-Cookie
//   GET    /session                         → {user, role, csrf_token} of the current session
//   DELETE /session                         → logs out (CSRF token required)
// OIDC login for deployments: ./oidc.ts.
import type { FastifyInstance } from 'fastify';
import { createSession, deleteSession } from '../../db/users.js';
import { verifyPassword } from '../../domain/auth/password.js';
import { KubeqaError } from '../../domain/errors.js';
import type { ApiContext } from '../app.js';
import { cookie, SESSION_COOKIE } from '../auth/authenticate.js';
import { requestParams, single } from '../params.js';
import { need } from './common.js';

export const SESSION_LIFETIME_SECONDS = 7 * 24 * 3600;

export async function sessionRoutes(api: FastifyInstance, { database }: ApiContext): Promise<void> {
  api.post(
    '/session',
    { schema: { summary: 'log in with a local account (sets the session cookie)', tags: ['session'] } },
    async (request, reply) => {
      const p = requestParams(request);
      const username = single(p, 'username');
      const password = single(p, 'password');
      if (!username || !password)
        throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'missing parameter: username and password');
      const [user] = await database.query<{
        id: number;
        username: string;
        role: string;
        password_hash: string | null;
      }>('select id, username, role, password_hash from users where username = $1', [username]);
      // the same answer for an unknown user and a wrong password
      const ok = user?.password_hash ? await verifyPassword(password, user.password_hash) : false;
      if (!user || !ok) throw new KubeqaError('KQ_ERR_UNAUTHORIZED', 'wrong user name or password');
      const session = await createSession(database.query, user.id, SESSION_LIFETIME_SECONDS);
      const secure = request.protocol === 'https' ? '; Secure' : '';
      reply.header(
        'set-cookie',
        `${SESSION_COOKIE}=${encodeURIComponent(session.id)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${SESSION_LIFETIME_SECONDS}${secure}`,
      );
      return { user: user.username, role: user.role, csrf_token: session.csrfToken };
    },
  );
  api.get(
    '/session',
    { schema: { summary: 'the current session and its CSRF token', tags: ['session'] } },
    async (request) => {
      const who = await need(request, 'viewer');
      if (who.via !== 'session')
        throw new KubeqaError(
          'KQ_ERR_UNAUTHORIZED',
          'no browser session',
          'log in with POST /api/v1/session',
        );
      return { user: who.username, role: who.role, csrf_token: who.csrfToken };
    },
  );
  api.delete('/session', { schema: { summary: 'log out', tags: ['session'] } }, async (request, reply) => {
    const who = await need(request, 'viewer');
    const id = cookie(request, SESSION_COOKIE);
    if (who.via === 'session' && id) await deleteSession(database.query, id);
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
    return { result: 1 };
  });
}
