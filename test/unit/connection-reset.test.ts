/**
 * ConnectionReset against a recording stand-in for the CommandRunner: which commands it runs (exact argument
 * arrays), what it concludes from their output, and what it logs. The real tools in a real kernel are
 * exercised in test/lab/connections.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionReset, ConnectionResetOptions } from '../../lib/connections/connection-reset';
import { Logger } from '../../lib/log/logger';
import { CommandRunner } from '../../lib/process/runner';
import { validateUplinks } from '../../lib/uplink/model';
import { Answer, RecordingLogger, RecordingRunner } from '../support/recorders';

const [ETH0, WLAN0, PPP0] = validateUplinks([
  { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets: ['203.0.113.1'] },
  { name: 'wifi', iface: 'wlan0', gateway: '192.0.2.17' },
  { name: 'fona', iface: 'ppp0', gateway: null },
]);

interface AddrInfo {
  family?: string;
  local: string;
  prefixlen: number;
  address?: string;
}

/** `ip -4 -j addr show` output for interfaces given as name -> addresses. */
function ipJson(links: Record<string, AddrInfo[]>): string {
  return JSON.stringify(Object.entries(links).map(([ifname, addrs]) => ({ ifname, addr_info: addrs.map((a) => ({ family: 'inet', ...a })) })));
}

const LAB_ADDRESSES = {
  lo: [{ local: '127.0.0.1', prefixlen: 8 }],
  eth0: [{ local: '192.0.2.2', prefixlen: 28 }],
  wlan0: [{ local: '192.0.2.18', prefixlen: 28 }],
};

type Reply = Answer;
type Responder = (command: string, args: readonly string[]) => Reply;

function enoent(command: string): Error {
  return Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' });
}

interface Kernel {
  /** Established sockets matching the filter, as `ss -H -n -t -u state established` prints them. */
  established: string[];
  /** Whether SOCK_DESTROY works (CONFIG_INET_DIAG_DESTROY). */
  canDestroy: boolean;
}

/**
 * A host: `ip` answers with `addresses`, `ss` behaves like a kernel with or without socket destroy (the
 * listed sockets vanish on -K, or stay and -K prints nothing), `conntrack` as the test says.
 */
function host(options: { addresses?: Record<string, AddrInfo[]>; kernel?: Kernel; conntrack?: Responder; ss?: Responder; ip?: Responder } = {}): RecordingRunner {
  const kernel = options.kernel ?? { established: [], canDestroy: true };
  return new RecordingRunner(([command, ...args]) => {
    if (command === 'ip') return options.ip ? options.ip(command, args) : { stdout: ipJson(options.addresses ?? LAB_ADDRESSES) };
    if (command === 'ss') {
      if (options.ss) return options.ss(command, args);
      if (args[0] === '-K') {
        if (!kernel.canDestroy) return { stdout: '' };
        const destroyed = kernel.established;
        kernel.established = [];
        return { stdout: destroyed.map((l) => `${l}\n`).join('') };
      }
      return { stdout: kernel.established.map((l) => `${l}\n`).join('') };
    }
    if (command === 'conntrack') {
      return options.conntrack ? options.conntrack(command, args) : { stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n', exitCode: 1 };
    }
    return enoent(command);
  });
}

function reset(runner: CommandRunner, logger: Logger, extra: Partial<ConnectionResetOptions> = {}): ConnectionReset {
  return new ConnectionReset({ runner, logger, ...extra });
}

const UPSTREAM_SOCKET = 'tcp   0      0      192.0.2.2:44489 203.0.113.5:7000';

/** The filter for eth0 192.0.2.2/28 on the lab's addresses. */
const ETH0_FILTER = ['src', '192.0.2.2', 'and', 'not', 'dst', '192.0.2.0/28', 'and', 'not', 'dst', '127.0.0.0/8', 'and', 'not', 'dst', '192.0.2.18'];

describe('ConnectionReset', () => {
  it('one address: reads the addresses, lists, destroys and lists again with the exact ss arguments, flushes NAT state', async () => {
    const runner = host({ kernel: { established: [UPSTREAM_SOCKET], canDestroy: true } });
    const logger = new RecordingLogger();
    const summary = await reset(runner, logger).afterSwitch(ETH0, WLAN0);
    assert.deepEqual(summary, { reset: 1, conntrack: 0, supported: true });
    assert.deepEqual(runner.argsOf('ip'), [['-4', '-j', 'addr', 'show']]);
    assert.deepEqual(runner.argsOf('ss'), [
      ['-H', '-n', '-t', '-u', 'state', 'established', ...ETH0_FILTER],
      ['-K', '-H', '-n', '-t', '-u', ...ETH0_FILTER],
      ['-H', '-n', '-t', '-u', 'state', 'established', ...ETH0_FILTER],
    ]);
    assert.deepEqual(runner.argsOf('conntrack'), [['-D', '--src-nat', '--reply-dst', '192.0.2.2']]);
    runner.calls.forEach((call, i) => {
      const options = runner.options[i];
      assert.equal(options?.reject, false, `${call.argv[0]} does not throw for its exit status`);
      assert.ok((options?.timeoutMs ?? 0) > 0 && (options?.timeoutMs ?? Infinity) <= 3000, `${call.argv[0]} has a timeout`);
    });
    assert.deepEqual(logger.at('INFO'), ['INFO Reset 1 connection(s) of eth0 (192.0.2.2) so they reconnect through wlan0']);
    assert.deepEqual(logger.at('WARN'), []);
  });

  it('two addresses: a parenthesised "or" of sources, every subnet kept, conntrack once per address', async () => {
    const runner = host({
      addresses: {
        lo: [{ local: '127.0.0.1', prefixlen: 8 }],
        eth0: [
          { local: '192.0.2.2', prefixlen: 28 },
          { local: '198.51.100.10', prefixlen: 24 },
        ],
        wlan0: [{ local: '192.0.2.18', prefixlen: 28 }],
      },
      conntrack: (_c, args) => ({ stderr: `conntrack v1.4.7 (conntrack-tools): ${args[3] === '192.0.2.2' ? 3 : 1} flow entries have been deleted.\n` }),
    });
    const logger = new RecordingLogger();
    const summary = await reset(runner, logger).afterSwitch(ETH0, PPP0);
    const filter = [
      '(', 'src', '192.0.2.2', 'or', 'src', '198.51.100.10', ')',
      'and', 'not', 'dst', '192.0.2.0/28',
      'and', 'not', 'dst', '198.51.100.0/24',
      'and', 'not', 'dst', '127.0.0.0/8',
      'and', 'not', 'dst', '192.0.2.18',
    ]; // prettier-ignore
    // No socket was established before: nothing to compare afterwards.
    assert.deepEqual(runner.argsOf('ss'), [
      ['-H', '-n', '-t', '-u', 'state', 'established', ...filter],
      ['-K', '-H', '-n', '-t', '-u', ...filter],
    ]);
    assert.deepEqual(runner.argsOf('conntrack'), [
      ['-D', '--src-nat', '--reply-dst', '192.0.2.2'],
      ['-D', '--src-nat', '--reply-dst', '198.51.100.10'],
    ]);
    assert.deepEqual(summary, { reset: 0, conntrack: 4, supported: true });
    assert.deepEqual(logger.at('INFO'), ['INFO Reset 0 connection(s) of eth0 (192.0.2.2, 198.51.100.10) so they reconnect through ppp0; deleted 4 NAT entries']);
  });

  describe('peers that keep their connection', () => {
    const addresses = {
      lo: [{ local: '127.0.0.1', prefixlen: 8 }],
      eth0: [
        { local: '192.0.2.2', prefixlen: 28 },
        { local: '192.0.2.5', prefixlen: 28 },
      ],
      dummy0: [{ local: '127.0.0.53', prefixlen: 32 }],
      wlan0: [{ local: '192.0.2.18', prefixlen: 28 }],
      ppp0: [{ local: '10.64.64.64', prefixlen: 32, address: '10.64.64.1' }],
    };

    it("the old uplink's subnet, loopback and every local address, without redundant terms", async () => {
      const runner = host({ addresses });
      await reset(runner, new RecordingLogger()).afterSwitch(ETH0, PPP0);
      // 192.0.2.5 is inside 192.0.2.0/28 and 127.0.0.53 inside 127.0.0.0/8: no term of their own.
      assert.deepEqual(runner.argsOf('ss').find((a) => a[0] === '-K'), [
        '-K', '-H', '-n', '-t', '-u',
        '(', 'src', '192.0.2.2', 'or', 'src', '192.0.2.5', ')',
        'and', 'not', 'dst', '192.0.2.0/28',
        'and', 'not', 'dst', '127.0.0.0/8',
        'and', 'not', 'dst', '192.0.2.18',
        'and', 'not', 'dst', '10.64.64.64',
      ]); // prettier-ignore
    });

    it('a point-to-point uplink (peer/32): its peer', async () => {
      const runner = host({ addresses });
      await reset(runner, new RecordingLogger()).afterSwitch(PPP0, ETH0);
      assert.deepEqual(runner.argsOf('ss').find((a) => a[0] === '-K'), [
        '-K', '-H', '-n', '-t', '-u',
        'src', '10.64.64.64',
        'and', 'not', 'dst', '10.64.64.1',
        'and', 'not', 'dst', '127.0.0.0/8',
        'and', 'not', 'dst', '192.0.2.2',
        'and', 'not', 'dst', '192.0.2.5',
        'and', 'not', 'dst', '192.0.2.18',
        'and', 'not', 'dst', '10.64.64.64',
      ]); // prettier-ignore
      assert.deepEqual(runner.argsOf('conntrack'), [['-D', '--src-nat', '--reply-dst', '10.64.64.64']]);
    });
  });

  it('an uplink whose device vanished (ppp0 hung up) is reset by the address it had when it took over', async () => {
    let addresses: Record<string, AddrInfo[]> = { ...LAB_ADDRESSES, ppp0: [{ local: '198.51.100.2', prefixlen: 30 }] };
    const runner = host({ ip: () => ({ stdout: ipJson(addresses) }) });
    const connections = reset(runner, new RecordingLogger());
    await connections.afterSwitch(ETH0, PPP0);
    addresses = { ...LAB_ADDRESSES };
    const summary = await connections.afterSwitch(PPP0, ETH0);
    const kill = runner.argsOf('ss').filter((a) => a[0] === '-K');
    assert.deepEqual(kill[1], ['-K', '-H', '-n', '-t', '-u', 'src', '198.51.100.2', 'and', 'not', 'dst', '198.51.100.0/30', 'and', 'not', 'dst', '127.0.0.0/8', 'and', 'not', 'dst', '192.0.2.2', 'and', 'not', 'dst', '192.0.2.18']);
    assert.equal(summary.supported, true);
  });

  it('an uplink with no IPv4 address at all: nothing runs but the address lookup', async () => {
    const runner = host({ addresses: { lo: [{ local: '127.0.0.1', prefixlen: 8 }], wlan0: [{ local: '192.0.2.18', prefixlen: 28 }] } });
    const logger = new RecordingLogger();
    const summary = await reset(runner, logger).afterSwitch(PPP0, WLAN0);
    assert.deepEqual(runner.calls.map((c) => c.argv[0]), ['ip']);
    assert.equal(summary.reset, 0);
    assert.deepEqual(logger.at('WARN'), []);
  });

  it('dry-run logs the commands it would run and runs nothing that changes state', async () => {
    const runner = host({ kernel: { established: [UPSTREAM_SOCKET], canDestroy: true } });
    const logger = new RecordingLogger();
    const summary = await reset(runner, logger, { dryRun: true }).afterSwitch(ETH0, WLAN0);
    assert.deepEqual(runner.calls.map((c) => c.argv), [['ip', '-4', '-j', 'addr', 'show']], 'only the address lookup');
    assert.deepEqual(logger.at('INFO'), [
      `INFO DRY-RUN: ss -K -H -n -t -u ${ETH0_FILTER.join(' ')}`,
      'INFO DRY-RUN: conntrack -D --src-nat --reply-dst 192.0.2.2',
    ]);
    assert.deepEqual(summary, { reset: 0, conntrack: null, supported: true });
  });

  it('tool paths and the command timeout are options', async () => {
    const runner = new RecordingRunner(([command]) => (command === '/sbin/ip' ? { stdout: ipJson(LAB_ADDRESSES) } : {}));
    await reset(runner, new RecordingLogger(), { ipCommand: '/sbin/ip', ssCommand: '/sbin/ss', conntrackCommand: '/usr/sbin/conntrack', commandTimeoutMs: 700 }).afterSwitch(ETH0, WLAN0);
    assert.deepEqual([...new Set(runner.calls.map((c) => c.argv[0]))].sort(), ['/sbin/ip', '/sbin/ss', '/usr/sbin/conntrack']);
    assert.ok(runner.options.every((o) => o?.timeoutMs === 700));
  });

  describe('conntrack', () => {
    for (const [how, absent] of [
      ['ENOENT thrown by the runner', () => enoent('conntrack')],
      ['ENOENT reported by ProcessRunner (exit -1)', () => ({ exitCode: -1, stderr: 'conntrack -D could not be started: spawn conntrack ENOENT' })],
      ['exit 127 (command not found)', () => ({ exitCode: 127, stderr: 'conntrack: not found' })],
    ] as const) {
      it(`absent (${how}): a debug line, conntrack null, not tried again`, async () => {
        const runner = host({ conntrack: absent, kernel: { established: [UPSTREAM_SOCKET], canDestroy: true } });
        const logger = new RecordingLogger();
        const connections = reset(runner, logger);
        const first = await connections.afterSwitch(ETH0, WLAN0);
        assert.deepEqual(first, { reset: 1, conntrack: null, supported: true });
        assert.equal(logger.at('WARN').length, 0, logger.lines.join('\n'));
        assert.equal(logger.at('DEBUG').filter((l) => /conntrack is not installed/.test(l)).length, 1);
        const second = await connections.afterSwitch(WLAN0, ETH0);
        assert.equal(second.conntrack, null);
        assert.equal(runner.argsOf('conntrack').length, 1, 'not run again once known to be absent');
      });
    }

    it('present: counts deleted entries; exit 1 with 0 deleted is no error; any other failure is one warning', async () => {
      const answers: Reply[] = [
        { stdout: 'tcp 6 431999 ESTABLISHED src=10.99.0.2 ...\n', stderr: 'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n' },
        { exitCode: 1, stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n' },
        { exitCode: 1, stderr: 'conntrack v1.4.7 (conntrack-tools): Operation failed: Operation not permitted\n' },
      ];
      const runner = host({ conntrack: () => answers.shift() ?? {} });
      const logger = new RecordingLogger();
      const connections = reset(runner, logger);
      assert.equal((await connections.afterSwitch(ETH0, WLAN0)).conntrack, 2);
      assert.equal((await connections.afterSwitch(WLAN0, ETH0)).conntrack, 0);
      assert.deepEqual(logger.at('WARN'), []);
      const third = await connections.afterSwitch(ETH0, WLAN0);
      assert.equal(third.conntrack, null);
      assert.equal(logger.at('WARN').length, 1);
      assert.match(logger.at('WARN')[0], /conntrack -D --src-nat --reply-dst 192\.0\.2\.2 failed \(exit 1\): .*Operation not permitted/);
      assert.equal(logger.at('INFO').length, 3, 'the info line of every switch is still logged');
    });
  });

  describe('kernel without socket destroy (CONFIG_INET_DIAG_DESTROY off)', () => {
    it('sockets still there after -K: supported false, one warning over two switches, keeps working', async () => {
      const kernel: Kernel = { established: [UPSTREAM_SOCKET], canDestroy: false };
      const runner = host({ kernel, conntrack: () => ({ stderr: '1 flow entries have been deleted.' }) });
      const logger = new RecordingLogger();
      const connections = reset(runner, logger);
      const first = await connections.afterSwitch(ETH0, WLAN0);
      const second = await connections.afterSwitch(ETH0, WLAN0);
      assert.deepEqual(first, { reset: 0, conntrack: 1, supported: false });
      assert.deepEqual(second, { reset: 0, conntrack: 1, supported: false });
      const warnings = logger.at('WARN');
      assert.equal(warnings.length, 1, logger.lines.join('\n'));
      assert.match(warnings[0], /CONFIG_INET_DIAG_DESTROY/);
      assert.match(warnings[0], /keep-alive/);
      assert.equal(logger.at('INFO').length, 2);
    });

    it('ss falling back to /proc (prints but cannot destroy) is not counted as reset', async () => {
      const kernel: Kernel = { established: [UPSTREAM_SOCKET], canDestroy: false };
      const runner = host({ ss: () => ({ stdout: `${kernel.established.join('\n')}\n` }) });
      const logger = new RecordingLogger();
      const summary = await reset(runner, logger).afterSwitch(ETH0, WLAN0);
      assert.deepEqual(summary, { reset: 0, conntrack: 0, supported: false });
    });

    it('a kernel that destroyed a TCP socket once is trusted: later switches skip the before/after listing', async () => {
      const kernel: Kernel = { established: [UPSTREAM_SOCKET], canDestroy: true };
      const runner = host({ kernel });
      const connections = reset(runner, new RecordingLogger());
      await connections.afterSwitch(ETH0, WLAN0);
      kernel.established = ['tcp   0      0      192.0.2.18:40001 203.0.113.5:7000'];
      const second = await connections.afterSwitch(WLAN0, ETH0);
      assert.equal(second.reset, 1);
      assert.deepEqual(runner.argsOf('ss').map((a) => a[0]), ['-H', '-K', '-H', '-K']);
    });

    it('UDP that cannot be destroyed (no udp_diag) is not blamed on CONFIG_INET_DIAG_DESTROY', async () => {
      const udp = 'udp   0      0      192.0.2.2:60610 203.0.113.5:9999';
      const state = { established: [UPSTREAM_SOCKET, udp] };
      const runner = host({
        ss: (_c, args) => {
          if (args[0] === '-K') {
            const printed = state.established;
            state.established = [udp];
            return { stdout: `${printed.join('\n')}\n` };
          }
          return { stdout: `${state.established.join('\n')}\n` };
        },
      });
      const logger = new RecordingLogger();
      const summary = await reset(runner, logger).afterSwitch(ETH0, WLAN0);
      assert.deepEqual(summary, { reset: 1, conntrack: 0, supported: true });
      assert.deepEqual(logger.at('WARN'), []);
    });
  });

  describe('never throws', () => {
    it('every tool failing: resolves with a summary and one warning', async () => {
      const runner = new RecordingRunner(() => new Error('boom'));
      const logger = new RecordingLogger();
      const summary = await reset(runner, logger).afterSwitch(ETH0, WLAN0);
      assert.deepEqual(summary, { reset: 0, conntrack: null, supported: true });
      assert.equal(logger.at('WARN').length, 1);
      assert.match(logger.at('WARN')[0], /eth0.*wlan0.*boom/);
    });

    it('ip printing garbage, or missing: one warning each', async () => {
      for (const ip of [() => ({ stdout: 'not json' }), () => enoent('ip'), () => ({ exitCode: 1, stderr: 'Device "eth0" does not exist.' })]) {
        const logger = new RecordingLogger();
        await reset(host({ ip }), logger).afterSwitch(ETH0, WLAN0);
        assert.equal(logger.at('WARN').length, 1, logger.lines.join('\n'));
      }
    });

    it('ss failing (or not installed, or refused by the kernel): one warning, conntrack still flushed and counted', async () => {
      const failures: Responder[] = [
        () => ({ exitCode: 1, stderr: 'Error: an inet prefix is expected rather than "x".' }),
        () => enoent('ss'),
        (_c, args) => (args[0] === '-K' ? { stdout: UPSTREAM_SOCKET, stderr: 'SOCK_DESTROY answers: Operation not permitted\n' } : { stdout: UPSTREAM_SOCKET }),
        () => ({ exitCode: -1, stderr: 'timed out after 1500 ms' }),
      ];
      for (const ss of failures) {
        const logger = new RecordingLogger();
        const summary = await reset(host({ ss, conntrack: () => ({ stderr: '5 flow entries have been deleted.' }) }), logger).afterSwitch(ETH0, WLAN0);
        assert.equal(summary.reset, 0);
        assert.equal(summary.conntrack, 5);
        assert.equal(logger.at('WARN').length, 1, logger.lines.join('\n'));
        assert.equal(logger.at('INFO').length, 1);
      }
    });

    it('a runner that ignores reject:false and throws CommandError-like errors is handled too', async () => {
      const runner = host({ ss: () => Object.assign(new Error('ss -K ... failed (exit 1): nope'), { exitCode: 1 }) });
      const logger = new RecordingLogger();
      const summary = await reset(runner, logger).afterSwitch(ETH0, WLAN0);
      assert.equal(summary.reset, 0);
      assert.equal(logger.at('WARN').length, 1);
    });
  });
});
