/**
 * Creates and fills a benchmark database: `kit_bench_<tenants>` on the local server, migrated
 * like any other, with N tenants x M items (100 by default). Every tenant also gets one user
 * (its active owner) and one live session of that user, so the benchmark signs access tokens
 * the kit's session check lets through (`seededSessions`). A database already seeded with the
 * same size and the same migrations is reused as it is; sessions close to their expiry are
 * extended first.
 *
 *   tsx bench/seed.ts --tenants 1000
 *   tsx bench/seed.ts --tenants 10000 --force
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { migrateDatabase } from "../src/core/database/index.js";
import { migrationsFolder } from "../src/core/database/migrations.js";
import {
  BENCH_LOGIN_ROLE,
  BENCH_SERVER_URL,
  BENCH_SYSTEM_LOGIN_ROLE,
  benchDatabaseName,
  databaseUrl,
  positiveInteger,
} from "./common.js";

/** Bump when the shape of the seeded data changes, so old databases are rebuilt. */
const SEED_VERSION = 4;
/** How long a seeded session lives; a reused database's sessions are extended to it. */
const SESSION_DAYS = 30;
/** A reused database whose sessions end sooner than this has them extended first. */
const SESSION_MIN_DAYS_LEFT = 7;

export interface SeedOptions {
  tenants: number;
  itemsPerTenant?: number;
  /** Rebuild even when a matching database exists. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface SeededDatabase {
  readonly name: string;
  readonly tenants: number;
  readonly itemsPerTenant: number;
  /** As the owner (a superuser): for the baseline and for reading fixtures. */
  readonly ownerUrl: string;
  /** As the kit's tenant pool login, which may assume app_tenant only. */
  readonly appUrl: string;
  /** As the kit's system pool login, which may assume app_system. */
  readonly systemUrl: string;
  readonly reused: boolean;
  readonly seedSeconds: number;
}

interface SeedMarker {
  seedVersion: number;
  tenants: number;
  itemsPerTenant: number;
  migrations: string;
}

/** Changes whenever a migration file does. */
function migrationsHash(): string {
  const hash = createHash("sha256");
  const folder = migrationsFolder();
  for (const file of readdirSync(folder)
    .filter((name) => name.endsWith(".sql"))
    .sort()) {
    hash.update(file).update(readFileSync(join(folder, file)));
  }
  return hash.digest("hex").slice(0, 16);
}

/** Runs `fn` on a connection of its own, named `applicationName` in pg_stat_activity. */
export async function withClient<T>(
  url: string,
  fn: (client: pg.Client) => Promise<T>,
  applicationName = "kit-bench-seed",
): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

export async function seedBenchDatabase(options: SeedOptions): Promise<SeededDatabase> {
  const tenants = options.tenants;
  const itemsPerTenant = options.itemsPerTenant ?? 100;
  const log = options.log ?? ((line: string) => console.log(line));
  const name = benchDatabaseName(tenants);
  const marker: SeedMarker = {
    seedVersion: SEED_VERSION,
    tenants,
    itemsPerTenant,
    migrations: migrationsHash(),
  };
  const markerText = JSON.stringify(marker);
  const started = performance.now();
  const result = (reused: boolean): SeededDatabase => ({
    name,
    tenants,
    itemsPerTenant,
    ownerUrl: databaseUrl(name),
    appUrl: databaseUrl(name, BENCH_LOGIN_ROLE),
    systemUrl: databaseUrl(name, BENCH_SYSTEM_LOGIN_ROLE),
    reused,
    seedSeconds: Math.round((performance.now() - started) / 10) / 100,
  });

  const existing = await withClient(BENCH_SERVER_URL, async (client) => {
    const found = await client.query<{ marker: string | null }>(
      "select shobj_description(oid, 'pg_database') as marker from pg_database where datname = $1",
      [name],
    );
    return found.rows[0];
  });
  if (existing && existing.marker === markerText && !options.force) {
    log(`${name}: reusing (${tenants} tenants x ${itemsPerTenant} items, already seeded)`);
    await ensureLoginRoles(name);
    await extendSessions(name, log);
    return result(true);
  }

  await withClient(BENCH_SERVER_URL, async (client) => {
    if (existing) log(`${name}: rebuilding (size, seed or migrations changed, or --force)`);
    await client.query(`drop database if exists ${quoteIdent(name)} with (force)`);
    await client.query(`create database ${quoteIdent(name)}`);
  });
  await migrateDatabase(databaseUrl(name));
  await ensureLoginRoles(name);

  await withClient(databaseUrl(name), async (client) => {
    // Rows are consistent by construction; skipping the per-row foreign-key triggers makes the
    // bulk load several times faster (superuser only, this session only).
    await client.query("set session_replication_role = replica");
    let phase = performance.now();
    // Tenants: created one second apart, so created_at orders them like the series does.
    await client.query(
      `insert into tenants (id, name, slug, plan, status, created_at, updated_at)
       select gen_random_uuid(), 'Bench tenant ' || g, 'bench-tenant-' || g, 'free', 'active',
              timestamptz '2025-01-01T00:00:00Z' + g * interval '1 second',
              timestamptz '2025-01-01T00:00:00Z' + g * interval '1 second'
       from generate_series(1, $1::int) as g`,
      [tenants],
    );
    // One owner per tenant: a user (no password: nobody signs in through the API), its active
    // membership and one live session. last_tenant_id ties the user to its tenant here.
    await client.query(
      `insert into users (id, email, name, password_hash, last_tenant_id, created_at, updated_at)
       select gen_random_uuid(), 'owner@' || slug || '.bench.example', 'Owner of ' || name, null,
              id, created_at, created_at
       from tenants
       order by created_at`,
    );
    await client.query(
      `insert into memberships (tenant_id, user_id, status, joined_at, created_at, updated_at)
       select last_tenant_id, id, 'active', created_at, created_at, created_at
       from users
       order by created_at`,
    );
    // Each tenant's owner role (the only default role the benchmark's requests use) and the
    // owner holding it.
    await client.query(
      `insert into roles (tenant_id, id, name, description, system, created_at, updated_at)
       select id, app.uuid_v7(), 'owner', 'Everything, including deleting the tenant', true,
              created_at, created_at
       from tenants`,
    );
    await client.query(
      `insert into role_permissions (tenant_id, role_id, permission)
       select tenant_id, id, '*' from roles`,
    );
    await client.query(
      `insert into member_roles (tenant_id, user_id, role_id)
       select r.tenant_id, u.id, r.id
       from roles as r join users as u on u.last_tenant_id = r.tenant_id`,
    );
    await client.query(
      `insert into sessions (id, user_id, current_tenant_id, user_agent, ip, expires_at)
       select gen_random_uuid(), id, last_tenant_id, 'kit-bench', '127.0.0.1',
              now() + $1::int * interval '1 day'
       from users
       order by created_at`,
      [SESSION_DAYS],
    );
    // Items: each tenant's rows inserted together (physically adjacent, as a tenant's rows
    // mostly are), created_at increasing within the tenant and across tenants, created by the
    // tenant's owner.
    await client.query(
      `insert into items (tenant_id, id, name, description, created_by, created_at, updated_at)
       with owners as materialized (
         select t.id, t.slug, t.created_at, u.id as user_id
         from tenants as t join users as u on u.last_tenant_id = t.id
       )
       select t.id, gen_random_uuid(), 'Item ' || i,
              'Seeded item ' || i || ' of ' || t.slug,
              t.user_id,
              t.created_at + i * interval '1 millisecond',
              t.created_at + i * interval '1 millisecond'
       from owners as t cross join generate_series(1, $1::int) as i
       order by t.created_at, i`,
      [itemsPerTenant],
    );
    log(
      `${name}: inserted ${tenants} tenants (one owner and session each) x ${itemsPerTenant} items in ${seconds(phase)} s`,
    );
    await client.query("reset session_replication_role");
    phase = performance.now();
    // VACUUM sets hint bits and the visibility map, so the first benchmark reads do not write.
    for (const table of [
      "tenants",
      "users",
      "memberships",
      "roles",
      "role_permissions",
      "member_roles",
      "sessions",
      "items",
    ]) {
      await client.query(`vacuum (analyze) ${table}`);
    }
    log(`${name}: vacuum analyze in ${seconds(phase)} s`);
  });
  // Written last: a database whose seeding was interrupted has no marker and is rebuilt.
  await withClient(BENCH_SERVER_URL, (client) =>
    client.query(`comment on database ${quoteIdent(name)} is ${quoteLiteral(markerText)}`),
  );
  const seeded = result(false);
  log(`${name}: seeded in ${seeded.seedSeconds} s`);
  return seeded;
}

/**
 * A reused database's sessions stay live for the run: those ending within
 * SESSION_MIN_DAYS_LEFT days get SESSION_DAYS more (and are vacuumed again, so the benchmark's
 * reads find them as the seeding left them).
 */
async function extendSessions(database: string, log: (line: string) => void): Promise<void> {
  await withClient(databaseUrl(database), async (client) => {
    const extended = await client.query(
      `update sessions set expires_at = now() + $1::int * interval '1 day'
       where expires_at < now() + $2::int * interval '1 day'`,
      [SESSION_DAYS, SESSION_MIN_DAYS_LEFT],
    );
    if (!extended.rowCount) return;
    await client.query("vacuum (analyze) sessions");
    log(`${database}: extended ${extended.rowCount} sessions by ${SESSION_DAYS} days`);
  });
}

/** Who signs a tenant's access tokens: its seeded owner and that owner's live session. */
export interface SeededSession {
  readonly userId: string;
  readonly sessionId: string;
}

/** Every tenant's seeded owner and session, by tenant id. */
export async function seededSessions(url: string): Promise<Map<string, SeededSession>> {
  return withClient(url, async (client) => {
    const result = await client.query<{ tenant_id: string; user_id: string; id: string }>(
      `select s.current_tenant_id as tenant_id, s.user_id, s.id
       from sessions as s
       join users as u on u.id = s.user_id
       join memberships as m on m.tenant_id = s.current_tenant_id and m.user_id = s.user_id
       where s.revoked_at is null and s.expires_at > now() and u.is_active
         and m.status = 'active'`,
    );
    return new Map(
      result.rows.map((row) => [row.tenant_id, { userId: row.user_id, sessionId: row.id }]),
    );
  });
}

/**
 * The kit's two logins, as production makes them (docs/tenancy.md#creating-the-two-logins): the
 * tenant pool's granted app_tenant_login, the system pool's app_system_login, both INHERIT so
 * they take their group's function privileges and nothing else. Roles are cluster-wide, so they
 * are made once and reused by every bench database; a login left from an earlier benchmark
 * (NOINHERIT, granted both roles) is brought to the same state.
 */
async function ensureLoginRoles(database: string): Promise<void> {
  await withClient(BENCH_SERVER_URL, async (client) => {
    for (const [login, group] of [
      [BENCH_LOGIN_ROLE, "app_tenant_login"],
      [BENCH_SYSTEM_LOGIN_ROLE, "app_system_login"],
    ] as const) {
      await client.query(`
        do $$
        begin
          create role ${login} login nosuperuser nocreatedb nocreaterole nobypassrls inherit;
        exception when duplicate_object or unique_violation then null;
        end $$`);
      await client.query(`alter role ${login} inherit`);
      await client.query(`grant ${group} to ${login}`);
      await client.query(`grant connect on database ${quoteIdent(database)} to ${login}`);
    }
    // The tenant login may assume app_tenant only: production refuses one that could do more.
    await client.query(`revoke app_tenant, app_system from ${BENCH_LOGIN_ROLE}`);
  });
}

const seconds = (since: number) => Math.round((performance.now() - since) / 10) / 100;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      tenants: { type: "string" },
      "items-per-tenant": { type: "string" },
      force: { type: "boolean", default: false },
    },
  });
  const seeded = await seedBenchDatabase({
    tenants: positiveInteger(values.tenants, "tenants", 1000),
    itemsPerTenant: positiveInteger(values["items-per-tenant"], "items-per-tenant", 100),
    force: values.force,
  });
  console.log(`owner:  ${seeded.ownerUrl}\nkit:    ${seeded.appUrl}\nsystem: ${seeded.systemUrl}`);
}

/** Random existing (tenant, item) pairs. */
export function samplePairs(url: string, count: number) {
  return withClient(
    url,
    async (client) => {
      const result = await client.query<{ tenant_id: string; id: string }>(
        "select tenant_id, id from items order by random() limit $1",
        [count],
      );
      return result.rows.map((row) => ({ tenantId: row.tenant_id, itemId: row.id }));
    },
    "kit-bench",
  );
}
