/** Where Debian's Mosquitto programs are (packages `mosquitto` and `mosquitto-clients`), for the MQTT tests. */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** An executable on PATH, or where Debian puts system programs (/usr/sbin is not on a normal user's PATH); null if absent. */
export function findExecutable(name: string): string | null {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'].filter(Boolean);
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  return null;
}

/** The mosquitto broker (Debian package `mosquitto`), or null. */
export function findMosquitto(): string | null {
  return findExecutable('mosquitto');
}
