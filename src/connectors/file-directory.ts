import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, unlinkSync } from 'node:fs';
import { readdir, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { onExit } from 'signal-exit';
import { UnsafeDirectoryError } from './errors.js';

/**
 * Refuses a store directory that another user could tamper with: one they
 * own, one they can write to, or a symbolic link (which could be pointed
 * elsewhere). Throws the system error (e.g. ENOENT) when `dir` is missing.
 */
export function checkDirectory(dir: string): void {
  const stats = lstatSync(dir);
  if (stats.isSymbolicLink()) {
    throw new UnsafeDirectoryError(dir, 'it is a symbolic link, which could be pointed elsewhere', 'pass the directory it points to');
  }
  if (!stats.isDirectory()) throw new Error(`\`dir\` ${dir} is not a directory`);
  // Owners and mode bits mean nothing on Windows (no getuid there).
  const uid = process.getuid?.();
  if (uid === undefined) return;
  if (stats.uid !== uid) {
    throw new UnsafeDirectoryError(
      dir,
      `it is owned by uid ${stats.uid}, not by this process's user (uid ${uid}), so its owner could replace its entries`,
      `pass a directory of your own, or \`chown ${uid} ${dir}\``,
    );
  }
  if ((stats.mode & 0o022) !== 0) {
    const who = (stats.mode & 0o020) !== 0 ? ((stats.mode & 0o002) !== 0 ? 'group and others' : 'its group') : 'others';
    const mode = (stats.mode & 0o7777).toString(8).padStart(4, '0');
    // A sticky shared directory such as /tmp must not be chmod'ed: a private subdirectory is the fix.
    const fix = (stats.mode & 0o1000) !== 0 ? `pass a private subdirectory of it instead (created 0700)` : `run \`chmod 700 ${dir}\``;
    throw new UnsafeDirectoryError(dir, `it is writable by ${who} (mode ${mode}), so another user could replace its entries`, fix);
  }
}

/*
 * Temporary directories the store makes are named
 * `skein-store-<pid>-<pid namespace>-<process start>-XXXXXX`: the pid says
 * whose it is, the namespace whether that pid can be checked from here, the
 * start time (clock ticks since boot) whether the pid was reused since. The
 * last two are 0 where /proc does not tell (then only the pid is checked).
 * A directory whose process is gone is removed by the next process that
 * makes one, as loky's resource tracker does for joblib: the only cleanup
 * there can be after a SIGKILL.
 */
const PREFIX = 'skein-store-';
const OWNED = /^skein-store-(\d+)-(\d+)-(\d+)-[A-Za-z0-9]{6}$/;

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined off Linux. */
function startTime(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: count from after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

let self: { namespace: string; start: string } | undefined;

function alive(pid: number, start: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as { code?: unknown }).code === 'EPERM';
  }
  if (start === '0') return true;
  const now = startTime(pid);
  return now === undefined || now === start;
}

/**
 * Removes the store directories in `root` left by processes that are gone:
 * only this user's, only names of the exact pattern, only where the pid can
 * be judged from this pid namespace.
 */
export function removeStaleDirectories(root = tmpdir()): void {
  self ??= { namespace: pidNamespace(), start: startTime('self') ?? '0' };
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const match = OWNED.exec(name);
    if (match === null || match[2] !== self.namespace) continue;
    const pid = Number(match[1]);
    if (pid === process.pid && match[3] === self.start) continue;
    if (alive(pid, match[3]!)) continue;
    const dir = path.join(root, name);
    try {
      const stats = lstatSync(dir);
      if (!stats.isDirectory() || (uid !== undefined && stats.uid !== uid)) continue;
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Removed meanwhile by another process sweeping too.
    }
  }
}

/** A fresh private (0700) directory in the system's temp folder, named for this process; sweeps stale ones first. */
export function makeOwnedDirectory(): string {
  removeStaleDirectories();
  self ??= { namespace: pidNamespace(), start: startTime('self') ?? '0' };
  return mkdtempSync(path.join(tmpdir(), `${PREFIX}${process.pid}-${self.namespace}-${self.start}-`));
}

/** Entry files and in-flight temp files of the store with `prefix` (written by any thread or process). */
function isStoreFile(name: string, prefix: string): boolean {
  return (
    (name.startsWith(`${prefix}-`) && name.endsWith('.skein')) || (name.startsWith(`.${prefix}-`) && name.endsWith('.tmp'))
  );
}

// Any store's entries and temp files: what a directory's creator must not delete along with it.
const ANY_STORE_FILE = /^(?:[0-9a-f]{16}-[0-9a-f]{16}\.skein|\.[0-9a-f]{16}-[0-9a-f]{16}\..*\.tmp)$/;

/**
 * Deletes what a store wrote (the files named with its prefix), then the
 * directory when the store made it, unless other stores' entries are in it:
 * those belong to their writers.
 */
export async function removeStoreFiles(dir: string, prefix: string, wholeDirectory: boolean): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const others = names.filter((n) => !isStoreFile(n, prefix));
  await Promise.all(names.filter((n) => isStoreFile(n, prefix)).map((n) => unlink(path.join(dir, n)).catch(() => undefined)));
  if (wholeDirectory && !others.some((n) => ANY_STORE_FILE.test(n))) await rm(dir, { recursive: true, force: true });
}

export function removeStoreFilesSync(dir: string, prefix: string, wholeDirectory: boolean): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  let othersLeft = false;
  for (const name of names) {
    if (!isStoreFile(name, prefix)) {
      othersLeft ||= ANY_STORE_FILE.test(name);
      continue;
    }
    try {
      unlinkSync(path.join(dir, name));
    } catch {
      // already gone
    }
  }
  if (wholeDirectory && !othersLeft) rmSync(dir, { recursive: true, force: true });
}

const cleanups = new Set<() => void>();
let unsubscribe: (() => void) | undefined;

/**
 * Runs `cleanup` when the process ends in any way that runs code: return,
 * `process.exit()`, an uncaught error, SIGINT, SIGTERM, SIGHUP. signal-exit
 * re-raises the signal afterwards, so the process still dies of it, and it
 * holds no handle that keeps the process alive. Returns the release, which
 * removes the signal handlers when it was the last cleanup.
 */
export function cleanupOnExit(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  unsubscribe ??= onExit(() => {
    for (const c of cleanups) {
      try {
        c();
      } catch {
        // the process is ending: the other cleanups must still run
      }
    }
  });
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0 && unsubscribe !== undefined) {
      unsubscribe();
      unsubscribe = undefined;
    }
  };
}
