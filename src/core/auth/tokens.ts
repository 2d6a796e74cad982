import { randomUUID, webcrypto } from "node:crypto";
import { errors, jwtVerify, SignJWT } from "jose";
import { z } from "zod";

/** Access tokens live 15 minutes (API.md); refresh tokens carry sessions beyond that. */
export const ACCESS_TOKEN_TTL_SECONDS = 900;
/** How far the clocks of issuer and verifier may disagree. */
const CLOCK_TOLERANCE_SECONDS = 30;
/** The only algorithm accepted: `none` and algorithm confusion are rejected by construction. */
const ALGORITHM = "HS256";

export interface AccessTokenClaims {
  /** User id. */
  readonly sub: string;
  /**
   * Tenant id: the tenant this token acts in; null for a user with no active tenant, whose
   * token only routes that need no tenant accept.
   */
  readonly tid: string | null;
  /** Session id (the refresh-token family). */
  readonly sid: string;
}

export interface VerifiedAccessToken extends AccessTokenClaims {
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
}

const claimsSchema = z.object({
  sub: z.uuid(),
  // Present in every token: null is an explicit "no tenant", never a missing claim.
  tid: z.uuid().nullable(),
  sid: z.uuid(),
  jti: z.string().min(1),
  iat: z.number().int(),
  exp: z.number().int(),
});

export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(`invalid access token: ${reason}`);
    this.name = "InvalidTokenError";
  }
}

export interface TokenService {
  signAccessToken(claims: AccessTokenClaims, options?: { now?: Date }): Promise<string>;
  verifyAccessToken(token: string): Promise<VerifiedAccessToken>;
}

export function createTokenService(options: {
  secretKey: string;
  issuer: string;
  audience: string;
}): TokenService {
  // A WebCrypto key imported once: jose converts a raw secret or a KeyObject into one on every
  // call otherwise, which costs more than the signature check itself.
  const key = webcrypto.subtle.importKey(
    "raw",
    Buffer.from(options.secretKey, "utf8"),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  return {
    async signAccessToken(claims, { now = new Date() } = {}) {
      const issuedAt = Math.floor(now.getTime() / 1000);
      return new SignJWT({ tid: claims.tid, sid: claims.sid })
        .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
        .setSubject(claims.sub)
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setJti(randomUUID())
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ACCESS_TOKEN_TTL_SECONDS)
        .sign(await key);
    },
    async verifyAccessToken(token) {
      try {
        const { payload } = await jwtVerify(token, await key, {
          algorithms: [ALGORITHM],
          issuer: options.issuer,
          audience: options.audience,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          // Also checks that `iat` is not in the future, so a token cannot outlive 15 minutes.
          maxTokenAge: ACCESS_TOKEN_TTL_SECONDS,
          requiredClaims: ["sub", "tid", "sid", "jti", "iat", "exp"],
        });
        const claims = claimsSchema.safeParse(payload);
        if (!claims.success) throw new InvalidTokenError("malformed claims");
        return claims.data;
      } catch (error) {
        if (error instanceof InvalidTokenError) throw error;
        if (error instanceof errors.JWTExpired) throw new InvalidTokenError("expired");
        if (error instanceof errors.JOSEError) throw new InvalidTokenError(error.code);
        throw error;
      }
    },
  };
}
