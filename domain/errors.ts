// Coded errors: every error a user can meet has a stable KQ_ERR_* code, a message that says what
// was wrong, and a hint that says how to fix it.

export type ErrorCode =
  | 'KQ_ERR_MISSING_TOOL'
  | 'KQ_ERR_INVALID_SETTING'
  | 'KQ_ERR_INVALID_ARGUMENT'
  | 'KQ_ERR_NOT_FOUND'
  | 'KQ_ERR_CONFLICT'
  | 'KQ_ERR_UNAUTHORIZED'
  | 'KQ_ERR_FORBIDDEN'
  | 'KQ_ERR_INTERNAL'
  | 'KQ_ERR_ILLEGAL_TRANSITION'
  | 'KQ_ERR_INVALID_NEEDLE'
  | 'KQ_ERR_UNREACHABLE'
  | 'KQ_ERR_INVALID_ASSET'
  | 'KQ_ERR_CHECKSUM_MISMATCH'
  | 'KQ_ERR_STORAGE'
  | 'KQ_ERR_DOWNLOAD'
  | 'KQ_ERR_CACHE'
  | 'KQ_ERR_QEMU'
  | 'KQ_ERR_INVALID_DISTRIBUTION'
  | 'KQ_ERR_TEST_FAILED'
  | (string & { readonly __kq?: never });

export class KubeqaError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** What the user can do about it. */
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(hint ? `${message} (${hint})` : message, options);
    this.name = 'KubeqaError';
  }
}

export function isKubeqaError(error: unknown): error is KubeqaError {
  return error instanceof KubeqaError;
}
