import type { FastifyInstance } from "fastify";
import type { DestinationStream } from "pino";
import { type AppModule, createApp } from "../../src/app.js";
import { testConfig } from "./app.js";

/** One parsed JSON log line. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

/** A pino destination that keeps every line in memory, for tests that read the logs. */
export class LogCapture implements DestinationStream {
  readonly lines: LogLine[] = [];

  write(line: string): void {
    for (const part of line.split("\n")) {
      if (part.trim() !== "") this.lines.push(JSON.parse(part) as LogLine);
    }
  }

  /** Lines whose fields match every given value. */
  matching(fields: Record<string, unknown>): LogLine[] {
    return this.lines.filter((line) =>
      Object.entries(fields).every(([key, value]) => line[key] === value),
    );
  }

  clear(): void {
    this.lines.length = 0;
  }
}

/** Builds an app whose JSON log lines (level info and up by default) land in a LogCapture. */
export async function buildLoggedTestApp(
  env: Record<string, string | undefined> = {},
  modules: readonly AppModule[] = [],
): Promise<{ app: FastifyInstance; logs: LogCapture }> {
  const logs = new LogCapture();
  const app = await createApp(testConfig({ LOG_LEVEL: "info", ...env }), {
    modules,
    logStream: logs,
  });
  return { app, logs };
}
