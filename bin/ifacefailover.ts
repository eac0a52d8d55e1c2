#!/usr/bin/env node
/**
 * `ifacefailover FILE.properties [--dry-run]`: the headless service for users of the original's
 * properties file. Exit codes: 0 after a clean stop, 2 for bad input (nothing was touched), 1 otherwise.
 */
import { writeFile } from 'node:fs/promises';
import { ConfigError } from '../lib/errors';
import { encryptCredentials, flowFromProperties } from '../lib/migrate/flow-from-properties';
import { GuideLogger, LogLevel } from '../lib/log/logger';
import { loadServiceProperties } from '../lib/properties/ifacefailover-properties';
import { missingNetCapabilities } from '../lib/runtime/capabilities';
import { FailoverService } from '../lib/service/failover-service';

const USAGE = `usage: ifacefailover FILE.properties [--dry-run] [--debug]
       ifacefailover import FILE.properties [--credentials FILE [--credential-secret SECRET]] > flows.json`;

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

/** `import`: properties file -> Node-RED flow on stdout; credentials only ever to their own file. */
async function importCommand(argv: string[]): Promise<number> {
  let file: string | undefined;
  let credentialsFile: string | undefined;
  let secret: string | false = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--credentials' && argv[i + 1]) credentialsFile = argv[++i];
    else if (arg === '--credential-secret' && argv[i + 1]) secret = argv[++i];
    else if (!arg.startsWith('-') && file === undefined) file = arg;
    else {
      process.stderr.write(`unexpected argument ${arg}\n${USAGE}\n`);
      return 2;
    }
  }
  if (!file) {
    process.stderr.write(`missing properties file\n${USAGE}\n`);
    return 2;
  }
  let properties;
  try {
    properties = await loadServiceProperties(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`ifacefailover: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const imported = flowFromProperties(properties);
  for (const w of [...properties.warnings, ...imported.warnings]) process.stderr.write(`ifacefailover: warning: ${w}\n`);
  const credentialCount = Object.keys(imported.credentials).length;
  if (credentialCount > 0) {
    if (credentialsFile) {
      await writeFile(credentialsFile, `${JSON.stringify(encryptCredentials(imported.credentials, secret), null, 2)}\n`, { mode: 0o600 });
      process.stderr.write(
        `ifacefailover: credentials of ${credentialCount} node(s) written to ${credentialsFile}` +
          (secret === false ? ' in plain text (use it with credentialSecret: false, or pass --credential-secret)\n' : ' encrypted with the given credentialSecret\n'),
      );
    } else {
      process.stderr.write(
        `ifacefailover: ${credentialCount} http request node(s) need the user name and password from the file: ` +
          'they are not written into the flow; enter them in each node, or re-run with --credentials FILE\n',
      );
    }
  }
  process.stdout.write(`${JSON.stringify(imported.flow, null, 2)}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'import') return importCommand(argv.slice(1));
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
