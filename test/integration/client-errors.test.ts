import { connect } from "node:net";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp } from "../helpers/app.js";
import { problemTypeBaseUrl } from "../helpers/problems.js";

/** Errors raised by Node's HTTP parser, before Fastify has a request, over a real socket. */
let app: FastifyInstance;
let port: number;
beforeAll(async () => {
  app = await buildTestApp({ REQUEST_TIMEOUT_MS: "300", HEADERS_TIMEOUT_MS: "200" });
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as { port: number }).port;
});
afterAll(() => app.close());

function rawExchange(request: string, keepOpen = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(request);
      if (!keepOpen) socket.end();
    });
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
  });
}

function parse(answer: string) {
  const [head = "", body = ""] = answer.split("\r\n\r\n");
  const [statusLine = "", ...headers] = head.split("\r\n");
  return {
    status: Number(statusLine.split(" ")[1]),
    contentType: headers.find((h) => h.toLowerCase().startsWith("content-type:")),
    body: JSON.parse(body) as Record<string, unknown>,
  };
}

describe("client errors on the socket", () => {
  it("answers oversized headers with a 431 problem", async () => {
    const answer = await rawExchange(
      `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    const { status, contentType, body } = parse(answer);
    expect(status).toBe(431);
    expect(contentType).toMatch(/application\/problem\+json/);
    expect(body).toMatchObject({
      type: `${problemTypeBaseUrl()}/request-header-fields-too-large`,
      status: 431,
      traceId: expect.any(String),
    });
  });

  it("answers a request that never finishes arriving with a 408 problem", async () => {
    const answer = await rawExchange(
      "POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
      true,
    );
    const { status, body } = parse(answer);
    expect(status).toBe(408);
    expect(body).toMatchObject({ status: 408, title: "Request timeout" });
  });

  it("answers headers that never finish arriving (slowloris) with a 408 problem", async () => {
    const answer = await rawExchange("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: a", true);
    expect(parse(answer).status).toBe(408);
  });

  it("answers garbage on the wire with a 400 problem", async () => {
    const { status, body } = parse(await rawExchange("NOT HTTP AT ALL\r\n\r\n"));
    expect(status).toBe(400);
    expect(body).toMatchObject({ status: 400, title: "Bad request" });
  });
});
