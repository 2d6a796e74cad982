import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../../config.js";
import type { AuditLog } from "../../core/audit/index.js";
import type { SessionGuard, TokenService } from "../../core/auth/index.js";
import {
  type Database,
  type Db,
  isUniqueViolation,
  type SessionRow,
  type UserRow,
} from "../../core/database/index.js";
import { AppError, conflict, notFound, unauthorized } from "../../core/errors/index.js";
import type { Principal } from "../../core/http/access.js";
import type { Jobs } from "../../core/jobs/index.js";
import type { SendEmailJob } from "../../core/mail/index.js";
import { expandGrants } from "../../core/permissions/index.js";
import { rolesSystemRepository } from "../rbac/index.js";
import {
  membershipsSystemRepository,
  toUserResponse,
  type UserTenant,
  usersSystemRepository,
} from "../users/index.js";
import type { MeResponse } from "./auth.schemas.js";
import type { LoginThrottle } from "./brute-force.js";
import { oneTimeTokensRepository } from "./one-time-tokens.repository.js";
import { createOneTimeTokenMailer } from "./mailed-tokens.js";
import {
  createSuccessorDerivation,
  hashOpaqueToken,
  OPAQUE_TOKEN_PATTERN,
} from "./opaque-tokens.js";
import { hashPassword, needsRehash, verifyPassword } from "./passwords.js";
import { sessionsRepository } from "./sessions.repository.js";
import { type Client, createAccountWithin, createSessionOpener, type SignedIn } from "./sign-in.js";

/** The one answer to every failed sign-in, so none tells which part was wrong. */
const INVALID_CREDENTIALS = "The email or password is incorrect.";
const SESSION_ENDED = "The session has ended; sign in again.";

export interface AuthServiceOptions {
  config: Config;
  database: Database;
  tokens: TokenService;
  sessions: SessionGuard;
  jobs: Jobs;
  sendEmail: SendEmailJob;
  throttle: LoginThrottle;
  audit: AuditLog;
  logger: FastifyBaseLogger;
}

/** The outcome of a refresh, decided inside its transaction and acted on after the commit. */
type Rotation =
  | {
      kind: "rotated";
      session: SessionRow;
      user: UserRow;
      tenant: UserTenant | null;
      token: string;
    }
  | { kind: "refused" }
  | { kind: "reused"; session: SessionRow };

export function createAuthService(options: AuthServiceOptions) {
  const { config, database, tokens, sessions, jobs, sendEmail, throttle, audit, logger } = options;
  const successorOf = createSuccessorDerivation(config.secretKey);
  const graceMs = config.sessions.refreshGraceSeconds * 1000;
  const opener = createSessionOpener({ config, database, tokens, audit });
  const { refreshExpiry, tokenResponse, openSession } = opener;

  const mailOneTimeToken = createOneTimeTokenMailer({ config, jobs, sendEmail });

  /**
   * Rotates the refresh token `raw`, inside `db`'s transaction. The live token gets a
   * successor derived from it; a token rotated within the grace window gets that same
   * successor again (two tabs refreshing at once); an older rotated token is a replay.
   */
  async function rotate(db: Db, raw: string, switchTo?: string): Promise<Rotation> {
    if (!OPAQUE_TOKEN_PATTERN.test(raw)) return { kind: "refused" };
    const repository = sessionsRepository(db);
    const found = await repository.lockRefreshToken(hashOpaqueToken(raw));
    if (!found) return { kind: "refused" };
    const { token, session } = found;
    const now = new Date();
    if (session.revokedAt || session.expiresAt <= now) return { kind: "refused" };

    const successor = successorOf(raw);
    if (token.rotatedAt) {
      const withinGrace = now.getTime() - token.rotatedAt.getTime() <= graceMs;
      const next = withinGrace
        ? await repository.findRefreshToken(hashOpaqueToken(successor))
        : undefined;
      if (!next || next.rotatedAt) {
        await repository.revoke(session.id, "refresh-token-reuse");
        return { kind: "reused", session };
      }
    } else {
      if (token.expiresAt <= now) return { kind: "refused" };
      await repository.markRotated(token.id, now);
      await repository.addRefreshToken({
        sessionId: session.id,
        tokenHash: hashOpaqueToken(successor),
        expiresAt: refreshExpiry(session, now),
      });
    }

    const user = await usersSystemRepository(db).findById(session.userId);
    if (!user?.isActive) return { kind: "refused" };
    const memberships = membershipsSystemRepository(db);
    const wanted = switchTo ?? session.currentTenantId;
    let tenant = wanted ? await memberships.tenantOf(user.id, wanted) : undefined;
    if (!tenant && switchTo) throw notFound("You are not a member of this tenant.");
    // Removed from the session's tenant since, or it was deleted: continue in another of the
    // user's tenants, or without a tenant when none is left.
    tenant ??= (await memberships.tenantsOf(user.id))[0];
    await repository.touch(session.id, {
      expiresAt: refreshExpiry(session, now),
      currentTenantId: tenant?.id ?? null,
      ip: session.ip,
    });
    if (tenant && tenant.id !== user.lastTenantId) {
      await usersSystemRepository(db).setLastTenant(user.id, tenant.id);
    }
    return { kind: "rotated", session, user, tenant: tenant ?? null, token: successor };
  }

  /** Acts on a rotation after its transaction committed. */
  async function afterRotation(rotation: Rotation): Promise<SignedIn> {
    if (rotation.kind === "reused") {
      logger.warn(
        {
          event: "refresh-token-reuse",
          sessionId: rotation.session.id,
          userId: rotation.session.userId,
        },
        "security: a rotated refresh token was presented again; the session is revoked",
      );
      await sessions.revoke({ sessionId: rotation.session.id });
      // A session without a tenant has no audit log to record in; the warning above stays.
      if (rotation.session.currentTenantId) {
        await audit.record({
          tenantId: rotation.session.currentTenantId,
          actorId: rotation.session.userId,
          action: "auth.refresh_token_reused",
          resourceType: "session",
          resourceId: rotation.session.id,
          metadata: { sessionCreatedAt: rotation.session.createdAt.toISOString() },
        });
      }
      throw unauthorized(SESSION_ENDED);
    }
    if (rotation.kind === "refused") throw unauthorized(SESSION_ENDED);
    return {
      response: await tokenResponse(rotation.user, rotation.tenant, rotation.session.id),
      refreshToken: rotation.token,
    };
  }

  async function revokeUserSessions(userId: string, reason: string, keep?: string) {
    await database.bypassTenantIsolation(reason, (db) =>
      sessionsRepository(db).revokeAllOf(userId, reason, keep),
    );
    await sessions.revoke({ userId });
  }

  return {
    async register(
      input: { email: string; password: string; name: string; tenantName: string },
      client: Client,
    ): Promise<SignedIn> {
      const passwordHash = await hashPassword(input.password);
      try {
        const { user, tenant, refreshToken, sessionId } = await database.bypassTenantIsolation(
          "registration",
          async (db) => {
            if (await usersSystemRepository(db).findByEmail(input.email)) {
              throw conflict("An account with this email already exists.");
            }
            const { user, tenant } = await createAccountWithin(db, {
              ...input,
              passwordHash,
              emailVerifiedAt: null,
            });
            const { session, refreshToken } = await openSession(db, user, tenant, client);
            await mailOneTimeToken(db, user, "email-verification");
            return { user, tenant, refreshToken, sessionId: session.id };
          },
        );
        return { response: await tokenResponse(user, tenant, sessionId), refreshToken };
      } catch (error) {
        // Two registrations racing for one email: the unique index decides.
        if (isUniqueViolation(error)) {
          throw conflict("An account with this email already exists.");
        }
        throw error;
      }
    },

    async login(
      input: { email: string; password: string; tenantId?: string | undefined },
      client: Client,
    ): Promise<SignedIn> {
      const attempt = await throttle.attempt(input.email, client.ip);
      const user = await database.bypassTenantIsolation("sign-in", (db) =>
        usersSystemRepository(db).findByEmail(input.email),
      );
      // Always one argon2 verification, against a dummy hash for an unknown email.
      const matches = await verifyPassword(user?.passwordHash ?? null, input.password);
      if (!user || !matches || !user.isActive) throw unauthorized(INVALID_CREDENTIALS);
      await throttle.succeeded(input.email, client.ip, attempt);
      if (user.passwordHash && needsRehash(user.passwordHash)) {
        const rehash = await hashPassword(input.password);
        await database.bypassTenantIsolation("password rehash", (db) =>
          usersSystemRepository(db).setPasswordHash(user.id, rehash),
        );
      }
      return opener.signIn(user, client, { tenantId: input.tenantId, method: "password" });
    },

    async refresh(raw: string | undefined): Promise<SignedIn> {
      if (!raw) throw unauthorized("No refresh token was sent.");
      const rotation = await database.bypassTenantIsolation("token refresh", (db) =>
        rotate(db, raw),
      );
      return afterRotation(rotation);
    },

    /**
     * A token for another of the user's tenants. With the session's live refresh cookie the
     * cookie rotates too; without it (API clients using only bearer tokens) the session
     * simply moves to the tenant and its refresh token stays.
     */
    async switchTenant(principal: Principal, tenantId: string, raw: string | undefined) {
      const rotation = await database.bypassTenantIsolation("tenant switch", async (db) => {
        if (raw && OPAQUE_TOKEN_PATTERN.test(raw)) {
          const current = await sessionsRepository(db).findRefreshToken(hashOpaqueToken(raw));
          if (current?.sessionId === principal.sessionId && !current.rotatedAt) {
            return rotate(db, raw, tenantId);
          }
        }
        const user = await usersSystemRepository(db).findById(principal.userId);
        const tenant = await membershipsSystemRepository(db).tenantOf(principal.userId, tenantId);
        if (!user || !tenant) throw notFound("You are not a member of this tenant.");
        const session = await sessionsRepository(db).find(principal.sessionId);
        if (!session) return { kind: "refused" } as const;
        await sessionsRepository(db).touch(session.id, {
          expiresAt: session.expiresAt,
          currentTenantId: tenant.id,
          ip: session.ip,
        });
        await usersSystemRepository(db).setLastTenant(user.id, tenant.id);
        return { kind: "moved", user, tenant, session } as const;
      });
      if (rotation.kind === "moved") {
        return {
          response: await tokenResponse(rotation.user, rotation.tenant, rotation.session.id),
          refreshToken: undefined,
        };
      }
      return afterRotation(rotation);
    },

    /** Ends the session of a refresh token or of an access token; unknown ones are ignored. */
    async logout(target: { sessionId: string } | { refreshToken: string }): Promise<void> {
      const ended = await database.bypassTenantIsolation("sign-out", async (db) => {
        const repository = sessionsRepository(db);
        let id: string | undefined;
        if ("sessionId" in target) {
          id = target.sessionId;
        } else if (OPAQUE_TOKEN_PATTERN.test(target.refreshToken)) {
          id = (await repository.findRefreshToken(hashOpaqueToken(target.refreshToken)))?.sessionId;
        }
        return id ? repository.revoke(id, "logout") : undefined;
      });
      if (!ended) return;
      await sessions.revoke({ sessionId: ended.id });
      if (!ended.tenantId) return;
      await audit.record({
        tenantId: ended.tenantId,
        actorId: ended.userId,
        action: "auth.logout",
        resourceType: "session",
        resourceId: ended.id,
      });
    },

    async logoutAll(principal: Principal): Promise<void> {
      await revokeUserSessions(principal.userId, "logout-all");
    },

    async me(principal: Principal): Promise<MeResponse> {
      return database.bypassTenantIsolation(
        "current user",
        async (db) => {
          const user = await usersSystemRepository(db).findById(principal.userId);
          const tenants = await membershipsSystemRepository(db).tenantsOf(principal.userId);
          // A token without a tenant is for a user who has none active (memberships: []).
          const tenant =
            principal.tenantId === null
              ? null
              : tenants.find((candidate) => candidate.id === principal.tenantId);
          if (!user || tenant === undefined) throw unauthorized(SESSION_ENDED);
          const access = await rolesSystemRepository(db).ofMember(
            principal.userId,
            tenants.map((each) => each.id),
          );
          const summary = (each: UserTenant) => ({ id: each.id, name: each.name, slug: each.slug });
          const roleNames = (tenantId: string) =>
            (access.get(tenantId)?.roles ?? []).map((role) => role.name);
          return {
            user: toUserResponse(user),
            tenant: tenant && summary(tenant),
            roles: tenant ? roleNames(tenant.id) : [],
            permissions: tenant ? expandGrants(access.get(tenant.id)?.grants ?? []) : [],
            memberships: tenants.map((membership) => ({
              tenant: summary(membership),
              roles: roleNames(membership.id),
            })),
          };
        },
        { logLevel: "debug" },
      );
    },

    /**
     * Mails a reset link when the email belongs to an active account, and does nothing
     * otherwise. The route answers before this runs, so its timing tells nothing.
     */
    async requestPasswordReset(email: string): Promise<void> {
      await database.bypassTenantIsolation("password reset request", async (db) => {
        const user = await usersSystemRepository(db).findByEmail(email);
        if (user?.isActive) await mailOneTimeToken(db, user, "password-reset");
      });
    },

    async resetPassword(token: string, password: string, client: Client): Promise<void> {
      const passwordHash = await hashPassword(password);
      const user = await database.bypassTenantIsolation("password reset", async (db) => {
        const used = OPAQUE_TOKEN_PATTERN.test(token)
          ? await oneTimeTokensRepository(db).consume(hashOpaqueToken(token), "password-reset")
          : undefined;
        if (!used) return undefined;
        const users = usersSystemRepository(db);
        await users.setPasswordHash(used.userId, passwordHash);
        await sessionsRepository(db).revokeAllOf(used.userId, "password-reset");
        return users.findById(used.userId);
      });
      if (!user) {
        throw new AppError("bad-request", "The reset link is invalid, used or expired.");
      }
      await sessions.revoke({ userId: user.id });
      // Whoever opened the mailed link may sign in from here even during an attack.
      await throttle.trust(user.email, client.ip);
    },

    async changePassword(principal: Principal, current: string, next: string): Promise<void> {
      const user = await database.bypassTenantIsolation("password change", (db) =>
        usersSystemRepository(db).findById(principal.userId),
      );
      if (!user || !(await verifyPassword(user.passwordHash, current))) {
        throw new AppError("validation-failed", "The current password is incorrect.", {
          errors: [{ field: "currentPassword", message: "is incorrect" }],
        });
      }
      const passwordHash = await hashPassword(next);
      await database.bypassTenantIsolation("password change", (db) =>
        usersSystemRepository(db).setPasswordHash(user.id, passwordHash),
      );
      await revokeUserSessions(user.id, "password-change", principal.sessionId);
    },

    async verifyEmail(token: string): Promise<void> {
      const verified = await database.bypassTenantIsolation("email verification", async (db) => {
        const used = OPAQUE_TOKEN_PATTERN.test(token)
          ? await oneTimeTokensRepository(db).consume(hashOpaqueToken(token), "email-verification")
          : undefined;
        return used?.email
          ? usersSystemRepository(db).markEmailVerified(used.userId, used.email)
          : false;
      });
      if (!verified) {
        throw new AppError("bad-request", "The verification link is invalid, used or expired.");
      }
    },

    async resendVerification(principal: Principal): Promise<void> {
      await database.bypassTenantIsolation("email verification request", async (db) => {
        const user = await usersSystemRepository(db).findById(principal.userId);
        if (user && !user.emailVerifiedAt) await mailOneTimeToken(db, user, "email-verification");
      });
    },

    /** Deactivates a user: every session ends and every token stops working at once. */
    async deactivateUser(userId: string): Promise<boolean> {
      const found = await database.bypassTenantIsolation("user deactivation", async (db) => {
        const changed = await usersSystemRepository(db).setActive(userId, false);
        if (changed) await sessionsRepository(db).revokeAllOf(userId, "deactivated");
        return changed;
      });
      await sessions.revoke({ userId });
      return found;
    },

    /** Removes a member from a tenant: their tokens for that tenant stop working at once. */
    async removeMembership(tenantId: string, userId: string): Promise<boolean> {
      const removed = await database.bypassTenantIsolation("membership removal", (db) =>
        membershipsSystemRepository(db).remove(userId, tenantId),
      );
      await sessions.revoke({ userId, tenantId });
      return removed;
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
