import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDatabase } from "../../src/core/database/index.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

async function appliedMigrations(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query("select count(*)::int as n from drizzle.migrations");
    return result.rows[0].n;
  } finally {
    await client.end();
  }
}

describe("migrations", () => {
  it("are idempotent: applying them again to a migrated database changes nothing", async () => {
    const before = await appliedMigrations(database.url);
    expect(before).toBeGreaterThanOrEqual(2);
    await migrateDatabase(database.url);
    await migrateDatabase(database.url);
    expect(await appliedMigrations(database.url)).toBe(before);
  });

  it("can run concurrently from two processes' worth of clients", async () => {
    await Promise.all([migrateDatabase(database.url), migrateDatabase(database.url)]);
    expect(await appliedMigrations(database.url)).toBeGreaterThanOrEqual(2);
  });
});
