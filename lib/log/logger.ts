/**
 * Logging seam of the core, and the line format of the original service
 * (Python logging's `%(asctime)s %(name)-12s: %(levelname)s %(message)s`), which its users grep for.
 */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `2014-10-02 03:00:10,075` in local time, as Python's default asctime prints it. */
export function formatAsctime(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())},${pad(date.getMilliseconds(), 3)}`
  );
}

export function formatGuideLine(date: Date, level: LogLevel, message: string, name = 'root'): string {
  return `${formatAsctime(date)} ${name.padEnd(12)}: ${level} ${message}`;
}

/** Writes guide-format lines to a stream (stdout for the headless service). */
export class GuideLogger implements Logger {
  constructor(
    private readonly write: (line: string) => void,
    private readonly minLevel: LogLevel = 'INFO',
    private readonly now: () => Date = () => new Date(),
  ) {}

  private emit(level: LogLevel, message: string): void {
    const order: LogLevel[] = ['DEBUG', 'INFO', 'WARNING', 'ERROR'];
    if (order.indexOf(level) < order.indexOf(this.minLevel)) return;
    this.write(formatGuideLine(this.now(), level, message));
  }

  debug(message: string): void {
    this.emit('DEBUG', message);
  }
  info(message: string): void {
    this.emit('INFO', message);
  }
  warn(message: string): void {
    this.emit('WARNING', message);
  }
  error(message: string): void {
    this.emit('ERROR', message);
  }
}
