import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "drizzle-orm";
import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";
import type { Database } from "../database/index.js";
import type { Principal } from "../http/access.js";
import { countSessionRevocation } from "../observability/kit-metrics.js";
import { expandGrants } from "../permissions/index.js";

/**
 * Decides whether an access token's session may still act in its tenant (the session is not
 * revoked or expired, the user is active, and the user is an active member of the tenant),
 * and with which permissions: those the member's roles grant, wildcards expanded. A token
 * without a tenant needs the same live session and active user, and is granted nothing.
 *
 * Answers come from a map in this process, so the check costs no round trip on the hot path,
 * and a busy session's answer is renewed before it expires, by its requests or, through a lull,
 * in the background, so its requests after a quiet minute do not wait for the database.
 * Every change that ends or changes access (logout, password change, deactivation, removal
 * from a tenant, a change of roles) calls `revoke`, which drops the affected answers here and
 * publishes the change on a Redis
 * channel that every other process listens to. While that subscription is down a process
 * cannot hear revocations, so it stops trusting its map and asks the database each time; when
 * the subscription comes back it forgets everything it knew.
 */

/** How long a "live" answer is reused before the database is asked again. */
const LIVE_SECONDS = 60;
/**
 * A request that finds a live answer older than this asks the database again in the background
 * and is answered from the map meanwhile, so a busy session's answer is renewed before it
 * expires and its requests never wait for the check. Nothing is reused past LIVE_SECONDS: the
 * answers of sessions that signed in together (every session after a deploy) would otherwise
 * expire together, and their requests would all wait for the database in the same second.
 */
const RENEW_AFTER_SECONDS = 45;
/**
 * How long after its last request a session's live answer is still renewed by the sweep below,
 * without requests: a lull shorter than this costs a busy session no check on its next request.
 */
const KEEP_RENEWED_SECONDS = 5 * 60;
/**
 * How often the sweep renews the live answers that have reached RENEW_AFTER_SECONDS without a
 * request to renew them. After a quiet minute every busy session would otherwise be checked
 * by its next request, a thousand checks in the burst's first second, with its requests
 * waiting behind them.
 */
const RENEW_SWEEP_MS = 5_000;
/** How long an "ended" answer is reused: spares the database floods of dead tokens. */
const ENDED_SECONDS = 10;
const MAX_ENTRIES = 100_000;
/** Checks sent in one query at most (one parameter array each). */
const MAX_CHECKS_PER_QUERY = 500;
const SUBSCRIBE_WAIT_MS = 3_000;

/** What stopped being valid. */
export type Revocation =
  | { readonly sessionId: string }
  | { readonly userId: string }
  | { readonly userId: string; readonly tenantId: string }
  | { readonly tenantId: string };

/** What a live session may do in its tenant. */
export interface Access {
  /** Catalog permissions the member's roles grant, wildcards expanded. */
  readonly permissions: ReadonlySet<string>;
  /** The grants as the roles hold them (`items:*`, `*` included). */
  readonly grants: readonly string[];
  readonly platformAdmin: boolean;
}

export interface SessionGuard {
  /**
   * What the principal may do, or undefined when its session has ended or its user is not an
   * active member of its tenant (any more): at once when this process holds a recent answer,
   * else a promise of the database's.
   */
  access(principal: Principal): Access | undefined | Promise<Access | undefined>;
  /** Ends the answers a revocation affects, in every process. Call after the change commits. */
  revoke(revocation: Revocation): Promise<void>;
  close(): Promise<void>;
}

interface Entry {
  readonly userId: string;
  readonly tenantId: string | null;
  readonly sessionId: string;
  readonly access: Access | undefined;
  readonly until: number;
  /** From then a request renews it in the background (live answers only). */
  readonly renewFrom: number;
  /** When a request last found it (epoch ms); the sweep renews it for a while after. */
  usedAt: number;
}

/** A check in flight, shared by the requests of its session that arrive meanwhile. */
interface Check {
  readonly userId: string;
  readonly answer: Promise<Access | undefined>;
}

/** The Redis channel revocations travel on, under the kit's key prefix. */
export const revocationChannel = (redisKeyPrefix: string) => `${redisKeyPrefix}session-revocations`;

/**
 * Publishes a revocation from a process that keeps no answers of its own (a command-line
 * script): every API process listening drops the answers it affects. Rejects when Redis does
 * not take it.
 */
export async function publishRevocation(
  redis: Redis,
  redisKeyPrefix: string,
  revocation: Revocation,
): Promise<void> {
  await redis.publish(revocationChannel(redisKeyPrefix), JSON.stringify(revocation));
}

const keyOf = (principal: Principal) => `${principal.sessionId}:${principal.tenantId}`;

function affects(revocation: Revocation, entry: Entry): boolean {
  if ("sessionId" in revocation) return entry.sessionId === revocation.sessionId;
  if ("userId" in revocation && "tenantId" in revocation) {
    return entry.userId === revocation.userId && entry.tenantId === revocation.tenantId;
  }
  if ("tenantId" in revocation) return entry.tenantId === revocation.tenantId;
  return entry.userId === revocation.userId;
}

export interface SessionGuardOptions {
  database: Database;
  /** Without Redis (the embedded default) there is one process, and no channel is needed. */
  redis: Redis | undefined;
  channel: string;
  logger: FastifyBaseLogger;
  /**
   * A check the database has not answered in this time fails (a 503 for its requests) and is
   * shared no further: a query stuck on its connection holds no later request. The app passes
   * DATABASE_STATEMENT_TIMEOUT_MS; 10 s when not given.
   */
  checkTimeoutMs?: number;
  /** How often answers are renewed without requests; RENEW_SWEEP_MS when not given. */
  renewSweepMs?: number;
}

export async function createSessionGuard(options: SessionGuardOptions): Promise<SessionGuard> {
  const { database, logger } = options;
  const entries = new Map<string, Entry>();
  const checks = new Map<string, Check>();
  /** Bumped by every revocation, so a check that started before it does not store its answer. */
  let generation = 0;
  let listening = options.redis === undefined;

  const forget = (revocation: Revocation | "everything") => {
    generation += 1;
    // A request arriving from now on must not share a check that may have read the database
    // before the change: it asks again.
    checks.clear();
    if (revocation === "everything") {
      entries.clear();
      return;
    }
    for (const [key, entry] of entries) if (affects(revocation, entry)) entries.delete(key);
  };

  const subscriber = options.redis?.duplicate({
    // A subscriber has no commands to fail fast; it should keep trying to come back.
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
    enableAutoPipelining: false,
  });
  if (subscriber) {
    subscriber.on("message", (channel: string, message: string) => {
      if (channel !== options.channel) return;
      try {
        forget(JSON.parse(message) as Revocation);
      } catch {
        forget("everything");
      }
    });
    let subscribed = false;
    subscriber.on("ready", () => {
      // Back after a reconnect (ioredis resubscribes first): what was missed meanwhile is unknown.
      forget("everything");
      listening = subscribed;
    });
    subscriber.on("close", () => {
      listening = false;
      forget("everything");
    });
    subscriber.on("error", () => {
      // Logged by the main client; the subscriber only needs to stop trusting its map.
      listening = false;
    });
    // Queued until Redis answers; start-up waits for it a short while, not for an outage.
    const subscription = subscriber.subscribe(options.channel).then(
      () => {
        subscribed = true;
        listening = subscriber.status === "ready";
      },
      (error: unknown) => {
        logger.warn({ err: error }, "session revocation channel unavailable");
      },
    );
    // Only when Redis is up: during an outage there is nothing to wait for.
    if (options.redis?.status === "ready") {
      await Promise.race([subscription, sleep(SUBSCRIBE_WAIT_MS, undefined, { ref: false })]);
    }
  }

  /** Checks waiting for the query sent when this turn of the event loop ends. */
  let waiting: {
    principal: Principal;
    resolve(access: Access | undefined): void;
    reject(error: unknown): void;
  }[] = [];

  /**
   * The database's answer for the principal. The checks asked for in one turn of the event loop
   * go to the database as one query: when many sessions need a check at once (after a deploy,
   * or when the answers of sessions that signed in together expire), a round trip each would
   * hold their requests back behind one another.
   */
  function load(principal: Principal): Promise<Access | undefined> {
    return new Promise((resolve, reject) => {
      waiting.push({ principal, resolve, reject });
      if (waiting.length === 1) setImmediate(sendWaiting);
      else if (waiting.length >= MAX_CHECKS_PER_QUERY) sendWaiting();
    });
  }

  function sendWaiting() {
    const batch = waiting;
    if (batch.length === 0) return;
    waiting = [];
    // The ids are the access token's claims, checked to be UUIDs when it was verified, so no
    // check can fail the others' cast.
    const ids = (pick: (principal: Principal) => string | null) =>
      sql.param(batch.map(({ principal }) => pick(principal)));
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const { reject } of batch) reject(error);
    };
    const timeoutMs = options.checkTimeoutMs ?? 10_000;
    const timer = setTimeout(
      () => fail(new Error(`the session check took longer than ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    database
      .run<{ check_number: number; grants: string[]; is_platform_admin: boolean }>(
        sql`select k.check_number::int as check_number, a.grants, a.is_platform_admin
          from unnest(${ids((p) => p.sessionId)}::uuid[], ${ids((p) => p.userId)}::uuid[], ${ids((p) => p.tenantId)}::uuid[])
            with ordinality as k(session_id, user_id, tenant_id, check_number)
          cross join lateral app.session_access(k.session_id, k.user_id, k.tenant_id) a`,
      )
      .then((rows) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const found = new Map(rows.map((row) => [row.check_number, row]));
        batch.forEach(({ resolve }, index) => {
          const row = found.get(index + 1);
          resolve(
            row && {
              permissions: new Set(expandGrants(row.grants)),
              grants: row.grants,
              platformAdmin: row.is_platform_admin,
            },
          );
        });
      }, fail);
  }

  async function republish(redis: Redis, message: string, until: number) {
    for (let delay = 250; Date.now() < until; delay = Math.min(delay * 2, 5_000)) {
      await sleep(delay, undefined, { ref: false });
      try {
        await redis.publish(options.channel, message);
        return;
      } catch {
        // Still failing; the loop ends when the answers it would have ended have expired.
      }
    }
  }

  /**
   * Asks the database, and keeps the answer while this process hears revocations. `usedAt` is
   * when a request last needed the answer: now, or the old answer's for a renewal by the sweep.
   */
  async function loadAndRemember(principal: Principal, key: string, usedAt?: number) {
    const startedAt = generation;
    // The answer's life counts from before the query: it says what the database held then.
    const now = Date.now();
    const access = await load(principal);
    // An answer granting platform administration is never reused: an admin unmade by any
    // path (the command, or SQL by hand) is refused on their next request, published or not.
    // Admins are few; their requests each ask the database.
    if (listening && startedAt === generation && !access?.platformAdmin) {
      if (entries.size >= MAX_ENTRIES) entries.clear();
      entries.set(key, {
        userId: principal.userId,
        tenantId: principal.tenantId,
        sessionId: principal.sessionId,
        access,
        until: now + (access ? LIVE_SECONDS : ENDED_SECONDS) * 1000,
        renewFrom: access ? now + RENEW_AFTER_SECONDS * 1000 : Number.POSITIVE_INFINITY,
        usedAt: usedAt ?? now,
      });
    }
    return access;
  }

  /**
   * The database's answer for the principal. While this process hears revocations, the requests
   * of a session that arrive during its check share that check (a revocation heard meanwhile
   * sends later requests to a check of their own); while it does not, each request asks alone.
   */
  function check(principal: Principal, key: string, usedAt?: number): Promise<Access | undefined> {
    if (!listening) return loadAndRemember(principal, key, usedAt);
    const inFlight = checks.get(key);
    if (inFlight && inFlight.userId === principal.userId) return inFlight.answer;
    const answer = loadAndRemember(principal, key, usedAt);
    const own: Check = { userId: principal.userId, answer };
    checks.set(key, own);
    const settle = () => {
      if (checks.get(key) === own) checks.delete(key);
    };
    answer.then(settle, settle);
    return answer;
  }

  /**
   * Asks the database again for an answer still in use, without anyone waiting for it: a failed
   * renewal leaves that answer to expire, and the next request after it asks the database itself.
   */
  function renewInBackground(principal: Principal, key: string, usedAt?: number) {
    check(principal, key, usedAt).catch((error: unknown) => {
      logger.debug({ err: error }, "session check renewal failed");
    });
  }

  /**
   * Renews, as a request past RENEW_AFTER_SECONDS would, the live answers that no request has
   * renewed, of sessions used in the last KEEP_RENEWED_SECONDS. Each renewal is a check like a
   * request's (batched with the others of its turn), so no answer is used past LIVE_SECONDS.
   */
  function renewQuietAnswers() {
    if (!listening) return;
    const now = Date.now();
    for (const [key, entry] of entries) {
      if (!entry.access || now < entry.renewFrom || now >= entry.until) continue;
      if (now - entry.usedAt > KEEP_RENEWED_SECONDS * 1000 || checks.has(key)) continue;
      const { userId, tenantId, sessionId } = entry;
      renewInBackground({ userId, tenantId, sessionId }, key, entry.usedAt);
    }
  }
  const sweep = setInterval(renewQuietAnswers, options.renewSweepMs ?? RENEW_SWEEP_MS);
  sweep.unref();

  return {
    access(principal) {
      const now = Date.now();
      const key = keyOf(principal);
      if (listening) {
        const entry = entries.get(key);
        // Without a promise: authentication asks on every request.
        if (entry && entry.until > now && entry.userId === principal.userId) {
          entry.usedAt = now;
          // The request goes on with the answer it found.
          if (now >= entry.renewFrom && !checks.has(key)) renewInBackground(principal, key);
          return entry.access;
        }
      }
      return check(principal, key);
    },

    async revoke(revocation) {
      countSessionRevocation(revocation);
      forget(revocation);
      const redis = options.redis;
      if (!redis) return;
      const message = JSON.stringify(revocation);
      try {
        await redis.publish(options.channel, message);
      } catch (error) {
        // Processes still listening would keep a "live" answer for up to LIVE_SECONDS: keep
        // trying in the background until then (those not listening check every request).
        logger.warn({ err: error }, "could not publish a session revocation; retrying");
        void republish(redis, message, Date.now() + LIVE_SECONDS * 1000);
      }
    },

    async close() {
      clearInterval(sweep);
      subscriber?.disconnect();
      entries.clear();
      checks.clear();
      // Checks not yet sent would reach a closing pool: they fail here instead.
      const unsent = waiting;
      waiting = [];
      for (const { reject } of unsent) reject(new Error("the session guard has closed"));
    },
  };
}
