import type { FastifyPluginAsync } from "fastify";
import type { Config } from "../../config.js";
import type { AuditLog } from "../audit/index.js";
import type { SessionGuard, TokenService } from "../auth/index.js";
import type { Cache, OneTimeStore } from "../cache/index.js";
import type { Database } from "../database/index.js";
import type { Jobs } from "../jobs/index.js";
import type { SendEmailJob } from "../mail/index.js";
import type { PermissionDeclarations } from "../permissions/index.js";
import type { LimiterFactory } from "../rate-limit/index.js";

/** What feature modules are given: their collaborators, passed explicitly. */
export interface ModuleDependencies {
  readonly config: Config;
  readonly database: Database;
  readonly tokens: TokenService;
  /** Ends access at once: call `revoke` after a change that ends a session or membership. */
  readonly sessions: SessionGuard;
  /** Appends events to the tenant's audit log (row changes are recorded by triggers). */
  readonly audit: AuditLog;
  /** Counters in the rate-limit store, for limits a route declaration cannot express. */
  readonly limiters: LimiterFactory;
  readonly cache: Cache;
  /** Values read at most once within a time limit (OAuth sign-in state). */
  readonly oneTime: OneTimeStore;
  readonly jobs: Jobs;
  /** Enqueue with `jobs.enqueue(sendEmail, { to, template, data })`. */
  readonly sendEmail: SendEmailJob;
}

/**
 * A feature module: a Fastify plugin mounted under /api/v1, carrying what it owns besides its
 * routes (see docs/adding-a-module.md). A plain plugin is a module that declares nothing.
 */
export type AppModule = FastifyPluginAsync<ModuleDependencies> & {
  /** The module's permissions and their default-role grants (`definePermissions`). */
  readonly permissions?: PermissionDeclarations;
};

/**
 * A module with its declarations attached, typed exactly, so the module list can assemble the
 * permission catalog from it (src/modules.ts).
 */
export function defineModule<const P extends PermissionDeclarations>(
  plugin: FastifyPluginAsync<ModuleDependencies>,
  declarations: { readonly permissions: P },
): FastifyPluginAsync<ModuleDependencies> & { readonly permissions: P } {
  return Object.assign(plugin, { permissions: declarations.permissions });
}
