/**
 * The runner's probe: the uplinks' checks run beside whatever ICMP prober it is given, and closing the runner
 * closes that prober (a long-lived one ends its processes) through the mixed probe.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../lib/log/logger';
import { Probe, ProbeResult, summarise } from '../../lib/probes/probe';
import { FailoverRunner } from '../../lib/runtime/failover-runner';
import { UplinkConfig, validateUplinks } from '../../lib/uplink/model';

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
