import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { repoRoot, setupSeedTest } from "../helpers/seed-run.js";

/**
 * `npm run seed` on a fresh database, through the kit's two logins as production connects:
 * the demo scenario a developer signs in to at once, the load scenario for benchmarks, both
 * idempotent, and accounts that never collide with the README's examples.
 */
// >>> items example
// What the seed puts in the items example is checked with it: modules/items/items-seed.test.ts.
// <<< items example

const seeding = setupSeedTest();
const { seed } = seeding;

/** How a failed run ended: its exit code and what it printed on stderr. */
async function refused(...args: string[]): Promise<{ code: unknown; stderr: string }> {
  try {
    await seed(...args);
  } catch (error) {
    const failed = error as { code?: unknown; stderr?: string };
    return { code: failed.code, stderr: failed.stderr ?? "" };
  }
  throw new Error(`npm run seed ${args.join(" ")} succeeded`);
}

/** Every row the seed makes or touches, in a comparable form (ids resolved to names). */
async function snapshot(): Promise<Record<string, unknown[]>> {
  const rows = async (query: string) => (await seeding.owner.query(query)).rows;
  return {
    users: await rows(
      "select email, name, password_hash is not null as password from users order by email",
    ),
    tenants: await rows("select name, slug, status from tenants order by slug"),
    memberships: await rows(
      `select u.email, t.slug, r.name as role from memberships m
         join users u on u.id = m.user_id join tenants t on t.id = m.tenant_id
         join member_roles mr on mr.tenant_id = m.tenant_id and mr.user_id = m.user_id
         join roles r on r.id = mr.role_id
       order by t.slug, u.email, r.name`,
    ),
    sessions: await rows(
      `select u.email, t.slug, s.user_agent from sessions s
         join users u on u.id = s.user_id left join tenants t on t.id = s.current_tenant_id
       where s.revoked_at is null order by u.email, t.slug`,
    ),
  };
}

const count = async (query: string) => Number((await seeding.owner.query(query)).rows[0].count);

describe("npm run seed (the demo scenario)", () => {
  let first: { stdout: string };
  let second: { stdout: string };
  let afterFirst: Record<string, unknown[]>;
  beforeAll(async () => {
    first = await seed();
    afterFirst = await snapshot();
    second = await seed("demo");
  });

  it("is idempotent: the second run finds everything and makes the same data", async () => {
    expect(first.stdout).toContain("created user demo@seed.example.com");
    expect(first.stdout).toMatch(/created tenant Acme Corporation/);
    expect(second.stdout).toContain("user demo@seed.example.com exists; kept");
    expect(second.stdout).toMatch(/tenant Globex exists; left as it is/);
    expect(second.stdout).not.toContain("created");
    expect(await snapshot()).toEqual(afterFirst);
    expect(afterFirst.memberships).toEqual([
      { email: "demo@seed.example.com", slug: "acme-corporation", role: "owner" },
      { email: "demo@seed.example.com", slug: "globex", role: "member" },
    ]);
    expect(afterFirst.sessions).toHaveLength(2);
  });

  it("creates a user who signs in to both demo tenants with the printed password", async () => {
    const password = /"password": "([^"]+)"/.exec(second.stdout)?.[1];
    expect(password).toBeTruthy();
    const login = await seeding.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { email: "demo@seed.example.com", password },
    });
    expect(login.statusCode, login.body).toBe(200);
    const me = await seeding.app.inject({
      url: "/api/v1/auth/me",
      headers: { authorization: `Bearer ${login.json().accessToken}` },
    });
    const memberships = me
      .json()
      .memberships.map((m: { tenant: { slug: string } }) => m.tenant.slug);
    expect(memberships.sort()).toEqual(["acme-corporation", "globex"]);
  });

  it("prints access tokens that work as they are, one for each tenant", async () => {
    for (const slug of ["acme-corporation", "globex"]) {
      const token = new RegExp(`access token for ${slug} \\(15 minutes\\): (\\S+)`).exec(
        second.stdout,
      )?.[1];
      const current = await seeding.app.inject({
        url: "/api/v1/tenants/current",
        headers: { authorization: `Bearer ${token}` },
      });
      expect(current.statusCode, current.body).toBe(200);
      expect(current.json().slug).toBe(slug);
    }
  });

  it("leaves the README's example free: its registration and sign-in work after a seed", async () => {
    // The README's curl example, as it is written there.
    const readme = readFileSync(`${repoRoot}/README.md`, "utf8");
    const register = /-d '(\{"email":"[^']+","tenantName":[^']+\})'/.exec(readme)?.[1];
    const login = /auth\/login[^\n]*\n\s*-d '(\{[^']+\})'/.exec(readme)?.[1];
    expect(register && login, "the README's register and login examples").toBeTruthy();
    const registered = await seeding.app.inject({
      method: "POST",
      url: "/api/v1/auth/register",
      payload: JSON.parse(register as string),
    });
    expect(registered.statusCode, registered.body).toBe(201);
    const signedIn = await seeding.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: JSON.parse(login as string),
    });
    expect(signedIn.statusCode, signedIn.body).toBe(200);
  });
});

describe("npm run seed -- load", () => {
  const loadTenants = "select count(*) from tenants where name like 'Load tenant %'";
  /** Each load tenant's members and their roles. */
  const loadMembers = async () =>
    (
      await seeding.owner.query(
        `select t.name, u.email, r.name as role from memberships m
           join tenants t on t.id = m.tenant_id join users u on u.id = m.user_id
           join member_roles mr on mr.tenant_id = m.tenant_id and mr.user_id = m.user_id
           join roles r on r.id = mr.role_id
         where t.name like 'Load tenant %' order by t.name, u.email`,
      )
    ).rows;
  const ownersOf = (...numbers: string[]) =>
    numbers.map((n) => ({
      name: `Load tenant ${n}`,
      email: `load-${n}@seed.example.com`,
      role: "owner",
    }));

  it("makes N tenants, each with its owner, and the same data when run again", async () => {
    const first = await seed("load", "--tenants", "3");
    expect(first.stdout).toMatch(/load: 3 tenants \(3 created\)/);
    expect(await count(loadTenants)).toBe(3);
    expect(await loadMembers()).toEqual(ownersOf("0001", "0002", "0003"));
    const afterFirst = await snapshot();

    const second = await seed("load", "--tenants", "3");
    expect(second.stdout).toMatch(/load: 3 tenants \(0 created\)/);
    expect(await snapshot()).toEqual(afterFirst);
  });

  it("grows to a larger size, adding only what is missing", async () => {
    const grown = await seed("load", "--tenants", "4");
    expect(grown.stdout).toMatch(/load: 4 tenants \(1 created\)/);
    expect(await count(loadTenants)).toBe(4);
    expect(await loadMembers()).toEqual(ownersOf("0001", "0002", "0003", "0004"));
  });

  it("gives each owner the printed password and their tenant", async () => {
    const { stdout } = await seed("load", "--tenants", "4");
    const password = /password "([^"]+)"/.exec(stdout)?.[1];
    const login = await seeding.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { email: "load-0002@seed.example.com", password },
    });
    expect(login.statusCode, login.body).toBe(200);
    const current = await seeding.app.inject({
      url: "/api/v1/tenants/current",
      headers: { authorization: `Bearer ${login.json().accessToken}` },
    });
    expect(current.statusCode, current.body).toBe(200);
    expect(current.json().name).toBe("Load tenant 0002");
  });
});

describe("npm run seed with arguments it does not take", () => {
  it.each([
    [["bogus"], /unknown scenario "bogus"/],
    [["demo", "--tenants", "3"], /--tenants is an option of the load scenario/],
    [["load", "--tenants", "0"], /--tenants takes a whole number from 1/],
    [["load", "--users", "3"], /Unknown option '--users'/],
  ])("refuses %j with its usage, writing nothing", async (args, message) => {
    const before = await snapshot();
    const { code, stderr } = await refused(...args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain("usage: npm run seed");
    expect(await snapshot()).toEqual(before);
  });
});
