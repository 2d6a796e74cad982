import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FRONTEND_URL, READINESS_PATH, TENANT_LOGIN } from "../../scripts/lib/topology/kit-env.js";
import { PGBOUNCER_POOLS } from "../../scripts/lib/topology/services.js";
import { startTopology, type Topology } from "../../scripts/lib/topology/topology.js";
import { PASSWORD } from "../helpers/auth.js";

/**
 * The production topology (npm run topology) end to end, from outside, through Caddy: several
 * API processes and workers built from dist/, both database pools through PgBouncer in
 * transaction pooling mode, Redis, and mail over SMTP. Tenant isolation is checked under
 * concurrency with server connections shared by every tenant, once with unnamed statements
 * and once with named ones (which PgBouncer does not track there), and the topology must leave no
 * process and no file behind.
 */

let topology: Topology;
beforeAll(async () => {
  topology = await startTopology({ apis: 2, workers: 2, preparedStatements: false });
}, 180_000);
afterAll(async () => {
  await topology?.stop();
}, 120_000);

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

async function call(
  path: string,
  options: {
    method?: string;
    token?: string;
    body?: unknown;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const response = await fetch(`${topology.url}${path}`, {
    method: options.method ?? "GET",
    headers: {
      ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body };
}

interface Owner {
  email: string;
  token: string;
  tenantId: string;
  /** Every role of the tenant: its system roles and the custom ones made here. */
  roleIds: string[];
  /** The custom roles: system roles cannot be changed. */
  customRoleIds: string[];
}

async function registerOwner(): Promise<Owner> {
  const email = `owner-${randomUUID()}@example.test`;
  const answer = await call("/api/v1/auth/register", {
    method: "POST",
    body: { email, password: PASSWORD, name: "Ada", tenantName: `Tenant ${email.slice(6, 14)}` },
  });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  const body = answer.body as { accessToken: string; tenant: { id: string } };
  const roles = await call("/api/v1/roles", { token: body.accessToken });
  expect(roles.status).toBe(200);
  const roleIds = (roles.body as { items: { id: string }[] }).items.map((role) => role.id);
  return { email, token: body.accessToken, tenantId: body.tenant.id, roleIds, customRoleIds: [] };
}

/** The token of the link to `page` in the last mail to `to` that has one. */
async function mailedToken(to: string, page: string): Promise<string> {
  const prefix = `${FRONTEND_URL}/${page}?token=`;
  const mail = await topology.mail.waitFor(
    (message) => message.to.includes(to) && message.text.includes(prefix),
  );
  const link = mail.text.split(/\s+/).find((word) => word.startsWith(prefix)) as string;
  return new URL(link).searchParams.get("token") as string;
}

async function invite(owner: Owner, email: string): Promise<string> {
  const roles = await call("/api/v1/roles", { token: owner.token });
  const member = (roles.body as { items: { id: string; name: string }[] }).items.find(
    (role) => role.name === "member",
  );
  const answer = await call("/api/v1/invitations", {
    method: "POST",
    token: owner.token,
    body: { email, roleIds: [member?.id] },
  });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return (answer.body as { token: string }).token;
}

const shuffled = <T>(values: T[]) =>
  values
    .map((value) => ({ value, key: Math.random() }))
    .sort((a, b) => a.key - b.key)
    .map(({ value }) => value);

/**
 * Many requests of every tenant at once, in random order: each answer must be the caller's own
 * (its tenant, its roles, and 404 for another tenant's role). There is no GET of one role: an
 * empty PATCH changes nothing and answers the role as it is, or 404 where row-level security
 * hides it.
 */
async function concurrentReads(owners: Owner[], perTenant: number): Promise<number> {
  const checks = owners.flatMap((owner, index) => {
    const other = owners[(index + 1) % owners.length] as Owner;
    return Array.from({ length: perTenant }, (_, n) => async () => {
      switch (n % 4) {
        case 0: {
          const answer = await call("/api/v1/roles?limit=100", { token: owner.token });
          expect(answer.status).toBe(200);
          const ids = (answer.body as { items: { id: string }[] }).items.map((role) => role.id);
          expect(ids.sort()).toEqual([...owner.roleIds].sort());
          return;
        }
        case 1: {
          const answer = await call("/api/v1/tenants/current", { token: owner.token });
          expect(answer.status).toBe(200);
          expect((answer.body as { id: string }).id).toBe(owner.tenantId);
          return;
        }
        case 2: {
          const id = owner.customRoleIds[n % owner.customRoleIds.length] as string;
          const answer = await call(`/api/v1/roles/${id}`, {
            method: "PATCH",
            token: owner.token,
            body: {},
          });
          expect(answer.status).toBe(200);
          expect((answer.body as { id: string }).id).toBe(id);
          return;
        }
        default: {
          const id = other.customRoleIds[n % other.customRoleIds.length] as string;
          const answer = await call(`/api/v1/roles/${id}`, {
            method: "PATCH",
            token: owner.token,
            body: {},
          });
          expect(answer.status).toBe(404);
        }
      }
    });
  });
  await Promise.all(shuffled(checks).map((check) => check()));
  return checks.length;
}

interface ServerConnectionState {
  pid: number;
  currentUser: string;
  role: string;
  tenantId: string | null;
  userId: string | null;
  context: string | null;
  prepared: number;
}

/**
 * What every server connection of the tenant login's PgBouncer pool carries between
 * transactions: as many clients as the pool has connections each hold a transaction open at
 * once, so together they sit on every one of them.
 */
async function serverConnectionStates(): Promise<{
  states: ServerConnectionState[];
  poolPids: number[];
}> {
  const owner = new pg.Client({ connectionString: topology.ownerUrl });
  await owner.connect();
  const poolPids = (
    await owner.query<{ pid: number }>(
      "select pid from pg_stat_activity where usename = $1 and backend_type = 'client backend'",
      [TENANT_LOGIN],
    )
  ).rows.map((row) => row.pid);
  await owner.end();

  const clients = Array.from(
    { length: PGBOUNCER_POOLS.tenant },
    () => new pg.Client({ connectionString: topology.databaseUrls.tenant }),
  );
  await Promise.all(clients.map((client) => client.connect()));
  try {
    await Promise.all(clients.map((client) => client.query("begin")));
    const states = await Promise.all(
      clients.map(async (client) => {
        const { rows } = await client.query<ServerConnectionState>(`
          select pg_backend_pid() as pid, current_user as "currentUser",
                 current_setting('role') as role,
                 nullif(current_setting('app.tenant_id', true), '') as "tenantId",
                 nullif(current_setting('app.user_id', true), '') as "userId",
                 nullif(current_setting('app.tenant_context', true), '') as context,
                 (select count(*)::int from pg_prepared_statements) as prepared`);
        return rows[0] as ServerConnectionState;
      }),
    );
    await Promise.all(clients.map((client) => client.query("commit")));
    return { states, poolPids };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

async function expectNoTenantLeftOnServerConnections(preparedStatements: boolean) {
  const { states, poolPids } = await serverConnectionStates();
  // More client connections (2 APIs and 2 workers, 10 each) than server connections: the
  // server connections were shared by every tenant's requests.
  expect(poolPids.length).toBeGreaterThan(0);
  expect(poolPids.length).toBeLessThanOrEqual(PGBOUNCER_POOLS.tenant);
  expect(states.map((state) => state.pid)).toEqual(expect.arrayContaining(poolPids));
  for (const state of states) {
    expect(state).toMatchObject({
      currentUser: TENANT_LOGIN,
      role: "none",
      tenantId: null,
      userId: null,
      context: null,
    });
  }
  const prepared = states.reduce((sum, state) => sum + state.prepared, 0);
  if (preparedStatements) expect(prepared).toBeGreaterThan(0);
  else expect(prepared).toBe(0);
}

describe("the production topology on one machine", { timeout: 90_000 }, () => {
  const owners: Owner[] = [];

  it("serves through Caddy as deploy/Caddyfile does, with /metrics kept from the outside", async () => {
    const ready = await call(READINESS_PATH);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ checks: { database: "ok", redis: "ok" } });
    expect(ready.headers.get("x-content-type-options")).toBe("nosniff");
    expect(ready.headers.get("server")).toBeNull();
    for (const path of ["/metrics", "/METRICS", "/%6detrics"]) {
      expect((await call(path)).status, path).toBe(404);
    }
    const api = topology.apis[0];
    const metrics = await fetch(`http://127.0.0.1:${api?.port}/metrics`, {
      headers: { authorization: `Bearer ${topology.metricsToken}` },
    });
    expect(metrics.status).toBe(200);
    await metrics.arrayBuffer();
  });

  it("registers tenants; a forged X-Forwarded-For does not pass Caddy", async () => {
    for (let n = 0; n < 4; n += 1) owners.push(await registerOwner());
    for (const owner of owners) {
      for (let n = 0; n < 3; n += 1) {
        const answer = await call("/api/v1/roles", {
          method: "POST",
          token: owner.token,
          body: { name: `role ${n} of ${owner.tenantId}`, permissions: [] },
        });
        expect(answer.status, JSON.stringify(answer.body)).toBe(201);
        const id = (answer.body as { id: string }).id;
        owner.roleIds.push(id);
        owner.customRoleIds.push(id);
      }
    }
    // Caddy replaces the header with the address it saw; the API trusts what Caddy sends.
    const owner = owners[0] as Owner;
    const login = await call("/api/v1/auth/login", {
      method: "POST",
      headers: { "x-forwarded-for": "203.0.113.9" },
      body: { email: owner.email, password: PASSWORD },
    });
    expect(login.status).toBe(200);
    const audit = await call("/api/v1/audit-logs?action=auth.login", { token: owner.token });
    const logins = (audit.body as { items: { ip: string | null }[] }).items;
    expect(logins.map((entry) => entry.ip)).toEqual(["127.0.0.1"]);
  });

  it("mails through the outbox, Redis and a worker over SMTP: verification, then an invitation", async () => {
    const owner = owners[0] as Owner;
    const token = await mailedToken(owner.email, "verify-email");
    const verified = await call("/api/v1/auth/email/verify", { method: "POST", body: { token } });
    expect(verified.status, JSON.stringify(verified.body)).toBe(204);

    const invitee = `invitee-${randomUUID()}@example.test`;
    const invitation = await invite(owner, invitee);
    expect(await mailedToken(invitee, "invitations/accept")).toBe(invitation);
  });

  it("keeps tenants apart under concurrency through PgBouncer, with unnamed statements", async () => {
    expect(await concurrentReads(owners, 32)).toBe(128);
    await expectNoTenantLeftOnServerConnections(false);
  });

  it("does so again with named prepared statements, which PgBouncer does not track", async () => {
    await topology.restartKit({ DATABASE_PREPARED_STATEMENTS: "true" });
    expect(await concurrentReads(owners, 32)).toBe(128);
    await expectNoTenantLeftOnServerConnections(true);

    const invitee = `invitee-${randomUUID()}@example.test`;
    const invitation = await invite(owners[0] as Owner, invitee);
    expect(await mailedToken(invitee, "invitations/accept")).toBe(invitation);
  });

  it("answers a 503 problem with Retry-After through Caddy while no API process is up", async () => {
    await Promise.all(topology.apis.map((api) => api.stop("SIGKILL")));
    try {
      // Caddy holds the request for lb_try_duration (10 s), then gives up with its own answer.
      const answer = await call("/api/v1/roles", { token: owners[0]?.token });
      expect(answer.status).toBe(503);
      expect(answer.headers.get("retry-after")).toBe("2");
      expect(answer.headers.get("content-type")).toBe("application/problem+json");
      expect(answer.body).toMatchObject({
        type: "https://api.topology.localhost/problems/service-unavailable",
        status: 503,
        traceId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      });
    } finally {
      await Promise.all(topology.apis.map((api) => api.start()));
    }
  });

  it("stops cleanly: every process gone, every file removed", async () => {
    const pids = topology.pids();
    // Caddy, PgBouncer, Redis, PostgreSQL, 2 APIs and 2 workers.
    expect(pids).toHaveLength(8);
    const directories = [topology.directory, topology.postgres.socketDirectory];
    const kits = [...topology.apis, ...topology.workers];
    const exits = kits.map((kit) => kit.process.exited);

    await topology.stop();

    const ended = await Promise.all(exits);
    ended.forEach((exit, index) => {
      const kit = kits[index];
      // Which process failed to stop cleanly, and the end of what it wrote.
      expect(exit, `${kit?.name}:\n${kit?.process.output(20)}`).toEqual({ code: 0, signal: null });
    });
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
    for (const directory of directories) expect(existsSync(directory)).toBe(false);
  });
});
