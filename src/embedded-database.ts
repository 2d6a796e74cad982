import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import type { Config } from "./config.js";

/**
 * The embedded database (PGlite, development without DATABASE_URL) lives in one folder and
 * serves one process: PGlite keeps its pages in the memory of the process that opened it, so a
 * second process on the same folder (`npm run seed` beside `npm run dev`) seems to work and
 * its writes are lost. A process claims the folder before it opens it, with a lock file beside
 * it (`<folder>.lock`, holding its pid), and a second one is refused with the holder's name.
 * A lock whose process has died is taken over.
 */
export interface EmbeddedDatabaseClaim {
  /** The absolute folder of the database. */
  readonly dataDir: string;
  /** The folder held no database: opening it creates and migrates one (tens of seconds). */
  readonly firstStart: boolean;
  /** Announces the end of a first start, with its duration; call once the database is open. */
  opened(): void;
  /** Removes the lock (also done when the process exits). */
  release(): void;
}

/** How a claim reports: a log line of the caller's (message and fields). */
export type Announce = (message: string, fields: Record<string, unknown>) => void;

/** The folder is held by another live process. */
export class EmbeddedDatabaseInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `The embedded database in ${displayed(dataDir)} is in use by process ${holder.pid} (${holder.command}, since ${holder.since}). ` +
        "PGlite serves one process at a time, and what a second one writes is lost. Stop that process and run this again, " +
        `or set DATABASE_URL to a PostgreSQL server that both can share. If no such process runs, delete ${displayed(lockPath(dataDir))}.`,
    );
    this.name = "EmbeddedDatabaseInUseError";
  }
}

interface LockHolder {
  pid: number;
  command: string;
  since: string;
}

/**
 * Claims the embedded database for this process, when the configuration uses one on disk
 * (development without DATABASE_URL; tests keep it in memory). Announces a first start before
 * it happens: creating and migrating the database takes tens of seconds, and nothing else is
 * printed meanwhile. Throws EmbeddedDatabaseInUseError when another live process holds it.
 */
export function claimEmbeddedDatabase(
  config: Config,
  announce: Announce,
): EmbeddedDatabaseClaim | undefined {
  if (config.databaseUrl !== undefined || config.environment !== "development") return undefined;
  const dataDir = resolve(config.pgliteDataDir);
  const lock = lockPath(dataDir);
  takeLock(dataDir, lock);
  const release = () => {
    process.off("exit", release);
    if (readHolder(lock)?.pid === process.pid) unlinkSync(lock);
  };
  process.once("exit", release);

  const firstStart = !existsSync(join(dataDir, "PG_VERSION"));
  const startedAt = performance.now();
  if (firstStart) {
    announce(
      `First start: creating the embedded database in ${displayed(dataDir)} and migrating it. This takes 10 to 40 seconds, once; later starts reuse it.`,
      { dataDir },
    );
  }
  return {
    dataDir,
    firstStart,
    opened() {
      if (!firstStart) return;
      const seconds = Math.round((performance.now() - startedAt) / 100) / 10;
      announce(`The embedded database is ready (created and migrated in ${seconds} s)`, {
        dataDir,
        seconds,
      });
    },
    release,
  };
}

const lockPath = (dataDir: string) => `${dataDir}.lock`;

/** A path as the developer would type it: relative to the working folder when inside it. */
function displayed(path: string): string {
  const inside = relative(process.cwd(), path);
  return inside !== "" && !inside.startsWith("..") ? inside : path;
}

function takeLock(dataDir: string, lock: string): void {
  const holder: LockHolder = {
    pid: process.pid,
    command: process.argv.slice(1).map(shortened).join(" ") || "node",
    since: new Date().toISOString(),
  };
  // Written whole under a name of its own, then linked into place: the link fails if the lock
  // exists (of two processes starting at once, one gets it), and nobody reads half a lock.
  const draft = `${lock}.${process.pid}`;
  mkdirSync(dirname(lock), { recursive: true });
  writeFileSync(draft, `${JSON.stringify(holder)}\n`);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(draft, lock);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const current = readHolder(lock);
      if (current && isAlive(current.pid)) throw new EmbeddedDatabaseInUseError(dataDir, current);
      // Left by a process that died without releasing it.
      unlinkSync(lock);
    }
    throw new Error(`The lock ${lock} could not be taken`);
  } finally {
    unlinkSync(draft);
  }
}

function readHolder(lock: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(lock, "utf8")) as Partial<LockHolder>;
    if (typeof parsed.pid !== "number") return undefined;
    return {
      pid: parsed.pid,
      command: String(parsed.command ?? "unknown"),
      since: String(parsed.since ?? "unknown"),
    };
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Script paths inside the working folder, relative to it (`src/main.ts`, `scripts/seed.ts`). */
const shortened = (argument: string) => (argument.startsWith("/") ? displayed(argument) : argument);
