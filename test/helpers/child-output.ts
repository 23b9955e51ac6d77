// A child process's end with all of its output: Node's 'exit' can come before the last of the
// child's stdout and stderr has been read (its pipes may still be open then), so a result taken at
// 'exit' can miss the lines that say what happened.
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/** How long to keep reading after the exit when something else (a grandchild) holds a pipe open. */
const PIPE_GRACE_MS = 5_000;

function drained(stream: Readable | null): Promise<void> {
  if (!stream || stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}

/**
 * Resolves once the child has exited and its stdout and stderr have ended (or, should a process
 * it left behind keep them open, PIPE_GRACE_MS after the exit), with the exit's code and signal.
 */
export function exitWithOutput(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      let grace: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(grace);
        resolve({ code, signal });
      };
      grace = setTimeout(done, PIPE_GRACE_MS);
      void Promise.all([drained(child.stdout), drained(child.stderr)]).then(done);
    });
  });
}
