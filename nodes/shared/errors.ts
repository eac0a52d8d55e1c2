/** One way to turn anything thrown into the text a user reads (in the debug sidebar or a Catch node). */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
