/**
 * Runs the real FailoverRunner (link watch, ICMP probes, engine, route service) where it is started (the lab's
 * dut namespace, through `ip netns exec`) on uplinks given as a user would configure them, and prints one JSON
 * line per observation on stdout:
 *   {"kind":"ready","t":ms}                       the runner has started
 *   {"kind":"event","t":ms,"event":FailoverEvent}  every engine event, as the engine emitted it
 *   {"kind":"stopped","t":ms}                      SIGTERM/SIGINT: the runner has stopped
 * Log lines go to stderr (`LEVEL message`).
 *
 * Usage: node runner-driver.js '{"uplinks":[UplinkInput...]}'
 * The uplinks go through the real validation (validateUplinks), so defaults are the product's defaults.
 * Exit 0 after a clean stop, 1 if stopping failed, 2 on bad input or a failed start.
 */
import { FailoverEvent } from '../../../lib/engine/events';
import { Logger } from '../../../lib/log/logger';
import { ProcessRunner } from '../../../lib/process/runner';
import { RouteService } from '../../../lib/routes/route-service';
import { FailoverRunner } from '../../../lib/runtime/failover-runner';
import { UplinkInput, validateUplinks } from '../../../lib/uplink/model';

function print(kind: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ kind, t: Date.now(), ...fields })}\n`);
}

const logger: Logger = {
  debug: (m) => process.stderr.write(`DEBUG ${m}\n`),
  info: (m) => process.stderr.write(`INFO ${m}\n`),
  warn: (m) => process.stderr.write(`WARNING ${m}\n`),
  error: (m) => process.stderr.write(`ERROR ${m}\n`),
};

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) {
    process.stderr.write('usage: runner-driver.js \'{"uplinks":[...]}\'\n');
    process.exit(2);
  }
  const input = JSON.parse(raw) as { uplinks?: UplinkInput[] };
  const uplinks = validateUplinks(input.uplinks ?? []);
  const routes = new RouteService({ runner: new ProcessRunner(), logger });
  const runner = new FailoverRunner({ uplinks, routes: routes.forOwner('lab'), logger });
  runner.engine.on((event: FailoverEvent) => print('event', { event }));

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    runner.stop().then(
      () => {
        print('stopped');
        process.exitCode = 0;
      },
      (err: unknown) => {
        process.stderr.write(`stop failed: ${String(err)}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  await routes.removeStale();
  await runner.start();
  print('ready');
}

main().catch((err: unknown) => {
  process.stderr.write(`runner-driver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
