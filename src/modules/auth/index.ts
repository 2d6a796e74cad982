import type { FastifyBaseLogger } from "fastify";
import type { AppModule, ModuleDependencies } from "../../core/http/module.js";
import { createRolesService } from "../rbac/index.js";
import { createTenantsService } from "../tenants/index.js";
import { createUsersService } from "../users/index.js";
import { createAccountAudit } from "./account-audit.js";
import { createAccountsService } from "./accounts.service.js";
import { authRoutes } from "./auth.routes.js";
import { createLoginThrottle, type LoginThrottle } from "./brute-force.js";
import { createEmailVerificationService } from "./email-verification.service.js";
import { createFailedSignInLog } from "./failed-sign-ins.js";
import { createOneTimeTokenMailer } from "./mailed-tokens.js";
import { createPasswordsService } from "./passwords.service.js";
import { createRefreshRotation } from "./refresh-rotation.js";
import { createSessionsService } from "./sessions.service.js";
import { createAccountCreator, createSessionOpener } from "./sign-in.js";

export { refreshCookieSet, tokenResponseSchema } from "./auth.schemas.js";
export { createLoginThrottle } from "./brute-force.js";
export { authCleanups } from "./cleanups.js";
export { cookiesAreSecure, refreshCookie } from "./cookies.js";
export type { OneTimeTokenMailer } from "./mailed-tokens.js";
export { hashOpaqueToken, newOpaqueToken, OPAQUE_TOKEN_PATTERN } from "./opaque-tokens.js";
export { hashPassword } from "./passwords.js";
export {
  type AccountCreator,
  type Client,
  clientOf,
  type SessionOpener,
  type SignedIn,
} from "./sign-in.js";

type SignInDependencies = Pick<
  ModuleDependencies,
  "config" | "database" | "tokens" | "audit" | "jobs" | "sendEmail"
>;

/**
 * What every way of signing in shares, password or OAuth: the users service, opening a
 * session, creating an account with its own tenant, and the mailed links.
 */
export function createSignInSteps(dependencies: SignInDependencies) {
  const users = createUsersService(dependencies);
  const tenants = createTenantsService({ database: dependencies.database });
  return {
    users,
    opener: createSessionOpener({ ...dependencies, users }),
    createAccountWithin: createAccountCreator({ users, tenants }),
    mailOneTimeToken: createOneTimeTokenMailer(dependencies),
  };
}

/**
 * The auth use cases, each built once with what it needs; the routes call them with the
 * request's values.
 */
export function createAuthUseCases(
  dependencies: SignInDependencies &
    Pick<ModuleDependencies, "sessions"> & { throttle: LoginThrottle; logger: FastifyBaseLogger },
) {
  const steps = createSignInSteps(dependencies);
  const shared = { ...dependencies, ...steps };
  const recordForAccount = createAccountAudit(shared);
  const noteFailedSignIn = createFailedSignInLog({ ...shared, recordForAccount });
  const rotation = createRefreshRotation(shared);
  return {
    sessions: createSessionsService({ ...shared, rotation, noteFailedSignIn, recordForAccount }),
    passwords: createPasswordsService({ ...shared, recordForAccount }),
    emailVerification: createEmailVerificationService({ ...shared, recordForAccount }),
    accounts: createAccountsService({ ...shared, roles: createRolesService() }),
  };
}

/** Sign-up, sign-in, sessions, password and email flows under /auth. */
export const authModule: AppModule = async (app, dependencies) => {
  const useCases = createAuthUseCases({
    ...dependencies,
    throttle: createLoginThrottle(dependencies.limiters),
    logger: app.log,
  });
  await app.register(authRoutes, {
    ...useCases,
    config: dependencies.config,
    tokens: dependencies.tokens,
    limiters: dependencies.limiters,
  });
};
