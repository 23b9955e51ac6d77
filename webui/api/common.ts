// Small helpers shared by the route modules.
import type { FastifyRequest } from 'fastify';
import { KubeqaError } from '../../domain/errors.js';
import { type Principal, type Role, requireRoleOf } from '../auth/principal.js';

export const idParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[0-9]+$' } },
  required: ['id'],
} as const;

/**
 * Free-form parameters (openQA settings, string keys): a form or JSON object, or nothing at all
 * (openQA's Python client sends them in the query string). Checked by the handler.
 */
export const settingsBody = {
  description: 'parameters as form fields or a JSON object; also accepted in the query string',
} as const;

/** The caller, authenticated on first use (reads need no credentials, as in openQA), holding at least `role`. */
export async function need(request: FastifyRequest, role: Role): Promise<Principal> {
  return requireRoleOf(await request.authenticate(), role);
}

export function idOf(request: FastifyRequest, name = 'id'): number {
  const raw = (request.params as Record<string, string>)[name] ?? '';
  if (!/^\d+$/.test(raw))
    throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `${name} must be a positive integer, got '${raw}'`);
  return Number(raw);
}

/** A boolean parameter as openQA's clients send it: 1/0, true/false, on. */
export function flag(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}
