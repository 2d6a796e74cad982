import { createHmac } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../../config.js";
import type { AuditEvent, AuditLog } from "../../core/audit/index.js";
import type { SessionGuard, TokenService } from "../../core/auth/index.js";
import {
  type Database,
  isUniqueViolation,
  type SessionRow,
  type SystemTx,
  type UserRow,
} from "../../core/database/index.js";
import { AppError, conflict, notFound, unauthorized } from "../../core/errors/index.js";
import type { Principal } from "../../core/http/access.js";
import type { Jobs } from "../../core/jobs/index.js";
import type { SendEmailJob } from "../../core/mail/index.js";
import { countSignInFailure } from "../../core/observability/kit-metrics.js";
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
import { createOneTimeTokenMailer } from "./mailed-tokens.js";
import { oneTimeTokensRepository } from "./one-time-tokens.repository.js";
import {
  createSuccessorDerivation,
  hashOpaqueToken,
  OPAQUE_TOKEN_PATTERN,
} from "./opaque-tokens.js";
import { hashPassword, type PasswordOwner, passwordWeakness, verifyPassword } from "./passwords.js";
import { sessionsRepository } from "./sessions.repository.js";
import { type Client, createAccountWithin, createSessionOpener, type SignedIn } from "./sign-in.js";

/** The one answer to every failed sign-in, so none tells which part was wrong. */
const INVALID_CREDENTIALS = "The email or password is incorrect.";
const SESSION_ENDED = "The session has ended; sign in again.";

/** Why a sign-in failed, in the security log line and the audit row (`auth.login_failed`). */
type SignInFailure = "unknown-email" | "wrong-password" | "inactive-account" | "locked-out";

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
  async function rotate(db: SystemTx, raw: string, switchTo?: string): Promise<Rotation> {
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
    const ended = await database.bypassTenantIsolation(reason, (db) =>
      sessionsRepository(db).revokeAllOf(userId, reason, keep),
    );
    await sessions.revoke({ userId });
    return ended;
  }

  /**
   * Records an event of the user's account (not of one session) in the audit log of every
   * tenant the user is an active member of: each tenant's admins see what happened to an
   * account that can reach their data, whichever tenant the user was in at the time.
   */
  async function recordForAccount(userId: string, event: Omit<AuditEvent, "tenantId">) {
    const tenants = await database.bypassTenantIsolation(
      "audit: the account's tenants",
      (db) => membershipsSystemRepository(db).tenantsOf(userId),
      { logLevel: "debug" },
    );
    for (const tenant of tenants) await audit.record({ ...event, tenantId: tenant.id });
  }

  /** A new password too easy to guess for its owner answers 422 on `field`, saying why. */
  async function requireStrongPassword(field: string, password: string, owner: PasswordOwner) {
    const weakness = await passwordWeakness(password, owner);
    if (weakness) {
      throw new AppError("validation-failed", `The password is too easy to guess. ${weakness}`, {
        errors: [{ field, message: weakness }],
      });
    }
  }

  /** A keyed hash of an address: one account's lines correlate, and none can be read back. */
  const emailDigest = (email: string) =>
    createHmac("sha256", config.secretKey)
      .update(`sign-in-failure:${email.trim().toLowerCase()}`)
      .digest("base64url")
      .slice(0, 22);

  /**
   * A failed sign-in: a security log line (`event: "login-failed"`, never the password nor the
   * address), and `auth.login_failed` in the audit log of the account's tenants when the
   * account exists. The audit rows are written without being awaited, so that refusing an
   * existing account takes no longer than refusing an unknown address.
   */
  function noteFailedSignIn(email: string, client: Client, reason: SignInFailure, user?: UserRow) {
    countSignInFailure(reason);
    const line = {
      event: "login-failed",
      reason,
      emailHash: emailDigest(email),
      ...(user ? { userId: user.id } : {}),
      ip: client.ip,
    };
    if (reason === "locked-out") logger.warn(line, "security: sign-in refused, too many failures");
    else logger.info(line, "security: sign-in failed");
    const record = async () => {
      // A refused attempt is refused before the account is read: read it now.
      const account =
        user ??
        (reason === "locked-out"
          ? await database.bypassTenantIsolation(
              "failed sign-in",
              (db) => usersSystemRepository(db).findByEmail(email),
              { logLevel: "debug" },
            )
          : undefined);
      if (!account) return;
      await recordForAccount(account.id, {
        action: "auth.login_failed",
        resourceType: "user",
        resourceId: account.id,
        metadata: { reason },
      });
    };
    void record().catch((error: unknown) =>
      logger.error({ err: error }, "a failed sign-in could not be recorded"),
    );
  }

  return {
    async register(
      input: { email: string; password: string; name: string; tenantName: string },
      client: Client,
    ): Promise<SignedIn> {
      await requireStrongPassword("password", input.password, {
        email: input.email,
        name: input.name,
        organisation: input.tenantName,
      });
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
        // Two registrations racing for one email: the unique index decides. Any other
        // duplicate is not about the email and must not be reported as one.
        if (isUniqueViolation(error, "users_email_key")) {
          throw conflict("An account with this email already exists.");
        }
        throw error;
      }
    },

    async login(
      input: { email: string; password: string; tenantId?: string | undefined },
      client: Client,
    ): Promise<SignedIn> {
      const attempt = await throttle.attempt(input.email, client.ip).catch((error: unknown) => {
        if (error instanceof AppError && error.code === "rate-limited") {
          noteFailedSignIn(input.email, client, "locked-out");
        }
        throw error;
      });
      const user = await database.bypassTenantIsolation("sign-in", (db) =>
        usersSystemRepository(db).findByEmail(input.email),
      );
      // Always one argon2 verification, against a dummy hash for an unknown email.
      const { matches, rehash } = await verifyPassword(user?.passwordHash ?? null, input.password);
      if (!user || !matches || !user.isActive) {
        const reason = !user ? "unknown-email" : !matches ? "wrong-password" : "inactive-account";
        noteFailedSignIn(input.email, client, reason, user);
        throw unauthorized(INVALID_CREDENTIALS);
      }
      await throttle.succeeded(input.email, client.ip, attempt);
      if (rehash) {
        const fresh = await hashPassword(input.password);
        await database.bypassTenantIsolation("password rehash", (db) =>
          usersSystemRepository(db).setPasswordHash(user.id, fresh),
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
      const ended = await revokeUserSessions(principal.userId, "logout-all");
      await recordForAccount(principal.userId, {
        action: "auth.logout_all",
        resourceType: "user",
        resourceId: principal.userId,
        actorId: principal.userId,
        metadata: { sessionsEnded: ended },
      });
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

    /**
     * Sets the password with a mailed link. The link is checked first and used only with a
     * password good enough, so a refused password leaves it working; using it retires the
     * user's other reset links and ends every session.
     */
    async resetPassword(token: string, password: string, client: Client): Promise<void> {
      const invalidLink = () =>
        new AppError("bad-request", "The reset link is invalid, used or expired.");
      if (!OPAQUE_TOKEN_PATTERN.test(token)) throw invalidLink();
      const tokenHash = hashOpaqueToken(token);
      const owner = await database.bypassTenantIsolation("password reset", async (db) => {
        const live = await oneTimeTokensRepository(db).findLive(tokenHash, "password-reset");
        return live ? usersSystemRepository(db).findById(live.userId) : undefined;
      });
      if (!owner) throw invalidLink();
      await requireStrongPassword("password", password, owner);
      const passwordHash = await hashPassword(password);
      const sessionsEnded = await database.bypassTenantIsolation("password reset", async (db) => {
        const oneTimeTokens = oneTimeTokensRepository(db);
        const used = await oneTimeTokens.consume(tokenHash, "password-reset");
        if (!used) return undefined;
        await oneTimeTokens.retireUnused(used.userId, "password-reset");
        await usersSystemRepository(db).setPasswordHash(used.userId, passwordHash);
        return sessionsRepository(db).revokeAllOf(used.userId, "password-reset");
      });
      // Used in between by another request.
      if (sessionsEnded === undefined) throw invalidLink();
      await sessions.revoke({ userId: owner.id });
      // Whoever opened the mailed link may sign in from here even during an attack.
      await throttle.trust(owner.email, client.ip);
      await recordForAccount(owner.id, {
        action: "auth.password_reset",
        resourceType: "user",
        resourceId: owner.id,
        actorId: owner.id,
        metadata: { sessionsEnded },
      });
    },

    /**
     * Sets a new password after checking the current one. The user's other sessions end and
     * every unused reset link stops working: a link mailed before the change must not undo it.
     */
    async changePassword(principal: Principal, current: string, next: string): Promise<void> {
      const user = await database.bypassTenantIsolation("password change", (db) =>
        usersSystemRepository(db).findById(principal.userId),
      );
      if (!user || !(await verifyPassword(user.passwordHash, current)).matches) {
        throw new AppError("validation-failed", "The current password is incorrect.", {
          errors: [{ field: "currentPassword", message: "is incorrect" }],
        });
      }
      await requireStrongPassword("newPassword", next, user);
      const passwordHash = await hashPassword(next);
      const sessionsEnded = await database.bypassTenantIsolation("password change", async (db) => {
        await usersSystemRepository(db).setPasswordHash(user.id, passwordHash);
        await oneTimeTokensRepository(db).retireUnused(user.id, "password-reset");
        return sessionsRepository(db).revokeAllOf(user.id, "password-change", principal.sessionId);
      });
      await sessions.revoke({ userId: user.id });
      await recordForAccount(user.id, {
        action: "auth.password_changed",
        resourceType: "user",
        resourceId: user.id,
        actorId: user.id,
        metadata: { sessionsEnded },
      });
    },

    async verifyEmail(token: string): Promise<void> {
      const verified = await database.bypassTenantIsolation("email verification", async (db) => {
        const used = OPAQUE_TOKEN_PATTERN.test(token)
          ? await oneTimeTokensRepository(db).consume(hashOpaqueToken(token), "email-verification")
          : undefined;
        const marked = used?.email
          ? await usersSystemRepository(db).markEmailVerified(used.userId, used.email)
          : false;
        return marked ? used?.userId : undefined;
      });
      if (!verified) {
        throw new AppError("bad-request", "The verification link is invalid, used or expired.");
      }
      await recordForAccount(verified, {
        action: "auth.email_verified",
        resourceType: "user",
        resourceId: verified,
        actorId: verified,
      });
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
