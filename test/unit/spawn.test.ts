/**
 * lib/process/spawn.ts with real processes (true, false, sleep, cat, printenv, node; never a shell): exit codes,
 * input, environment, spawn errors, timeout, abort, SIGKILL for a child that ignores SIGTERM, and children
 * ended when this process exits. Plus the two callers' shapes: ProcessRunner and runCommand.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LiveChild, liveChildCount, runToEnd, stripFinalNewline } from '../../lib/process/spawn';
import { ProcessRunner } from '../../lib/process/runner';
import { runCommand } from '../../lib/process/command';
import { CommandError } from '../../lib/errors';
import { tempDir } from '../fakes/fake-tools';
import { sleep, until, waitFor } from '../support/wait';

const SPAWN_MODULE = resolve(__dirname, '../../lib/process/spawn.js');

/** Whether a process is still there (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Processes a test started outside the module under test, ended after the suite whatever happened. */
const strays: number[] = [];
after(() => {
  for (const pid of strays) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

/** A node child that ignores SIGTERM, and says so by creating `ready` once its handler is in place. */
function stubborn(ready: string): string[] {
  return ['-e', `process.on('SIGTERM', () => {}); require('fs').writeFileSync(${JSON.stringify(ready)}, ''); setInterval(() => {}, 1000);`];
}

describe('runToEnd', () => {
  it('reports exit codes: true 0, false 1', async () => {
    const ok = await runToEnd('true', []);
    assert.deepEqual(ok, { exitCode: 0, signal: null, stdout: '', stderr: '', spawnError: null, timedOut: false, canceled: false });
    assert.equal((await runToEnd('false', [])).exitCode, 1);
  });

  it('passes arguments as they are (no shell) and writes `input` to stdin; one final newline is stripped', async () => {
    const r = await runToEnd('cat', [], { input: 'a $HOME;\nb\n\n' });
    assert.equal(r.stdout, 'a $HOME;\nb\n');
    assert.equal((await runToEnd('printenv', ['NO SUCH; VAR'])).exitCode, 1);
  });

  it('stripFinalNewline removes one "\\n" or "\\r\\n" only', () => {
    assert.equal(stripFinalNewline('x\r\n'), 'x');
    assert.equal(stripFinalNewline('x\n\n'), 'x\n');
    assert.equal(stripFinalNewline('x\r'), 'x\r');
    assert.equal(stripFinalNewline(''), '');
  });

  it('gives the child this environment plus LC_ALL=C plus `env`', async () => {
    assert.equal((await runToEnd('printenv', ['LC_ALL'])).stdout, 'C');
    assert.equal((await runToEnd('printenv', ['PATH'])).stdout, process.env.PATH);
    assert.equal((await runToEnd('printenv', ['IFF_SPAWN_TEST'], { env: { IFF_SPAWN_TEST: 'marked' } })).stdout, 'marked');
  });

  it('keeps stderr apart from stdout', async () => {
    const r = await runToEnd('cat', ['/nonexistent-iff-file']);
    assert.equal(r.exitCode, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /No such file or directory/);
  });

  it('reports a missing command as ENOENT and a file that is not executable as EACCES', async () => {
    const missing = await runToEnd('iff-no-such-command', ['x']);
    assert.equal(missing.spawnError?.code, 'ENOENT');
    assert.match(missing.spawnError?.message ?? '', /spawn iff-no-such-command ENOENT/);
    assert.equal(missing.exitCode, null);
    const file = join(tempDir('iff-spawn-'), 'not-executable');
    writeFileSync(file, 'x', { mode: 0o644 });
    assert.equal((await runToEnd(file, [])).spawnError?.code, 'EACCES');
    assert.equal(liveChildCount(), 0);
  });

  it('ends a command that runs past its timeout with SIGTERM', async () => {
    const r = await runToEnd('sleep', ['30'], { timeoutMs: 100 });
    assert.equal(r.timedOut, true);
    assert.equal(r.canceled, false);
    assert.equal(r.exitCode, null);
    assert.equal(r.signal, 'SIGTERM');
  });

  it('ends a command when its AbortSignal fires, and does not start one whose signal already fired', async () => {
    const controller = new AbortController();
    const running = runToEnd('sleep', ['30'], { signal: controller.signal });
    controller.abort();
    const r = await running;
    assert.equal(r.canceled, true);
    assert.equal(r.timedOut, false);
    assert.equal(r.signal, 'SIGTERM');

    const marker = join(tempDir('iff-spawn-'), 'ran');
    const never = await runToEnd(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], { signal: controller.signal });
    assert.equal(never.canceled, true);
    assert.equal(existsSync(marker), false);
  });

  it('sends SIGKILL after the grace when the command ignores SIGTERM', async () => {
    const ready = join(tempDir('iff-spawn-'), 'ready');
    const controller = new AbortController();
    const running = runToEnd(process.execPath, stubborn(ready), { signal: controller.signal, killGraceMs: 200 });
    await until(() => existsSync(ready), { what: 'the child installing its SIGTERM handler' });
    controller.abort();
    const r = await running;
    assert.equal(r.canceled, true);
    assert.equal(r.signal, 'SIGKILL');
  });

  it('does not wait for a grandchild that keeps the output open', async () => {
    // The child prints its grandchild's pid and exits; the grandchild (sleep) inherited stdout and lives on.
    const script = `const c = require('child_process').spawn('sleep', ['30'], { stdio: ['ignore', 'inherit', 'inherit'] }); console.log(c.pid); c.unref();`;
    const r = await runToEnd(process.execPath, ['-e', script]);
    const grandchild = Number(r.stdout);
    strays.push(grandchild);
    assert.equal(r.exitCode, 0);
    assert.ok(grandchild > 0, r.stdout);
    assert.ok(alive(grandchild), 'the grandchild still holds the pipe');
  });
});

describe('LiveChild', () => {
  it('runs until stopped, then says how it ended', async () => {
    const child = new LiveChild('sleep', ['30']);
    assert.ok(child.pid !== undefined && alive(child.pid));
    assert.equal(child.running, true);
    const exit = await child.stop();
    assert.deepEqual(exit, { code: null, signal: 'SIGTERM', spawnError: null });
    assert.equal(child.running, false);
    assert.deepEqual(await child.stop(), exit);
  });

  it('reports its own exit, and a child that could not start', async () => {
    assert.deepEqual(await new LiveChild('false', []).exited, { code: 1, signal: null, spawnError: null });
    const missing = new LiveChild('iff-no-such-command', []);
    assert.deepEqual(await missing.exited, { code: null, signal: null, spawnError: 'ENOENT' });
    assert.deepEqual(await missing.stop(), { code: null, signal: null, spawnError: 'ENOENT' });
  });

  it('hands out its output, and ignores a stream it was told to', async () => {
    const child = new LiveChild('printenv', ['IFF_SPAWN_TEST'], { env: { IFF_SPAWN_TEST: 'marked' }, stderr: 'ignore' });
    assert.equal(child.stderr, null);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += String(chunk)));
    await child.exited;
    assert.equal(out, 'marked\n');
  });

  it('kills a child that ignores SIGTERM after the grace', async () => {
    const ready = join(tempDir('iff-spawn-'), 'ready');
    const child = new LiveChild(process.execPath, stubborn(ready));
    await until(() => existsSync(ready), { what: 'the child installing its SIGTERM handler' });
    assert.deepEqual(await child.stop(200), { code: null, signal: 'SIGKILL', spawnError: null });
  });
});

describe('children never outlive this process', () => {
  it("holds an 'exit' handler only while children run", async () => {
    const before = process.listenerCount('exit');
    const child = new LiveChild('sleep', ['30']);
    const command = runToEnd('sleep', ['30'], { timeoutMs: 50 });
    assert.equal(liveChildCount(), 2);
    assert.equal(process.listenerCount('exit'), before + 1);
    await command;
    assert.equal(process.listenerCount('exit'), before + 1);
    await child.stop();
    assert.equal(liveChildCount(), 0);
    assert.equal(process.listenerCount('exit'), before);
  });

  it('ends the running children when the process exits', async () => {
    // A node process starts a long-lived child and a command, prints their pids and exits without stopping them.
    const script = [
      `const { LiveChild, runToEnd } = require(${JSON.stringify(SPAWN_MODULE)});`,
      `const { spawn } = require('child_process');`,
      `const live = new LiveChild('sleep', ['60']);`,
      `void runToEnd('sleep', ['61']);`,
      // The command's pid is not exposed: find it as this process's other sleep child.
      `setTimeout(() => {`,
      `  const ps = spawn('pgrep', ['-P', String(process.pid), 'sleep']);`,
      `  let out = ''; ps.stdout.on('data', (d) => (out += d));`,
      `  ps.on('close', () => { console.log(out.trim().split('\\n').join(' ')); process.exit(0); });`,
      `}, 100);`,
    ].join('\n');
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    parent.stdout.on('data', (chunk: Buffer) => (out += String(chunk)));
    const code = await new Promise<number | null>((done) => parent.on('close', done));
    assert.equal(code, 0);
    const pids = out.trim().split(' ').map(Number);
    strays.push(...pids);
    assert.equal(pids.length, 2, out);
    await waitFor(() => (pids.some(alive) ? undefined : true), { what: `the children ${pids.join(', ')} ending` });
  });
});

describe('the callers', () => {
  it('ProcessRunner: stdout, exit codes, a CommandError unless reject is false', async () => {
    const runner = new ProcessRunner();
    assert.deepEqual(await runner.run('printenv', ['LC_ALL']), { stdout: 'C', stderr: '', exitCode: 0 });
    await assert.rejects(runner.run('false', []), (e: unknown) => e instanceof CommandError && e.exitCode === 1);
    assert.equal((await runner.run('false', [], { reject: false })).exitCode, 1);
  });

  it('ProcessRunner: a spawn error is exit -1 with the errno in stderr, a timeout says so', async () => {
    const runner = new ProcessRunner();
    const missing = await runner.run('iff-no-such-command', ['-D'], { reject: false });
    assert.equal(missing.exitCode, -1);
    // lib/connections/connection-reset.ts tells "conntrack is not installed" by this.
    assert.match(missing.stderr, /\bENOENT\b/);
    await assert.rejects(runner.run('iff-no-such-command', []), (e: unknown) => e instanceof CommandError && e.exitCode === undefined);
    const slow = await runner.run('sleep', ['30'], { timeoutMs: 100, reject: false });
    assert.deepEqual(slow, { stdout: '', stderr: 'timed out after 100 ms', exitCode: -1 });
  });

  it('runCommand: the outcome of a success, a failure, a missing command, a timeout and a cancel', async () => {
    assert.deepEqual(await runCommand('printenv', ['LC_ALL']), {
      argv: ['printenv', 'LC_ALL'],
      exitCode: 0,
      signal: null,
      stdout: 'C',
      stderr: '',
      spawnError: null,
      timedOut: false,
      canceled: false,
      ok: true,
    });
    assert.equal((await runCommand('false', [])).ok, false);
    assert.equal((await runCommand('iff-no-such-command', [])).spawnError, 'ENOENT');
    const slow = await runCommand('sleep', ['30'], { timeoutMs: 100 });
    assert.equal(slow.timedOut, true);
    assert.equal(slow.ok, false);
    const controller = new AbortController();
    const canceled = runCommand('sleep', ['30'], { signal: controller.signal });
    controller.abort();
    assert.equal((await canceled).canceled, true);
  });
});

describe('LiveChild output held between batches', () => {
  it('holds stdout in the pipe (no data events) until released, then hands it over in one batch; the exit is still seen', async () => {
    // A child printing a line every 50 ms: 8 lines in 400 ms, then exit 0 after a last line.
    const script = "let n = 0; const t = setInterval(() => { process.stdout.write(`line ${n++}\\n`); if (n === 8) { clearInterval(t); setTimeout(() => process.stdout.write('last\\n'), 300); } }, 50);";
    const child = new LiveChild(process.execPath, ['-e', script]);
    const chunks: string[] = [];
    child.stdout?.on('data', (c: Buffer) => chunks.push(String(c)));
    child.holdOutput();
    await sleep(600);
    assert.deepEqual(chunks, [], 'nothing read while held');
    child.releaseOutput();
    await until(() => chunks.join('').includes('line 7'), { timeoutMs: 5000, what: 'the held lines' });
    assert.ok(chunks.length <= 2, `the held lines come in one read, not one per line: ${JSON.stringify(chunks)}`);
    // Held again: the exit releases the pipe, so the last line and the end of output are read and `exited` resolves.
    child.holdOutput();
    const exit = await child.exited;
    assert.equal(exit.code, 0);
    assert.ok(chunks.join('').endsWith('last\n'), 'output printed while held comes out at the exit');
  });
});
