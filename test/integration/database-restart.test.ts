import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDatabase } from "../../src/core/database/index.js";
import { PASSWORD, uniqueEmail } from "../helpers/auth.js";
import { type PrivatePostgres, startPrivatePostgres } from "../helpers/private-postgres.js";
import { type ServerProcess, startServer } from "../helpers/server-process.js";

/**
 * PostgreSQL restarted under load, as at a failover or a minor upgrade: the API process runs
 * against a cluster of this file's own, which the test restarts while clients read and write.
 * The process must live through it, answer the gap with 503 and Retry-After (never a 500 or a
 * hang), recover without a restart, and keep every write it acknowledged.
 */

let cluster: PrivatePostgres;

beforeAll(async () => {
  cluster = await startPrivatePostgres();
  await migrateDatabase(cluster.url);
}, 120_000);

afterAll(async () => {
  await cluster?.destroy();
});

interface Answer {
  status: number;
  retryAfter: string | null;
  body: unknown;
}

async function call(
  server: ServerProcess,
  path: string,
  init: { method?: string; token?: string; body?: unknown } = {},
): Promise<Answer | { error: string }> {
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}${path}`, {
      method: init.method ?? "GET",
      headers: {
        ...(init.body === undefined ? {} : { "content-type": "application/json" }),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: response.status, retryAfter: response.headers.get("retry-after"), body };
  } catch (error) {
    return { error: String((error as Error).cause ?? error) };
  }
}

describe("PostgreSQL restarted under load", { timeout: 120_000 }, () => {
  it.each(["fast", "immediate"] as const)(
    "the API lives through a %s restart: 503 with Retry-After in the gap, no write lost",
    async (mode) => {
      const server = await startServer({
        DATABASE_URL: cluster.url,
        DATABASE_POOL_SIZE: "8",
        REDIS_URL: "",
        RATE_LIMIT_ENABLED: "false",
        FIXTURE_MODULES: "all",
        LOG_LEVEL: "warn",
      });
      const registered = await call(server, "/api/v1/auth/register", {
        method: "POST",
        body: { email: uniqueEmail(), password: PASSWORD, name: "Ada", tenantName: "Restart" },
      });
      expect(registered, JSON.stringify(registered)).toMatchObject({ status: 201 });
      const token = ((registered as Answer).body as { accessToken: string }).accessToken;
      // Custom roles are the tenant rows written and read: every project keeps them.
      const first = await call(server, "/api/v1/roles", {
        method: "POST",
        token,
        body: { name: "before the restart", permissions: [] },
      });
      expect(first).toMatchObject({ status: 201 });

      const answers: (Answer | { error: string })[] = [];
      const created: string[] = [];
      let stop = false;
      const client = async (writer: boolean) => {
        while (!stop) {
          const answer = writer
            ? await call(server, "/api/v1/roles", {
                method: "POST",
                token,
                // Role names are unique in a tenant, and two writers run at once.
                body: { name: `written ${randomUUID()}`, permissions: [] },
              })
            : await call(server, "/api/v1/roles?limit=20", { token });
          answers.push(answer);
          if ("status" in answer && answer.status === 201) {
            created.push((answer.body as { id: string }).id);
          }
          if ("status" in answer && answer.status === 503) await sleep(50);
        }
      };
      const load = Promise.all([true, true, false, false, false, false].map(client));
      await sleep(700);
      await cluster.restart(mode);
      // Back up: wait until a read succeeds again, as a client honouring Retry-After would.
      const restartedAt = performance.now();
      let recovered: number | undefined;
      while (performance.now() - restartedAt < 20_000) {
        const answer = await call(server, "/api/v1/roles?limit=20", { token });
        if ("status" in answer && answer.status === 200) {
          recovered = performance.now() - restartedAt;
          break;
        }
        await sleep(100);
      }
      await sleep(500);
      stop = true;
      await load;

      expect(server.child.exitCode, server.stderr()).toBeNull();
      expect(server.child.signalCode).toBeNull();
      expect(recovered, "reads succeed again after the restart").toBeDefined();

      const statuses = new Map<string, number>();
      for (const answer of answers) {
        const key = "status" in answer ? String(answer.status) : answer.error;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
      const seen = Object.fromEntries(statuses);
      // Only successes and 503s: no 500, no connection error, no hang.
      expect(
        Object.keys(seen).every((key) => ["200", "201", "503"].includes(key)),
        JSON.stringify(seen),
      ).toBe(true);
      expect(answers.length).toBeGreaterThan(20);
      for (const answer of answers) {
        if ("status" in answer && answer.status === 503) {
          expect(answer.retryAfter).toMatch(/^\d+$/);
          expect(answer.body).toMatchObject({ status: 503 });
        }
      }

      // Every acknowledged write is there.
      const check = new pg.Client({ connectionString: cluster.url });
      await check.connect();
      try {
        const found = await check.query<{ id: string }>(
          "select id from roles where id = any($1::uuid[])",
          [created],
        );
        expect(found.rowCount).toBe(created.length);
      } finally {
        await check.end();
      }
      server.child.kill("SIGTERM");
      await server.exited;
    },
  );
});
