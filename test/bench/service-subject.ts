/**
 * The headless service as `bin/ifacefailover.js` runs it (same properties loader, same FailoverService,
 * same logger), with the prober chosen on the command line, so the benchmark runs each prober in the same
 * service, lab and run:
 *
 *   node service-subject.js FILE.properties --probe continuous   ContinuousIcmpProbe: one fping -l per uplink
 *   node service-subject.js FILE.properties --probe spawn        IcmpProbe: one `ping` process per echo (the previous prober)
 *
 * Stops cleanly on SIGTERM/SIGINT, as the service does. It imports nothing from the test harness, so its
 * memory is the service's. subject.ts starts it in a lab.
 */
import { GuideLogger, Logger } from '../../lib/log/logger';
import { ContinuousIcmpProbe } from '../../lib/probes/fping';
import { IcmpProbe } from '../../lib/probes/icmp';
import { Probe } from '../../lib/probes/probe';
import { loadServiceProperties } from '../../lib/properties/ifacefailover-properties';
import { FailoverService } from '../../lib/service/failover-service';

const PROBERS = ['continuous', 'spawn'] as const;

function proberOf(name: string, logger: Logger): Probe {
  switch (name) {
    case 'continuous':
      return new ContinuousIcmpProbe({ logger });
    case 'spawn':
      return new IcmpProbe();
    default:
      throw new Error(`unknown prober ${name} (one of ${PROBERS.join(', ')})`);
  }
}

async function main(argv: string[]): Promise<number> {
  const file = argv[0];
  const at = argv.indexOf('--probe');
  if (!file || at < 0 || !argv[at + 1]) {
    process.stderr.write(`usage: service-subject FILE.properties --probe ${PROBERS.join('|')}\n`);
    return 2;
  }
  const properties = await loadServiceProperties(file);
  const logger = new GuideLogger((line) => process.stdout.write(`${line}\n`), 'INFO');
  const service = new FailoverService(properties, { logger, probe: proberOf(argv[at + 1], logger) });
  const finished = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      service.stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await service.start();
  return finished;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`service-subject: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
