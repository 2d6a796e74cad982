/**
 * Writes the OpenAPI 3.1 document to openapi.json (or the path given as the first argument),
 * for client generators and API review. Builds the app without listening or connecting.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";

const target = resolve(process.argv[2] ?? "openapi.json");
const app = await createApp(
  loadConfig({ ...process.env, LOG_LEVEL: "silent", DATABASE_URL: "", REDIS_URL: "" }),
);
try {
  writeFileSync(target, `${JSON.stringify(app.swagger(), null, 2)}\n`);
  console.log(`wrote ${target}`);
} finally {
  await app.close();
}
