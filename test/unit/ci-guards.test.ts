/** CI never passes by skipping: with IFF_REQUIRE_LAB=1 the lab module refuses to load when the lab cannot run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { tempDir } from '../fakes/fake-tools';

const NETLAB = resolve(__dirname, '../lab/netlab.js');

function load(env: NodeJS.ProcessEnv): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(NETLAB)})`], { env, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

test('IFF_REQUIRE_LAB=1 without the lab tools: loading the lab fails, naming what is missing', () => {
  const emptyPath = tempDir('iff-nopath-');
  const r = load({ PATH: emptyPath, IFF_REQUIRE_LAB: '1' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /IFF_REQUIRE_LAB=1 but the network-lab tests would be skipped: (not root|missing ip, socat, nft, ping, dnsmasq, mosquitto, mosquitto_sub, conntrack, openssl, fping, setpriv, unshare)/);
});

test('without IFF_REQUIRE_LAB the same machine only skips (the lab module loads)', () => {
  const r = load({ PATH: tempDir('iff-nopath-') });
  assert.equal(r.status, 0, r.stderr);
});
