import { existsSync } from "node:fs";
import { ConfigError, loadConfig } from "./config.js";
import { startServer } from "./server.js";

// A local .env fills in what the real environment leaves unset; it never overrides it.
if (existsSync(".env")) process.loadEnvFile(".env");

try {
  await startServer(loadConfig(process.env));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(78); // EX_CONFIG: refuse to start rather than run misconfigured
  }
  throw error;
}
