/**
 * /etc/resolv.conf written directly (no resolvconf, no systemd-resolved): the content, a writer that copes
 * with the ways the file is found on real systems (regular file, symlink, bind mount), and a backup of the
 * original under a state directory so a run that crashed is undone by the next one.
 */
import { chown, lstat, mkdir, open, readFile, readlink, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export const RESOLV_CONF = '/etc/resolv.conf';
export const STATE_DIR = '/run/ifacefailover';
/** glibc reads at most this many nameserver lines (MAXNS); more would only mislead a reader of the file. */
export const GLIBC_MAXNS = 3;
export const HEADER_PREFIX = '# written by ifacefailover:';

/** Lines of the original kept as they were: they are about the host, not about the uplink. */
const KEPT = /^\s*(search|domain|options|sortlist)(\s|$)/;

/** Our resolv.conf: a header naming the active uplink, up to three servers (active first), the original's search/options. */
export function buildResolvConf(original: string | null, servers: readonly string[], active: string): string {
  const kept = (original ?? '')
    .split('\n')
    .filter((l) => KEPT.test(l))
    .map((l) => l.trimEnd());
  return [`${HEADER_PREFIX} ${active} is active`, ...servers.slice(0, GLIBC_MAXNS).map((s) => `nameserver ${s}`), ...kept].join('\n') + '\n';
}

export type WriteMode = 'atomic' | 'in place' | 'unchanged' | 'removed';

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Mount points listed in a mountinfo file (field 5, with the kernel's octal escapes undone). */
export function parseMountPoints(mountinfo: string): Set<string> {
  const points = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field) points.add(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return points;
}

export interface ResolvConfFileOptions {
  /** Default /etc/resolv.conf. */
  path?: string;
  /** Where mounts are listed, to tell a bind-mounted file (default /proc/self/mountinfo). */
  mountInfoPath?: string;
}

/** Reads and writes one resolv.conf the way its kind needs. Methods throw; the manager turns that into a warning. */
export class ResolvConfFile {
  readonly path: string;
  private readonly mountInfoPath: string;

  constructor(options: ResolvConfFileOptions = {}) {
    this.path = options.path ?? RESOLV_CONF;
    this.mountInfoPath = options.mountInfoPath ?? '/proc/self/mountinfo';
  }

  /** The content (through a symlink), or null when there is no file. */
  async read(): Promise<string | null> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      throw err;
    }
  }

  /** Writes `content` (null: removes the file, for an original that did not exist). */
  async write(content: string | null): Promise<WriteMode> {
    const current = await this.read();
    if (current === content) return 'unchanged';
    if (content === null) {
      await unlink(this.path).catch((err: unknown) => {
        if (errno(err) !== 'ENOENT') throw err;
      });
      return 'removed';
    }
    const target = await this.target();
    // A bind mount (containers, `ip netns exec`) cannot be renamed over (EBUSY): write into it.
    if (await this.isMountPoint(target)) {
      await writeInPlace(target, content);
      return 'in place';
    }
    try {
      await writeAtomically(target, content);
      return 'atomic';
    } catch (err) {
      // EBUSY: a mount we did not see; EACCES/EROFS/EPERM: a directory we may not create in, but a file we may write.
      if (!['EBUSY', 'EXDEV', 'EACCES', 'EPERM', 'EROFS'].includes(errno(err) ?? '')) throw err;
      await writeInPlace(target, content);
      return 'in place';
    }
  }

  /** The file to write: a symlink's target (so the link stays), else the path itself. */
  private async target(): Promise<string> {
    let isLink = false;
    try {
      isLink = (await lstat(this.path)).isSymbolicLink();
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
    }
    if (!isLink) return this.path;
    try {
      return await realpath(this.path);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
      // A dangling link (its target not created yet, e.g. in /run): create the target it names.
      return resolve(dirname(this.path), await readlink(this.path));
    }
  }

  private async isMountPoint(path: string): Promise<boolean> {
    try {
      return parseMountPoints(await readFile(this.mountInfoPath, 'utf8')).has(path);
    } catch {
      return false;
    }
  }
}

/** Temp file in the same directory, then rename: a reader sees the old or the new file, never half of one. */
async function writeAtomically(target: string, content: string): Promise<void> {
  const before = await stat(target).catch(() => null);
  const temp = join(dirname(target), `.${basename(target)}.ifacefailover-${process.pid}`);
  try {
    await writeFile(temp, content, { mode: before ? before.mode & 0o7777 : 0o644 });
    if (before) await chown(temp, before.uid, before.gid).catch(() => undefined);
    await rename(temp, target);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/** Same inode: overwrite from the start, then cut the rest (never an empty file in between). */
async function writeInPlace(target: string, content: string): Promise<void> {
  const data = Buffer.from(content);
  let handle;
  try {
    handle = await open(target, 'r+');
  } catch (err) {
    if (errno(err) !== 'ENOENT') throw err;
    await writeFile(target, content, { mode: 0o644 });
    return;
  }
  try {
    await handle.write(data, 0, data.length, 0);
    await handle.truncate(data.length);
  } finally {
    await handle.close();
  }
}

/** What the backup file holds: which file, and its content before our first write (null: it did not exist). */
export interface ResolvConfBackup {
  path: string;
  content: string | null;
}

/** The original of one resolv.conf, kept on disk for as long as ours is in place. */
export class ResolvConfBackupFile {
  constructor(readonly file: string) {}

  async read(): Promise<ResolvConfBackup | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      throw err;
    }
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) return null;
    const { path, content } = parsed as Record<string, unknown>;
    if (typeof path !== 'string' || (typeof content !== 'string' && content !== null)) return null;
    return { path, content };
  }

  async save(backup: ResolvConfBackup): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o755 });
    const temp = `${this.file}.tmp-${process.pid}`;
    await writeFile(temp, JSON.stringify(backup), { mode: 0o600 });
    await rename(temp, this.file);
  }

  async remove(): Promise<void> {
    await unlink(this.file).catch((err: unknown) => {
      if (errno(err) !== 'ENOENT') throw err;
    });
  }
}
