import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Queue } from "bullmq";
import pg from "pg";
import { QUEUE_NAME, queuePrefix } from "../../../src/core/jobs/transport.js";
import type { Topology } from "../topology/topology.js";
import {
  invitation,
  OWNER_PASSWORD,
  readPlan,
  readWritePlan,
  signIn,
  type Tenant,
} from "./fixtures.js";
import { type LoadSummary, type Outcome, send, startLoad, summarize } from "./load.js";

export interface ScenarioResult {
  readonly name: string;
  readonly rule: string;
  readonly passed: boolean;
  /** Why it failed, or what to know about it. */
  readonly notes: string[];
  readonly faultMs: number;
  readonly load: LoadSummary;
  readonly writes?: { acknowledged: number; foundInPostgres: number };
  readonly mails?: { expected: number; delivered: number; duplicates: number; missing: number };
  /** Latency of the other tenants' requests before and during the fault (overload scenarios). */
  readonly latency?: {
    readonly quiet: { p50: number; p90: number; p99: number; count: number };
    readonly during: { p50: number; p90: number; p99: number; count: number };
  };
}

export interface ScenarioContext {
  readonly topology: Topology;
  readonly tenants: readonly Tenant[];
  readonly concurrency: number;
  readonly requestTimeoutMs: number;
  readonly redisOutageMs: number;
  /** Requests a second of the flooding tenant (tenant-flood). */
  readonly floodPerSecond: number;
  readonly log: (message: string) => void;
}

/** Load before and after the fault, so the steady state on each side is measured too. */
const STEADY_MS = 2_000;
const MAX_REQUESTS = 20_000;

async function rowsFound(topology: Topology, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const client = new pg.Client({ connectionString: topology.ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ count: number }>(
      "select count(*)::int as count from roles where id = any($1::uuid[])",
      [ids],
    );
    return rows[0]?.count ?? 0;
  } finally {
    await client.end();
  }
}

/**
 * Runs `fault` under steady load; the load goes on after it until requests succeed again (or
 * `settleMs` passes), then stops.
 */
async function underLoad(
  context: ScenarioContext,
  plan: Parameters<typeof startLoad>[0]["plan"],
  fault: () => Promise<void>,
  settleMs = 15_000,
): Promise<{ outcomes: Outcome[]; faultEndedAt: number; faultMs: number }> {
  const load = startLoad({
    baseUrl: context.topology.url,
    concurrency: context.concurrency,
    plan,
    maxRequests: MAX_REQUESTS,
    requestTimeoutMs: context.requestTimeoutMs,
  });
  await sleep(STEADY_MS);
  const faultStartedAt = Date.now();
  await fault();
  const faultEndedAt = Date.now();
  const deadline = faultEndedAt + settleMs;
  while (Date.now() < deadline) {
    const recovered = load.outcomes.filter(
      (o) => o.startedAt >= faultEndedAt && o.status !== undefined && o.status < 400,
    ).length;
    if (recovered >= context.concurrency * 4) break;
    await sleep(100);
  }
  await sleep(STEADY_MS);
  return { outcomes: await load.stop(), faultEndedAt, faultMs: faultEndedAt - faultStartedAt };
}

function databaseRule(summary: LoadSummary, notes: string[]): boolean {
  if (summary.badServerErrors > 0) {
    notes.push(
      `${summary.badServerErrors} answers were a 5xx other than 503 with Retry-After: ${JSON.stringify(summary.badServerErrorKinds)}`,
    );
  }
  if (summary.hangs > 0) notes.push(`${summary.hangs} requests hung past the deadline`);
  if (summary.connectionErrors > 0) notes.push(`${summary.connectionErrors} connection errors`);
  if (summary.recoveryMs === null) notes.push("no request succeeded after the fault");
  return (
    summary.badServerErrors === 0 &&
    summary.hangs === 0 &&
    summary.connectionErrors === 0 &&
    summary.recoveryMs !== null
  );
}

/**
 * A restart of a database part: 503 with Retry-After in the gap, every 201 kept. Invitations go
 * out meanwhile, one every 250 ms: each one accepted (201) wrote an outbox row in its
 * transaction, and must be mailed exactly once.
 */
async function databaseRestart(
  context: ScenarioContext,
  name: string,
  restart: () => Promise<void>,
): Promise<ScenarioResult> {
  const { topology } = context;
  const invited: string[] = [];
  const invitations: Outcome[] = [];
  let inviting = true;
  const inviter = (async () => {
    for (let n = 0; inviting; n += 1) {
      const email = `invitee-${randomUUID()}@example.test`;
      const tenant = context.tenants[n % context.tenants.length] as Tenant;
      const outcome = await send(topology.url, invitation(tenant, email), context.requestTimeoutMs);
      invitations.push(outcome);
      if (outcome.status === 201) invited.push(email);
      await sleep(250);
    }
  })();
  const { outcomes, faultEndedAt, faultMs } = await underLoad(
    context,
    readWritePlan(context.tenants),
    restart,
  );
  inviting = false;
  await inviter;
  const load = summarize([...outcomes, ...invitations], faultEndedAt);
  const notes: string[] = [];
  let passed = databaseRule(load, notes);
  const acknowledged = outcomes.flatMap((o) => (o.createdId ? [o.createdId] : []));
  const found = await rowsFound(topology, acknowledged);
  if (found !== acknowledged.length) {
    passed = false;
    notes.push(`${acknowledged.length - found} acknowledged writes are not in PostgreSQL`);
  }
  await waitForMails(topology, invited, 60_000);
  const mails = mailCounts(topology, invited);
  notes.push(`invitations: ${JSON.stringify(summarize(invitations, undefined).statuses)}`);
  if (mails.missing > 0 || mails.duplicates > 0) {
    passed = false;
    notes.push(
      `${mails.missing} accepted invitations never mailed, ${mails.duplicates} mailed twice`,
    );
  }
  return {
    name,
    rule: "gap answers 503 + Retry-After (no other 5xx, no hang, no connection error); every 201 kept; every accepted invitation mailed once",
    passed,
    notes,
    faultMs,
    load,
    writes: { acknowledged: acknowledged.length, foundInPostgres: found },
    mails,
  };
}

export const postgresRestart = (mode: "fast" | "immediate") => (context: ScenarioContext) =>
  databaseRestart(context, `postgresql restart (${mode})`, () =>
    context.topology.postgres.restart(mode),
  );

export const pgbouncerRestart = (context: ScenarioContext) =>
  databaseRestart(context, "pgbouncer restart", () => context.topology.pgbouncer.restart());

/** A rolling deploy of one API: SIGTERM (it drains), then started again. */
export async function apiRollingRestart(context: ScenarioContext): Promise<ScenarioResult> {
  const api = context.topology.apis[0];
  if (!api) throw new Error("the topology has no API");
  const { outcomes, faultEndedAt, faultMs } = await underLoad(
    context,
    readWritePlan(context.tenants),
    async () => {
      const exit = await api.stop("SIGTERM");
      context.log(`  ${api.name} exited with ${JSON.stringify(exit)}; starting it again`);
      await api.start();
      // Caddy checks health every 2 s: let it see the API before it is signalled again.
      await sleep(2_500);
    },
  );
  const load = summarize(outcomes, faultEndedAt);
  const failed = outcomes.filter((o) => o.status === undefined || o.status >= 400).length;
  const notes = failed > 0 ? [`${failed} requests failed`] : [];
  return {
    name: "api SIGTERM + start",
    rule: "zero failed requests through Caddy",
    passed: failed === 0,
    notes,
    faultMs,
    load,
  };
}

/** Answers of status `from` or above (and no answer) by status, Retry-After and problem type. */
export function failureKinds(outcomes: readonly Outcome[], from = 300): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const o of outcomes) {
    if (o.status !== undefined && o.status < from) continue;
    const key =
      o.status === undefined
        ? (o.error as string)
        : o.status < 400
          ? String(o.status)
          : `${o.status}${o.retryAfter === null ? "" : ` retry-after ${o.retryAfter}`} (${o.problemType ?? "no problem body"})`;
    kinds[key] = (kinds[key] ?? 0) + 1;
  }
  return kinds;
}

function mailCounts(topology: Topology, recipients: readonly string[]) {
  const counts = recipients.map(
    (to) => topology.mail.messages.filter((mail) => mail.to.includes(to)).length,
  );
  return {
    expected: recipients.length,
    delivered: counts.filter((count) => count > 0).length,
    duplicates: counts.reduce((sum, count) => sum + Math.max(0, count - 1), 0),
    missing: counts.filter((count) => count === 0).length,
  };
}

/** The Message-ID headers of the mails to `recipients`: how many mails, how many distinct. */
function messageIdsOf(topology: Topology, recipients: readonly string[]) {
  const mails = topology.mail.messages.filter((mail) =>
    recipients.some((to) => mail.to.includes(to)),
  );
  const ids = mails.map((mail) => /^message-id:\s*(\S+)/im.exec(mail.raw)?.[1] ?? "");
  return { mails: mails.length, distinct: new Set(ids).size };
}

async function waitForMails(topology: Topology, recipients: readonly string[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && mailCounts(topology, recipients).missing > 0) await sleep(250);
  const at = Date.now();
  // Time for a duplicate to arrive too.
  await sleep(3_000);
  return at;
}

/** Redis stopped for a while: reads go on; invitations made meanwhile are mailed once after. */
export async function redisOutage(context: ScenarioContext): Promise<ScenarioResult> {
  const { topology } = context;
  const recipients: string[] = [];
  const invitationOutcomes: Outcome[] = [];
  // A second session of the first owner, signed out during the outage.
  const owner = context.tenants[0] as Tenant;
  const second = { ...owner };
  await signIn(topology, second);
  let signInDuringOutage: Outcome | undefined;
  let signOutDuringOutage: Outcome | undefined;
  const revokedAnswers: Outcome[] = [];
  const { outcomes, faultEndedAt, faultMs } = await underLoad(
    context,
    readPlan(context.tenants),
    async () => {
      await topology.redis.stop();
      signInDuringOutage = await send(
        topology.url,
        {
          method: "POST",
          path: "/api/v1/auth/login",
          body: { email: owner.email, password: OWNER_PASSWORD },
        },
        context.requestTimeoutMs,
      );
      signOutDuringOutage = await send(
        topology.url,
        { method: "POST", path: "/api/v1/auth/logout", token: second.token },
        context.requestTimeoutMs,
      );
      // Several times, so that both API processes are asked.
      for (let n = 0; n < 6; n += 1) {
        revokedAnswers.push(
          await send(
            topology.url,
            { method: "GET", path: "/api/v1/roles?limit=1", token: second.token },
            context.requestTimeoutMs,
          ),
        );
      }
      const started = Date.now();
      let n = 0;
      while (Date.now() - started < context.redisOutageMs) {
        const tenant = context.tenants[n % context.tenants.length] as Tenant;
        const email = `invitee-${randomUUID()}@example.test`;
        const outcome = await send(
          topology.url,
          invitation(tenant, email),
          context.requestTimeoutMs,
        );
        invitationOutcomes.push(outcome);
        if (outcome.status === 201) recipients.push(email);
        n += 1;
        await sleep(Math.max(200, context.redisOutageMs / 10));
      }
      await topology.redis.start();
    },
  );
  const load = summarize(outcomes, faultEndedAt);
  const notes: string[] = [];
  const failedReads = outcomes.filter((o) => o.status !== 200).length;
  if (failedReads > 0) {
    notes.push(
      `${failedReads} reads did not answer 200: ${JSON.stringify(failureKinds(outcomes))}`,
    );
  }
  notes.push(
    `invitations during the outage: ${JSON.stringify(failureKinds(invitationOutcomes, 0))}`,
  );
  const mailedAt = await waitForMails(topology, recipients, 60_000);
  const mails = mailCounts(topology, recipients);
  if (recipients.length > 0 && mails.missing === 0)
    notes.push(`last invitation mailed ${mailedAt - faultEndedAt} ms after Redis returned`);
  // Without Redis the invitation limits are counted in PostgreSQL: an invitation is made (201),
  // its mail waits in the outbox and must be mailed exactly once after Redis returns.
  const unexplained = invitationOutcomes.filter((o) => o.status !== 201).length;
  // Sign-in limits fail closed without Redis; revocation falls back to the database.
  const signInClosed = signInDuringOutage?.status === 503 && signInDuringOutage.retryAfter !== null;
  const revoked =
    signOutDuringOutage?.status === 204 && revokedAnswers.every((o) => o.status === 401);
  notes.push(
    `during the outage: sign-in ${signInDuringOutage?.status ?? signInDuringOutage?.error}, sign-out ${signOutDuringOutage?.status ?? signOutDuringOutage?.error}, the signed-out token then ${JSON.stringify(summarize(revokedAnswers, undefined).statuses)}`,
  );
  if (!signInClosed) notes.push("sign-in did not fail closed (503 with Retry-After)");
  if (!revoked) notes.push("the signed-out token was not refused by every process");
  const passed =
    failedReads === 0 &&
    unexplained === 0 &&
    mails.missing === 0 &&
    mails.duplicates === 0 &&
    signInClosed &&
    revoked;
  if (unexplained > 0) {
    notes.push(`${unexplained} invitations were refused`);
  }
  if (mails.missing > 0) notes.push(`${mails.missing} invitations never mailed`);
  if (mails.duplicates > 0) notes.push(`${mails.duplicates} invitations mailed more than once`);
  return {
    name: `redis stopped ${Math.round(context.redisOutageMs / 1000)} s`,
    rule: "reads all 200; invitations 201, then mailed exactly once after Redis returns; sign-in 503 + Retry-After; a session signed out meanwhile refused everywhere",
    passed,
    notes,
    faultMs,
    load,
    mails,
  };
}

/**
 * A worker killed with SIGKILL while it runs jobs: the other worker is stopped first, so the
 * one killed holds every job of a burst of invitations; it is killed as soon as it has finished
 * its first one. Its locked jobs are recovered by BullMQ's stalled-job check once their lock
 * expires (lockDuration and stalledInterval, 30 s each by default).
 */
async function activeJobs(topology: Topology): Promise<number> {
  const queue = new Queue(QUEUE_NAME, {
    connection: { host: "127.0.0.1", port: topology.redis.port },
    prefix: queuePrefix("kit:"),
  });
  try {
    return await queue.getActiveCount();
  } finally {
    await queue.close();
  }
}

export async function workerKilled(context: ScenarioContext): Promise<ScenarioResult> {
  const { topology } = context;
  const [victim, other] = topology.workers;
  if (!victim || !other) throw new Error("the scenario needs two workers");
  await other.stop();
  const burst = 40;
  const recipients = Array.from({ length: burst }, () => `invitee-${randomUUID()}@example.test`);
  const mailedBefore = topology.mail.messages.length;
  // The first mail of the burst: the job that sent it has not been recorded as done yet, and
  // the victim runs more of them at the same time.
  const firstMail = topology.mail.waitFor(
    (mail) => recipients.some((to) => mail.to.includes(to)),
    60_000,
  );
  // Each mail waits 300 ms for its acceptance: the victim is killed with jobs in that gap.
  topology.mail.delayAcceptance(300);
  const faultStartedAt = Date.now();
  const outcomes = await Promise.all(
    recipients.map((email, n) =>
      send(
        topology.url,
        invitation(context.tenants[n % context.tenants.length] as Tenant, email),
        context.requestTimeoutMs,
      ),
    ),
  );
  const mailedInTime = await firstMail.then(
    () => true,
    () => false,
  );
  victim.process.signal("SIGKILL");
  await victim.process.exited;
  topology.mail.delayAcceptance(0);
  const activeAtKill = await activeJobs(topology);
  const mailedAtKill = topology.mail.messages.length - mailedBefore;
  context.log(`  ${victim.name} killed after ${mailedAtKill} of ${burst} mails; starting both`);
  await Promise.all([victim.start(), other.start()]);
  const faultEndedAt = Date.now();
  const load = summarize(outcomes, faultEndedAt);
  const acknowledged = recipients.filter((_, n) => outcomes[n]?.status === 201);
  const lastMailAt = await waitForMails(topology, acknowledged, 120_000);
  const mails = mailCounts(topology, acknowledged);
  const notes = [
    ...(mailedInTime ? [] : ["no mail of the burst within 60 s: the worker was killed idle"]),
    `invitations: ${JSON.stringify(summarize(outcomes, undefined).statuses)}`,
    `${mailedAtKill} of ${burst} mailed before the kill; ${activeAtKill} jobs active (locked by the killed worker)`,
    mails.missing === 0
      ? `last mail ${lastMailAt - faultEndedAt} ms after the workers were back (stalled-job recovery)`
      : `${mails.missing} never mailed within 120 s`,
  ];
  const messageIds = messageIdsOf(topology, acknowledged);
  if (mails.duplicates > 0) {
    notes.push(
      `${mails.duplicates} mailed twice: a job killed after the SMTP server had its mail but before it was recorded as sent runs again (at-least-once delivery); ${messageIds.distinct} distinct Message-IDs for ${messageIds.mails} mails`,
    );
  }
  // A repeated mail must repeat its Message-ID, so the receiving side can drop the copy.
  const copiesKeepTheirId = messageIds.distinct === mails.delivered;
  if (!copiesKeepTheirId) {
    notes.push(`${messageIds.distinct} Message-IDs for ${mails.delivered} invitations`);
  }
  if (acknowledged.length !== burst)
    notes.push(`${burst - acknowledged.length} invitations refused`);
  return {
    name: "worker SIGKILL mid-job",
    rule: "every invitation mailed (none lost); a copy carries its original's Message-ID",
    passed: acknowledged.length === burst && mails.missing === 0 && copiesKeepTheirId,
    notes,
    faultMs: faultEndedAt - faultStartedAt,
    load: { ...load, recoveryMs: lastMailAt - faultEndedAt },
    mails,
  };
}
