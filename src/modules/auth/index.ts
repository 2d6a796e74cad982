import type { AppModule } from "../../core/http/module.js";
import type { ExpiredRowsCleanup } from "../../core/jobs/index.js";
import { authRoutes } from "./auth.routes.js";
import { createAuthService } from "./auth.service.js";
import { createLoginThrottle } from "./brute-force.js";
import { oneTimeTokensRepository } from "./one-time-tokens.repository.js";
import { sessionsRepository } from "./sessions.repository.js";

export { refreshCookieSet, tokenResponseSchema } from "./auth.schemas.js";
export { type AuthService, createAuthService } from "./auth.service.js";
export { createLoginThrottle } from "./brute-force.js";
export { cookiesAreSecure, refreshCookie } from "./cookies.js";
export { createOneTimeTokenMailer, type OneTimeTokenMailer } from "./mailed-tokens.js";
export { hashOpaqueToken, newOpaqueToken, OPAQUE_TOKEN_PATTERN } from "./opaque-tokens.js";
export { hashPassword } from "./passwords.js";
export {
  type Client,
  clientOf,
  createAccountWithin,
  createSessionOpener,
  type SessionOpener,
  type SignedIn,
} from "./sign-in.js";

/** Ended sessions and used tokens are kept this long (for investigating incidents). */
const ENDED_RETENTION_DAYS = 7;
const cutoff = (now: Date) => new Date(now.getTime() - ENDED_RETENTION_DAYS * 86_400_000);

/** What the daily cleanup deletes for this module. */
export const authCleanups: readonly ExpiredRowsCleanup[] = [
  {
    name: "ended sessions",
    run: (db, now) => sessionsRepository(db).deleteEndedBefore(cutoff(now)),
  },
  {
    name: "expired refresh tokens",
    run: (db, now) => sessionsRepository(db).deleteRefreshTokensExpiredBefore(now),
  },
  {
    name: "expired one-time tokens",
    run: (db, now) => oneTimeTokensRepository(db).deleteEndedBefore(cutoff(now)),
  },
];

/** Sign-up, sign-in, sessions, password and email flows under /auth. */
export const authModule: AppModule = async (app, dependencies) => {
  const auth = createAuthService({
    ...dependencies,
    throttle: createLoginThrottle(dependencies.limiters),
    logger: app.log,
  });
  await app.register(authRoutes, {
    auth,
    config: dependencies.config,
    tokens: dependencies.tokens,
    limiters: dependencies.limiters,
  });
};
