import type { FastifyBaseLogger } from "fastify";
import { type DestinationStream, type LoggerOptions, pino } from "pino";
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

function loggerOptions(config: Config, pretty: boolean, service: string): LoggerOptions {
  return {
    level: config.logLevel,
    base: { service, environment: config.environment },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    mixin: contextLogFields,
    formatters: { level: (label) => ({ level: label }) },
    ...(pretty
      ? {
          transport: {
            target: "pino-pretty",
            options: { translateTime: "HH:MM:ss.l", ignore: "pid,hostname,service,environment" },
          },
        }
      : {}),
  };
}

/** The root logger; JSON to `stream` when given (tests), else to stdout, pretty in development. */
export function createLogger(
  config: Config,
  stream?: DestinationStream,
  service: "api" | "worker" | "cli" = "api",
): FastifyBaseLogger {
  if (stream) return pino(loggerOptions(config, false, service), stream);
  return pino(loggerOptions(config, config.logPretty, service));
}
