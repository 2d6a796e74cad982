import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { testConfig } from "../helpers/app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

/** `npm run seed` on a fresh database: demo data a developer can sign in to at once. */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

let testDatabase: TestDatabase;
let app: FastifyInstance;
beforeAll(async () => {
  testDatabase = await createTestDatabase();
  app = await createApp(testConfig({ DATABASE_URL: testDatabase.url, REDIS_URL: "" }));
});
afterAll(async () => {
  await app?.close();
  await testDatabase?.drop();
});

const seed = () =>
  run(process.execPath, ["--import", "tsx", "scripts/seed.ts"], {
    cwd: repoRoot,
    env: { ...process.env, ENVIRONMENT: "test", DATABASE_URL: testDatabase.url, REDIS_URL: "" },
  });

describe("npm run seed", () => {
  it("creates a user who signs in to both demo tenants, and is idempotent", async () => {
    const first = await seed();
    expect(first.stdout).toContain("created user ada@example.com");
    const second = await seed();
    expect(second.stdout).toContain("exists; left as it is");
    expect(second.stdout).not.toContain("created user");

    const password = /"password": "([^"]+)"/.exec(second.stdout)?.[1];
    expect(password).toBeTruthy();
    const login = await app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { email: "ada@example.com", password },
    });
    expect(login.statusCode, login.body).toBe(200);
    const me = await app.inject({
      url: "/api/v1/auth/me",
      headers: { authorization: `Bearer ${login.json().accessToken}` },
    });
    const memberships = me
      .json()
      .memberships.map((m: { tenant: { slug: string } }) => m.tenant.slug);
    expect(memberships.sort()).toEqual(["acme-corporation", "globex"]);

    // The printed tokens work as they are.
    const token = /access token for globex \(15 minutes\): (\S+)/.exec(second.stdout)?.[1];
    const items = await app.inject({
      url: "/api/v1/items",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(items.statusCode, items.body).toBe(200);
    expect(
      items
        .json()
        .items.map((item: { name: string }) => item.name)
        .sort(),
    ).toEqual(["Doomsday device", "Hammock"]);
  });
});
