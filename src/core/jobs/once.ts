import type { Redis } from "ioredis";

/**
 * Where a job records the steps it has done, so that another run of the same job id (a retry,
 * or the rerun of a job whose worker died) skips them. Keys are the job id and the step.
 */
export interface JobMarkers {
  has(jobId: string, step: string): Promise<boolean>;
  set(jobId: string, step: string): Promise<void>;
}

/**
 * How long a marker stays: as long as a completed job id refuses a second publication
 * (transport.ts), and far longer than a job is retried.
 */
export const MARKER_TTL_SECONDS = 7 * 24 * 3600;

/** Markers in Redis, `<keyPrefix>job-once:<job id>:<step>`, each expiring after 7 days. */
export function redisJobMarkers(redis: Redis, keyPrefix: string): JobMarkers {
  const key = (jobId: string, step: string) => `${keyPrefix}job-once:${jobId}:${step}`;
  return {
    has: async (jobId, step) => (await redis.exists(key(jobId, step))) === 1,
    async set(jobId, step) {
      await redis.set(key(jobId, step), "1", "EX", MARKER_TTL_SECONDS);
    },
  };
}

/**
 * Markers in this process's memory, for jobs run in-process (development without Redis): they
 * cover the retries of this process and are gone with it, as are its jobs.
 */
export function memoryJobMarkers(now: () => number = Date.now): JobMarkers {
  const expiries = new Map<string, number>();
  const key = (jobId: string, step: string) => `${jobId}\n${step}`;
  return {
    async has(jobId, step) {
      const expiry = expiries.get(key(jobId, step));
      if (expiry === undefined) return false;
      if (expiry > now()) return true;
      expiries.delete(key(jobId, step));
      return false;
    },
    async set(jobId, step) {
      for (const [each, expiry] of expiries) if (expiry <= now()) expiries.delete(each);
      expiries.set(key(jobId, step), now() + MARKER_TTL_SECONDS * 1000);
    },
  };
}
