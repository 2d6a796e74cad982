/**
 * Dependencies that only some deployments use are imported when first needed, not at start:
 * the docs page's Scalar bundle (about 30 MB of memory) on the first request under /docs, and
 * the embedded PGlite database only when DATABASE_URL is unset, the password-strength
 * dictionaries and nodemailer at their first use, and Node's bundled undici (its fetch) at the
 * first OAuth sign-in. A child process records every module the loader resolves (a
 * module.register hook), imports the application, and then serves the docs page once.
 */
import { describe, expect, it } from "vitest";
import { packageUrl, resolvedModules, sourceUrl } from "../helpers/resolved-modules.js";

const script = `
await import(${sourceUrl("src/app.ts")});
await import(${sourceUrl("src/server.ts")});
mark("--- application imported");
mark("--- undici loaded " + process.moduleLoadList.some((name) => name.includes("undici")));
const { default: Fastify } = await import(${packageUrl("fastify")});
const { serializerCompiler } = await import(${packageUrl("fastify-type-provider-zod")});
const { validatorCompiler } = await import(${sourceUrl("src/core/http/validation.ts")});
const { docsPage } = await import(${sourceUrl("src/api/openapi.ts")});
const app = Fastify();
app.setValidatorCompiler(validatorCompiler);
app.setSerializerCompiler(serializerCompiler);
await app.register(docsPage);
const page = await app.inject({ method: "GET", url: "/docs/" });
const script = await app.inject({ method: "GET", url: "/docs/js/scalar.js" });
const missing = await app.inject({ method: "GET", url: "/docs/no-such-file" });
mark("--- docs served " + page.statusCode + " " + script.statusCode + " " + missing.statusCode);
await app.close();
`;

// Each test starts a node process that imports the application: seconds on a busy machine.
describe("imports left to the deployments that use them", { timeout: 30_000 }, () => {
  it("loads neither Scalar, PGlite, zxcvbn, nodemailer, BullMQ nor (from Node 22 on) undici with the application, and Scalar on the first docs request", () => {
    const lines = resolvedModules(script);
    const imported = lines.indexOf("--- application imported");
    expect(imported, "the script did not finish importing the application").toBeGreaterThan(0);
    const atStart = lines.slice(0, imported);
    const afterDocs = lines.slice(imported);
    expect(atStart.some((url) => url.includes("/src/app.ts"))).toBe(true);
    expect(atStart.some((url) => url.includes("/src/core/database/pglite-driver.ts"))).toBe(true);
    expect(atStart.filter((url) => url.includes("@scalar/"))).toEqual([]);
    expect(atStart.filter((url) => url.includes("@electric-sql/pglite"))).toEqual([]);
    expect(atStart.filter((url) => url.includes("drizzle-orm/pglite"))).toEqual([]);
    // The password-strength dictionaries (sign-ups and password changes) and the SMTP client
    // (a worker's, or an API's without Redis) wait for their first use too.
    expect(atStart.filter((url) => url.includes("@zxcvbn-ts/"))).toEqual([]);
    expect(atStart.filter((url) => url.includes("/nodemailer/"))).toEqual([]);
    // BullMQ, for the API's first job published outside a transaction (the worker relays the
    // outbox), and what it brings: cron parsing, msgpack.
    expect(atStart.filter((url) => /\/(bullmq|cron-parser|luxon|msgpackr)\//.test(url))).toEqual(
      [],
    );
    // Node's bundled undici (its fetch), for the OAuth sign-ins: an ES import of node:http loads
    // it from Node 22 on (src/core/http/node-http.ts). On Node 20 the pg driver's check for
    // Cloudflare's runtime, which reads the global Response, loads it anyway.
    if (Number(process.versions.node.split(".")[0]) >= 22) {
      expect(afterDocs).toContain("--- undici loaded false");
    }
    expect(afterDocs.some((url) => url.includes("@scalar/fastify-api-reference"))).toBe(true);
    expect(afterDocs).toContain("--- docs served 200 200 404");
  }, 90_000);
});
