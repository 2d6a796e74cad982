/**
 * The kit with its session check switched off. It exists only to measure what the session guard
 * costs: bench/run.ts serves the target `get-unguarded` with it, and the gap between `get` and
 * `get-unguarded` in the same round is the cost of checking every access token's session. It
 * must never serve anything else: it lets through tokens whose session was revoked, has expired
 * or never existed, and users who were deactivated or removed from their tenant.
 *
 * It starts the kit exactly as src/main.ts and src/server.ts do (the same configuration from the
 * environment, the same graceful shutdown), from the same build the `get` target runs: the
 * config.js and server.js in --kit-dir (dist/src by default, so `npm run build` first). The one
 * difference is the `sessionGuard` handed to createApp, whose isLive always answers true.
 *
 *   node --import tsx bench/unguarded-server.ts --kit-dir dist/src
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { SessionGuard } from "../src/core/auth/index.js";

// tsx turns on source maps for its own transforms; the kit under `node dist/src/main.js` runs
// without them, and so does this process (error stacks would otherwise cost more here).
process.setSourceMapsEnabled(false);

const { values } = parseArgs({ options: { "kit-dir": { type: "string" } } });
const kitDir = resolve(
  values["kit-dir"] ?? join(dirname(fileURLToPath(import.meta.url)), "../dist/src"),
);
const load = <Module>(file: string) =>
  import(pathToFileURL(join(kitDir, file)).href) as Promise<Module>;
const { loadProcessConfig } = await load<typeof import("../src/config.js")>("config.js");
const { startServer } = await load<typeof import("../src/server.js")>("server.js");
const { ALL_PERMISSIONS } = await load<typeof import("../src/core/permissions/index.js")>(
  "core/permissions/index.js",
);

/** Lets every token through with every permission: no lookup, no cache, nothing to revoke. */
const everything = { permissions: new Set(ALL_PERMISSIONS), grants: ["*"], platformAdmin: false };
const alwaysLive: SessionGuard = {
  access: async () => everything,
  revoke: async () => {},
  close: async () => {},
};

await startServer(loadProcessConfig(), { sessionGuard: alwaysLive });
