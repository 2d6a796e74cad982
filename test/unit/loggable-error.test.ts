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
      const cause = Object.assign(new Error("connection terminated"), { code: "57P01" });
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
    expect(logged).toContain("connection terminated");
    expect(logged).not.toContain("secret-hash");
  });
});
