/**
 * Runs the real LinkWatch where it is started (the lab's dut namespace, through `ip netns exec`) and prints
 * one JSON line per event on stdout:
 *   {"event":"ready","t":<ms>,"pollMs":<n>,"states":[LinkState...]}   after start(), with the initial states
 *   {"event":"change","t":<ms>,"state":LinkState}                      one per 'change'
 *   {"event":"stopped","t":<ms>}                                        after stop(), on SIGTERM/SIGINT
 * t is Date.now() when the event was seen. Exits 0 after a clean stop, 1 if stopping failed.
 *
 * Usage: node linkwatch-driver.js [--poll-ms=N] [IFACE...]   (default: eth0 ppp0, LinkWatch's default poll)
 */
import { LinkWatch, LinkWatchOptions } from '../../../lib/linkwatch/link-watch';

function print(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

async function main(): Promise<void> {
  const options: LinkWatchOptions = {};
  const ifaces: string[] = [];
  for (const arg of process.argv.slice(2)) {
    const m = /^--poll-ms=(\d+)$/.exec(arg);
    if (m) options.pollMs = Number(m[1]);
    else ifaces.push(arg);
  }
  if (ifaces.length === 0) ifaces.push('eth0', 'ppp0');

  const watch = new LinkWatch(ifaces, {
    ...options,
    logger: {
      debug() {},
      info() {},
      warn: (m) => process.stderr.write(`WARN ${m}\n`),
      error: (m) => process.stderr.write(`ERROR ${m}\n`),
    },
  });
  watch.on('change', (state) => print({ event: 'change', t: Date.now(), state }));

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    watch.stop().then(
      () => {
        print({ event: 'stopped', t: Date.now() });
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

  await watch.start();
  print({ event: 'ready', t: Date.now(), pollMs: options.pollMs ?? null, states: ifaces.map((i) => watch.state(i)) });
}

main().catch((err: unknown) => {
  process.stderr.write(`linkwatch-driver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
