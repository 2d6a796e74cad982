import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../../config.js";
import type { AuditLog } from "../../core/audit/index.js";
import type { SessionGuard } from "../../core/auth/index.js";
import type { SessionRow, SystemTx, UserRow } from "../../core/database/index.js";
import { notFound, unauthorized } from "../../core/errors/index.js";
import type { UsersService, UserTenant } from "../users/index.js";
import {
  createSuccessorDerivation,
  hashOpaqueToken,
  OPAQUE_TOKEN_PATTERN,
} from "./opaque-tokens.js";
import { sessionsRepository } from "./sessions.repository.js";
import type { SessionOpener, SignedIn } from "./sign-in.js";

export const SESSION_ENDED = "The session has ended; sign in again.";

/** The outcome of a refresh, decided inside its transaction and acted on after the commit. */
export type Rotation =
  | {
      kind: "rotated";
      session: SessionRow;
      user: UserRow;
      tenant: UserTenant | null;
      token: string;
    }
  | { kind: "refused" }
  | { kind: "reused"; session: SessionRow };

/**
 * Refresh-token rotation, shared by the refresh and the tenant switch. The live token gets a
 * successor derived from it; a token rotated within the grace window gets that same successor
 * again (two tabs refreshing at once); an older rotated token is a replay, which ends the
 * whole session.
 */
export function createRefreshRotation(options: {
  config: Config;
  sessions: SessionGuard;
  audit: AuditLog;
  users: UsersService;
  opener: SessionOpener;
  logger: FastifyBaseLogger;
}) {
  const { config, sessions, audit, users, opener, logger } = options;
  const successorOf = createSuccessorDerivation(config.secretKey);
  const graceMs = config.sessions.refreshGraceSeconds * 1000;

  /** Rotates the refresh token `raw` inside `db`'s transaction, optionally into `switchTo`. */
  async function rotate(db: SystemTx, raw: string, switchTo?: string): Promise<Rotation> {
    if (!OPAQUE_TOKEN_PATTERN.test(raw)) return { kind: "refused" };
    const found = await sessionsRepository.lockRefreshToken(db, hashOpaqueToken(raw));
    if (!found) return { kind: "refused" };
    const { token, session } = found;
    const now = new Date();
    if (session.revokedAt || session.expiresAt <= now) return { kind: "refused" };

    const successor = successorOf(raw);
    if (token.rotatedAt) {
      const withinGrace = now.getTime() - token.rotatedAt.getTime() <= graceMs;
      const next = withinGrace
        ? await sessionsRepository.findRefreshToken(db, hashOpaqueToken(successor))
        : undefined;
      if (!next || next.rotatedAt) {
        await sessionsRepository.revoke(db, session.id, "refresh-token-reuse");
        return { kind: "reused", session };
      }
    } else {
      if (token.expiresAt <= now) return { kind: "refused" };
      await sessionsRepository.markRotated(db, token.id, now);
      await sessionsRepository.addRefreshToken(db, {
        sessionId: session.id,
        tokenHash: hashOpaqueToken(successor),
        expiresAt: opener.refreshExpiry(session, now),
      });
    }

    const user = await users.findById(db, session.userId);
    if (!user?.isActive) return { kind: "refused" };
    const wanted = switchTo ?? session.currentTenantId;
    let tenant = wanted ? await users.tenantOf(db, user.id, wanted) : undefined;
    if (!tenant && switchTo) throw notFound("You are not a member of this tenant.");
    // Removed from the session's tenant since, or it was deleted: continue in another of the
    // user's tenants, or without a tenant when none is left.
    tenant ??= (await users.tenantsOf(db, user.id))[0];
    await sessionsRepository.touch(db, session.id, {
      expiresAt: opener.refreshExpiry(session, now),
      currentTenantId: tenant?.id ?? null,
      ip: session.ip,
    });
    if (tenant && tenant.id !== user.lastTenantId) {
      await users.setLastTenant(db, user.id, tenant.id);
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
      response: await opener.tokenResponse(rotation.user, rotation.tenant, rotation.session.id),
      refreshToken: rotation.token,
    };
  }

  return { rotate, afterRotation };
}

export type RefreshRotation = ReturnType<typeof createRefreshRotation>;
