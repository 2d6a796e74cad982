import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MIGRATIONS_SCHEMA,
  MIGRATIONS_TABLE,
  migrationsFolder,
} from "../../src/core/database/migrations.js";
import { permissions } from "../../src/modules.js";
import { urlFor, withClient } from "../helpers/test-database.js";

/**
 * The default roles' grants come from two places: new tenants get what the modules declare
 * (`<module>.permissions.ts`, assembled by src/modules.ts), and the tenants that exist when a
 * module arrives get what its hand-written migration inserts. Here they must agree: on a fresh
 * database, a tenant made right after the first migration lives through every later one and
 * must end with exactly the catalog's grants, role by role. A module whose migration grants
 * more, less or other than its declaration (a generated one edited by hand, say) fails.
 */

const name = `kit_test_${randomBytes(6).toString("hex")}`;
let client: pg.Client;
let tenantId: string;

/** Applies the journal's first `count` migrations (all when undefined). */
async function migrateUpTo(count?: number): Promise<void> {
  let folder = migrationsFolder();
  let scratch: string | undefined;
  if (count !== undefined) {
    scratch = mkdtempSync(join(tmpdir(), "kit-migrations-"));
    cpSync(folder, scratch, { recursive: true });
    const journalPath = join(scratch, "meta", "_journal.json");
    const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: unknown[] };
    journal.entries = journal.entries.slice(0, count);
    writeFileSync(journalPath, JSON.stringify(journal));
    folder = scratch;
  }
  try {
    await migrate(drizzle({ client }), {
      migrationsFolder: folder,
      migrationsTable: MIGRATIONS_TABLE,
      migrationsSchema: MIGRATIONS_SCHEMA,
    });
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  await withClient((admin) => admin.query(`create database "${name}"`));
  client = new pg.Client({ connectionString: urlFor(name) });
  await client.connect();
  // The first migration makes the tenants table; the tenant is there before any role exists.
  await migrateUpTo(1);
  const inserted = await client.query<{ id: string }>(
    "insert into tenants (id, name, slug) values (gen_random_uuid(), 'Before', 'before') returning id",
  );
  tenantId = inserted.rows[0]?.id as string;
  await migrateUpTo();
}, 60_000);

afterAll(async () => {
  await client?.end();
  await withClient((admin) => admin.query(`drop database if exists "${name}" with (force)`));
});

describe("the default roles' grants", () => {
  it("that the migrations give an existing tenant are the ones the modules declare", async () => {
    // As the owner, a superuser: row-level security does not hide the tenant's rows.
    const { rows } = await client.query<{ role: string; permission: string }>(
      `select r.name as role, rp.permission
         from roles r join role_permissions rp on rp.tenant_id = r.tenant_id and rp.role_id = r.id
        where r.tenant_id = $1 and r.system`,
      [tenantId],
    );
    const migrated = Object.fromEntries(
      permissions.defaultRoles.map((role) => [
        role.name,
        rows
          .filter((row) => row.role === role.name)
          .map((row) => row.permission)
          .sort(),
      ]),
    );
    const declared = Object.fromEntries(
      permissions.defaultRoles.map((role) => [role.name, [...role.grants].sort()]),
    );
    expect(migrated).toEqual(declared);
    // Every default role exists for the tenant, and holds something.
    for (const role of permissions.defaultRoles) expect(migrated[role.name]).not.toEqual([]);
  });
});
