import { createRequire } from "node:module";
import type { FastifyBaseLogger } from "fastify";
import { type DestinationStream, type LoggerOptions, pino } from "pino";
import type PinoPretty from "pino-pretty";
import type { Config } from "../../config.js";
import { contextLogFields } from "./request-context.js";

/** Headers and fields that must never reach a log line. */
const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  "password",
  "*.password",
  "token",
  "*.token",
  "accessToken",
  "refreshToken",
  "secret",
  "*.secret",
];

/** The messages of the line each request ends with (core/http/request-context.ts). */
export const REQUEST_COMPLETED = "request completed";
export const REQUEST_FAILED = "request failed";

/** The fields of that line, which the pretty output folds into its message. */
const REQUEST_FIELDS = ["method", "path", "route", "status", "durationMs"] as const;

function loggerOptions(config: Config, service: string): LoggerOptions {
  return {
    level: config.logLevel,
    base: { service, environment: config.environment },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    mixin: contextLogFields,
    formatters: { level: (label) => ({ level: label }) },
  };
}

/**
 * The human-readable output of LOG_PRETTY (development): one line per log line, a request's
 * completion line as `GET /api/v1/items 200 3.1 ms`, other fields as JSON on the same line (an
 * error's stack below it). pino-pretty formats in this thread, where its formatter can be
 * given plain objects; it is loaded only here, so JSON-logging processes never load it.
 */
function prettyDestination(destination: DestinationStream, colorize: boolean): DestinationStream {
  const { prettyFactory } = createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;
  const prettify = prettyFactory({
    colorize,
    singleLine: true,
    translateTime: "HH:MM:ss.l",
    ignore: "pid,hostname,service,environment",
  });
  return {
    write(chunk: string) {
      for (const line of chunk.split("\n")) {
        if (line !== "") destination.write(prettify(requestLine(JSON.parse(line))));
      }
    },
  };
}

/** A request's completion line with its method, path, status and duration as the message. */
function requestLine(log: Record<string, unknown>): Record<string, unknown> {
  if (log.msg !== REQUEST_COMPLETED && log.msg !== REQUEST_FAILED) return log;
  const { method, path, status, durationMs } = log;
  const rest = { ...log };
  for (const field of REQUEST_FIELDS) delete rest[field];
  return { ...rest, msg: `${method} ${path} ${status} ${durationMs} ms` };
}

/**
 * The root logger: JSON lines, or pretty ones with LOG_PRETTY (the development default), to
 * `stream` when given (tests), else to stdout.
 */
export function createLogger(
  config: Config,
  stream?: DestinationStream,
  service: "api" | "worker" | "cli" = "api",
): FastifyBaseLogger {
  const options = loggerOptions(config, service);
  if (config.logPretty) {
    const stdout = stream === undefined;
    const destination = stream ?? pino.destination({ dest: 1, sync: true });
    return pino(options, prettyDestination(destination, stdout && process.stdout.isTTY === true));
  }
  return stream ? pino(options, stream) : pino(options);
}
