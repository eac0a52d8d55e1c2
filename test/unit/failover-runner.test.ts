/**
 * The runner's probe: the uplinks' checks run beside whatever ICMP prober it is given, and closing the runner
 * closes that prober (a long-lived one ends its processes) through the mixed probe; a stop signal that also
 * ends the link watch's ip monitor while the stop is under way is no failure of the monitor.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { silentLogger } from '../../lib/log/logger';
import { Probe, ProbeResult, summarise } from '../../lib/probes/probe';
import { FailoverRunner } from '../../lib/runtime/failover-runner';
import { UplinkConfig, validateUplinks } from '../../lib/uplink/model';
import { RecordingLogger } from '../support/recorders';
import { until, waitFor } from '../support/wait';

class ClosableProbe implements Probe {
  closed = 0;
  async run(u: UplinkConfig): Promise<ProbeResult> {
    return summarise(u, []);
  }
  async close(): Promise<void> {
    this.closed++;
  }
}

describe('failover runner: probe', () => {
  it('stopping the runner closes the ICMP prober it was given, once', async () => {
    const icmp = new ClosableProbe();
    const uplinks = validateUplinks([{ name: 'p', iface: 'nosuch0', checks: 'tcp://192.0.2.1:443' }]);
    const runner = new FailoverRunner({
      uplinks,
      routes: { activate: async () => undefined, pin: async () => undefined, unpin: async () => undefined },
      logger: silentLogger,
      probe: icmp,
    });
    await runner.stop();
    await runner.stop();
    assert.equal(icmp.closed, 1);
  });
});

/** Pids of this process's `ip monitor` children. */
function monitors(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').startsWith('ip monitor')) pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

describe('failover runner: stop', () => {
  it('a stop signal that also ends ip monitor while the stop is still under way: no restart, no warning', async () => {
    // The stop is held in the prober's close (after the engine's stop, before the link watch's) for as long as the test wants.
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let closing = false;
    const icmp: Probe = {
      run: async (u) => summarise(u, []),
      close: async () => {
        closing = true;
        await held;
      },
    };
    const logger = new RecordingLogger();
    const runner = new FailoverRunner({
      uplinks: validateUplinks([{ name: 'loopback', iface: 'lo' }]),
      routes: { activate: async () => undefined, pin: async () => undefined, unpin: async () => undefined },
      logger,
      probe: icmp,
      linkPollMs: 0,
    });
    await runner.start();
    const [monitor] = await waitFor(() => (monitors().length === 1 ? monitors() : undefined), { what: 'the runner\'s ip monitor' });
    const stopped = runner.stop();
    try {
      await until(() => closing, { what: 'the stop to reach the prober' });
      process.kill(monitor, 'SIGTERM'); // what a stop signal to the whole process group does to it
      await until(() => logger.lines.includes('DEBUG link monitor ended (SIGTERM) while stopping; not restarted'), { what: 'the quiet end' });
    } finally {
      release();
      await stopped;
    }
    assert.deepEqual(logger.at('WARN'), []);
    assert.deepEqual(monitors(), [], 'no monitor started again');
  });
});
