import { beforeAll, describe, expect, it } from "vitest";
import { setupSeedTest } from "../../../helpers/seed-run.js";

/**
 * What `npm run seed` puts in the items example: a few items in each demo tenant, `--items N`
 * in each load tenant, made as the tenant and added only where missing. The seed's tenants,
 * users and sessions are checked by test/integration/seed.test.ts.
 */

const seeding = setupSeedTest();
const { seed } = seeding;

/** Every item, by its tenant's slug, with who made it. */
const allItems = async () =>
  (
    await seeding.owner.query(
      `select t.slug, i.name, u.email as "createdBy" from items i
         join tenants t on t.id = i.tenant_id left join users u on u.id = i.created_by
       order by t.slug, i.name`,
    )
  ).rows;

const count = async (query: string) => Number((await seeding.owner.query(query)).rows[0].count);

describe("npm run seed: the demo's items", () => {
  let first: { stdout: string };
  let second: { stdout: string };
  let afterFirst: unknown[];
  beforeAll(async () => {
    first = await seed();
    afterFirst = await allItems();
    second = await seed("demo");
  });

  it("puts a few items in each demo tenant, once", async () => {
    expect(first.stdout).toMatch(/created tenant Acme Corporation\n {2}with 3 items/);
    expect(first.stdout).toMatch(/created tenant Globex\n {2}with 2 items/);
    expect(afterFirst).toEqual(
      [
        ["acme-corporation", "Giant magnet"],
        ["acme-corporation", "Rocket skates"],
        ["acme-corporation", "Tornado seeds"],
        ["globex", "Doomsday device"],
        ["globex", "Hammock"],
      ].map(([slug, name]) => ({ slug, name, createdBy: "demo@seed.example.com" })),
    );
    expect(second.stdout).not.toContain("items");
    expect(await allItems()).toEqual(afterFirst);
  });

  it("lists them with the printed access token", async () => {
    const token = /access token for globex \(15 minutes\): (\S+)/.exec(second.stdout)?.[1];
    const listed = await seeding.app.inject({
      url: "/api/v1/items",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(listed.statusCode, listed.body).toBe(200);
    expect(
      listed
        .json()
        .items.map((item: { name: string }) => item.name)
        .sort(),
    ).toEqual(["Doomsday device", "Hammock"]);
  });
});

describe("npm run seed -- load --items", () => {
  const loadItems = `select count(*) from items i join tenants t on t.id = i.tenant_id
                     where t.name like 'Load tenant %'`;

  it("puts N items in each tenant, and none more when run again", async () => {
    const first = await seed("load", "--tenants", "3", "--items", "4");
    expect(first.stdout).toMatch(/load: 4 items each \(12 added\)/);
    expect(await count(loadItems)).toBe(12);
    const afterFirst = await allItems();

    const second = await seed("load", "--tenants", "3", "--items", "4");
    expect(second.stdout).toMatch(/load: 4 items each \(0 added\)/);
    expect(await allItems()).toEqual(afterFirst);
  });

  it("grows to a larger size, adding only what is missing", async () => {
    const grown = await seed("load", "--tenants", "4", "--items", "6");
    // One new tenant of 6 items, and 2 more in each of the 3 there were.
    expect(grown.stdout).toMatch(/load: 6 items each \(12 added\)/);
    expect(await count(loadItems)).toBe(24);
    const perTenant = await seeding.owner.query(
      `select t.name, count(i.*)::int as items from tenants t left join items i on i.tenant_id = t.id
       where t.name like 'Load tenant %' group by t.name order by t.name`,
    );
    expect(perTenant.rows).toEqual(
      ["0001", "0002", "0003", "0004"].map((n) => ({ name: `Load tenant ${n}`, items: 6 })),
    );
  });

  it("lets each owner list their tenant's items", async () => {
    const { stdout } = await seed("load", "--tenants", "4", "--items", "6");
    const password = /password "([^"]+)"/.exec(stdout)?.[1];
    const login = await seeding.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { email: "load-0002@seed.example.com", password },
    });
    expect(login.statusCode, login.body).toBe(200);
    const listed = await seeding.app.inject({
      url: "/api/v1/items?limit=100",
      headers: { authorization: `Bearer ${login.json().accessToken}` },
    });
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().items).toHaveLength(6);
  });

  it.each([
    [["load", "--items", "many"], /--items takes a whole number from 1/],
    [["demo", "--items", "2"], /--items is an option of the load scenario/],
  ])("refuses %j with its usage, writing nothing", async (args, message) => {
    const before = await allItems();
    const failed = await seed(...args).then(
      () => undefined,
      (error: { code?: unknown; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(message);
    expect(failed?.stderr).toContain("--items N");
    expect(await allItems()).toEqual(before);
  });
});
