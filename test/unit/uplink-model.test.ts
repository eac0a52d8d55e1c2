import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../lib/errors';
import { isIPv6 } from '../../lib/settings/check';
import { DEFAULT_PROBE, isValidInterfaceName, uplinkFamilies, validateUplinks } from '../../lib/uplink/model';

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
      'uplink "primary" targets="example": is not an IPv4 or IPv6 address',
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

  describe('IPv6', () => {
    it('takes IPv6 targets, DNS servers and gateway6 (link-local too), mixed with IPv4', () => {
      const [a, b] = validateUplinks([
        {
          name: 'primary',
          iface: 'eth0',
          gateway: '192.0.2.1',
          gateway6: 'fe80::1',
          targets: '203.0.113.1, 2001:DB8:113::1, 2001:db8::1.2.3.4',
          dns: ['2001:db8::53', '192.0.2.53'],
        },
        { name: 'v6only', iface: 'wlan0', gateway6: ' 2001:db8:2::1 ', targets: ['2001:db8:113::2'] },
      ]);
      assert.deepEqual(a.targets, ['203.0.113.1', '2001:db8:113::1', '2001:db8::1.2.3.4'], 'IPv6 kept in lower case');
      assert.equal(a.gateway6, 'fe80::1');
      assert.deepEqual(a.dns, ['2001:db8::53', '192.0.2.53']);
      assert.equal(b.gateway, null);
      assert.equal(b.gateway6, '2001:db8:2::1');
    });

    it('an uplink without gateway6 has none (the field is absent); none and :: mean none', () => {
      const [a, b, c] = validateUplinks([
        { name: 'a', iface: 'eth0', gateway: '192.0.2.1' },
        { name: 'b', iface: 'eth1', gateway: '192.0.2.17', gateway6: 'none' },
        { name: 'c', iface: 'eth2', gateway: '192.0.2.33', gateway6: '::' },
      ]);
      for (const u of [a, b, c]) assert.equal('gateway6' in u, false, u.name);
    });

    it('says which families an uplink carries', () => {
      const families = (u: { gateway: string | null; gateway6?: string; targets: string[] }): string =>
        Object.entries(uplinkFamilies(u))
          .filter(([, on]) => on)
          .map(([f]) => f)
          .join('+');
      assert.equal(families({ gateway: '192.0.2.1', targets: ['203.0.113.1'] }), 'v4');
      assert.equal(families({ gateway: null, gateway6: '2001:db8:1::1', targets: ['2001:db8:113::1'] }), 'v6');
      assert.equal(families({ gateway: null, gateway6: 'fe80::1', targets: [] }), 'v6');
      assert.equal(families({ gateway: '192.0.2.1', gateway6: 'fe80::1', targets: [] }), 'v4+v6');
      assert.equal(families({ gateway: '192.0.2.1', targets: ['2001:db8:113::1'] }), 'v4+v6', 'v6 targets: v6 (validation then asks for gateway6)');
      assert.equal(families({ gateway: null, targets: [] }), 'v4', 'point-to-point without any gateway (ppp0)');
      assert.equal(families({ gateway: null, targets: ['2001:db8:113::1'] }), 'v4+v6', 'ppp0 with IPv6 targets');
      assert.equal(families({ gateway: null, gateway6: 'fe80::1', targets: ['203.0.113.1'] }), 'v4+v6');
    });

    it('IPv6 targets on an uplink with an IPv4 gateway need gateway6 (only point-to-point routes without one)', () => {
      assert.deepEqual(issuesOf(() => validateUplinks([{ name: 'a', iface: 'eth0', gateway: '192.0.2.1', targets: '203.0.113.1, 2001:db8:113::1' }])), [
        'uplink "a" targets="2001:db8:113::1": is an IPv6 target, but the uplink has an IPv4 gateway and no IPv6 gateway: set gateway6 (only a point-to-point device needs none)',
      ]);
      const [ppp] = validateUplinks([{ name: 'fona', iface: 'ppp0', gateway: 'none', targets: '2001:db8:113::1' }]);
      assert.deepEqual(ppp.targets, ['2001:db8:113::1']);
    });

    it('refuses bad IPv6 input with a sentence saying why', () => {
      const lines = issuesOf(() =>
        validateUplinks([
          { name: 'a', iface: 'eth0', gateway: '2001:db8:1::1', gateway6: '192.0.2.1', targets: '2001:db8::1, 2001:0db8:0::1, 2001:db8:::1, 1:2:3:4:5:6:7:8:9' },
          { name: 'b', iface: 'eth1', gateway6: 'fe80::1%eth1', dns: 'fe80::g' },
          { name: 'c', iface: 'eth2', gateway6: 'gateway', targets: ['::ffff:1.2.3.04', '1::2::3', '12345::1'] },
        ]),
      );
      assert.deepEqual(lines, [
        'uplink "a" gateway="2001:db8:1::1": is an IPv6 address: it belongs in the IPv6 gateway (gateway6)',
        'uplink "a" gateway6="192.0.2.1": is an IPv4 address: it belongs in the gateway, this is the IPv6 gateway',
        'uplink "a" targets=" 2001:0db8:0::1": is listed twice',
        'uplink "a" targets=" 2001:db8:::1": is not an IPv4 or IPv6 address',
        'uplink "a" targets=" 1:2:3:4:5:6:7:8:9": is not an IPv4 or IPv6 address',
        'uplink "b" gateway6="fe80::1%eth1": must not name a zone ("%..."): the uplink\'s interface is the zone of a link-local gateway',
        'uplink "b" dns="fe80::g": is not an IPv4 or IPv6 address',
        'uplink "c" gateway6="gateway": must be an IPv6 address (a link-local one such as fe80::1 is fine), or none',
        'uplink "c" targets="::ffff:1.2.3.04": is not an IPv4 or IPv6 address',
        'uplink "c" targets="1::2::3": is not an IPv4 or IPv6 address',
        'uplink "c" targets="12345::1": is not an IPv4 or IPv6 address',
      ]);
    });

    it('reads IPv6 text as node:net does', async () => {
      const { isIPv6: nodeIsIPv6 } = await import('node:net');
      const cases = [
        '::', '::1', '1::', 'fe80::1', '2001:db8::', '2001:db8:0:0:0:0:0:1', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8',
        '::ffff:192.0.2.1', '1:2:3:4:5:6:1.2.3.4', '1::1.2.3.4', '::1.2.3.4', 'ABCD::EF01',
        '', ':', ':::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1::2::3', ':1::', '1:::2', '12345::', 'g::', '1.2.3.4', '::1.2.3', '::256.1.1.1',
        '1:2:3:4:5:6:7:1.2.3.4', '1:2:3:4:5:6:7:8::', ' ::1', '::1.2.3.4:1',
      ];
      for (const text of cases) assert.equal(isIPv6(text), nodeIsIPv6(text), JSON.stringify(text));
      assert.equal(isIPv6('fe80::1%eth0'), false, 'a zone is refused (node:net takes it): the uplink names the interface');
    });
  });
});
