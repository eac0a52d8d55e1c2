/**
 * Runs one round of the real IcmpProbe where it is started (the lab's dut namespace, through `ip netns exec`)
 * and prints a single JSON line: {"elapsedMs":<ms the round took>,"uplink":UplinkConfig,"result":ProbeResult}.
 *
 * Usage: node probe-driver.js '<uplink JSON>'
 * The uplink JSON is what a user would configure ({name, iface, gateway, targets, probe:{timeout, retries,
 * reliability...}}); it goes through the real validation, so defaults are the product's defaults.
 * Exit 0 after printing; 2 on bad input; 1 if the probe threw (it must not).
 */
import { performance } from 'node:perf_hooks';
import { IcmpProbe } from '../../../lib/probes/icmp';
import { UplinkInput, validateUplinks } from '../../../lib/uplink/model';

async function main(): Promise<number> {
  const raw = process.argv[2];
  if (raw === undefined) {
    process.stderr.write('usage: probe-driver.js <uplink JSON>\n');
    return 2;
  }
  let uplinkInput: UplinkInput;
  try {
    uplinkInput = JSON.parse(raw) as UplinkInput;
  } catch (err) {
    process.stderr.write(`probe-driver: not JSON: ${String(err)}\n`);
    return 2;
  }
  let uplink;
  try {
    [uplink] = validateUplinks([uplinkInput]);
  } catch (err) {
    process.stderr.write(`probe-driver: ${String(err)}\n`);
    return 2;
  }
  const start = performance.now();
  const result = await new IcmpProbe().run(uplink);
  const elapsedMs = Math.round(performance.now() - start);
  process.stdout.write(`${JSON.stringify({ elapsedMs, uplink, result })}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`probe-driver: probe threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
