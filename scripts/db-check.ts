/**
 * Fails when the TypeScript schema (src/**\/*.table.ts) and the committed migrations disagree:
 * drizzle-kit generates into a scratch copy of migrations/, and any new file means drift.
 * Also runs drizzle-kit's own consistency check of the migration journal.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

// drizzle-kit reads `out` relative to the project, so the scratch copy lives inside it.
mkdirSync(".data", { recursive: true });
const scratch = mkdtempSync(join(".data", "db-check-"));
const drizzleKit = join("node_modules", "drizzle-kit", "bin.cjs");
try {
  cpSync("migrations", scratch, { recursive: true });
  const before = new Set(readdirSync(scratch));
  execFileSync(process.execPath, [drizzleKit, "check"], { stdio: "inherit" });
  execFileSync(process.execPath, [drizzleKit, "generate", "--name", "drift"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, DRIZZLE_OUT: scratch },
  });
  const added = readdirSync(scratch).filter((file) => !before.has(file));
  if (added.length > 0) {
    console.error(
      `The schema and the migrations disagree: drizzle-kit would generate ${added.join(", ")}.\nRun \`npm run db:generate -- --name <change>\` and commit the migration.`,
    );
    process.exitCode = 1;
  } else {
    console.log("schema and migrations agree");
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
