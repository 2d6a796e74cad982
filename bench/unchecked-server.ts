/**
 * The kit with the item read's permission declaration taken away. It exists only to measure
 * what the permission check costs: bench/run.ts serves the target `get-unchecked` with it, and
 * the gap between `get` and `get-unchecked` in the same round is the cost of
 * `requirePermission("items", "read")`. It must never serve anything else: its item read lets
 * any member read items, whatever their roles.
 *
 * It starts the kit exactly as src/main.ts and src/server.ts do, from the same build the `get`
 * target runs (--kit-dir, dist/src by default, so `npm run build` first), with every module and
 * hook of the kit. The one difference: an onRoute hook, registered before the modules, declares
 * GET /api/v1/items/:id `signedIn` instead, so the access-control hook still runs for it but
 * finds no permission to check.
 *
 *   node --import tsx bench/unchecked-server.ts --kit-dir dist/src
 */
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { AppModule } from "../src/core/http/module.js";
import { loadKitModule as load } from "./kit-build.js";

const { loadProcessConfig } = await load<typeof import("../src/config.js")>("config.js");
const { startServer } = await load<typeof import("../src/server.js")>("server.js");
const { defaultModules } = await load<typeof import("../src/app.js")>("app.js");
const { signedIn } = await load<typeof import("../src/core/http/access.js")>("core/http/access.js");

let changed = 0;
/** Not encapsulated, so its hook sees the routes of every module registered after it. */
const itemReadUnchecked: AppModule = fp(async (api: FastifyInstance) => {
  api.addHook("onRoute", (route) => {
    const methods = [route.method].flat();
    if (route.url === "/api/v1/items/:id" && methods.includes("GET")) {
      route.config = { ...route.config, access: signedIn };
      changed++;
    }
  });
});

const app = await startServer(loadProcessConfig(), {
  modules: [itemReadUnchecked, ...defaultModules],
});
// A kit whose item read moved or changed shape must not be measured as "unchecked".
if (changed !== 1) {
  app.log.error({ changed }, "expected to change exactly one route: GET /api/v1/items/:id");
  await app.close();
  process.exit(1);
}
