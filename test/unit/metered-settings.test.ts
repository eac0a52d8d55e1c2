/**
 * The settings of a metered uplink: in the uplink model (from an editor's fields and again from a validated
 * config), in the properties file of the headless service (with file and line for a bad value), and in the flow
 * `ifacefailover import` writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../lib/errors';
import { flowFromProperties } from '../../lib/migrate/flow-from-properties';
import { DEFAULT_USAGE_FILE, parseServiceProperties } from '../../lib/properties/ifacefailover-properties';
import { validateUplinks } from '../../lib/uplink/model';
import { uplinkFromDef, UplinkNodeDef } from '../../nodes/shared/uplink-def';

const FILE = '/etc/ifacefailover.properties';
const CELL = { name: 'cell', iface: 'wwan0', gateway: '198.51.100.65', targets: '203.0.113.1' };

test('model: not metered unless it says so; metered takes the defaults (idle 30 s, no budget, alerts 80 and 100 %, day 1)', () => {
  const [plain, metered, off] = validateUplinks([
    { ...CELL, name: 'a' },
    { ...CELL, name: 'b', iface: 'wwan1', metered: true },
    { ...CELL, name: 'c', iface: 'wwan2', metered: 'false', budget: 5 },
  ]);
  assert.equal(plain.metered, undefined);
  assert.deepEqual(metered.metered, { idleInterval: 30, budget: 0, budgetAlerts: [80, 100], budgetResetDay: 1 });
  assert.equal(off.metered, undefined, 'the settings of an uplink that is not metered are ignored');
});

test('model: the settings as given (alerts sorted), and a validated config validates again to itself', () => {
  const [u] = validateUplinks([{ ...CELL, metered: 'true', idleInterval: '45', budget: '2048.5', budgetAlerts: '100, 50,90', budgetResetDay: 31 }]);
  assert.deepEqual(u.metered, { idleInterval: 45, budget: 2048.5, budgetAlerts: [50, 90, 100], budgetResetDay: 31 });
  assert.deepEqual(validateUplinks([u]), [u]);
});

test('model: every bad metering setting is refused, each with its reason', () => {
  let error: unknown;
  try {
    validateUplinks([{ ...CELL, metered: 'yes', idleInterval: 0 }, { ...CELL, name: 'd', iface: 'wwan1', metered: true, idleInterval: 0, budget: -1, budgetAlerts: '80,80,abc', budgetResetDay: 32 }]);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(
    error.issues.map((i) => `${i.uplink} ${i.field}=${String(i.value)}: ${i.message}`),
    [
      'cell metered=yes: must be true or false',
      'd budgetAlerts=80: is listed twice',
      'd budgetAlerts=abc: must be a whole percentage from 1 to 1000',
      'd idleInterval=0: must be a number of seconds from 1 to 86400',
      'd budget=-1: must be a number of megabytes from 0 to 100000000',
      'd budgetResetDay=32: must be a day of the month from 1 to 31',
    ],
  );
});

test('editor fields: a metered checkbox and its settings become the metering settings', () => {
  const def = { id: 'n1', type: 'uplink', name: 'cell', iface: 'wwan0', gateway: '', targets: '203.0.113.1', interval: 1, timeout: 1, retries: 1, down: 3, up: 3, reliability: 1, setupTimeout: 60, pinMode: 'policy' } as unknown as UplinkNodeDef;
  assert.equal(uplinkFromDef(def).metered, undefined, 'a flow from before the option');
  const metered = uplinkFromDef({ ...def, metered: true, idleInterval: '20', budget: '', budgetAlerts: '90', budgetResetDay: '15' });
  assert.deepEqual(metered.metered, { idleInterval: 20, budget: 0, budgetAlerts: [90], budgetResetDay: 15 });
});

test('properties file: route.NAME.metered and its settings, failover.usageFile and usageReport', () => {
  const props = parseServiceProperties(
    [
      'route.primary.gateway=192.0.2.1',
      'route.primary.iface=eth0',
      'route.cell.gateway=0.0.0.0',
      'route.cell.iface=ppp0',
      'route.cell.metered=true',
      'route.cell.idleInterval=60',
      'route.cell.budget=1000',
      'route.cell.budgetAlerts=75,100',
      'route.cell.budgetResetDay=5',
    ].join('\n'),
    FILE,
  );
  assert.equal(props.usageFile, DEFAULT_USAGE_FILE);
  assert.equal(props.usageReport, 60);
  assert.equal(props.routes[0].uplink.metered, undefined);
  assert.deepEqual(props.routes[1].uplink.metered, { idleInterval: 60, budget: 1000, budgetAlerts: [75, 100], budgetResetDay: 5 });
  const other = parseServiceProperties(['failover.usageFile=/data/usage.json', 'failover.usageReport=5', 'route.a.gateway=192.0.2.1', 'route.a.iface=eth0'].join('\n'), FILE);
  assert.deepEqual([other.usageFile, other.usageReport], ['/data/usage.json', 5]);
});

test('properties file: a bad metering value is reported with its file and line', () => {
  let error: unknown;
  try {
    parseServiceProperties(['route.cell.gateway=0.0.0.0', 'route.cell.iface=ppp0', 'route.cell.metered=true', 'route.cell.budgetResetDay=0', 'failover.usageFile=usage.json'].join('\n'), FILE);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ConfigError);
  const lines = error.message.split('\n');
  assert.ok(lines.some((l) => l.startsWith(`${FILE}:4: `) && l.includes('budgetResetDay') && l.includes('must be a day of the month from 1 to 31')), error.message);
  assert.ok(lines.some((l) => l.startsWith(`${FILE}:5: `) && l.includes('failover.usageFile') && l.includes('must be an absolute path')), error.message);
});

test('import: a metered route becomes a metered uplink node', () => {
  const props = parseServiceProperties(
    ['route.primary.gateway=192.0.2.1', 'route.primary.iface=eth0', 'route.cell.gateway=0.0.0.0', 'route.cell.iface=ppp0', 'route.cell.metered=true', 'route.cell.budget=500'].join('\n'),
    FILE,
  );
  const nodes = flowFromProperties(props).flow.filter((n) => n.type === 'uplink') as unknown as Record<string, unknown>[];
  assert.equal(nodes[0].metered, false);
  assert.deepEqual(
    [nodes[1].metered, nodes[1].idleInterval, nodes[1].budget, nodes[1].budgetAlerts, nodes[1].budgetResetDay],
    [true, 30, 500, '80,100', 1],
  );
  assert.deepEqual(uplinkFromDef(nodes[1] as unknown as UplinkNodeDef).metered, props.routes[1].uplink.metered, 'the node reads back to the same settings');
});
