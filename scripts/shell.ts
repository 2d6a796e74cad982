/**
 * A Node REPL on the kit as the API composes it (`npm run shell`): the configuration, the
 * application built by createApp (not listening), what every module receives (the database,
 * the cache, the job queue, the token service, ...), the Redis client, and each module's exports.
 * The shell builds the API's services (createInfrastructure, src/infrastructure.ts) and hands
 * them to createApp, so it holds the very objects the routes use.
 *
 * Leaving (.exit, Ctrl+D, the end of piped input) closes the app and with it those services
 * (database pools, Redis connections, the session guard, the mailer); nothing is left to keep
 * the process alive. With the embedded database, the shell holds it like `npm run dev`.
 */
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import repl from "node:repl";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import packageJson from "../package.json" with { type: "json" };
import { createApp } from "../src/app.js";
import { loadProcessConfig } from "../src/config.js";
import { createLogger } from "../src/core/logging/index.js";
import { createInfrastructure, moduleDependencies } from "../src/infrastructure.js";

const root = fileURLToPath(new URL("..", import.meta.url));
// Warnings and errors only: the REPL is the conversation.
const config = loadProcessConfig({ LOG_LEVEL: "warn" });

const logger = createLogger(config, undefined, "cli");
const infrastructure = await createInfrastructure(config, { role: "api", logger });
const app = await createApp(config, { infrastructure });
const { redis } = infrastructure;

/** Each feature module's exports, by folder: modules.rbac.rbacModule, modules.auth.hashPassword. */
const modules: Record<string, Record<string, unknown>> = {};
for (const entry of readdirSync(join(root, "src/modules"), { withFileTypes: true })) {
  if (!entry.isDirectory()) continue;
  modules[entry.name] = await import(join(root, "src/modules", entry.name, "index.ts"));
}

/** Where a service lives, without the login's password. */
function address(url: string | undefined, fallback: string): string {
  if (!url) return fallback;
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
}

const banner = `${packageJson.name} ${packageJson.version} shell (${config.environment})
  database: ${address(config.databaseUrl, `embedded PGlite in ${config.pgliteDataDir}`)}
  redis:    ${address(config.redisUrl, "none (REDIS_URL is not set)")}

  config      the loaded configuration
  app         the application, not listening: (await app.inject({ url: "/health/ready" })).json()
  database    await database.run(sql\`select now()\`)
              await database.forTenant({ tenantId }).transaction((tx) => ...)
              await database.bypassTenantIsolation("why", (tx) => tx.execute(sql\`...\`))
  redis       await redis.ping()   (undefined without REDIS_URL)
  cache, jobs, tokens, sessions, audit, limiters, oneTime, sendEmail: what every module receives
  modules     each module's exports: modules.rbac.rbacModule, modules.auth.hashPassword
  sql         drizzle's sql template
  await works at the prompt; .help lists the REPL's commands; .exit or Ctrl+D closes and quits.
`;
console.log(banner);

// Piped input (a script, a test) is handed to the REPL one line at a time, each once the one
// before has run to its end, which the REPL marks by showing its prompt again (after a result,
// after an error, or after a line that asks for more): its lines then run in order, and the
// end of the input, which exits the REPL, comes after the last line has finished.
const piped = !process.stdin.isTTY;
const input = piped ? new PassThrough() : process.stdin;
const server = repl.start({
  prompt: "kit> ",
  input,
  output: process.stdout,
  terminal: !piped && process.stdout.isTTY,
  useGlobal: false,
});
Object.assign(server.context, moduleDependencies(infrastructure), { app, redis, modules, sql });
if (piped) feedLineByLine(server, input as PassThrough);
else {
  mkdirSync(join(root, ".data"), { recursive: true });
  server.setupHistory(join(root, ".data", "shell-history"), (error) => {
    if (error) logger.warn({ err: error }, "the shell's history is not kept");
  });
}

function feedLineByLine(server: repl.REPLServer, input: PassThrough): void {
  const lines: string[] = [];
  let ended = false;
  let idle = true;
  const next = () => {
    if (!idle) return;
    const line = lines.shift();
    if (line !== undefined) {
      idle = false;
      input.write(`${line}\n`);
    } else if (ended) {
      input.end();
    }
  };
  const displayPrompt = server.displayPrompt.bind(server);
  server.displayPrompt = (preserveCursor) => {
    displayPrompt(preserveCursor);
    idle = true;
    next();
  };
  const stdin = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  stdin.on("line", (line) => {
    lines.push(line);
    next();
  });
  stdin.on("close", () => {
    ended = true;
    next();
  });
}

server.on("exit", () => {
  app.close().then(
    () => console.log("closed the app, its database and its Redis connections"),
    (error: unknown) => {
      console.error("closing failed:", error);
      process.exitCode = 1;
    },
  );
});
