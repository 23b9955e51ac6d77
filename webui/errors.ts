// The one error shape of the API, as openQA's clients expect it: `{ error, error_status }`.
// KubeqaError codes map to HTTP statuses; fastify's own validation errors name the bad field.
import type { FastifyError, FastifyInstance } from 'fastify';
import { isKubeqaError } from '../domain/errors.js';
import type { Logger } from '../runtime/logger.js';

export interface ApiErrorBody {
  error: string;
  error_status: number;
  /** kubeqa's stable code (KQ_ERR_…) when there is one. */
  code?: string;
  hint?: string;
}

const STATUS_BY_CODE: Record<string, number> = {
  KQ_ERR_INVALID_ARGUMENT: 400,
  KQ_ERR_INVALID_SETTING: 400,
  KQ_ERR_INVALID_ASSET: 400,
  KQ_ERR_UNAUTHORIZED: 403,
  KQ_ERR_FORBIDDEN: 403,
  KQ_ERR_NOT_FOUND: 404,
  KQ_ERR_CONFLICT: 409,
  KQ_ERR_ILLEGAL_TRANSITION: 409,
  /** a service the server depends on (the OIDC provider) does not answer */
  KQ_ERR_UNREACHABLE: 502,
};

export function errorBody(error: unknown): ApiErrorBody {
  if (isKubeqaError(error)) {
    const status = STATUS_BY_CODE[error.code] ?? 500;
    const message = error.hint
      ? error.message.slice(0, error.message.length - error.hint.length - 3)
      : error.message;
    return {
      error: message,
      error_status: status,
      code: error.code,
      ...(error.hint ? { hint: error.hint } : {}),
    };
  }
  const fe = error as FastifyError;
  if (fe.validation) {
    const first = fe.validation[0];
    const where = fe.validationContext ?? 'request';
    const field =
      (first?.params as { missingProperty?: string } | undefined)?.missingProperty ??
      first?.instancePath?.replace(/^\//, '').replace(/\//g, '.') ??
      '';
    return {
      error: `${where}${field ? ` ${field}` : ''}: ${first?.message ?? 'invalid'}`,
      error_status: 400,
      code: 'KQ_ERR_INVALID_ARGUMENT',
    };
  }
  const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 ? fe.statusCode : 500;
  return {
    error: status >= 500 ? 'internal server error' : fe.message,
    error_status: status,
    code: status >= 500 ? 'KQ_ERR_INTERNAL' : undefined,
  };
}

export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((error, request, reply) => {
    const body = errorBody(error);
    if (body.error_status >= 500)
      log.error({ err: error, url: request.url, method: request.method }, 'request failed');
    reply.status(body.error_status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({
      error: `no route ${request.method} ${request.url.split('?')[0]}`,
      error_status: 404,
      code: 'KQ_ERR_NOT_FOUND',
    } satisfies ApiErrorBody);
  });
}

/** JSON schema of the error shape (for the OpenAPI document and route responses). */
export const errorSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    error_status: { type: 'integer' },
    code: { type: 'string' },
    hint: { type: 'string' },
  },
  required: ['error', 'error_status'],
} as const;
