// OIDC login for the browser (deployments): the provider's login page, then back here.
//   GET /session/oidc?return_to=/path   → 302 to the provider, with the pending-login cookie
//   GET /session/oidc/callback          → checks the answer, creates or updates the user from the
//                                         ID token's claims, sets the session cookie, 302 to return_to
// The session is the same as a local login's (see ./session.ts: cookie + CSRF token).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createSession, upsertOidcUser } from '../../db/users.js';
import { KubeqaError } from '../../domain/errors.js';
import type { ApiContext } from '../app.js';
import { cookie, SESSION_COOKIE } from '../auth/authenticate.js';
import { type OidcClient, PENDING_COOKIE, PENDING_LIFETIME_SECONDS } from '../auth/oidc.js';
import { SESSION_LIFETIME_SECONDS } from './session.js';

export const OIDC_CALLBACK_PATH = '/api/v1/session/oidc/callback';

const notConfigured = () =>
  new KubeqaError(
    'KQ_ERR_NOT_FOUND',
    'OIDC login is not configured on this server',
    'set KUBEQA_OIDC_ISSUER and KUBEQA_OIDC_CLIENT_ID (docs/configuration.md), or log in with POST /api/v1/session',
  );

function redirectUriOf(request: FastifyRequest, client: OidcClient): string {
  return client.config.redirectUri ?? `${request.protocol}://${request.host}${OIDC_CALLBACK_PATH}`;
}

function setCookie(
  reply: FastifyReply,
  request: FastifyRequest,
  name: string,
  value: string,
  maxAge: number,
) {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  // Lax: the provider's redirect back is a top-level GET navigation, which carries Lax cookies
  reply.header('set-cookie', [
    ...((reply.getHeader('set-cookie') as string[] | undefined) ?? []),
    `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`,
  ]);
}

const now = () => Math.floor(Date.now() / 1000);

export async function oidcRoutes(api: FastifyInstance, { database, log, oidc }: ApiContext): Promise<void> {
  api.get(
    '/session/oidc',
    {
      schema: {
        summary: 'log in through the OIDC provider (redirects to its login page)',
        tags: ['session'],
        querystring: {
          type: 'object',
          properties: { return_to: { type: 'string', maxLength: 2000 } },
        },
      },
    },
    async (request, reply) => {
      if (!oidc) throw notConfigured();
      const { return_to } = request.query as { return_to?: string };
      const { url, cookie: pending } = await oidc.start(
        return_to ?? '/',
        redirectUriOf(request, oidc),
        now(),
      );
      setCookie(reply, request, PENDING_COOKIE, pending, PENDING_LIFETIME_SECONDS);
      return reply.redirect(url, 302);
    },
  );
  api.get(
    '/session/oidc/callback',
    {
      schema: {
        summary: "the OIDC provider's redirect back after login",
        tags: ['session'],
        querystring: {
          type: 'object',
          properties: {
            code: { type: 'string', maxLength: 4096 },
            state: { type: 'string', maxLength: 512 },
            error: { type: 'string', maxLength: 512 },
            error_description: { type: 'string', maxLength: 2000 },
          },
        },
      },
    },
    async (request, reply) => {
      if (!oidc) throw notConfigured();
      const login = await oidc.finish(
        request.query as Record<string, string | undefined>,
        cookie(request, PENDING_COOKIE),
        now(),
      );
      const user = await upsertOidcUser(database.query, {
        subject: login.subject,
        username: login.username,
        ...(login.email ? { email: login.email } : {}),
        ...(login.fullname ? { fullname: login.fullname } : {}),
        ...(login.role ? { role: login.role } : {}),
        defaultRole: oidc.config.defaultRole,
      });
      const session = await createSession(database.query, user.id, SESSION_LIFETIME_SECONDS);
      setCookie(reply, request, PENDING_COOKIE, '', 0);
      setCookie(reply, request, SESSION_COOKIE, session.id, SESSION_LIFETIME_SECONDS);
      log.info({ user: user.username, role: user.role }, 'OIDC login');
      return reply.redirect(login.returnTo, 302);
    },
  );
}
