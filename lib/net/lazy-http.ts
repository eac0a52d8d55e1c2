/**
 * node:http and node:https, loaded at the first request: most devices never send one (no HTTP check, no
 * HTTP notifier), and loading them (https brings tls) costs a few MB of resident memory on a small device.
 */
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';

const load = createRequire(__filename);
let http: typeof Http | undefined;
let https: typeof Https | undefined;

export function httpModule(): typeof Http {
  http ??= load('node:http') as typeof Http;
  return http;
}

export function httpsModule(): typeof Https {
  https ??= load('node:https') as typeof Https;
  return https;
}
