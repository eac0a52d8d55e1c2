import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../lib/errors';
import { DEFAULT_PROBE, isValidInterfaceName, validateUplinks } from '../../lib/uplink/model';

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('uplink model', () => {
  it('fills in defaults and keeps the order', () => {
    const [a, b] = validateUplinks([
      { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets: '203.0.113.1, 203.0.113.2' },
      { name: 'fona', iface: 'ppp0', gateway: '0.0.0.0' },
    ]);
    assert.deepEqual(a.targets, ['203.0.113.1', '203.0.113.2']);
    assert.deepEqual(a.probe, DEFAULT_PROBE);
    assert.equal(b.gateway, null, '0.0.0.0 means a point-to-point device without gateway');
    assert.deepEqual(b.targets, []);
  });

  it('accepts "none" and a missing gateway as point-to-point', () => {
    const [a, b] = validateUplinks([
      { name: 'a', iface: 'ppp0', gateway: 'none' },
      { name: 'b', iface: 'wwan0' },
    ]);
    assert.equal(a.gateway, null);
    assert.equal(b.gateway, null);
  });

  it('interface names follow the kernel rules', () => {
    for (const ok of ['eth0', 'wlan0', 'ppp0', 'enx00e04c680001', 'br-lan', 'eth0.100']) assert.ok(isValidInterfaceName(ok), ok);
    for (const bad of ['', 'a'.repeat(16), 'eth 0', 'eth/0', 'eth0:1', '.', '..', 'eth0\n']) assert.ok(!isValidInterfaceName(bad), JSON.stringify(bad));
  });

  it('names the uplink, the field and the value of every problem at once, applying nothing', () => {
    const lines = issuesOf(() =>
      validateUplinks([
        { name: 'primary', iface: 'enx00e04c68000123', gateway: '192.168.1.300', targets: ['203.0.113.1', 'example'] },
        { name: 'backup', iface: 'wlan0', gateway: '192.0.2.17', targets: ['203.0.113.2'], probe: { interval: 0, down: 1.5, reliability: 2 } },
      ]),
    );
    assert.deepEqual(lines, [
      'uplink "primary" iface="enx00e04c68000123": must be a Linux interface name: 1-15 characters, no "/", ":" or spaces',
      'uplink "primary" gateway="192.168.1.300": must be an IPv4 address, or none / 0.0.0.0 for a point-to-point device',
      'uplink "primary" targets="example": is not an IPv4 address',
      'uplink "backup" interval=0: must be a number from 0.1 to 3600',
      'uplink "backup" down=1.5: must be a whole number from 1 to 1000',
      'uplink "backup" reliability=2: cannot exceed the number of targets (1)',
    ]);
  });

  it('rejects duplicates and an empty list', () => {
    assert.deepEqual(
      issuesOf(() =>
        validateUplinks([
          { name: 'a', iface: 'eth0', gateway: '192.0.2.1' },
          { name: 'a', iface: 'eth0', gateway: '192.0.2.1' },
        ]),
      ),
      ['uplink "a" name="a": is used by two uplinks', 'uplink "a" iface="eth0": is used by two uplinks'],
    );
    assert.deepEqual(issuesOf(() => validateUplinks([])), ['uplinks=[]: at least one uplink is needed']);
    assert.match(issuesOf(() => validateUplinks([{ name: 'x', iface: 'eth0', targets: ['203.0.113.1', '203.0.113.1'] }]))[0], /is listed twice/);
  });
});
