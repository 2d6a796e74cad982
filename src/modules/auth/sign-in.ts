import type { FastifyRequest } from "fastify";
import type { Config } from "../../config.js";
import type { AuditLog } from "../../core/audit/index.js";
import { ACCESS_TOKEN_TTL_SECONDS, type TokenService } from "../../core/auth/index.js";
import type { Database, SessionRow, SystemTx, UserRow } from "../../core/database/index.js";
import { notFound } from "../../core/errors/index.js";
import type { TenantsService } from "../tenants/index.js";
import type { UsersService, UserTenant } from "../users/index.js";
import type { TokenResponse } from "./auth.schemas.js";
import { REFRESH_TOKEN_TTL_SECONDS } from "./cookies.js";
import { hashOpaqueToken, newOpaqueToken } from "./opaque-tokens.js";
import { sessionsRepository } from "./sessions.repository.js";

/**
 * What every way of signing in shares, whether by password or through an OAuth provider:
 * creating an account (user, tenant, owner membership) and opening a session with its first
 * refresh token and access token. A user with no active tenant (their last one deleted or
 * left) still signs in: the session and its tokens then carry no tenant (`tenant: null`).
 */

const DAY_MS = 86_400_000;

/** Where a request comes from, as recorded on its session. */
export interface Client {
  readonly ip: string;
  readonly userAgent: string | undefined;
}

export const clientOf = (request: FastifyRequest): Client => ({
  ip: request.ip,
  userAgent: request.headers["user-agent"],
});

/** A token response and the refresh token to set as the cookie (none: leave the cookie). */
export interface SignedIn {
  readonly response: TokenResponse;
  readonly refreshToken: string | undefined;
}

/** The one way every way of signing in creates an account. */
export function createAccountCreator({
  users,
  tenants,
}: {
  users: UsersService;
  tenants: TenantsService;
}) {
  /** Creates a user with a new tenant of which they are the owner, inside `db`'s transaction. */
  return async function createAccountWithin(
    db: SystemTx,
    input: {
      email: string;
      name: string;
      passwordHash: string | null;
      emailVerifiedAt: Date | null;
      tenantName: string;
    },
  ): Promise<{ user: UserRow; tenant: UserTenant }> {
    const user = await users.create(db, {
      email: input.email,
      name: input.name,
      passwordHash: input.passwordHash,
      emailVerifiedAt: input.emailVerifiedAt,
    });
    const row = await tenants.createOwnedWithin(db, user.id, { name: input.tenantName });
    return { user, tenant: { id: row.id, name: row.name, slug: row.slug } };
  };
}

export type AccountCreator = ReturnType<typeof createAccountCreator>;

export function createSessionOpener(options: {
  config: Config;
  database: Database;
  tokens: TokenService;
  audit: AuditLog;
  users: UsersService;
}) {
  const { config, database, tokens, audit, users } = options;
  const maxAgeMs = config.sessions.maxAgeDays * DAY_MS;

  /** A refresh token issued now for `session` ends in 7 days, or with the session if sooner. */
  const refreshExpiry = (session: Pick<SessionRow, "createdAt">, now: Date) =>
    new Date(
      Math.min(
        now.getTime() + REFRESH_TOKEN_TTL_SECONDS * 1000,
        session.createdAt.getTime() + maxAgeMs,
      ),
    );

  /** The token response for `tenant`, or without a tenant for a user who has none. */
  async function tokenResponse(
    user: UserRow,
    tenant: UserTenant | null,
    sessionId: string,
  ): Promise<TokenResponse> {
    const accessToken = await tokens.signAccessToken({
      sub: user.id,
      tid: tenant?.id ?? null,
      sid: sessionId,
    });
    return {
      accessToken,
      tokenType: "Bearer" as const,
      expiresIn: ACCESS_TOKEN_TTL_SECONDS,
      user: {
        id: user.id,
        email: user.email,
        name: user.name,
        emailVerified: user.emailVerifiedAt !== null,
      },
      tenant: tenant && { id: tenant.id, name: tenant.name, slug: tenant.slug },
    };
  }

  /**
   * Opens a session in `tenant` (or without one) with its first refresh token, inside `db`'s
   * transaction.
   */
  async function openSession(
    db: SystemTx,
    user: UserRow,
    tenant: UserTenant | null,
    client: Client,
  ) {
    const now = new Date();
    const session = await sessionsRepository.create(db, {
      userId: user.id,
      currentTenantId: tenant?.id ?? null,
      userAgent: client.userAgent?.slice(0, 512) ?? null,
      ip: client.ip,
      expiresAt: refreshExpiry({ createdAt: now }, now),
    });
    const refreshToken = newOpaqueToken();
    await sessionsRepository.addRefreshToken(db, {
      sessionId: session.id,
      tokenHash: hashOpaqueToken(refreshToken),
      expiresAt: session.expiresAt,
    });
    if (tenant) await users.setLastTenant(db, user.id, tenant.id);
    return { session, refreshToken };
  }

  return {
    refreshExpiry,
    tokenResponse,
    openSession,

    /**
     * Signs in a user whose identity is already proved: a session in `tenantId`, or else in
     * the tenant used last (or the first one), recorded as `auth.login` with `method` in that
     * tenant's audit log. A user with no active tenant gets a session without one.
     */
    async signIn(
      user: UserRow,
      client: Client,
      how: { tenantId?: string | undefined; method: string; provider?: string },
    ): Promise<SignedIn> {
      const { tenant, refreshToken, sessionId } = await database.bypassTenantIsolation(
        "sign-in",
        async (db) => {
          let tenant: UserTenant | undefined;
          if (how.tenantId) {
            tenant = await users.tenantOf(db, user.id, how.tenantId);
            if (!tenant) throw notFound("You are not a member of this tenant.");
          } else {
            tenant =
              (user.lastTenantId && (await users.tenantOf(db, user.id, user.lastTenantId))) ||
              (await users.tenantsOf(db, user.id))[0];
          }
          const { session, refreshToken } = await openSession(db, user, tenant ?? null, client);
          return { tenant: tenant ?? null, refreshToken, sessionId: session.id };
        },
      );
      // Without a tenant there is no audit log to record in; the request log keeps it.
      if (tenant) {
        await audit.record({
          tenantId: tenant.id,
          actorId: user.id,
          action: "auth.login",
          resourceType: "session",
          resourceId: sessionId,
          metadata: { method: how.method, ...(how.provider ? { provider: how.provider } : {}) },
        });
      }
      return { response: await tokenResponse(user, tenant, sessionId), refreshToken };
    },
  };
}

export type SessionOpener = ReturnType<typeof createSessionOpener>;
