/** Migrates the template database that every integration test file clones. */
export default async function setup(): Promise<void> {
  // Imported here, not above: Vitest loads every global setup file before running the first,
  // and test/local-services.ts may point TEST_DATABASE_URL at a container it starts.
  const { ensureTemplate } = await import("./helpers/test-database.js");
  await ensureTemplate();
}
