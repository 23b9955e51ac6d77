// Wait for a condition that nothing announces (a row written by another process, a file flushed):
// check it, and again every intervalMs, until it holds or the deadline passes. Resolves with
// whether it held, so the caller's assertion reports the real state.
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
