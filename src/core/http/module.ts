import type { FastifyPluginAsync } from "fastify";
import type { Config } from "../../config.js";
import type { TokenService } from "../auth/index.js";
import type { Cache } from "../cache/index.js";
import type { Database } from "../database/index.js";
import type { Jobs } from "../jobs/index.js";
import type { SendEmailJob } from "../mail/index.js";

/** What feature modules are given: their collaborators, passed explicitly. */
export interface ModuleDependencies {
  readonly config: Config;
  readonly database: Database;
  readonly tokens: TokenService;
  readonly cache: Cache;
  readonly jobs: Jobs;
  /** Enqueue with `jobs.enqueue(sendEmail, { to, template, data })`. */
  readonly sendEmail: SendEmailJob;
}

/** A feature module: a Fastify plugin mounted under /api/v1 (see docs/adding-a-module.md). */
export type AppModule = FastifyPluginAsync<ModuleDependencies>;
