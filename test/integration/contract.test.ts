import type { FastifyInstance, FastifySchema } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AppModule } from "../../src/app.js";
import { publicAccess } from "../../src/core/http/access.js";
import { buildTestApp } from "../helpers/app.js";
import { takeViolations } from "../helpers/contract.js";

/**
 * The contract check (test/helpers/contract.ts) that every integration test runs under: each
 * way an answer can break its operation's document is reported, and a faithful one is not.
 */

const widget = z.object({ id: z.uuid(), name: z.string() });

const routes: AppModule = async (plain) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  const declared = (operationId: string) => ({
    operationId,
    summary: "A widget",
    tags: ["widgets"],
    response: { 200: widget, 302: z.null() },
  });
  const route = { config: { access: publicAccess } };
  app.get("/faithful", { ...route, schema: declared("getFaithful") }, async () => ({
    id: "0190a8a4-6f2e-7c4b-9b1e-3c5d7e9f1a2b",
    name: "Sprocket",
  }));
  // Untyped schemas and the plain instance: these handlers break their declarations on purpose.
  const loose = (operationId: string): FastifySchema => declared(operationId);
  plain.get("/created", { ...route, schema: loose("getCreated") }, async (_request, reply) =>
    reply.code(201).send({ id: "0190a8a4-6f2e-7c4b-9b1e-3c5d7e9f1a2b", name: "Sprocket" }),
  );
  app.get("/not-a-uuid", { ...route, schema: declared("getNotUuid") }, async () => ({
    id: "widget-1",
    name: "Sprocket",
  }));
  plain.get("/as-text", { ...route, schema: loose("getAsText") }, async (_request, reply) =>
    reply.type("text/plain").send("Sprocket"),
  );
  plain.get("/redirect", { ...route, schema: loose("getRedirect") }, async (_request, reply) =>
    reply.code(302).send(),
  );
};

describe("the contract check", () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp({}, [routes]);
  });
  afterAll(async () => {
    await app.close();
  });

  const violationsOf = async (url: string) => {
    takeViolations();
    await app.inject({ url });
    return takeViolations();
  };

  it("passes an answer its document describes", async () => {
    expect(await violationsOf("/api/v1/faithful")).toEqual([]);
    expect(await violationsOf("/openapi.json")).toEqual([]);
  });

  it("reports a status the operation does not document", async () => {
    expect(await violationsOf("/api/v1/created")).toEqual([
      "GET /api/v1/created answered 201, which GET /api/v1/created does not document",
    ]);
  });

  it("reports a body its schema refuses", async () => {
    expect(await violationsOf("/api/v1/not-a-uuid")).toEqual([
      expect.stringMatching(
        /answered 200 with a body its schema refuses: .*\/id must match format "uuid"/,
      ),
    ]);
  });

  it("reports a media type the answer does not document", async () => {
    expect(await violationsOf("/api/v1/as-text")).toEqual([
      "GET /api/v1/as-text answered 200 as text/plain; it documents application/json",
    ]);
  });

  it("reports a required header that is missing", async () => {
    expect(await violationsOf("/api/v1/redirect")).toEqual([
      "GET /api/v1/redirect answered 302 without its location header",
    ]);
  });

  it("leaves out answers of no route (404) and of apps without a document", async () => {
    expect(await violationsOf("/api/v1/nowhere")).toEqual([]);
  });
});
