// Deadlines of the tests' waits. A default is for work that takes well under a second on a quiet
// machine (an API answer, a watch event, a controller's pass): generous, because the machine is
// shared and loaded, and stretched by TIMEOUT_SCALE (the same knob as the guests', default 1) for
// slower runs. Waits on QEMU guests under TCG pass their own, longer deadline.

/** TIMEOUT_SCALE from the environment (a positive number), else 1. */
export const TEST_TIMEOUT_SCALE = ((): number => {
  const value = Number(process.env.TIMEOUT_SCALE);
  return Number.isFinite(value) && value > 0 ? value : 1;
})();

/** `quietMs` on this run: stretched by TIMEOUT_SCALE. */
export function scaled(quietMs: number): number {
  return Math.round(quietMs * TEST_TIMEOUT_SCALE);
}

/** The default deadline of a wait on quick work (30 s × TIMEOUT_SCALE). */
export const QUICK_WAIT_MS = scaled(30_000);

/** `promise`, or an error saying `what` did not happen once `timeoutMs` passed. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
