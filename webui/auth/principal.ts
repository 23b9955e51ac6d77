// Who is making a request, and what their role allows (openQA's roles).
import { KubeqaError } from '../../domain/errors.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  userId: number;
  username: string;
  role: Role;
  /** How the request proved it: an API-key signature, a token, or a browser session. */
  via: 'api-key' | 'token' | 'session';
  /** The session's CSRF token (via 'session' only), read with the session itself. */
  csrfToken?: string;
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** Throws unless the principal exists and holds at least `needed`. */
export function requireRoleOf(principal: Principal | undefined, needed: Role): Principal {
  if (!principal) {
    throw new KubeqaError(
      'KQ_ERR_UNAUTHORIZED',
      'authentication required',
      'sign the request with an API key (X-API-Key, X-API-Microtime, X-API-Hash) or send a personal access token',
    );
  }
  if (!roleAtLeast(principal.role, needed)) {
    throw new KubeqaError(
      'KQ_ERR_FORBIDDEN',
      `user ${principal.username} has the role ${principal.role}, this needs ${needed}`,
      'ask an admin to raise your role',
    );
  }
  return principal;
}
