/**
 * How anything thrown reaches a user (the debug sidebar, a Catch node). A controller's input fails only
 * through NodeController.fail (nodes/shared/controller.ts), which shows the badge an InputError carries.
 */
import { errorMessage } from '../../lib/errors';
import type { Badge } from './status';

export { errorMessage };

export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(errorMessage(e));
}

/**
 * One message failed, and the badge that says so. Its name stays "Error": Catch nodes get
 * "Error: <message>", as for a plain Error.
 */
export class InputError extends Error {
  constructor(
    message: string,
    readonly badge?: Badge,
  ) {
    super(message);
  }
}
