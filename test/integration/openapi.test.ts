import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultModules } from "../../src/app.js";
import { OAUTH_PROVIDERS } from "../../src/config.js";
import { REFRESH_COOKIE } from "../../src/modules/auth/cookies.js";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../../src/modules/auth/passwords.js";
import { buildTestApp } from "../helpers/app.js";

/**
 * The document a front end generates its client from: every operation of the kit's own app,
 * checked for what a generator needs, and against what the server really answers.
 */

type Json = Record<string, unknown>;

interface Reference {
  $ref: string;
}
interface Parameter {
  in: string;
  name: string;
  required?: boolean;
  schema?: Json;
}
interface Response {
  description: string;
  content?: Record<string, { schema: Json }>;
  headers?: Record<string, Reference>;
}
interface Operation {
  operationId?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: (Parameter | Reference)[];
  requestBody?: { content: Record<string, { schema: Json }> };
  responses: Record<string, Response>;
}
interface Document {
  security?: unknown;
  tags?: { name: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, Json>;
    securitySchemes: Record<string, Json>;
    headers: Record<string, Json>;
    parameters: Record<string, Parameter>;
  };
}

/** The routes ../shared/API.md marks public: their operations declare `security: []`. */
const PUBLIC = new Set([
  "GET /health/live",
  "GET /health/ready",
  "GET /health/serving",
  "GET /info",
  "GET /openapi.json",
  "GET /metrics",
  "POST /api/v1/auth/register",
  "POST /api/v1/auth/login",
  "POST /api/v1/auth/refresh",
  "POST /api/v1/auth/logout",
  "POST /api/v1/auth/password/forgot",
  "POST /api/v1/auth/password/reset",
  "POST /api/v1/auth/email/verify",
  "GET /api/v1/auth/oauth/providers",
  "GET /api/v1/auth/oauth/{provider}/authorize",
  "GET /api/v1/auth/oauth/{provider}/callback",
]);

/** Where the server sets or clears the refresh cookie, by status. */
const SETS_REFRESH_COOKIE: Record<string, Record<string, string>> = {
  "POST /api/v1/auth/register": { "201": "SetRefreshCookie" },
  "POST /api/v1/auth/login": { "200": "SetRefreshCookie" },
  "POST /api/v1/auth/refresh": { "200": "SetRefreshCookie", "401": "ClearRefreshCookie" },
  "POST /api/v1/auth/switch-tenant": { "200": "SetRefreshCookie" },
  "POST /api/v1/auth/logout": { "204": "ClearRefreshCookie" },
  "POST /api/v1/auth/logout-all": { "204": "ClearRefreshCookie" },
  "GET /api/v1/auth/oauth/{provider}/callback": {
    "200": "SetRefreshCookie",
    "302": "SetRefreshCookie",
  },
  "GET /api/v1/auth/oauth/{provider}/authorize": { "302": "SetOAuthBindingCookie" },
  "POST /api/v1/users/me/accounts/{provider}": { "200": "SetOAuthBindingCookie" },
};

const RATE_LIMIT_HEADERS = [
  "RateLimit-Limit",
  "RateLimit-Remaining",
  "RateLimit-Reset",
  "X-RateLimit-Limit",
  "X-RateLimit-Remaining",
  "X-RateLimit-Reset",
];

const BODY_METHODS = ["post", "put", "patch", "delete"];

async function documentOf(app: FastifyInstance): Promise<Document> {
  const response = await app.inject({ method: "GET", url: "/openapi.json" });
  expect(response.statusCode).toBe(200);
  return response.json<Document>();
}

const operationsOf = (document: Document) =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({
      label: `${method.toUpperCase()} ${path}`,
      method,
      path,
      operation,
    })),
  );

const refName = (reference: Reference | undefined, kind: string) => {
  expect(reference?.$ref, `a reference to components.${kind}`).toMatch(
    new RegExp(`^#/components/${kind}/`),
  );
  return reference?.$ref.split("/").pop() as string;
};

describe("the OpenAPI document of the kit's app", () => {
  let app: FastifyInstance;
  let document: Document;
  let operations: ReturnType<typeof operationsOf>;

  beforeAll(async () => {
    app = await buildTestApp({}, defaultModules);
    document = await documentOf(app);
    operations = operationsOf(document);
  });
  afterAll(async () => {
    await app.close();
  });

  const operation = (label: string) => {
    const found = operations.find((each) => each.label === label);
    if (!found) throw new Error(`${label} is not in the document`);
    return found.operation;
  };
  const parametersOf = (label: string): Parameter[] =>
    (operation(label).parameters ?? []).map((parameter) =>
      "$ref" in parameter
        ? (document.components.parameters[refName(parameter, "parameters")] as Parameter)
        : parameter,
    );

  it("lists every route of the kit", () => {
    // The kit's modules alone: a project started without the items example serves 45.
    expect(operations.length).toBeGreaterThanOrEqual(45);
    for (const label of PUBLIC) expect(operations.map((each) => each.label)).toContain(label);
  });

  it("gives every operation a unique, camelCase operationId", () => {
    const ids = operations.map((each) => each.operation.operationId);
    for (const [index, id] of ids.entries()) {
      expect(id, operations[index]?.label).toMatch(/^[a-z][A-Za-z0-9]*$/);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(operation("GET /api/v1/roles").operationId).toBe("listRoles");
    expect(operation("POST /api/v1/roles").operationId).toBe("createRole");
    expect(operation("PATCH /api/v1/roles/{id}").operationId).toBe("updateRole");
    expect(operation("POST /api/v1/auth/login").operationId).toBe("login");
    expect(operation("POST /api/v1/auth/refresh").operationId).toBe("refreshSession");
  });

  it("declares security on every operation: [] on public routes, the bearer token elsewhere", () => {
    expect(document.security).toEqual([{ bearerAuth: [] }]);
    expect(document.components.securitySchemes.bearerAuth).toMatchObject({
      type: "http",
      scheme: "bearer",
    });
    for (const { label, operation } of operations) {
      expect(operation.security, label).toEqual(PUBLIC.has(label) ? [] : [{ bearerAuth: [] }]);
    }
  });

  it("describes the refresh cookie, its security scheme and the CSRF proof of refresh and logout", () => {
    expect(document.components.securitySchemes.refreshCookie).toMatchObject({
      type: "apiKey",
      in: "cookie",
      name: REFRESH_COOKIE,
    });
    for (const label of ["POST /api/v1/auth/refresh", "POST /api/v1/auth/logout"]) {
      expect(parametersOf(label), label).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ in: "cookie", name: REFRESH_COOKIE }),
          expect.objectContaining({ in: "header", name: "X-Requested-With", required: false }),
        ]),
      );
    }
    expect(parametersOf("POST /api/v1/auth/switch-tenant")).toEqual([
      expect.objectContaining({ in: "cookie", name: REFRESH_COOKIE }),
    ]);
  });

  it("answers every 4xx and 5xx status with the Problem schema", () => {
    for (const { label, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!/^[45]/.test(status)) continue;
        expect(
          response.content?.["application/problem+json"]?.schema,
          `${label} ${status}`,
        ).toEqual({ $ref: "#/components/schemas/Problem" });
      }
    }
  });

  it("lists the statuses each operation can answer, derived from what it declares", () => {
    for (const { label, method, path, operation } of operations) {
      const statuses = Object.keys(operation.responses);
      const expected = ["429", "500", "503"];
      const secured = !PUBLIC.has(label);
      if (secured) expected.push("401", "403");
      if (path.includes("{")) expected.push("404");
      // What a schema validates; the cookie and header parameters are read by the handler.
      const validated = parametersOf(label).some((each) => ["path", "query"].includes(each.in));
      if (validated || operation.requestBody) expected.push("422");
      if (BODY_METHODS.includes(method)) expected.push("400", "413", "415");
      expect(statuses, label).toEqual(expect.arrayContaining(expected));
      expect(
        statuses.filter((status) => /^2/.test(status) || /^3/.test(status)),
        label,
      ).not.toEqual([]);
    }
    // Statuses only the route itself knows about.
    expect(Object.keys(operation("POST /api/v1/auth/refresh").responses)).toEqual(
      expect.arrayContaining(["401", "403"]),
    );
    expect(Object.keys(operation("POST /api/v1/roles").responses)).toContain("409");
    expect(Object.keys(operation("POST /api/v1/auth/switch-tenant").responses)).toContain("404");
    expect(Object.keys(operation("GET /api/v1/auth/oauth/{provider}/callback").responses)).toEqual(
      expect.arrayContaining(["400", "403", "409", "502"]),
    );
  });

  it("documents the response headers of every answer with shared components", () => {
    for (const { label, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const headers = response.headers ?? {};
        const where = `${label} ${status}`;
        for (const [name, reference] of Object.entries(headers)) {
          expect(document.components.headers[refName(reference, "headers")], where).toBeDefined();
          expect(name, where).not.toBe("");
        }
        expect(refName(headers["X-Request-Id"], "headers"), where).toBe("XRequestId");
        expect(refName(headers["X-Trace-Id"], "headers"), where).toBe("XTraceId");
        // Rate limits are on in the test configuration: every route counts.
        for (const name of RATE_LIMIT_HEADERS) expect(headers[name], where).toBeDefined();
        if (status === "401") {
          expect(refName(headers["WWW-Authenticate"], "headers"), where).toBe("WWWAuthenticate");
        }
        if (status === "429" || status === "503") {
          expect(refName(headers["Retry-After"], "headers"), where).toBe("RetryAfter");
        }
        if (/^3/.test(status)) expect(headers.Location, where).toBeDefined();
        const cookie = SETS_REFRESH_COOKIE[label]?.[status];
        if (cookie) {
          expect(refName(headers["Set-Cookie"], "headers"), where).toBe(cookie);
        } else {
          expect(headers["Set-Cookie"], where).toBeUndefined();
        }
      }
    }
    expect(document.components.headers.XRequestId).toMatchObject({ required: true });
    // Sent only while tracing is on.
    expect(document.components.headers.XTraceId?.required).toBeUndefined();
  });

  it("documents /metrics as Prometheus text, as it answers", async () => {
    const ok = operation("GET /metrics").responses["200"];
    expect(Object.keys(ok?.content ?? {})).toEqual(["text/plain; version=0.0.4"]);
    const answer = await app.inject({ method: "GET", url: "/metrics" });
    expect(answer.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it("documents the password and email rules the server enforces", () => {
    const bodyOf = (label: string) => {
      const schema = operation(label).requestBody?.content["application/json"]?.schema as {
        properties: Record<string, Json>;
      };
      return schema.properties;
    };
    const passwordRule = { minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH };
    expect(bodyOf("POST /api/v1/auth/register").password).toMatchObject(passwordRule);
    expect(bodyOf("POST /api/v1/auth/password/reset").password).toMatchObject(passwordRule);
    expect(bodyOf("POST /api/v1/auth/password/change").newPassword).toMatchObject(passwordRule);
    for (const label of [
      "POST /api/v1/auth/register",
      "POST /api/v1/auth/login",
      "POST /api/v1/auth/password/forgot",
      "POST /api/v1/invitations",
    ]) {
      expect(bodyOf(label).email, label).toMatchObject({ format: "email", maxLength: 320 });
    }
  });

  it("lists the supported providers as the values of {provider}", () => {
    const withProvider = operations.filter(({ path }) => path.includes("{provider}"));
    expect(withProvider.length).toBe(4);
    for (const { label } of withProvider) {
      const provider = parametersOf(label).find((parameter) => parameter.name === "provider");
      expect(provider?.schema?.enum, label).toEqual([...OAUTH_PROVIDERS]);
    }
  });

  it("holds only the schema components something refers to, no *Input twins", () => {
    const names = Object.keys(document.components.schemas);
    expect(names.filter((name) => name.endsWith("Input"))).toEqual([]);
    const text = JSON.stringify({ paths: document.paths, schemas: document.components.schemas });
    for (const name of names) {
      expect(text, name).toContain(`"#/components/schemas/${name}"`);
    }
    expect(names).toEqual(expect.arrayContaining(["Problem", "Role", "TokenResponse"]));
  });

  it("lists every tag its operations use", () => {
    const used = new Set(operations.flatMap(({ operation }) => operation.tags ?? []));
    expect(new Set(document.tags?.map((tag) => tag.name))).toEqual(used);
  });

  it("tells the truth about a real answer: statuses, problem body and headers", async () => {
    // From the front end's origin (CORS_ORIGINS), so the CORS headers are part of the answer.
    const refused = await app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      headers: { origin: "http://localhost:3000" },
    });
    expect(refused.statusCode).toBe(401);
    const documented = operation("POST /api/v1/auth/refresh").responses["401"]?.headers ?? {};
    // Every documented header but X-Trace-Id, which is sent only while tracing is on.
    for (const name of Object.keys(documented).filter((header) => header !== "X-Trace-Id")) {
      expect(refused.headers[name.toLowerCase()], name).toBeDefined();
    }
    expect(refused.headers["set-cookie"]).toMatch(new RegExp(`^${REFRESH_COOKIE}=; Max-Age=0`));

    const unsupported = await app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      headers: { "content-type": "text/plain" },
      payload: "hello",
    });
    expect(unsupported.statusCode).toBe(415);
    expect(Object.keys(operation("POST /api/v1/auth/login").responses)).toContain("415");
    expect(unsupported.headers["x-request-id"]).toBeDefined();
  });
});

describe("the document of an app with the general rate limits off and a metrics token", () => {
  let app: FastifyInstance;
  let document: Document;

  beforeAll(async () => {
    app = await buildTestApp(
      { RATE_LIMIT_ENABLED: "false", METRICS_TOKEN: "scrape-token" },
      defaultModules,
    );
    document = await documentOf(app);
  });
  afterAll(async () => {
    await app.close();
  });

  it("lists 429 and the RateLimit headers only where a route's own limit applies", () => {
    const roles = document.paths["/api/v1/roles"]?.get as Operation;
    expect(Object.keys(roles.responses)).not.toContain("429");
    expect(roles.responses["200"]?.headers?.["RateLimit-Limit"]).toBeUndefined();
    const login = document.paths["/api/v1/auth/login"]?.post as Operation;
    expect(Object.keys(login.responses)).toContain("429");
    expect(login.responses["200"]?.headers?.["RateLimit-Limit"]).toBeDefined();
  });

  it("puts the metrics token into the security of /metrics, with its 401", async () => {
    const metrics = document.paths["/metrics"]?.get as Operation;
    expect(metrics.security).toEqual([{ metricsToken: [] }]);
    expect(document.components.securitySchemes.metricsToken).toMatchObject({
      type: "http",
      scheme: "bearer",
    });
    expect(Object.keys(metrics.responses)).toContain("401");
    expect((await app.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(401);
  });
});
