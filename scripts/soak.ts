/**
 * A long run of mixed traffic against the production topology, watching for what only time
 * shows: memory that keeps growing, connections that pile up, tables and Redis keys that do not
 * stay bounded, an outbox that does not drain (docs/operations.md#soak).
 *   npm run soak                              30 minutes, 8 virtual users
 *   npm run soak -- --minutes 3 --users 8     what CI runs
 *   npm run soak -- --rate 4                  requests a second per user (default 4)
 * Writes bench/results/soak-<date>.json and prints a table; exits 1 when the verdict fails.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { QUEUE_NAME, queuePrefix } from "../src/core/jobs/index.js";
import { FRONTEND_URL } from "./lib/topology/kit-env.js";
import { startTopology, type Topology } from "./lib/topology/topology.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    users: { type: "string", default: "8" },
    "sample-seconds": { type: "string", default: "10" },
    rate: { type: "string", default: "4" },
  },
});
const positive = (name: string, value: string) => {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    console.error(`--${name} must be a positive number`);
    process.exit(2);
  }
  return number;
};
const minutes = positive("minutes", values.minutes);
const users = Math.round(positive("users", values.users));
const sampleMs = positive("sample-seconds", values["sample-seconds"]) * 1000;
/**
 * Requests a second per virtual user: 4 keeps each user's tenant under the free plan's 300 a
 * minute and its address under RATE_LIMIT_IP's 600, so the run measures work, not refusals.
 */
const gapMs = 1000 / positive("rate", values.rate);
/**
 * Invitations are limited to 20 an hour per inviter: at most one every 3 minutes, and four per
 * user in a short run, so revocations happen there too.
 */
const invitationGapMs = Math.min(180_000, Math.max(30_000, (minutes * 60_000) / 4));
if (users > 200) {
  console.error("--users must be at most 200 (each has its own loopback address)");
  process.exit(2);
}

const root = fileURLToPath(new URL("../", import.meta.url));
const PASSWORD = "soak-Password-9f2c1e";
/** The kit's default REDIS_KEY_PREFIX, which the topology keeps. */
const KEY_PREFIX = "kit:";
/** Growth of the last third's average RSS (or live heap) over the middle third's that fails the verdict. */
const RSS_GROWTH_LIMIT = 0.1;

// ---------------------------------------------------------------------------------------------
// HTTP through Caddy. Each virtual user sends from its own loopback address (127.0.0.x): Caddy
// forwards that address, so the kit's per-IP limits apply per user as they would on the internet.

interface Answer {
  status: number;
  body: unknown;
  setCookie: string[];
}

const traffic = {
  requests: 0,
  byStatus: new Map<number, number>(),
  networkErrors: 0,
  serverErrors: [] as { method: string; path: string; status: number; at: string }[],
  latenciesMs: [] as number[],
};

function send(
  base: URL,
  agent: Agent,
  localAddress: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: base.hostname,
        port: base.port,
        method,
        path,
        agent,
        localAddress,
        timeout: 30_000,
        headers: {
          ...(payload === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const status = response.statusCode ?? 0;
          traffic.requests += 1;
          traffic.byStatus.set(status, (traffic.byStatus.get(status) ?? 0) + 1);
          traffic.latenciesMs.push(performance.now() - started);
          if (status >= 500) {
            traffic.serverErrors.push({ method, path, status, at: new Date().toISOString() });
          }
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {}
          const cookies = response.headers["set-cookie"] ?? [];
          resolve({ status, body, setCookie: cookies });
        });
        response.on("error", reject);
      },
    );
    outgoing.on("timeout", () => outgoing.destroy(new Error(`${method} ${path} timed out`)));
    outgoing.on("error", (error) => {
      traffic.networkErrors += 1;
      reject(error);
    });
    outgoing.end(payload);
  });
}

// ---------------------------------------------------------------------------------------------
// A virtual user: signs up its own tenant, verifies its email from the mail, then loops over a
// weighted mix of the kit's routes until the deadline.

class VirtualUser {
  readonly email = `soak-${randomUUID()}@example.test`;
  readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  token = "";
  refreshCookie = "";
  memberRoleId = "";
  /** The custom roles this user made and has not deleted yet. */
  roleIds: string[] = [];
  invitationIds: string[] = [];
  lastInvitationAt = 0;
  iterations = 0;
  signedOut = false;
  nextRequestAt = 0;

  constructor(
    readonly topology: Topology,
    readonly localAddress: string,
  ) {}

  async call(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; anonymous?: boolean } = {},
  ) {
    const wait = this.nextRequestAt - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    this.nextRequestAt = Math.max(Date.now(), this.nextRequestAt) + gapMs;
    return send(new URL(this.topology.url), this.agent, this.localAddress, method, path, {
      ...options,
      ...(options.anonymous ? {} : { token: this.token }),
    });
  }

  /** Takes the access token and the rotated refresh cookie of a token response. */
  private signedIn(answer: Answer, what: string) {
    if (answer.status !== 200 && answer.status !== 201) {
      throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    this.token = (answer.body as { accessToken: string }).accessToken;
    const cookie = answer.setCookie.find((line) => line.startsWith("refresh_token="));
    if (cookie) this.refreshCookie = cookie.split(";")[0] as string;
  }

  async setUp() {
    const registered = await this.call("POST", "/api/v1/auth/register", {
      anonymous: true,
      body: {
        email: this.email,
        password: PASSWORD,
        name: "Soak",
        tenantName: `Soak ${this.localAddress}`,
      },
    });
    this.signedIn(registered, "register");
    const prefix = `${FRONTEND_URL}/verify-email?token=`;
    const mail = await this.topology.mail.waitFor(
      (message) => message.to.includes(this.email) && message.text.includes(prefix),
      60_000,
    );
    const link = mail.text.split(/\s+/).find((word) => word.startsWith(prefix)) as string;
    const token = new URL(link).searchParams.get("token");
    const verified = await this.call("POST", "/api/v1/auth/email/verify", {
      anonymous: true,
      body: { token },
    });
    if (verified.status !== 204) throw new Error(`verify: ${verified.status}`);
    const roles = await this.call("GET", "/api/v1/roles");
    const member = (roles.body as { items: { id: string; name: string }[] }).items.find(
      (role) => role.name === "member",
    );
    this.memberRoleId = member?.id ?? "";
  }

  async step() {
    this.iterations += 1;
    const n = this.iterations;
    if (this.signedOut) return this.login();
    if (n % 40 === 0) return this.logoutAndLogin();
    if (n % 10 === 0) return this.refresh();
    if (Date.now() - this.lastInvitationAt > invitationGapMs) return this.invite();
    const pick = Math.random();
    if (pick < 0.3) return this.createRole();
    if (pick < 0.55) return this.listRoles();
    if (pick < 0.7) return this.listMembers();
    if (pick < 0.8) return this.updateRole();
    if (pick < 0.9) return this.deleteRole();
    await this.call("GET", pick < 0.95 ? "/api/v1/users/me" : "/api/v1/tenants/current");
  }

  /**
   * A custom role granting nothing: a tenant row (row-level security, audited) that every project
   * keeps, and no change to what anyone may do.
   */
  private async createRole() {
    const answer = await this.call("POST", "/api/v1/roles", {
      body: {
        name: `role ${randomUUID().slice(0, 8)}`,
        description: "made by the soak",
        permissions: [],
      },
    });
    if (answer.status === 201) this.roleIds.push((answer.body as { id: string }).id);
    // Keeps each tenant's roles bounded, so list pages cost the same at the end as at the start.
    if (this.roleIds.length > 60) await this.deleteRole();
  }

  /** Up to three pages of 20, following nextCursor. */
  private async listRoles() {
    let cursor: string | null = null;
    for (let page = 0; page < 3; page += 1) {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const answer = await this.call("GET", `/api/v1/roles?limit=20${query}`);
      cursor = (answer.body as { nextCursor?: string | null } | undefined)?.nextCursor ?? null;
      if (answer.status !== 200 || !cursor) return;
    }
  }

  private async listMembers() {
    await this.call("GET", "/api/v1/members?limit=20");
  }

  private anyRole() {
    return this.roleIds[Math.floor(Math.random() * this.roleIds.length)];
  }

  /** Its description only: a change of permissions would also revoke the tenant's sessions. */
  private async updateRole() {
    const id = this.anyRole();
    if (id) {
      await this.call("PATCH", `/api/v1/roles/${id}`, {
        body: { description: `changed ${randomUUID().slice(0, 8)}` },
      });
    } else await this.createRole();
  }

  private async deleteRole() {
    const id = this.roleIds.shift();
    if (id) await this.call("DELETE", `/api/v1/roles/${id}`);
  }

  private async refresh() {
    const answer = await this.call("POST", "/api/v1/auth/refresh", {
      anonymous: true,
      headers: { cookie: this.refreshCookie, "x-requested-with": "XMLHttpRequest" },
    });
    if (answer.status === 200) this.signedIn(answer, "refresh");
  }

  private async logoutAndLogin() {
    await this.call("POST", "/api/v1/auth/logout", {
      headers: { cookie: this.refreshCookie, "x-requested-with": "XMLHttpRequest" },
    });
    this.signedOut = true;
    await this.login();
  }

  private async login() {
    const answer = await this.call("POST", "/api/v1/auth/login", {
      anonymous: true,
      body: { email: this.email, password: PASSWORD },
    });
    this.signedIn(answer, "login");
    this.signedOut = false;
  }

  /**
   * Invites someone (a mail through outbox, Redis, a worker and SMTP), lists the pending ones,
   * and revokes the older one: each tenant keeps one pending invitation.
   */
  private async invite() {
    this.lastInvitationAt = Date.now();
    const answer = await this.call("POST", "/api/v1/invitations", {
      body: { email: `invitee-${randomUUID()}@example.test`, roleIds: [this.memberRoleId] },
    });
    if (answer.status === 201) this.invitationIds.push((answer.body as { id: string }).id);
    await this.call("GET", "/api/v1/invitations?limit=20");
    if (this.invitationIds.length > 1) {
      await this.call("DELETE", `/api/v1/invitations/${this.invitationIds.shift()}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sampling.

interface Sample {
  at: string;
  elapsedSeconds: number;
  /** Resident memory (MB) of every process of the topology, from /proc/<pid>/status. */
  rssMb: Record<string, number>;
  /** From each API's /metrics: the heap in use now, a sawtooth between full collections. */
  apiHeapUsedMb: Record<string, number>;
  /** From each API's /metrics: the heap its last full collection left, its live memory. */
  apiHeapAfterFullGcMb: Record<string, number>;
  apiEventLoopLagP99Ms: Record<string, number>;
  /** Client backends in pg_stat_activity per login (PgBouncer's server connections, the owner). */
  postgresConnections: Record<string, number>;
  redisUsedMemoryMb: number;
  redisKeys: number;
  requests: number;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

function vmRssMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Math.round((Number(match[1]) / 1024) * 10) / 10 : undefined;
  } catch {
    return undefined;
  }
}

function metricValue(text: string, name: string): number | undefined {
  const line = text
    .split("\n")
    .find((row) => row.startsWith(`${name} `) || row.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : undefined;
}

async function sample(
  topology: Topology,
  owner: pg.Client,
  redis: Redis,
  started: number,
): Promise<Sample> {
  const processes: [string, number | undefined][] = [
    ...[...topology.apis, ...topology.workers].map(
      (kit) => [kit.name, kit.process.pid] as [string, number | undefined],
    ),
    ["caddy", topology.caddy.process.pid],
    ["pgbouncer", topology.pgbouncer.process.pid],
    ["redis", topology.redis.process.pid],
    ["postgres (postmaster)", topology.postgres.pid()],
  ];
  const rssMb: Record<string, number> = {};
  for (const [name, pid] of processes) {
    const rss = vmRssMb(pid);
    if (rss !== undefined) rssMb[name] = rss;
  }
  const apiHeapUsedMb: Record<string, number> = {};
  const apiHeapAfterFullGcMb: Record<string, number> = {};
  const apiEventLoopLagP99Ms: Record<string, number> = {};
  for (const api of topology.apis) {
    const response = await fetch(`http://127.0.0.1:${api.port}/metrics`, {
      headers: { authorization: `Bearer ${topology.metricsToken}` },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    const heap = metricValue(text, "nodejs_heap_size_used_bytes");
    const lag = metricValue(text, "nodejs_eventloop_lag_p99_seconds");
    const live = metricValue(text, "nodejs_heap_used_after_full_gc_bytes");
    if (heap !== undefined) apiHeapUsedMb[api.name] = mb(heap);
    if (live !== undefined && Number.isFinite(live)) apiHeapAfterFullGcMb[api.name] = mb(live);
    if (lag !== undefined) apiEventLoopLagP99Ms[api.name] = Math.round(lag * 1000 * 10) / 10;
  }
  const { rows } = await owner.query<{ login: string; count: number }>(
    `select coalesce(usename, '(none)') as login, count(*)::int as count
       from pg_stat_activity where backend_type = 'client backend' group by 1 order by 1`,
  );
  const postgresConnections = Object.fromEntries(rows.map((row) => [row.login, row.count]));
  const memory = await redis.info("memory");
  const usedMemory = Number(/used_memory:(\d+)/.exec(memory)?.[1] ?? 0);
  return {
    at: new Date().toISOString(),
    elapsedSeconds: Math.round((Date.now() - started) / 1000),
    rssMb,
    apiHeapUsedMb,
    apiHeapAfterFullGcMb,
    apiEventLoopLagP99Ms,
    postgresConnections,
    redisUsedMemoryMb: mb(usedMemory),
    redisKeys: await redis.dbsize(),
    requests: traffic.requests,
  };
}

/** Every numeric series of the samples, by a flat name: "rssMb.api-1", "redisKeys", ... */
function series(samples: readonly Sample[]): Map<string, number[]> {
  const all = new Map<string, number[]>();
  const add = (name: string, index: number, value: number) => {
    const values = all.get(name) ?? Array<number>(samples.length).fill(Number.NaN);
    values[index] = value;
    all.set(name, values);
  };
  samples.forEach((entry, index) => {
    for (const group of [
      "rssMb",
      "apiHeapUsedMb",
      "apiHeapAfterFullGcMb",
      "apiEventLoopLagP99Ms",
      "postgresConnections",
    ] as const) {
      for (const [name, value] of Object.entries(entry[group]))
        add(`${group}.${name}`, index, value);
    }
    add("redisUsedMemoryMb", index, entry.redisUsedMemoryMb);
    add("redisKeys", index, entry.redisKeys);
  });
  return all;
}

const average = (values: readonly number[]) => {
  const known = values.filter((value) => !Number.isNaN(value));
  return known.length ? known.reduce((sum, value) => sum + value, 0) / known.length : Number.NaN;
};
const round1 = (value: number) => Math.round(value * 10) / 10;

// ---------------------------------------------------------------------------------------------
// The end: the daily cleanup now, then what should stay bounded.

async function runCleanup(redisPort: number): Promise<string> {
  const connection = new Redis({ host: "127.0.0.1", port: redisPort, maxRetriesPerRequest: null });
  const prefix = queuePrefix(KEY_PREFIX);
  const queue = new Queue(QUEUE_NAME, { connection, prefix });
  const blocking = connection.duplicate();
  const events = new QueueEvents(QUEUE_NAME, { connection: blocking, prefix });
  try {
    await events.waitUntilReady();
    // What the cron enqueues at 03:00 (scheduleCrons), enqueued now; a worker runs it.
    const job = await queue.add(
      "cleanup-expired-tokens",
      { payload: {} },
      { jobId: `soak-cleanup-${randomUUID()}`, attempts: 1 },
    );
    await job.waitUntilFinished(events, 120_000);
    return "completed";
  } catch (error) {
    return `failed: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    await events.close();
    await queue.close();
    blocking.disconnect();
    connection.disconnect();
  }
}

const BOUNDED_TABLES = [
  "sessions",
  "refresh_tokens",
  "one_time_tokens",
  "job_outbox",
  "invitations",
  "roles",
  "audit_logs",
] as const;

async function tableCounts(owner: pg.Client): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of BOUNDED_TABLES) {
    const { rows } = await owner.query<{ count: number }>(
      `select count(*)::int as count from ${table}`,
    );
    counts[table] = rows[0]?.count ?? 0;
  }
  const live = await owner.query<{ count: number }>(
    "select count(*)::int as count from sessions where revoked_at is null",
  );
  counts["sessions (not revoked)"] = live.rows[0]?.count ?? 0;
  return counts;
}

async function countKeys(redis: Redis, pattern: string): Promise<number> {
  let count = 0;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    count += keys.length;
  } while (cursor !== "0");
  return count;
}

/**
 * Moves the end of every ended row (revoked sessions, used one-time tokens, revoked invitations)
 * 31 days back, past every retention period, as if the soak's traffic were a month old: the
 * cleanup must then delete exactly those rows and keep the live ones.
 */
async function ageEndedRows(owner: pg.Client): Promise<Record<string, number>> {
  const statements = {
    sessions:
      "update sessions set revoked_at = revoked_at - interval '31 days' where revoked_at is not null",
    one_time_tokens:
      "update one_time_tokens set used_at = used_at - interval '31 days' where used_at is not null",
    invitations:
      "update invitations set revoked_at = revoked_at - interval '31 days' where revoked_at is not null",
  };
  const aged: Record<string, number> = {};
  for (const [table, statement] of Object.entries(statements)) {
    aged[table] = (await owner.query(statement)).rowCount ?? 0;
  }
  return aged;
}

/** Waits until the outbox is empty (the relay publishes and deletes), up to a minute. */
async function outboxDrained(owner: pg.Client): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await owner.query<{ count: number }>(
      "select count(*)::int as count from job_outbox where sent_at is null",
    );
    const pending = rows[0]?.count ?? 0;
    if (pending === 0 || Date.now() > deadline) return pending;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

// ---------------------------------------------------------------------------------------------

function printTable(rows: string[][]) {
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? "").length)),
  );
  for (const row of rows) {
    console.log(
      row
        .map((cell, column) =>
          column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
        )
        .join("  "),
    );
  }
}

async function main() {
  const log = (message: string) => console.log(`- ${message}`);
  log(`soak: ${minutes} min, ${users} virtual users, a sample every ${sampleMs / 1000} s`);
  const topology = await startTopology({ apis: 2, workers: 2, log });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await topology.stop();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void stop().finally(() => process.exit(130));
    });
  }

  const owner = new pg.Client({ connectionString: topology.ownerUrl, application_name: "soak" });
  await owner.connect();
  const redis = new Redis({ host: "127.0.0.1", port: topology.redis.port });
  try {
    const tablesAtStart = await tableCounts(owner);
    const virtualUsers = Array.from(
      { length: users },
      (_, index) => new VirtualUser(topology, `127.0.0.${10 + index}`),
    );
    log("signing up the virtual users (each verifies its email from the SMTP sink)");
    await Promise.all(virtualUsers.map((user) => user.setUp()));

    const started = Date.now();
    const deadline = started + minutes * 60_000;
    const samples: Sample[] = [await sample(topology, owner, redis, started)];
    const failures: string[] = [];
    const sampler = setInterval(() => {
      sample(topology, owner, redis, started)
        .then((entry) => {
          samples.push(entry);
          const rss = Object.entries(entry.rssMb)
            .filter(([name]) => name.startsWith("api") || name.startsWith("worker"))
            .map(([name, value]) => `${name} ${value}`)
            .join(", ");
          log(`${entry.elapsedSeconds} s: ${entry.requests} requests; RSS MB ${rss}`);
        })
        .catch((error: unknown) => failures.push(`sample: ${String(error)}`));
    }, sampleMs);

    log("traffic through Caddy");
    await Promise.all(
      virtualUsers.map(async (user) => {
        while (Date.now() < deadline) {
          try {
            await user.step();
          } catch (error) {
            if (failures.length < 50) failures.push(`${user.localAddress}: ${String(error)}`);
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
      }),
    );
    clearInterval(sampler);
    samples.push(await sample(topology, owner, redis, started));
    const trafficSeconds = (Date.now() - started) / 1000;
    for (const user of virtualUsers) user.agent.destroy();

    log("waiting for the outbox to drain, then the cleanup job");
    const pendingOutbox = await outboxDrained(owner);
    const tablesBeforeCleanup = await tableCounts(owner);
    const agedRows = await ageEndedRows(owner);
    const cleanup = await runCleanup(topology.redis.port);
    const tablesAtEnd = await tableCounts(owner);
    const rateLimitKeys = await countKeys(redis, `${KEY_PREFIX}rl:*`);
    const bullKeys = await countKeys(redis, `${queuePrefix(KEY_PREFIX)}*`);
    const invitationMails = topology.mail.messages.filter((mail) =>
      mail.text.includes(`${FRONTEND_URL}/invitations/accept?token=`),
    ).length;

    // Memory verdict: the last third's average against the middle third's (the first third is
    // warm-up: JIT, pools and caches fill), for the RSS of every API and worker and for each
    // API's heap after its last full collection. The heap in use is reported, not judged: it is
    // a sawtooth between full collections, and an average over a third moves with how many of
    // them it holds.
    const all = series(samples);
    const third = Math.floor(samples.length / 3);
    const metrics = [...all.entries()].map(([name, values]) => {
      const known = values.filter((value) => !Number.isNaN(value));
      const middle = average(values.slice(third, 2 * third));
      const last = average(values.slice(2 * third));
      return {
        name,
        start: known[0] ?? Number.NaN,
        end: known[known.length - 1] ?? Number.NaN,
        peak: Math.max(...known),
        middleThirdAverage: round1(middle),
        lastThirdAverage: round1(last),
        growth: middle > 0 ? round1(((last - middle) / middle) * 100) / 100 : 0,
      };
    });
    const kitMemory = metrics.filter(
      (metric) =>
        metric.name.startsWith("rssMb.api") ||
        metric.name.startsWith("rssMb.worker") ||
        metric.name.startsWith("apiHeapAfterFullGcMb."),
    );
    const growing = kitMemory.filter((metric) => metric.growth > RSS_GROWTH_LIMIT);
    const statusCounts = Object.fromEntries(
      [...traffic.byStatus.entries()].sort(([a], [b]) => a - b),
    );
    const sorted = [...traffic.latenciesMs].sort((a, b) => a - b);
    const percentile = (p: number) =>
      round1(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0);
    const checks = {
      memoryBounded: {
        pass: growing.length === 0 && samples.length >= 6,
        detail:
          samples.length < 6
            ? "too few samples to judge"
            : growing.length === 0
              ? `no API or worker grew more than ${RSS_GROWTH_LIMIT * 100}% (last third vs middle third)`
              : `grew: ${growing.map((metric) => `${metric.name} +${Math.round(metric.growth * 100)}%`).join(", ")}`,
      },
      outboxDrained: {
        pass: pendingOutbox === 0,
        detail: `${pendingOutbox} outbox rows unsent a minute after the traffic stopped`,
      },
      noServerErrors: {
        pass: traffic.serverErrors.length === 0 && traffic.networkErrors === 0,
        detail: `${traffic.serverErrors.length} 5xx, ${traffic.networkErrors} network errors`,
      },
      cleanupRan: { pass: cleanup === "completed", detail: cleanup },
      cleanupPurgedEnded: {
        pass:
          tablesAtEnd.sessions === tablesAtEnd["sessions (not revoked)"] &&
          tablesAtEnd.sessions === tablesBeforeCleanup["sessions (not revoked)"] &&
          (tablesAtEnd.invitations ?? 0) <=
            (tablesBeforeCleanup.invitations ?? 0) - (agedRows.invitations ?? 0) &&
          (tablesAtEnd.one_time_tokens ?? 0) <=
            (tablesBeforeCleanup.one_time_tokens ?? 0) - (agedRows.one_time_tokens ?? 0),
        detail: `aged ${JSON.stringify(agedRows)}; after the cleanup ${tablesAtEnd.sessions} sessions (${tablesAtEnd["sessions (not revoked)"]} live), ${tablesAtEnd.refresh_tokens} refresh tokens, ${tablesAtEnd.one_time_tokens} one-time tokens, ${tablesAtEnd.invitations} invitations`,
      },
    };
    const pass = Object.values(checks).every((check) => check.pass) && failures.length === 0;

    const report = {
      kind: "soak",
      date: new Date().toISOString(),
      machine: "2 vCPU shared with other work (a fault suite may have run at the same time)",
      options: { minutes, users, sampleSeconds: sampleMs / 1000, apis: 2, workers: 2 },
      traffic: {
        seconds: Math.round(trafficSeconds),
        requests: traffic.requests,
        requestsPerSecond: round1(traffic.requests / trafficSeconds),
        latencyMs: { p50: percentile(0.5), p95: percentile(0.95), p99: percentile(0.99) },
        statusCounts,
        serverErrors: traffic.serverErrors.slice(0, 20),
        networkErrors: traffic.networkErrors,
        mailsCaught: topology.mail.messages.length,
        invitationMails,
      },
      metrics,
      bounded: {
        tablesAtStart,
        tablesBeforeCleanup,
        tablesAtEnd,
        agedRows,
        cleanup,
        redisRateLimitKeys: rateLimitKeys,
        redisQueueKeys: bullKeys,
      },
      checks,
      failures,
      verdict: pass ? "pass" : "fail",
      samples,
    };
    const directory = `${root}bench/results`;
    mkdirSync(directory, { recursive: true });
    const file = `${directory}/soak-${report.date.slice(0, 10)}.json`;
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);

    console.log(
      `\n${traffic.requests} requests in ${Math.round(trafficSeconds)} s (${report.traffic.requestsPerSecond}/s), latency p50/p95/p99 ${percentile(0.5)}/${percentile(0.95)}/${percentile(0.99)} ms; statuses ${JSON.stringify(statusCounts)}\n`,
    );
    printTable([
      ["metric", "start", "end", "peak", "middle 1/3", "last 1/3", "growth"],
      ...metrics.map((metric) => [
        metric.name,
        String(metric.start),
        String(metric.end),
        String(metric.peak),
        String(metric.middleThirdAverage),
        String(metric.lastThirdAverage),
        `${Math.round(metric.growth * 100)}%`,
      ]),
    ]);
    console.log("");
    printTable([
      ["rows", "start", "before cleanup", "after cleanup"],
      ...Object.keys(tablesAtEnd).map((table) => [
        table,
        String(tablesAtStart[table] ?? ""),
        String(tablesBeforeCleanup[table] ?? ""),
        String(tablesAtEnd[table] ?? ""),
      ]),
    ]);
    console.log(`\naged past retention before the cleanup: ${JSON.stringify(agedRows)}`);
    console.log(`Redis: ${rateLimitKeys} rate-limit keys, ${bullKeys} queue keys`);
    for (const [name, check] of Object.entries(checks)) {
      console.log(`${check.pass ? "ok  " : "FAIL"} ${name}: ${check.detail}`);
    }
    for (const failure of failures.slice(0, 10)) console.log(`error: ${failure}`);
    console.log(`\nverdict: ${report.verdict}; written to ${file}`);
    if (!pass) process.exitCode = 1;
  } finally {
    await owner.end();
    redis.disconnect();
    await stop();
  }
}

await main();
