import { randomUUID } from "node:crypto";
import { serializerCompiler as zodSerializerCompiler } from "fastify-type-provider-zod";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { responseSerializerCompiler } from "../../src/core/http/response-serializer.js";
import { notePageSchema } from "../fixtures/notes-module/notes.schemas.js";

type Serialize = (data: unknown) => string;
const compile = (compiler: unknown, schema: z.ZodType): Serialize =>
  (compiler as (route: object) => Serialize)({ schema, method: "GET", url: "/test" });

/** A note of the tests' fixture module (test/fixtures/notes-module/): a module's page schema. */
const note = (index: number) => ({
  id: randomUUID(),
  name: `note ${index} "quoted" \u2028 and \\ escaped`,
  description: index % 2 ? null : "a description\nover two lines",
  createdBy: index % 3 ? randomUUID() : null,
  createdAt: new Date(Date.UTC(2026, 11, 2, 10, index)).toISOString(),
  updatedAt: new Date(Date.UTC(2026, 11, 2, 11, index)).toISOString(),
});

describe("the response serializer", () => {
  it("writes what Zod's serializer writes for a page of notes", () => {
    const page = { items: Array.from({ length: 20 }, (_, index) => note(index)), nextCursor: "c" };
    const fast = compile(responseSerializerCompiler, notePageSchema)(page);
    expect(JSON.parse(fast)).toEqual(
      JSON.parse(compile(zodSerializerCompiler, notePageSchema)(page)),
    );
    expect(JSON.parse(fast)).toEqual(page);
  });

  it("leaves out every property the schema does not declare, nested ones too", () => {
    const schema = z.object({ id: z.string(), owner: z.object({ name: z.string() }) });
    const written = JSON.parse(
      compile(
        responseSerializerCompiler,
        schema,
      )({
        id: "1",
        tenantId: "secret-tenant",
        owner: { name: "Ada", passwordHash: "$argon2id$..." },
      }),
    );
    expect(written).toEqual({ id: "1", owner: { name: "Ada" } });
  });

  it("refuses a body without a required property", () => {
    const schema = z.object({ id: z.string(), name: z.string() });
    expect(() => compile(responseSerializerCompiler, schema)({ id: "1" })).toThrow(/name/);
  });

  it("keeps Zod's serializer for a schema JSON Schema cannot express", () => {
    const schema = z.object({ at: z.date() });
    const serialize = compile(responseSerializerCompiler, schema);
    expect(JSON.parse(serialize({ at: new Date(5) }))).toEqual({ at: "1970-01-01T00:00:00.005Z" });
    // Zod's serializer checks the value, as before.
    expect(() => serialize({ at: "not a date" })).toThrow();
  });
});
