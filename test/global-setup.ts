import { ensureTemplate } from "./helpers/test-database.js";

/** Migrates the template database that every integration test file clones. */
export default async function setup(): Promise<void> {
  await ensureTemplate();
}
