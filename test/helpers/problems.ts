import type { LightMyRequestResponse } from "fastify";
import { expect } from "vitest";
import { type ProblemCode, problemCatalog } from "../../src/core/errors/index.js";
import { testConfig } from "./app.js";

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  errors?: { field: string; message: string }[];
  traceId: string;
}

/** The problem type base URL of an app built by buildTestApp with these variables. */
export const problemTypeBaseUrl = (env: Record<string, string | undefined> = {}) =>
  testConfig(env).problemTypeBaseUrl;

/**
 * Asserts that a response is an RFC 9457 problem of the given catalog code, with exactly the
 * documented keys, and returns its body.
 */
export function expectProblem(
  response: LightMyRequestResponse,
  code: ProblemCode,
  options: { instance?: string; typeBaseUrl?: string } = {},
): ProblemBody {
  const { status, title } = problemCatalog[code];
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
  const body = response.json<ProblemBody>();
  const allowedKeys = ["type", "title", "status", "detail", "instance", "errors", "traceId"];
  for (const key of Object.keys(body)) expect(allowedKeys).toContain(key);
  expect(body).toMatchObject({
    type: `${options.typeBaseUrl ?? problemTypeBaseUrl()}/${code}`,
    title,
    status,
    detail: expect.any(String),
    instance: expect.any(String),
    traceId: expect.any(String),
  });
  expect(body.detail.length).toBeGreaterThan(0);
  expect(body.traceId.length).toBeGreaterThan(0);
  if (options.instance !== undefined) expect(body.instance).toBe(options.instance);
  return body;
}
