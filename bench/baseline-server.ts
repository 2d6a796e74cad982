/**
 * The baseline the kit is measured against: bare Fastify and postgres.js answering the same
 * item lookup with no authentication, no row-level security and no tenant transaction, as the
 * database owner. Run as its own process by bench/run.ts:
 *
 *   tsx bench/baseline-server.ts --port 3901 --database-url postgres://postgres@127.0.0.1/kit_bench_1000
 *
 * The tenant id travels in the path because the items primary key is (tenant_id, id): a lookup
 * by id alone cannot use it (PostgreSQL 15 has no skip scan) and would scan the whole index. With
 * both, the baseline reads the same row through the same index as the kit.
 *
 * GET /tenants/:tenantId/items?limit=20 is the list the kit's list target is measured against:
 * the same keyset page (one extra row tells whether another follows), the same columns under
 * the same JSON names, and a cursor, serialized by Fastify's default JSON.stringify.
 */
import { parseArgs } from "node:util";
import Fastify from "fastify";
import postgres from "postgres";
import { positiveInteger } from "./common.js";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    "database-url": { type: "string" },
    // The kit's DATABASE_POOL_SIZE default.
    "pool-size": { type: "string" },
    // Queries postgres.js may send on one connection before earlier ones answer. Its default,
    // 100, slows this server down as a run goes on: alone under 50 connections its CPU per
    // request went from 73 to 136 us over eight 6 s rounds, so every ratio to it drifted with
    // the round. With 1 (one query per connection at a time, as node-postgres sends under the
    // kit) it held at 42-50 us and served 20,000 requests/s: a faster and steady baseline.
    "max-pipeline": { type: "string" },
    "application-name": { type: "string", default: "kit-bench-baseline" },
  },
});
const databaseUrl = values["database-url"];
if (!databaseUrl) throw new Error("--database-url is required");

// A postgres.js option its type declarations leave out.
const pipelining = { max_pipeline: positiveInteger(values["max-pipeline"], "max-pipeline", 1) };

const sql = postgres(databaseUrl, {
  ...(pipelining as object),
  max: positiveInteger(values["pool-size"], "pool-size", 10),
  prepare: true,
  idle_timeout: 0,
  connection: { application_name: values["application-name"] },
  onnotice: () => {},
});

const app = Fastify({ logger: false });

app.get<{ Params: { tenantId: string; id: string } }>(
  "/tenants/:tenantId/items/:id",
  async (request, reply) => {
    const [row] =
      await sql`select * from items where tenant_id = ${request.params.tenantId} and id = ${request.params.id}`;
    if (!row) return reply.code(404).send({ error: "not found" });
    return row;
  },
);

app.get<{ Params: { tenantId: string }; Querystring: { limit?: string } }>(
  "/tenants/:tenantId/items",
  async (request) => {
    const limit = Math.min(Number(request.query.limit ?? 20) || 20, 100);
    const rows = await sql`select id, name, description, created_by as "createdBy",
      created_at as "createdAt", updated_at as "updatedAt"
      from items where tenant_id = ${request.params.tenantId}
      order by id desc limit ${limit + 1}`;
    const items = rows.slice(0, limit);
    return { items, nextCursor: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
  },
);

app.get("/health/ready", async () => {
  await sql`select 1`;
  return { status: "ready" };
});

const shutdown = async () => {
  await app.close();
  await sql.end({ timeout: 2 });
  process.exit(0);
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);

await app.listen({ host: "127.0.0.1", port: positiveInteger(values.port, "port", 3901) });
console.log(
  `baseline listening on ${app.server.address() ? JSON.stringify(app.server.address()) : "?"}`,
);
