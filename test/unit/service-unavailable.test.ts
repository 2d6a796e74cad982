import { describe, expect, it } from "vitest";
import { isServiceUnavailable } from "../../src/core/errors/unavailable.js";

const withCode = (code: string, message = "failed") => Object.assign(new Error(message), { code });

describe("isServiceUnavailable", () => {
  it.each([
    [
      "an administrator shutdown (57P01)",
      withCode("57P01", "terminating connection due to administrator command"),
    ],
    ["a crash shutdown (57P02)", withCode("57P02")],
    ["a server still starting (57P03)", withCode("57P03", "the database system is starting up")],
    ["too many connections (53300)", withCode("53300")],
    ["a connection exception (08006)", withCode("08006")],
    ["a refused connection", withCode("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432")],
    ["a reset connection", withCode("ECONNRESET")],
    ["a dropped connection", new Error("Connection terminated unexpectedly")],
    ["a pool that could not connect in time", new Error("timeout exceeded when trying to connect")],
    [
      "Redis unreachable (ioredis without an offline queue)",
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
    ],
    ["a Redis connection closed", new Error("Connection is closed.")],
    ["a pipelined read never answered", new Error("Query read timeout")],
    ["a Redis command past its timeout", new Error("Command timed out")],
    [
      "a driver error wrapped by the query builder",
      Object.assign(new Error("Failed query: select 1"), { cause: withCode("57P01") }),
    ],
  ])("is true for %s", (_name, error) => {
    expect(isServiceUnavailable(error)).toBe(true);
  });

  it.each([
    ["a unique violation", withCode("23505")],
    ["a data exception", withCode("22021")],
    ["a syntax error", withCode("42601")],
    ["a plain error", new Error("boom")],
    ["no error at all", undefined],
    ["a string", "ECONNREFUSED"],
  ])("is false for %s", (_name, error) => {
    expect(isServiceUnavailable(error)).toBe(false);
  });
});
