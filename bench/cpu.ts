/**
 * CPU accounting from /proc (Linux): how much CPU each part of a benchmark run used (load
 * generator, server under test, its PostgreSQL backends) and how much went to processes that
 * are not part of the benchmark at all. On a shared machine the last number says whether a
 * round can be trusted. Elsewhere (no /proc) every function here returns undefined.
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  /** Busy and total clock ticks over all CPUs (first line of /proc/stat). */
  busy: number;
  total: number;
  /** Ticks (user + system) per watched process. */
  processes: Map<number, number>;
}

export interface CpuGroups {
  [group: string]: readonly number[];
}

export interface CpuUsage {
  /** CPU-seconds per group over the run. */
  seconds: Record<string, number>;
  /** CPU-seconds used by everything else on the machine. */
  otherSeconds: number;
  /** Share of the machine's capacity (all cores) that was busy, and taken by others. */
  busyShare: number;
  otherShare: number;
}

const TICKS_PER_SECOND = 100;

function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may contain spaces, closed by the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  } catch {
    return undefined;
  }
}

function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const [, ...values] = line.trim().split(/\s+/);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = values.map(Number);
    const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0);
    return { busy: busy + (steal ?? 0), total: busy + (steal ?? 0) + (idle ?? 0) + (iowait ?? 0) };
  } catch {
    return undefined;
  }
}

function snapshot(pids: Iterable<number>): Snapshot | undefined {
  const machine = machineTicks();
  if (!machine) return undefined;
  const processes = new Map<number, number>();
  for (const pid of pids) {
    const ticks = processTicks(pid);
    if (ticks !== undefined) processes.set(pid, ticks);
  }
  return { ...machine, processes };
}

/**
 * Starts measuring. `groupsAtEnd` names the processes of each group when the run ends (pool
 * connections may have been opened during it; a process that started during the run counts
 * from zero).
 */
export function startCpuAccounting(groupsAtStart: CpuGroups) {
  const before = snapshot(Object.values(groupsAtStart).flat());
  return {
    stop(groupsAtEnd: CpuGroups): CpuUsage | undefined {
      if (!before) return undefined;
      const after = snapshot(Object.values(groupsAtEnd).flat());
      if (!after) return undefined;
      const seconds: Record<string, number> = {};
      let watched = 0;
      for (const [group, pids] of Object.entries(groupsAtEnd)) {
        let ticks = 0;
        for (const pid of new Set(pids)) {
          const end = after.processes.get(pid);
          if (end !== undefined) ticks += end - (before.processes.get(pid) ?? 0);
        }
        watched += ticks;
        seconds[group] = round2(ticks / TICKS_PER_SECOND);
      }
      const busy = after.busy - before.busy;
      const total = after.total - before.total || 1;
      const other = Math.max(0, busy - watched);
      return {
        seconds,
        otherSeconds: round2(other / TICKS_PER_SECOND),
        busyShare: round2(busy / total),
        otherShare: round2(other / total),
      };
    },
  };
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/** The share of the machine's capacity that was busy over the next `ms` milliseconds. */
export async function machineBusyShare(ms: number): Promise<number | undefined> {
  const before = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = machineTicks();
  if (!before || !after) return undefined;
  return (after.busy - before.busy) / (after.total - before.total || 1);
}

/**
 * A process's resident memory now and at its peak, in MB (VmRSS, VmHWM), and of the resident
 * now the part backed by files (RssFile: mostly node's own binary, shared by every node process
 * on the host); undefined without /proc.
 */
export function memoryOf(
  pid: number,
): { rssMb: number; peakMb: number; fileBackedMb?: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kilobytes = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1]);
    const rss = kilobytes("VmRSS");
    const peak = kilobytes("VmHWM");
    const fileBacked = kilobytes("RssFile");
    if (!Number.isFinite(rss) || !Number.isFinite(peak)) return undefined;
    const mb = (value: number) => Math.round(value / 102.4) / 10;
    return {
      rssMb: mb(rss),
      peakMb: mb(peak),
      ...(Number.isFinite(fileBacked) ? { fileBackedMb: mb(fileBacked) } : {}),
    };
  } catch {
    return undefined;
  }
}
