/**
 * The original's logHandler, built in: lifecycle and availability lines in the guide's wording.
 */
import { FailoverEvent } from '../engine/events';

/** The guide's line for an event of an uplink whose log handler is named `name`, or null if it logs nothing. */
export function logHandlerLine(event: FailoverEvent, name: string): string | null {
  switch (event.type) {
    case 'setup':
      return `Setting up connection to ${name}`;
    case 'teardown':
      return `Tearing down connection to ${name}`;
    case 'connectionFailed':
      return `Connection failed on ${name}`;
    case 'connectionRestored':
      return `Connection restored to ${name}`;
    case 'connected':
      return event.from === null ? `Connected to ${name}` : `Failing over to ${name}`;
    case 'available':
      return `upRoutes=${event.up.join(', ')}; downRoutes=${event.down.join(', ')}`;
    default:
      return null;
  }
}
