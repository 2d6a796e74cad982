import { DrizzleQueryError } from "drizzle-orm/errors";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { errorHandlerPlugin } from "../../src/core/errors/index.js";

describe("the 500 log line of a failed query", () => {
  it("keeps the SQL text and the driver's error, never the parameters", async () => {
    const lines: string[] = [];
    const app = Fastify({
      logger: { level: "error", stream: { write: (line: string) => lines.push(line) } },
    });
    await app.register(errorHandlerPlugin, {
      typeBaseUrl: "https://x/problems",
      exposeInternalErrors: false,
    });
    app.get("/boom", async () => {
      // XX000 (internal error): a fault of the server, not an outage or bad input.
      const cause = Object.assign(new Error("could not read block 0"), { code: "XX000" });
      throw new DrizzleQueryError(
        "insert into users (hash) values ($1)",
        ["$argon2id$secret-hash"],
        cause,
      );
    });
    const response = await app.inject({ url: "/boom" });
    await app.close();
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain("secret-hash");
    const logged = lines.join("\n");
    expect(logged).toContain("insert into users (hash) values ($1)");
    expect(logged).toContain("could not read block 0");
    expect(logged).not.toContain("secret-hash");
  });

  it("logs an outage's cause at warn, without the parameters, and answers 503", async () => {
    const lines: string[] = [];
    const app = Fastify({
      logger: { level: "warn", stream: { write: (line: string) => lines.push(line) } },
    });
    await app.register(errorHandlerPlugin, {
      typeBaseUrl: "https://x/problems",
      exposeInternalErrors: false,
    });
    app.get("/down", async () => {
      const cause = Object.assign(
        new Error("terminating connection due to administrator command"),
        {
          code: "57P01",
        },
      );
      throw new DrizzleQueryError("select * from items where id = $1", ["secret-value"], cause);
    });
    const response = await app.inject({ url: "/down" });
    await app.close();
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("2");
    const logged = lines.join("\n");
    expect(logged).toContain("backing service unavailable");
    expect(logged).toContain("administrator command");
    expect(logged).not.toContain("secret-value");
  });
});
