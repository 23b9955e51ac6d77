// Small pieces the long-running commands share: the --port option and waiting for a stop signal.
import { KubeqaError } from '../domain/errors.js';

/** The --port value as a port number (0 picks a free one), or a coded error naming the option. */
export function parsePort(value: string | undefined): number {
  const port = Number(value);
  if (value === undefined || value === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `--port must be a number from 0 to 65535, got '${value ?? ''}'`,
    );
  }
  return port;
}

/** Resolves with the name of the first SIGINT or SIGTERM the process receives. */
export function untilStopSignal(): Promise<'SIGINT' | 'SIGTERM'> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}
