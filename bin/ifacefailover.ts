#!/usr/bin/env node
/**
 * `ifacefailover FILE.properties [--dry-run]`: the headless service for users of the original's
 * properties file. Exit codes: 0 after a clean stop, 2 for bad input (nothing was touched), 1 otherwise.
 */
import { ConfigError } from '../lib/errors';
import { GuideLogger, LogLevel } from '../lib/log/logger';
import { loadServiceProperties } from '../lib/properties/ifacefailover-properties';
import { missingNetCapabilities } from '../lib/service/capabilities';
import { FailoverService } from '../lib/service/failover-service';

const USAGE = 'usage: ifacefailover FILE.properties [--dry-run] [--debug]';

interface Args {
  file: string;
  dryRun: boolean;
  level: LogLevel;
}

function parseArgs(argv: string[]): Args | string {
  let file: string | undefined;
  let dryRun = false;
  let level: LogLevel = 'INFO';
  for (const arg of argv) {
    if (arg === '--dry-run') dryRun = true;
    else if (arg === '--debug') level = 'DEBUG';
    else if (arg === '-h' || arg === '--help') return USAGE;
    else if (arg.startsWith('-')) return `unknown option ${arg}\n${USAGE}`;
    else if (file === undefined) file = arg;
    else return `unexpected argument ${arg}\n${USAGE}`;
  }
  if (!file) return `missing properties file\n${USAGE}`;
  return { file, dryRun, level };
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(`${args}\n`);
    return args === USAGE ? 0 : 2;
  }
  let properties;
  try {
    properties = await loadServiceProperties(args.file);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`ifacefailover: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (!args.dryRun) {
    const missing = await missingNetCapabilities();
    if (missing.length > 0) {
      process.stderr.write(
        `ifacefailover: changing routes needs root or ${missing.join(' and ')} ` +
          `(e.g. sudo setcap cap_net_admin,cap_net_raw+ep "$(readlink -f "$(which node)")"), or run with --dry-run\n`,
      );
      return 2;
    }
  }
  const logger = new GuideLogger((line) => process.stdout.write(`${line}\n`), args.level);
  const service = new FailoverService(properties, { logger, dryRun: args.dryRun });
  let stopping: Promise<void> | undefined;
  const finished = new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) return;
      logger.info(`Received ${signal}; stopping`);
      stopping = service.stop().then(
        () => resolve(0),
        (e: unknown) => {
          logger.error(`stop failed: ${String(e)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  await service.start();
  return finished;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`ifacefailover: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
