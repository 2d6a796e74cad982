import { randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIENT_FOLDER, clientTypesOf, SCHEMA_FILE } from "../../scripts/lib/client/generate.js";
import { defaultModules } from "../../src/app.js";
import { waitFor } from "../helpers/jobs.js";
import { setupTenancyTest, type TenancyTestContext } from "../helpers/tenancy.js";

/**
 * The TypeScript client a front end copies (clients/typescript): its types are generated from
 * the document a running server serves, its wrapper, the guide's examples and a program that
 * uses them all are compiled with `tsc --strict` against them, and the program runs against the
 * server over real sockets. A document that breaks the client (an operationId gone, a type
 * changed, a parameter dropped) fails the compilation.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLIENT = join(ROOT, CLIENT_FOLDER);
const SCHEMA = join(ROOT, SCHEMA_FILE);
const WALKTHROUGH = join(CLIENT, "test/walkthrough.ts");

type Json = Record<string, unknown>;

/** The roles of a new tenant, in the order GET /api/v1/roles lists them. */
const SYSTEM_ROLES = ["owner", "admin", "member", "viewer"];
/** The custom roles the walkthrough makes, in that order. */
const CUSTOM_ROLES = ["Auditor", "Billing", "Curator", "Designer", "Editor"];

/** The object at `keys` in a JSON document; the test's own mistake when there is none. */
function at(value: unknown, ...keys: string[]): Json {
  let current = value;
  for (const key of keys) {
    current = (current as Json | undefined)?.[key];
    if (current === undefined) throw new Error(`nothing at ${keys.join(" > ")}`);
  }
  return current as Json;
}

/** The client's own compiler options (its tsconfig.json), strict, emitting nothing. */
function compilerOptions(): ts.CompilerOptions {
  const file = join(CLIENT, "tsconfig.json");
  const { config, error } = ts.readConfigFile(file, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, "\n"));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, CLIENT);
  return { ...parsed.options, strict: true, noEmit: true, declaration: false, rootDir: CLIENT };
}

/**
 * Compiles the wrapper, the examples and the walkthrough against `schema` (the text of
 * schema.d.ts, served to the compiler in place of any file a developer generated) and returns
 * every diagnostic as `file(line): message`.
 */
function compile(schema: string): string[] {
  const options = compilerOptions();
  const host = ts.createCompilerHost(options);
  const isSchema = (file: string) => file === SCHEMA;
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (file) => isSchema(file) || fileExists.call(host, file);
  host.readFile = (file) => (isSchema(file) ? schema : readFile.call(host, file));
  host.getSourceFile = (file, language, ...rest) =>
    isSchema(file)
      ? ts.createSourceFile(file, schema, language)
      : getSourceFile.call(host, file, language, ...rest);
  const rootNames = [
    join(CLIENT, "src/index.ts"),
    ...readdirSync(join(CLIENT, "examples")).map((file) => join(CLIENT, "examples", file)),
    WALKTHROUGH,
  ];
  const program = ts.createProgram({ rootNames, options, host });
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    if (!diagnostic.file || diagnostic.start === undefined) return message;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    return `${diagnostic.file.fileName.replace(ROOT, "")}(${line + 1}): ${message}`;
  });
}

interface Browser {
  fetch(request: Request): Promise<Response>;
  expire(accessToken: string): void;
  refreshes(): number;
}

/**
 * One browser profile for Node's fetch: it keeps the cookies the server sets and sends them
 * back to their path, as a browser does with the HttpOnly refresh cookie, and sends no Origin
 * (as a browser would not on a same-origin GET), so refresh and logout need X-Requested-With.
 */
function browser(): Browser {
  const jar = new Map<string, { value: string; path: string }>();
  const expired = new Set<string>();
  let refreshes = 0;
  return {
    async fetch(request) {
      const url = new URL(request.url);
      const headers = new Headers(request.headers);
      const cookies = [...jar]
        .filter(([, cookie]) => url.pathname.startsWith(cookie.path))
        .map(([name, cookie]) => `${name}=${cookie.value}`);
      if (cookies.length > 0) headers.set("cookie", cookies.join("; "));
      const token = headers.get("authorization")?.replace(/^Bearer /, "");
      if (token && expired.has(token)) headers.set("authorization", "Bearer an.expired.token");
      if (url.pathname === "/api/v1/auth/refresh") refreshes += 1;
      const response = await fetch(new Request(request, { headers }));
      for (const line of response.headers.getSetCookie()) {
        const [pair = "", ...attributes] = line.split(";").map((part) => part.trim());
        const name = pair.slice(0, pair.indexOf("="));
        const value = pair.slice(pair.indexOf("=") + 1);
        const path = attributes.find((each) => /^path=/i.test(each))?.slice("path=".length) ?? "/";
        const gone = attributes.some((each) => /^max-age=0$/i.test(each)) || value === "";
        if (gone) jar.delete(name);
        else jar.set(name, { value, path });
      }
      return response;
    },
    expire: (accessToken) => expired.add(accessToken),
    refreshes: () => refreshes,
  };
}

describe("the TypeScript client against a running server", () => {
  let ctx: TenancyTestContext;
  let baseUrl: string;
  let document: Json;
  let schema: string;

  beforeAll(async () => {
    // Jobs in the process (no Redis): the mails stay in the mailer's outbox for the test. The
    // kit's app alone: the client is generated from the document a project serves.
    ctx = await setupTenancyTest({ REDIS_URL: "" }, { modules: defaultModules });
    await ctx.app.listen({ host: "127.0.0.1", port: 0 });
    baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
    const answer = await fetch(`${baseUrl}/openapi.json`);
    expect(answer.status).toBe(200);
    document = (await answer.json()) as Json;
    schema = await clientTypesOf(document);
  }, 60_000);
  afterAll(async () => {
    await ctx?.close();
  });

  it("compiles with tsc --strict against the types of the live document", () => {
    expect(compile(schema)).toEqual([]);
  }, 60_000);

  it("signs up, refreshes, pages, survives an expired token, invites, handles problems", async () => {
    const mailedToken = (email: string, page: string) =>
      waitFor(`a ${page} mail to ${email}`, () => {
        const links = ctx.app.mailer.outbox
          .filter((message) => message.to === email)
          .flatMap((message) => message.text.match(/https?:\/\/\S+/g) ?? [])
          .filter((link) => link.includes(`/${page}?token=`));
        const last = links.at(-1);
        return last ? (new URL(last).searchParams.get("token") ?? undefined) : undefined;
      });
    // A path known only at run time: the kit's own tsc does not compile the client's files,
    // whose types exist only once generated; the test compiled them above.
    const program = (await import(pathToFileURL(WALKTHROUGH).href)) as {
      walkthrough(world: unknown): Promise<Record<string, unknown>>;
    };
    const report = await program.walkthrough({
      baseUrl,
      browser,
      mailedToken,
      email: (who: string) => `${who}-${randomUUID()}@example.com`,
    });

    expect(report.firstVisit).toBeNull();
    expect(report.registered).toMatchObject({ tenant: "Olga's Workshop" });
    expect(report.wrongPassword).toBeNull();
    expect(report.signedIn).toBe(true);
    expect(report.restored).toMatch(/^owner-/);
    expect(report.refreshed).toBe(true);
    expect(report.firstPage).toEqual({ names: [...SYSTEM_ROLES, ...CUSTOM_ROLES], next: null });
    expect(report.everyRole).toEqual([...SYSTEM_ROLES, ...CUSTOM_ROLES]);
    expect(report.concurrent).toEqual({
      roles: SYSTEM_ROLES.length + CUSTOM_ROLES.length,
      me: expect.stringMatching(/^owner-/),
      tenant: "Olga's Workshop",
    });
    expect(report.silentRefreshes).toBe(1);
    expect(report.tokenChanged).toBe(true);
    expect(report.redirectsAfterSilentRefresh).toEqual([]);
    expect(report.invitation).toEqual({
      email: expect.stringMatching(/^member-/),
      roles: ["Curator"],
    });
    expect(report.joined).toBe("Olga's Workshop");
    expect(report.picker).toEqual({
      current: expect.any(String),
      tenants: ["Milo's Studio", "Olga's Workshop"],
    });
    expect(report.rolesSeenByMember).toEqual([...SYSTEM_ROLES, ...CUSTOM_ROLES]);
    expect(report.switchedBack).toBe("Milo's Studio");
    expect(report.rolesInOwnTenant).toEqual(SYSTEM_ROLES);
    expect(report.invalid).toEqual({ fieldErrors: { name: expect.any(String) } });
    expect(report.created).toBe("Support");
    expect(report.missing).toBeNull();
    expect(report.foundByMember).toEqual({
      name: "Support",
      description: "Answers customers by mail",
    });
    expect(report.forbidden).toEqual({
      status: 403,
      code: "forbidden",
      message: "You are not allowed to do this in this workspace.",
    });
    expect(report.afterSignOut).toBeNull();
    expect(report.redirectsAfterSignOut).toEqual(["/sign-in"]);
    expect(report.oldTokenStatus).toBe(401);
    expect(report.sessionsSeen).toEqual([
      null,
      expect.stringMatching(/^owner-/),
      null,
      expect.stringMatching(/^owner-/),
    ]);
  }, 60_000);

  it.each([
    [
      "an operationId is gone",
      (copy: Json) => {
        delete at(copy, "paths", "/api/v1/auth/refresh", "post").operationId;
      },
      /Property 'refreshSession' does not exist/,
    ],
    [
      "a type changes",
      (copy: Json) => {
        at(copy, "components", "schemas", "RolePage", "properties").nextCursor = {
          type: "integer",
        };
      },
      /examples\/pagination\.ts\(\d+\): .*nextCursor/s,
    ],
    [
      "the X-Requested-With parameter of refresh is gone",
      (copy: Json) => {
        const refresh = at(copy, "paths", "/api/v1/auth/refresh", "post");
        refresh.parameters = (refresh.parameters as Json[]).filter(
          (parameter) => parameter.$ref !== "#/components/parameters/XRequestedWith",
        );
      },
      /src\/index\.ts\(\d+\): .*X-Requested-With/s,
    ],
  ])(
    "fails to compile when %s",
    async (_what, change, error) => {
      const copy = structuredClone(document);
      change(copy);
      const diagnostics = compile(await clientTypesOf(copy));
      expect(diagnostics.join("\n")).toMatch(error);
    },
    60_000,
  );
});
