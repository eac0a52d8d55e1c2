/** Stand-ins that record what the core asks of the system: commands it runs, lines it logs. */
import { CommandError } from '../../lib/errors';
import { Logger } from '../../lib/log/logger';
import { CommandResult, CommandRunner, RunOptions } from '../../lib/process/runner';

export interface RecordedCall {
  argv: string[];
  input?: string;
}

export type Answer = Partial<CommandResult> | Error | undefined;

/**
 * Records every command and answers from `answer` (undefined: success, no output). Like the real runner, a
 * non-zero exit throws CommandError unless the call passed `reject: false`.
 */
export class RecordingRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  /** The options of each call, in the order of `calls`. */
  readonly options: (RunOptions | undefined)[] = [];
  constructor(private readonly answer: (argv: string[]) => Answer = () => undefined) {}

  async run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    const argv = [command, ...args];
    this.calls.push(options?.input === undefined ? { argv } : { argv, input: options.input });
    this.options.push(options);
    const a = this.answer(argv);
    if (a instanceof Error) throw a;
    const result: CommandResult = { stdout: a?.stdout ?? '', stderr: a?.stderr ?? '', exitCode: a?.exitCode ?? 0 };
    if (result.exitCode !== 0 && options?.reject !== false) throw new CommandError(argv, result.exitCode, result.stderr);
    return result;
  }

  /** The arguments of each call of one command. */
  argsOf(command: string): string[][] {
    return this.calls.filter((c) => c.argv[0] === command).map((c) => c.argv.slice(1));
  }
}

/** Keeps log lines as `LEVEL message` (DEBUG, INFO, WARN, ERROR). */
export class RecordingLogger implements Logger {
  readonly lines: string[] = [];
  debug(m: string): void {
    this.lines.push(`DEBUG ${m}`);
  }
  info(m: string): void {
    this.lines.push(`INFO ${m}`);
  }
  warn(m: string): void {
    this.lines.push(`WARN ${m}`);
  }
  error(m: string): void {
    this.lines.push(`ERROR ${m}`);
  }
  at(level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR'): string[] {
    return this.lines.filter((l) => l.startsWith(`${level} `));
  }
}
