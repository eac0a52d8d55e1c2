/** Runs the core's commands inside one of the lab's namespaces, so the real RouteService can be tested there. */
import { CommandError } from '../../lib/errors';
import { CommandResult, CommandRunner, RunOptions } from '../../lib/process/runner';
import { NetLab } from './netlab';

export class NamespaceRunner implements CommandRunner {
  constructor(
    private readonly lab: NetLab,
    private readonly ns = 'dut',
  ) {}

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const r = await this.lab.exec(this.ns, command, [...args], { reject: false, timeoutMs: options.timeoutMs ?? 10_000 });
    if (r.exitCode !== 0 && options.reject !== false) throw new CommandError([command, ...args], r.exitCode === -1 ? undefined : r.exitCode, r.stderr);
    return r;
  }
}
