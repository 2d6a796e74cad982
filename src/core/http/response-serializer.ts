import fastJsonStringify from "fast-json-stringify";
import type { FastifySerializerCompiler } from "fastify/types/schema.js";
import { serializerCompiler as zodSerializerCompiler } from "fastify-type-provider-zod";
import { type ZodType, z } from "zod";

/**
 * Writes response bodies with fast-json-stringify, compiled once per route and status from the
 * JSON Schema of the route's Zod response schema (the schema the OpenAPI document shows), as
 * Fastify does with JSON Schema routes. Only the properties the schema declares are written, so
 * a field a handler did not mean to expose (`tenantId`, a password hash) never leaves, as with
 * Zod's stripping.
 *
 * Why not Zod's own serializer: it parses every response in full (every UUID and timestamp
 * through its regular expression) and copies it before JSON.stringify. On a page of 20 items
 * that is about 4 times the work, and it showed in the benchmark (docs/decisions/0001).
 * What is traded: Zod refused a body that broke its schema with a 500; fast-json-stringify
 * refuses a missing required property but coerces a value of the wrong type (a number where a
 * string is declared is written as a string). Handlers return values typed by the same schema,
 * so TypeScript catches those first.
 *
 * A schema JSON Schema cannot express (a transform, a date object) keeps Zod's serializer.
 */
type SerializerCompiler = FastifySerializerCompiler<ZodType>;

/**
 * One serializer per schema, whatever the route and status: every route answers its problems
 * with the same Problem schema (core/http/route-docs.ts), and compiling it once per route and
 * status held about 5 MB more after start-up.
 */
const compiled = new WeakMap<ZodType, (data: unknown) => string>();

export const responseSerializerCompiler = ((routeSchema: Parameters<SerializerCompiler>[0]) => {
  const schema = zodSchemaOf(routeSchema.schema);
  if (!schema) return zodSerializerCompiler(routeSchema as never);
  const known = compiled.get(schema);
  if (known) return known;
  let jsonSchema: Record<string, unknown>;
  try {
    jsonSchema = z.toJSONSchema(schema, {
      io: "output",
      target: "draft-7",
      unrepresentable: "throw",
    }) as Record<string, unknown>;
  } catch {
    return zodSerializerCompiler(routeSchema as never);
  }
  const serialize = fastJsonStringify(jsonSchema as never) as (data: unknown) => string;
  compiled.set(schema, serialize);
  return serialize;
}) as unknown as SerializerCompiler;

/** The Zod schema of a response, bare or wrapped as fastify-type-provider-zod accepts it. */
function zodSchemaOf(schema: unknown): ZodType | undefined {
  if (schema instanceof z.ZodType) return schema;
  const wrapped = (schema as { properties?: unknown } | undefined)?.properties;
  return wrapped instanceof z.ZodType ? wrapped : undefined;
}
