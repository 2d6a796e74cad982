import type { FastifyBaseLogger } from "fastify";
import { describe, expect, it, vi } from "vitest";
import { createLogger, runWithContext } from "../../src/core/logging/index.js";
import { RequestLogger } from "../../src/core/logging/request-logger.js";
import { testConfig } from "../helpers/config.js";

/** The kit's root logger at `level`, its JSON lines parsed into `lines`. */
function rootLogger(level: string) {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const logger = createLogger(testConfig({ LOG_LEVEL: level, LOG_PRETTY: "false" }), {
    write: (line: string) => {
      raw.push(line);
      lines.push(JSON.parse(line));
    },
  });
  const child = vi.spyOn(logger, "child");
  return { logger, lines, raw, child };
}

const requestLogger = (parent: FastifyBaseLogger, options = {}) =>
  new RequestLogger(parent, { requestId: "req-1" }, options);

describe("the request logger (request.log)", () => {
  it("makes no pino child for lines its level leaves out", () => {
    const { logger, lines, child } = rootLogger("warn");
    const log = requestLogger(logger);
    log.info({ marker: "a" }, "left out");
    log.debug("left out");
    log.trace("left out");
    expect(log.isLevelEnabled("info")).toBe(false);
    expect(log.isLevelEnabled("warn")).toBe(true);
    expect(child).not.toHaveBeenCalled();
    expect(lines).toHaveLength(0);
    expect(log.level).toBe("warn");
  });

  it("makes one child at its first line, with the request's bindings, and reuses it", () => {
    const { logger, lines, child } = rootLogger("info");
    const log = requestLogger(logger);
    log.info({ marker: "first" }, "one");
    log.error({ marker: "second" }, "two");
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: "info", requestId: "req-1", marker: "first" });
    expect(lines[1]).toMatchObject({ level: "error", requestId: "req-1", marker: "second" });
  });

  it("writes the request id once inside the request's context", () => {
    const { logger, lines, raw } = rootLogger("info");
    runWithContext({ requestId: "req-1", ip: "127.0.0.1", tenantId: "t-1" }, () => {
      requestLogger(logger).info("inside");
    });
    expect(lines[0]).toMatchObject({ requestId: "req-1", tenantId: "t-1" });
    expect(raw[0]?.match(/"requestId"/g)).toHaveLength(1);
  });

  it("writes every level the parent keeps, through the same methods as pino", () => {
    const { logger, lines } = rootLogger("trace");
    const log = requestLogger(logger);
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    log.fatal("f");
    log.silent("s");
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      ["trace", "t"],
      ["debug", "d"],
      ["info", "i"],
      ["warn", "w"],
      ["error", "e"],
      ["fatal", "f"],
    ]);
  });

  it("keeps the redaction of the root logger", () => {
    const { logger, lines } = rootLogger("info");
    requestLogger(logger).info({ password: "hunter2", user: { token: "t-1" } }, "oops");
    expect(lines[0]).toMatchObject({ password: "[redacted]", user: { token: "[redacted]" } });
    expect(JSON.stringify(lines[0])).not.toContain("hunter2");
  });

  it("lets a route's own level decide over the parent's", () => {
    const { logger, lines } = rootLogger("warn");
    const log = requestLogger(logger, { level: "debug" });
    expect(log.level).toBe("debug");
    expect(log.isLevelEnabled("debug")).toBe(true);
    log.debug({ marker: "route-debug" }, "kept");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "debug", requestId: "req-1", marker: "route-debug" });
  });

  it("changes only its own level, and keeps lines of the new level", () => {
    const { logger, lines } = rootLogger("warn");
    const log = requestLogger(logger);
    log.level = "debug";
    log.debug("now kept");
    expect(log.level).toBe("debug");
    expect(logger.level).toBe("warn");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ requestId: "req-1", msg: "now kept" });
  });

  it("gives its children the request's bindings and their own", () => {
    const { logger, lines } = rootLogger("info");
    requestLogger(logger).child({ job: "send-email" }).info("from a child");
    expect(lines[0]).toMatchObject({ requestId: "req-1", job: "send-email", msg: "from a child" });
  });
});
