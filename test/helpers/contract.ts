import { subscribe } from "node:diagnostics_channel";
import { Ajv2020 } from "ajv/dist/2020.js";
import formats from "ajv-formats";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { afterEach } from "vitest";

/**
 * Contract tests: every answer a test receives from an app of the kit is checked against that
 * app's own OpenAPI document (what GET /openapi.json serves). Its status must be documented
 * for the operation (or by its 4XX/5XX range), every header the document requires of that
 * answer must be there, a body must have a documented media type, and a JSON body must be valid
 * against the operation's schema. A violation fails the test during which the answer was sent,
 * with every violation named.
 *
 * It hooks every Fastify instance the test process creates (node:diagnostics_channel publishes
 * each one as it is made), so apps made by buildTestApp, setupTenancyTest or createApp itself are
 * all checked, over inject and over real sockets alike; instances without a document (mock
 * servers, the reference page's inner instance) are not. Validators are compiled once per
 * schema in a process and shared by every app.
 *
 * vitest.config.ts runs this module first in every integration test file (setupFiles).
 */

type Json = Record<string, unknown>;
type Validate = ((data: unknown) => boolean) & {
  errors?: { instancePath: string; message?: string }[] | null;
};

interface Media {
  readonly type: string;
  readonly schema: Json | undefined;
}
interface Answer {
  readonly requiredHeaders: readonly string[];
  readonly media: readonly Media[];
}
interface OperationIndex {
  readonly document: Json;
  /** `GET /api/v1/notes/{id}` -> status (`200`, `4XX`, `default`) -> what it documents. */
  readonly answers: Map<string, Map<string, Answer>>;
}

const violations: string[] = [];

afterEach(() => {
  if (violations.length === 0) return;
  const found = violations.splice(0);
  throw new Error(
    `Answers that break the OpenAPI document (test/helpers/contract.ts):\n${found
      .map((each) => `  - ${each}`)
      .join("\n")}`,
  );
});

/**
 * The violations recorded so far in this test, which no longer fail it: for a test of this
 * check itself, which provokes them on purpose.
 */
export function takeViolations(): string[] {
  return violations.splice(0);
}

/** The document of each app, read once, when it answers for the first time. */
const indexes = new WeakMap<FastifyInstance, OperationIndex | null>();
/** The payload each request's answer was sent with, as the first onSend hook saw it. */
const payloads = new WeakMap<FastifyRequest, unknown>();

subscribe("fastify.initialization", (message) => {
  const { fastify } = message as { fastify: FastifyInstance };
  // The first hooks of the instance: the payload is the serialized body, before any other hook.
  fastify.addHook("onSend", (request, _reply, payload, done) => {
    payloads.set(request, payload);
    done(null, payload);
  });
  fastify.addHook("onResponse", (request, reply, done) => {
    try {
      check(fastify, request, reply);
    } catch (error) {
      violations.push(`${request.method} ${request.url}: the check failed: ${String(error)}`);
    }
    done();
  });
});

function indexOf(app: FastifyInstance): OperationIndex | null {
  let index = indexes.get(app);
  if (index === undefined) {
    const swagger = (app as { swagger?: () => unknown }).swagger;
    index = typeof swagger === "function" ? buildIndex(swagger.call(app) as Json) : null;
    indexes.set(app, index);
  }
  return index;
}

function buildIndex(document: Json): OperationIndex {
  const components = (document.components ?? {}) as Record<string, Record<string, Json>>;
  const resolve = (value: Json, kind: string): Json => {
    const ref = value.$ref;
    if (typeof ref !== "string") return value;
    const name = ref.slice(`#/components/${kind}/`.length);
    return components[kind]?.[name] ?? {};
  };
  const answers = new Map<string, Map<string, Answer>>();
  for (const [path, item] of Object.entries(document.paths as Record<string, Json>)) {
    for (const [method, operation] of Object.entries(item as Record<string, Json>)) {
      const byStatus = new Map<string, Answer>();
      for (const [status, raw] of Object.entries(operation.responses as Record<string, Json>)) {
        const response = resolve(raw, "responses");
        const headers = (response.headers ?? {}) as Record<string, Json>;
        const content = (response.content ?? {}) as Record<string, Json>;
        byStatus.set(status, {
          requiredHeaders: Object.entries(headers)
            .filter(([, header]) => resolve(header, "headers").required === true)
            .map(([name]) => name.toLowerCase()),
          media: Object.entries(content).map(([type, media]) => ({
            type: mediaTypeOf(type),
            schema: media.schema as Json | undefined,
          })),
        });
      }
      answers.set(`${method.toUpperCase()} ${path}`, byStatus);
    }
  }
  return { document, answers };
}

const mediaTypeOf = (contentType: string) => contentType.split(";")[0]?.trim().toLowerCase() ?? "";
const isJson = (mediaType: string) =>
  mediaType === "application/json" || mediaType.endsWith("+json");

function check(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
  const payload = payloads.get(request);
  payloads.delete(request);
  const template = request.routeOptions.url;
  if (request.is404 || !template) return;
  const index = indexOf(app);
  if (!index) return;
  const method = request.method === "HEAD" ? "GET" : request.method;
  const path = template.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
  const byStatus = index.answers.get(`${method} ${path}`);
  // Routes the document leaves out on purpose (`hide`: the reference page) are not checked.
  if (!byStatus) return;
  const status = String(reply.statusCode);
  const where = `${request.method} ${request.url} answered ${status}`;
  const answer = byStatus.get(status) ?? byStatus.get(`${status[0]}XX`) ?? byStatus.get("default");
  if (!answer) {
    violations.push(`${where}, which ${method} ${path} does not document`);
    return;
  }
  const headers = reply.getHeaders();
  for (const name of answer.requiredHeaders) {
    if (headers[name] === undefined) violations.push(`${where} without its ${name} header`);
  }
  // No body travels with these, whatever the handler passed to send().
  if (request.method === "HEAD" || reply.statusCode === 204 || reply.statusCode === 304) return;
  const body = bodyOf(payload);
  if (body === undefined) return; // a stream: the reference page's assets
  if (body === "") {
    if (answer.media.length > 0 && reply.statusCode < 300) {
      violations.push(
        `${where} with an empty body; it documents ${answer.media.map((m) => m.type)}`,
      );
    }
    return;
  }
  const contentType = mediaTypeOf(String(headers["content-type"] ?? ""));
  const media = answer.media.find((each) => each.type === contentType);
  if (!media) {
    violations.push(
      `${where} as ${contentType || "no content type"}; it documents ${
        answer.media.map((each) => each.type).join(", ") || "no body"
      }`,
    );
    return;
  }
  if (!media.schema || !isJson(contentType)) return;
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    violations.push(`${where} with a body that is not JSON`);
    return;
  }
  const validate = validatorOf(media.schema, index.document);
  if (!validate(data)) {
    const errors = (validate.errors ?? [])
      .map((error) => `${error.instancePath || "(body)"} ${error.message ?? "is invalid"}`)
      .join("; ");
    violations.push(`${where} with a body its schema refuses: ${errors}`);
  }
}

function bodyOf(payload: unknown): string | undefined {
  if (payload === null || payload === undefined) return "";
  if (typeof payload === "string") return payload;
  if (Buffer.isBuffer(payload)) return payload.toString("utf8");
  return undefined;
}

/** Validators by the text of their schema, with the components it refers to as $defs. */
const validators = new Map<string, Validate>();
let ajv: { compile(schema: Json): Validate } | undefined;

function validatorOf(schema: Json, document: Json): Validate {
  const components = ((document.components as Json | undefined)?.schemas ?? {}) as Record<
    string,
    Json
  >;
  const defs: Record<string, unknown> = {};
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, child]) => {
        if (
          key === "$ref" &&
          typeof child === "string" &&
          child.startsWith("#/components/schemas/")
        ) {
          const name = child.slice("#/components/schemas/".length);
          if (!(name in defs)) {
            defs[name] = {};
            defs[name] = rewrite(components[name] ?? {});
          }
          return [key, `#/$defs/${name}`];
        }
        return [key, rewrite(child)];
      }),
    );
  };
  const root = { ...(rewrite(schema) as Json), $defs: defs };
  const key = JSON.stringify(root);
  let validate = validators.get(key);
  if (!validate) {
    ajv ??= createAjv();
    validate = ajv.compile(root);
    validators.set(key, validate);
  }
  return validate;
}

function createAjv(): { compile(schema: Json): Validate } {
  // OpenAPI 3.1 schemas are JSON Schema 2020-12; keywords only OpenAPI knows are let through.
  const instance = new Ajv2020({ strict: false, allErrors: true });
  // A CommonJS module: its default export is `module.exports`, the plugin is `.default`.
  formats.default(instance);
  return instance as unknown as { compile(schema: Json): Validate };
}
