import type { AuditLog } from "../../core/audit/index.js";
import type { SessionGuard } from "../../core/auth/index.js";
import type { Database } from "../../core/database/index.js";
import { AppError, notFound, unauthorized } from "../../core/errors/index.js";
import type { Principal } from "../../core/http/access.js";
import type { UsersService } from "../users/index.js";
import type { AccountAudit } from "./account-audit.js";
import type { LoginThrottle } from "./brute-force.js";
import type { FailedSignInLog } from "./failed-sign-ins.js";
import { hashOpaqueToken, OPAQUE_TOKEN_PATTERN } from "./opaque-tokens.js";
import { hashPassword, verifyPassword } from "./passwords.js";
import type { RefreshRotation } from "./refresh-rotation.js";
import { sessionsRepository } from "./sessions.repository.js";
import type { Client, SessionOpener, SignedIn } from "./sign-in.js";

/** The one answer to every failed sign-in, so none tells which part was wrong. */
const INVALID_CREDENTIALS = "The email or password is incorrect.";

/**
 * A session's life: password sign-in, refresh, the switch to another tenant, sign-out here and
 * everywhere. Every change that ends a session tells the session guard, so its access tokens
 * stop working at once.
 */
export function createSessionsService(options: {
  database: Database;
  sessions: SessionGuard;
  audit: AuditLog;
  throttle: LoginThrottle;
  users: UsersService;
  opener: SessionOpener;
  rotation: RefreshRotation;
  noteFailedSignIn: FailedSignInLog;
  recordForAccount: AccountAudit;
}) {
  const { database, sessions, audit, throttle, users, opener, rotation } = options;
  const { noteFailedSignIn, recordForAccount } = options;

  return {
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
        users.findByEmail(db, input.email),
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
          users.setPasswordHash(db, user.id, fresh),
        );
      }
      return opener.signIn(user, client, { tenantId: input.tenantId, method: "password" });
    },

    async refresh(raw: string | undefined): Promise<SignedIn> {
      if (!raw) throw unauthorized("No refresh token was sent.");
      const rotated = await database.bypassTenantIsolation("token refresh", (db) =>
        rotation.rotate(db, raw),
      );
      return rotation.afterRotation(rotated);
    },

    /**
     * A token for another of the user's tenants. With the session's live refresh cookie the
     * cookie rotates too; without it (API clients using only bearer tokens) the session
     * simply moves to the tenant and its refresh token stays.
     */
    async switchTenant(
      principal: Principal,
      tenantId: string,
      raw: string | undefined,
    ): Promise<SignedIn> {
      const outcome = await database.bypassTenantIsolation("tenant switch", async (db) => {
        if (raw && OPAQUE_TOKEN_PATTERN.test(raw)) {
          const current = await sessionsRepository.findRefreshToken(db, hashOpaqueToken(raw));
          if (current?.sessionId === principal.sessionId && !current.rotatedAt) {
            return rotation.rotate(db, raw, tenantId);
          }
        }
        const user = await users.findById(db, principal.userId);
        const tenant = await users.tenantOf(db, principal.userId, tenantId);
        if (!user || !tenant) throw notFound("You are not a member of this tenant.");
        const session = await sessionsRepository.find(db, principal.sessionId);
        if (!session) return { kind: "refused" } as const;
        await sessionsRepository.touch(db, session.id, {
          expiresAt: session.expiresAt,
          currentTenantId: tenant.id,
          ip: session.ip,
        });
        await users.setLastTenant(db, user.id, tenant.id);
        return { kind: "moved", user, tenant, session } as const;
      });
      if (outcome.kind === "moved") {
        return {
          response: await opener.tokenResponse(outcome.user, outcome.tenant, outcome.session.id),
          refreshToken: undefined,
        };
      }
      return rotation.afterRotation(outcome);
    },

    /** Ends the session of a refresh token or of an access token; unknown ones are ignored. */
    async logout(target: { sessionId: string } | { refreshToken: string }): Promise<void> {
      const ended = await database.bypassTenantIsolation("sign-out", async (db) => {
        let id: string | undefined;
        if ("sessionId" in target) {
          id = target.sessionId;
        } else if (OPAQUE_TOKEN_PATTERN.test(target.refreshToken)) {
          id = (await sessionsRepository.findRefreshToken(db, hashOpaqueToken(target.refreshToken)))
            ?.sessionId;
        }
        return id ? sessionsRepository.revoke(db, id, "logout") : undefined;
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
      const reason = "logout-all";
      const ended = await database.bypassTenantIsolation(reason, (db) =>
        sessionsRepository.revokeAllOf(db, principal.userId, reason),
      );
      await sessions.revoke({ userId: principal.userId });
      await recordForAccount(principal.userId, {
        action: "auth.logout_all",
        resourceType: "user",
        resourceId: principal.userId,
        actorId: principal.userId,
        metadata: { sessionsEnded: ended },
      });
    },
  };
}

export type SessionsService = ReturnType<typeof createSessionsService>;
