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
import type { SessionGuard } from "../src/core/auth/index.js";
import { loadKitModule as load } from "./kit-build.js";

const { loadProcessConfig } = await load<typeof import("../src/config.js")>("config.js");
const { startServer } = await load<typeof import("../src/server.js")>("server.js");
const { permissions } = await load<typeof import("../src/modules.js")>("modules.js");

/** Lets every token through with every permission: no lookup, no cache, nothing to revoke. */
const everything = { permissions: new Set(permissions.all), grants: ["*"], platformAdmin: false };
const alwaysLive: SessionGuard = {
  access: async () => everything,
  revoke: async () => {},
  close: async () => {},
};

await startServer(loadProcessConfig(), { sessionGuard: alwaysLive });
