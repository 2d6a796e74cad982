/**
 * The kit serving the item read without its permission declaration. It exists only to measure
 * what the permission check costs: bench/run.ts serves the target `get-unchecked` with it, and
 * the gap between `get` and `get-unchecked` in the same round is the cost of
 * `requirePermission("items", "read")`. It must never serve anything else: its one route lets
 * any member read items, whatever their roles.
 *
 * It starts the kit exactly as src/main.ts and src/server.ts do, from the same build the `get`
 * target runs (--kit-dir, dist/src by default, so `npm run build` first), with the session
 * guard on. The one difference is the module list: a single module whose GET /items/:id is the
 * kit's own (same schemas, same service), declared `signedIn` instead.
 *
 *   node --import tsx bench/unchecked-server.ts --kit-dir dist/src
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { loadKitModule as load } from "./kit-build.js";

const { loadProcessConfig } = await load<typeof import("../src/config.js")>("config.js");
const { startServer } = await load<typeof import("../src/server.js")>("server.js");
const { signedIn } = await load<typeof import("../src/core/http/access.js")>("core/http/access.js");
const { itemsService } =
  await load<typeof import("../src/modules/items/index.js")>("modules/items/index.js");
const { itemParams, itemSchema } = await load<
  typeof import("../src/modules/items/items.schemas.js")
>("modules/items/items.schemas.js");

/** The kit's item read, without the permission declaration. */
const itemReadOnly: FastifyPluginAsyncZod = async (app) => {
  app.get(
    "/items/:id",
    {
      config: { access: signedIn },
      schema: {
        summary: "Get an item (benchmark: no permission check)",
        tags: ["items"],
        params: itemParams,
        response: { 200: itemSchema },
      },
    },
    async (request) => itemsService(request.tenantDb).get(request.params.id),
  );
};

await startServer(loadProcessConfig(), { modules: [itemReadOnly] });
