/**
 * For tests (and the Node-RED example flows' tests): where the fake tools are, and small helpers around
 * their state directories. The fakes themselves are the executables in test/fakes/bin; each documents its
 * environment variables at its top:
 *
 *   gpioset, gpioget   libgpiod v1/v2 (FAKE_GPIO_VERSION) wired to a fake FONA; state in FAKE_GPIO_DIR
 *   fake-modem         the pppd/modem daemon: run it in the lab's device namespace; state in FAKE_PPP_DIR
 *   pon, poff          ask the fake modem to dial / hang up (ppp0 as a socat TUN over the lab's wwan0)
 *   pppd               `pppd call PEER nodetach` in the foreground, exiting with pppd's statuses
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';

/** Repository root (this file compiles to dist/test/fakes/fake-tools.js). */
const ROOT = resolve(__dirname, '../../..');

/** test/fakes/bin: put it first on PATH. */
export const FAKES_BIN = join(ROOT, 'test', 'fakes', 'bin');

/** PATH with the fakes first (and node's own directory, which the fakes' `#!/usr/bin/env node` needs). */
export function pathWithFakes(path = process.env.PATH ?? ''): string {
  return [FAKES_BIN, dirname(process.execPath), path].join(delimiter);
}

/** Sets environment variables for this process (children inherit them); returns the function that restores them. */
export function setEnv(vars: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>): void => {
    for (const [k, value] of Object.entries(v)) {
      if (value === undefined) delete process.env[k];
      else process.env[k] = value;
    }
  };
  apply(vars);
  return () => apply(saved);
}

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** The fake FONA's state: levels of its lines, and what happened to it. */
export class FakeFona {
  constructor(
    readonly dir: string,
    readonly chip = 'gpiochip0',
    readonly psPin = 23,
    readonly keyPin = 24,
  ) {}

  static create(options: { on?: boolean } = {}): FakeFona {
    const fona = new FakeFona(tempDir('iff-gpio-'));
    if (options.on) fona.setPower(true);
    return fona;
  }

  /** Environment for the fake gpioset/gpioget. */
  env(version: 1 | 2, extra: Record<string, string> = {}): Record<string, string> {
    return { FAKE_GPIO_DIR: this.dir, FAKE_GPIO_VERSION: String(version), ...extra };
  }

  private line(pin: number): string {
    return join(this.dir, this.chip, String(pin));
  }

  level(pin: number): 0 | 1 | null {
    if (!existsSync(this.line(pin))) return null;
    return readFileSync(this.line(pin), 'utf8').trim() === '1' ? 1 : 0;
  }

  /** The modem's power as its PS line shows it. */
  get power(): 'on' | 'off' {
    return this.level(this.psPin) === 1 ? 'on' : 'off';
  }

  setPower(on: boolean): void {
    mkdirSync(join(this.dir, this.chip), { recursive: true });
    writeFileSync(this.line(this.psPin), on ? '1\n' : '0\n');
  }

  /** fona.log lines: "pulse 2003 ms: power on", "pulse 300 ms: ignored (...)". */
  pulses(): string[] {
    return readLines(join(this.dir, 'fona.log'));
  }

  /** calls.log lines: "gpioset v2 -t 0 -c gpiochip0 24=1". */
  calls(): string[] {
    return readLines(join(this.dir, 'calls.log'));
  }
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
  } catch {
    return [];
  }
}

/** The fake modem daemon's state directory and how to talk to it. */
export class FakeModem {
  constructor(readonly dir: string) {}

  static create(): FakeModem {
    return new FakeModem(tempDir('iff-ppp-'));
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return { FAKE_PPP_DIR: this.dir, ...extra };
  }

  /** `up` (ppp0 comes up after the delay) or `never`; read at each dial. */
  setMode(mode: 'up' | 'never'): void {
    writeFileSync(join(this.dir, 'mode'), `${mode}\n`);
  }

  setDelay(ms: number): void {
    writeFileSync(join(this.dir, 'delay-ms'), `${ms}\n`);
  }

  /** modem.log without the timestamps. */
  log(): string[] {
    return readLines(join(this.dir, 'modem.log')).map((l) => l.replace(/^\S+ /, ''));
  }

  /** pon/poff/pppd invocations. */
  calls(): string[] {
    return readLines(join(this.dir, 'calls.log'));
  }

  /** socat's pid while the peer's link is up (ppp-PEER.pid), or null. */
  pid(peer = 'fona'): number | null {
    try {
      return Number(readFileSync(join(this.dir, `ppp-${peer}.pid`), 'utf8').trim()) || null;
    } catch {
      return null;
    }
  }

  /** One request to the daemon ("drop fona", "status", ...); resolves with its answer line. */
  request(line: string, timeoutMs = 5000): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      const conn = createConnection(join(this.dir, 'modem.sock'));
      let answer = '';
      const timer = setTimeout(() => {
        conn.destroy();
        reject(new Error(`fake modem did not answer "${line}"`));
      }, timeoutMs);
      conn.on('data', (d) => (answer += String(d)));
      conn.on('end', () => {
        clearTimeout(timer);
        resolvePromise(answer.trim());
      });
      conn.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      conn.write(`${line}\n`);
    });
  }
}

/**
 * Fake tools still running (not zombies) that belong to one state directory: `tool` is a file name in
 * test/fakes/bin, `stateDir` the FAKE_GPIO_DIR or FAKE_PPP_DIR they were started with. Scoped that way so
 * that fakes of other test runs on the same machine do not count.
 */
export function runningFakes(tool: string, stateDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!cmdline.some((arg) => arg.endsWith(`/fakes/bin/${tool}`))) continue;
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (!environ.includes(`FAKE_GPIO_DIR=${stateDir}`) && !environ.includes(`FAKE_PPP_DIR=${stateDir}`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/\) [ZX] /.test(stat)) continue;
      pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}
