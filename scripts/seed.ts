/**
 * Seed data for development and local benchmarks, in one of two scenarios:
 *
 *   npm run seed                  demo: two tenants and one user who owns the first and is a
 *                                 member of the second (to try switch-tenant), with the password
 *                                 and an access token per tenant printed
 *   npm run seed -- load [--tenants N]
 *                                 load: N tenants (100), each owned by its own user, for local
 *                                 benchmarks
 *
 * Both are idempotent: a second run with the same options finds every row it would make and
 * adds nothing (the printed tokens are new; the demo sessions are reused). The accounts use
 * addresses at seed.example.com, which no example in the README or the docs uses, so following
 * the README after seeding never meets a seeded account. Refused in staging and production, and
 * while another process (npm run dev) holds the embedded database: PGlite serves one process at
 * a time, and what a second one writes is lost.
 */
import { parseArgs } from "node:util";
import { and, eq, inArray, like, sql } from "drizzle-orm";
import { isStrictEnvironment, loadProcessConfig } from "../src/config.js";
import type { TokenService } from "../src/core/auth/index.js";
import {
  type Database,
  memberships,
  sessions,
  type TenantRow,
  tenants,
  users,
} from "../src/core/database/index.js";
import { createLogger } from "../src/core/logging/index.js";
import type { DefaultRoleName } from "../src/core/permissions/index.js";
import { EmbeddedDatabaseInUseError } from "../src/embedded-database.js";
import { createInfrastructure, type Infrastructure } from "../src/infrastructure.js";
import { hashPassword } from "../src/modules/auth/index.js";
// >>> items example
import { items } from "../src/modules/items/items.table.js";
// <<< items example
import { createRolesService } from "../src/modules/rbac/index.js";
import { createTenantsService } from "../src/modules/tenants/index.js";
// Installs the permission catalog: new tenants get their default roles from it.
import "../src/modules.js";

/** The domain of every seeded account: reserved for examples (RFC 2606), used by no doc. */
const SEED_DOMAIN = "seed.example.com";

interface DemoTenant {
  name: string;
  /** The demo user's role in it. */
  role: DefaultRoleName;
  // >>> items example
  items: string[];
  // <<< items example
}

const DEMO_TENANTS: DemoTenant[] = [
  {
    name: "Acme Corporation",
    role: "owner",
    // >>> items example
    items: ["Rocket skates", "Giant magnet", "Tornado seeds"],
    // <<< items example
  },
  {
    name: "Globex",
    role: "member",
    // >>> items example
    items: ["Doomsday device", "Hammock"],
    // <<< items example
  },
];
/** A development account only: the seed is refused outside development and test. */
const DEMO_USER = {
  email: `demo@${SEED_DOMAIN}`,
  name: "Demo User",
  password: "demo password 1234",
};
/** Marks the demo sessions, so that a second run reuses them. */
const DEMO_SESSION_AGENT = "npm run seed";

const LOAD_PASSWORD = "load password 1234";
/** The load scenario's size: its options, their defaults and their limits. */
interface LoadSize {
  tenants: number;
  // >>> items example
  /** Items of each tenant. */
  items: number;
  // <<< items example
}
const LOAD_DEFAULTS: LoadSize = {
  tenants: 100,
  // >>> items example
  items: 50,
  // <<< items example
};
const LOAD_LIMITS: LoadSize = {
  tenants: 100_000,
  // >>> items example
  items: 10_000,
  // <<< items example
};
// >>> items example
/** Rows per insert statement (well under PostgreSQL's 65,535 parameters). */
const INSERT_CHUNK = 1_000;
// <<< items example

const upTo = (option: keyof LoadSize) =>
  `default ${LOAD_DEFAULTS[option]}, at most ${LOAD_LIMITS[option].toLocaleString("en")}`;
const USAGE = [
  "usage: npm run seed [-- demo]",
  "       npm run seed -- load [options]",
  "  demo          two tenants, one user in both (the default)",
  "  load          N tenants, each with its owner",
  `  --tenants N   load: how many tenants (${upTo("tenants")})`,
  // >>> items example
  `  --items N     load: items in each tenant (${upTo("items")}); the demo's tenants get a few`,
  // <<< items example
].join("\n");

type Command = { scenario: "demo" } | ({ scenario: "load" } & LoadSize);

function parseCommand(args: string[]): Command {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      tenants: { type: "string" },
      // >>> items example
      items: { type: "string" },
      // <<< items example
    },
  });
  const [scenario = "demo", ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
  if (scenario === "demo") {
    const given = Object.keys(values).map((name) => `--${name}`);
    if (given.length > 0) {
      const are = given.length === 1 ? "is an option" : "are options";
      throw new UsageError(`${given.join(" and ")} ${are} of the load scenario`);
    }
    return { scenario };
  }
  if (scenario === "load") {
    return {
      scenario,
      tenants: count("--tenants", values.tenants, LOAD_DEFAULTS.tenants, LOAD_LIMITS.tenants),
      // >>> items example
      items: count("--items", values.items, LOAD_DEFAULTS.items, LOAD_LIMITS.items),
      // <<< items example
    };
  }
  throw new UsageError(`unknown scenario "${scenario}"`);
}

function count(name: string, given: string | undefined, fallback: number, max: number): number {
  if (given === undefined) return fallback;
  const value = Number(given);
  if (!/^\d+$/.test(given) || value < 1 || value > max) {
    throw new UsageError(`${name} takes a whole number from 1 to ${max}, not "${given}"`);
  }
  return value;
}

class UsageError extends Error {}

/** Four digits at least, so that the names sort in order: `Load tenant 0042`. */
const numbered = (n: number) => String(n).padStart(4, "0");
const loadOwnerEmail = (n: number) => `load-${numbered(n)}@${SEED_DOMAIN}`;
const loadTenantName = (n: number) => `Load tenant ${numbered(n)}`;

/** The user with `email` (case-insensitively), made with `passwordHash` if there is none. */
async function ensureUser(
  database: Database,
  account: { email: string; name: string },
  passwordHash: () => Promise<string>,
): Promise<{ id: string; created: boolean }> {
  const [found] = await database.bypassTenantIsolation("seed: find a user", (db) =>
    db
      .select({ id: users.id })
      .from(users)
      .where(sql`lower(${users.email}) = ${account.email.toLowerCase()}`),
  );
  if (found) return { id: found.id, created: false };
  const hash = await passwordHash();
  const [created] = await database.bypassTenantIsolation("seed: create a user", (db) =>
    db
      .insert(users)
      .values({ ...account, passwordHash: hash, emailVerifiedAt: new Date() })
      .returning({ id: users.id }),
  );
  if (!created) throw new Error(`the user ${account.email} could not be created`);
  return { id: created.id, created: true };
}

/** The tenants, by name, in which `userId` is a member. */
async function tenantsOf(database: Database, userIds: string[]): Promise<Map<string, TenantRow>> {
  if (userIds.length === 0) return new Map();
  const rows = await database.bypassTenantIsolation("seed: find the seeded tenants", (db) =>
    db
      .select({ userId: memberships.userId, tenant: tenants })
      .from(memberships)
      .innerJoin(tenants, eq(tenants.id, memberships.tenantId))
      .where(inArray(memberships.userId, userIds)),
  );
  return new Map(rows.map((row) => [`${row.userId} ${row.tenant.name}`, row.tenant]));
}

/** A tenant named `name` with `userId` holding `role` in it. */
async function createTenantFor(
  database: Database,
  name: string,
  userId: string,
  role: DefaultRoleName,
): Promise<TenantRow> {
  const tenant = await createTenantsService({ database }).create({ name });
  await database.bypassTenantIsolation("seed: membership", (db) =>
    createRolesService().addMember(db, tenant.id, userId, role),
  );
  return tenant;
}

// >>> items example
/** Adds items named `names` to the tenant, as the tenant (row-level security applies). */
async function addItems(
  database: Database,
  tenantId: string,
  createdBy: string,
  names: string[],
): Promise<void> {
  for (let start = 0; start < names.length; start += INSERT_CHUNK) {
    const chunk = names.slice(start, start + INSERT_CHUNK);
    await database
      .forTenant({ tenantId, userId: createdBy })
      .transaction((db) =>
        db.insert(items).values(chunk.map((name) => ({ tenantId, name, createdBy }))),
      );
  }
}

/** The number of items of each of `tenantIds` that has any. */
async function itemCounts(database: Database, tenantIds: string[]): Promise<Map<string, number>> {
  if (tenantIds.length === 0) return new Map();
  const counted = await database.bypassTenantIsolation("seed: count the load items", (db) =>
    db
      .select({ tenantId: items.tenantId, count: sql<number>`count(*)::int` })
      .from(items)
      .where(inArray(items.tenantId, tenantIds))
      .groupBy(items.tenantId),
  );
  return new Map(counted.map((row) => [row.tenantId, row.count]));
}
// <<< items example

async function seedDemo(database: Database, tokens: TokenService): Promise<void> {
  const user = await ensureUser(database, DEMO_USER, () => hashPassword(DEMO_USER.password));
  console.log(
    user.created ? `created user ${DEMO_USER.email}` : `user ${DEMO_USER.email} exists; kept`,
  );
  const existing = await tenantsOf(database, [user.id]);

  for (const demo of DEMO_TENANTS) {
    let tenant = existing.get(`${user.id} ${demo.name}`);
    if (tenant) {
      console.log(`tenant ${tenant.name} exists; left as it is`);
    } else {
      tenant = await createTenantFor(database, demo.name, user.id, demo.role);
      console.log(`created tenant ${tenant.name}`);
      // >>> items example
      await addItems(database, tenant.id, user.id, demo.items);
      console.log(`  with ${demo.items.length} items`);
      // <<< items example
    }
    const tenantId = tenant.id;
    // A session for the printed token (a sign-in makes its own), reused by later runs.
    const session = await database.bypassTenantIsolation("seed: demo session", async (db) => {
      const expiresAt = new Date(Date.now() + 86_400_000);
      const [live] = await db
        .update(sessions)
        .set({ expiresAt })
        .where(
          and(
            eq(sessions.userId, user.id),
            eq(sessions.currentTenantId, tenantId),
            eq(sessions.userAgent, DEMO_SESSION_AGENT),
            sql`${sessions.revokedAt} is null`,
          ),
        )
        .returning({ id: sessions.id });
      if (live) return live;
      const [created] = await db
        .insert(sessions)
        .values({
          userId: user.id,
          currentTenantId: tenantId,
          userAgent: DEMO_SESSION_AGENT,
          expiresAt,
        })
        .returning({ id: sessions.id });
      return created;
    });
    if (!session) throw new Error("the demo session could not be made");
    const token = await tokens.signAccessToken({ sub: user.id, tid: tenantId, sid: session.id });
    console.log(`  ${DEMO_USER.email} is ${demo.role} of ${tenant.slug}`);
    console.log(`  access token for ${tenant.slug} (15 minutes): ${token}`);
  }
  console.log(
    `sign in: POST /api/v1/auth/login {"email": "${DEMO_USER.email}", "password": "${DEMO_USER.password}"}`,
  );
}

async function seedLoad(database: Database, size: LoadSize) {
  const startedAt = performance.now();
  let hash: Promise<string> | undefined;
  // One hash for every owner: they share the password, and argon2 is slow on purpose.
  const passwordHash = () => {
    hash ??= hashPassword(LOAD_PASSWORD);
    return hash;
  };
  const owners = await database.bypassTenantIsolation("seed: find the load owners", (db) =>
    db
      .select({ id: users.id, email: users.email })
      .from(users)
      .where(like(users.email, `load-%@${SEED_DOMAIN}`)),
  );
  const ownerIds = new Map(owners.map((owner) => [owner.email, owner.id]));
  const existing = await tenantsOf(database, [...ownerIds.values()]);
  // >>> items example
  const itemsPresent = await itemCounts(
    database,
    [...existing.values()].map((tenant) => tenant.id),
  );
  let itemsAdded = 0;
  // <<< items example

  let tenantsCreated = 0;
  for (let n = 1; n <= size.tenants; n++) {
    const email = loadOwnerEmail(n);
    const name = loadTenantName(n);
    const ownerId =
      ownerIds.get(email) ??
      (await ensureUser(database, { email, name: `Load owner ${numbered(n)}` }, passwordHash)).id;
    let tenant = existing.get(`${ownerId} ${name}`);
    if (!tenant) {
      tenant = await createTenantFor(database, name, ownerId, "owner");
      tenantsCreated++;
    }
    // >>> items example
    const present = itemsPresent.get(tenant.id) ?? 0;
    const missing = Array.from(
      { length: Math.max(0, size.items - present) },
      (_, i) => `Item ${numbered(present + i + 1)}`,
    );
    await addItems(database, tenant.id, ownerId, missing);
    itemsAdded += missing.length;
    // <<< items example
    if (n % 100 === 0 && n < size.tenants) console.log(`  ${n} of ${size.tenants} tenants`);
  }
  const seconds = Math.round((performance.now() - startedAt) / 100) / 10;
  console.log(`load: ${size.tenants} tenants (${tenantsCreated} created) in ${seconds} s`);
  // >>> items example
  console.log(`load: ${size.items} items each (${itemsAdded} added)`);
  // <<< items example
  console.log(
    `owners: ${loadOwnerEmail(1)} to ${loadOwnerEmail(size.tenants)}, password "${LOAD_PASSWORD}"; each owns "${loadTenantName(1)}" and so on`,
  );
}

let command: Command;
try {
  command = parseCommand(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError || error instanceof TypeError)) throw error;
  console.error(`${error.message}\n${USAGE}`);
  process.exit(2);
}

const config = loadProcessConfig({ LOG_LEVEL: "warn" });
if (isStrictEnvironment(config.environment)) {
  console.error(`npm run seed adds demo data and is refused in ${config.environment}.`);
  process.exit(1);
}

let infrastructure: Infrastructure;
try {
  // The seed writes only to the database: no Redis connection.
  infrastructure = await createInfrastructure(config, {
    role: "cli",
    logger: createLogger(config, undefined, "cli"),
    announce: (message) => console.log(message),
    withoutRedis: true,
  });
} catch (error) {
  if (!(error instanceof EmbeddedDatabaseInUseError)) throw error;
  console.error(`npm run seed: nothing was written. ${error.message}`);
  process.exit(1);
}
const { database, tokens } = infrastructure;
try {
  if (command.scenario === "demo") await seedDemo(database, tokens);
  else await seedLoad(database, command);
} finally {
  await infrastructure.close();
}
