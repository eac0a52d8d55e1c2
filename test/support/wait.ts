/** Waiting for a condition in tests: poll until it holds, or fail saying what never happened. */
export async function until(check: () => boolean | Promise<boolean>, options: { timeoutMs?: number; what?: string; intervalMs?: number } = {}): Promise<void> {
  const { timeoutMs = 10_000, what = 'the condition', intervalMs = 25 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
