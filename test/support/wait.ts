/** Waiting in tests: for a condition (until, waitFor), or, only to show that nothing happens, for time (sleep). */
export interface WaitOptions {
  timeoutMs?: number;
  what?: string;
  intervalMs?: number;
}

/** Poll until the check holds, or fail saying what never happened. */
export async function until(check: () => boolean | Promise<boolean>, options: WaitOptions = {}): Promise<void> {
  await waitFor(async () => ((await check()) ? true : undefined), options);
}

/** Poll until the probe returns something (not undefined), and return it; or fail saying what never came. */
export async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, options: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 10_000, what = 'the condition', intervalMs = 25 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Lets real time pass. Only for showing that something does NOT happen in that time (or for pacing a real
 * process); never to wait for something to happen: use until/waitFor for that.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
