import { createHmac, createSecretKey, randomUUID, timingSafeEqual, webcrypto } from "node:crypto";
import { SignJWT } from "jose";
import { z } from "zod";

/** Access tokens live 15 minutes (docs/authentication.md); refresh tokens carry sessions beyond that. */
export const ACCESS_TOKEN_TTL_SECONDS = 900;
/** How far the clocks of issuer and verifier may disagree. */
const CLOCK_TOLERANCE_SECONDS = 30;
/** The only algorithm accepted: `none` and algorithm confusion are rejected by construction. */
const ALGORITHM = "HS256";
/**
 * The protected header of every token the kit issues, as jose serialises it when signing
 * (`JSON.stringify` in insertion order, then base64url). A token is verified only if its first
 * segment is exactly this text: any other algorithm, `none`, `crit`, `b64`, `kid`, `jku`, a
 * reordered or re-spaced header is refused before its signature is looked at.
 */
const PROTECTED_HEADER = { alg: ALGORITHM, typ: "JWT" } as const;
const HEADER_SEGMENT = Buffer.from(JSON.stringify(PROTECTED_HEADER)).toString("base64url");
/**
 * Far above any token the kit issues (about 450 characters plus twice the length of the
 * public URL), so an oversized Authorization header is refused before it is hashed.
 */
const MAX_TOKEN_LENGTH = 8192;
/** Verified tokens a process remembers (about 1 KB each). */
const VERIFIED_TOKENS_KEPT = 10_000;
/** The base64url alphabet without padding: Buffer's own decoder skips anything else. */
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** An HMAC-SHA256 is 32 bytes: 43 characters, the last carrying 2 unused bits, which are 0. */
const SIGNATURE_SEGMENT = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
const REQUIRED_CLAIMS = ["sub", "tid", "sid", "jti", "iat", "exp", "iss", "aud"] as const;
const utf8 = new TextDecoder("utf-8", { fatal: true });

interface AccessTokenClaims {
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

interface VerifiedAccessToken extends AccessTokenClaims {
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

/**
 * A refused access token. The reason goes to the log line "access token rejected"; it uses
 * jose's error codes where jose verified tokens before (docs/decisions/0001-tenant-read-path.md):
 * ERR_JWS_INVALID (not a compact JWS of the kit's header), ERR_JOSE_ALG_NOT_ALLOWED (a header
 * with another algorithm), ERR_JWS_SIGNATURE_VERIFICATION_FAILED, ERR_JWT_INVALID (the payload
 * is not a JSON object), ERR_JWT_CLAIM_VALIDATION_FAILED (issuer, audience, nbf, iat in the
 * future, a missing or mistyped claim), "expired" (exp passed, or iat older than the lifetime)
 * and "malformed claims" (the claims schema).
 */
export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(`invalid access token: ${reason}`);
    this.name = "InvalidTokenError";
  }
}

export interface TokenService {
  signAccessToken(claims: AccessTokenClaims, options?: { now?: Date }): Promise<string>;
  verifyAccessToken(token: string): Promise<VerifiedAccessToken>;
  /**
   * The same checks without a promise (none of them waits): the verified claims, or throws
   * InvalidTokenError. Authentication calls it on every request.
   */
  verifyAccessTokenNow(token: string): VerifiedAccessToken;
}

/** Decodes strict, canonical base64url: no padding, nothing outside the alphabet. */
function decodeSegment(segment: string): Buffer | undefined {
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) return undefined;
  const bytes = Buffer.from(segment, "base64url");
  // Unused trailing bits must be zero: one encoding per value.
  return bytes.toString("base64url") === segment ? bytes : undefined;
}

/** Only for the reason of a refused header: whether it names another algorithm. */
function headerReason(segment: string): string {
  try {
    const bytes = decodeSegment(segment);
    const header: unknown = bytes ? JSON.parse(utf8.decode(bytes)) : undefined;
    if (typeof header === "object" && header !== null && !Array.isArray(header)) {
      const alg = (header as Record<string, unknown>).alg;
      if (alg !== ALGORITHM) return "ERR_JOSE_ALG_NOT_ALLOWED";
    }
  } catch {
    // Not JSON: an invalid JWS, like any other header that is not the kit's.
  }
  return "ERR_JWS_INVALID";
}

/** A NumericDate claim (RFC 7519): a finite number when present. */
function numericClaim(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new InvalidTokenError("ERR_JWT_CLAIM_VALIDATION_FAILED");
  }
  return value;
}

function requiredNumericClaim(claims: Record<string, unknown>, name: string): number {
  const value = numericClaim(claims, name);
  if (value === undefined) throw new InvalidTokenError("ERR_JWT_CLAIM_VALIDATION_FAILED");
  return value;
}

export function createTokenService(options: {
  secretKey: string;
  issuer: string;
  audience: string;
}): TokenService {
  const secret = Buffer.from(options.secretKey, "utf8");
  // Signing stays with jose, given a WebCrypto key imported once (it would otherwise import a
  // raw secret on every call).
  const signingKey = webcrypto.subtle.importKey(
    "raw",
    secret,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  // Verification runs on every request: node:crypto's HMAC, synchronous, with the key created
  // once. jose 6 verifies only through WebCrypto, an asynchronous thread-pool job per token
  // (docs/decisions/0001-tenant-read-path.md).
  const verifyingKey = createSecretKey(secret);
  /**
   * Tokens this process has verified, until the moment verify() would refuse them for their
   * age: a client sends the same token with every request for up to 15 minutes, so the HMAC,
   * the decoding and the claims checks run once per token instead of once per request. Only
   * tokens that passed every check are kept, under their whole compact form, so a token that
   * differs in one byte is verified in full. Bounded; the oldest go first.
   */
  const verified = new Map<string, { claims: VerifiedAccessToken; validUntil: number }>();

  function verifyOnce(token: string): VerifiedAccessToken {
    const known = verified.get(token);
    if (known) {
      if (Date.now() / 1000 < known.validUntil) return known.claims;
      verified.delete(token);
    }
    const claims = verify(token);
    if (verified.size >= VERIFIED_TOKENS_KEPT) {
      verified.delete(verified.keys().next().value as string);
    }
    verified.set(token, {
      claims,
      // The first second at which verify() refuses it: expired, or older than the lifetime.
      validUntil: Math.min(
        claims.exp + CLOCK_TOLERANCE_SECONDS,
        claims.iat + ACCESS_TOKEN_TTL_SECONDS + CLOCK_TOLERANCE_SECONDS + 1,
      ),
    });
    return claims;
  }

  function verify(token: string): VerifiedAccessToken {
    if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) {
      throw new InvalidTokenError("ERR_JWS_INVALID");
    }
    const segments = token.split(".");
    if (segments.length !== 3) throw new InvalidTokenError("ERR_JWS_INVALID");
    const [header, payload, signature] = segments as [string, string, string];
    if (header !== HEADER_SEGMENT) throw new InvalidTokenError(headerReason(header));
    // Both segments are ASCII from here on, so the signed input is the same bytes jose signed.
    const bytes = decodeSegment(payload);
    if (!bytes) throw new InvalidTokenError("ERR_JWS_INVALID");
    if (!SIGNATURE_SEGMENT.test(signature)) {
      throw new InvalidTokenError("ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
    }
    const given = Buffer.from(signature, "base64url");
    const expected = createHmac("sha256", verifyingKey)
      .update(`${header}.${payload}`, "latin1")
      .digest();
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InvalidTokenError("ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
    }

    // Authentic from here on: the payload was signed with the kit's key. Only now is it parsed.
    let claims: unknown;
    try {
      claims = JSON.parse(utf8.decode(bytes));
    } catch {
      throw new InvalidTokenError("ERR_JWT_INVALID");
    }
    if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
      throw new InvalidTokenError("ERR_JWT_INVALID");
    }
    const set = claims as Record<string, unknown>;
    for (const claim of REQUIRED_CLAIMS) {
      if (!Object.hasOwn(set, claim)) {
        throw new InvalidTokenError("ERR_JWT_CLAIM_VALIDATION_FAILED");
      }
    }
    const { aud } = set;
    if (
      set.iss !== options.issuer ||
      !(aud === options.audience || (Array.isArray(aud) && aud.includes(options.audience)))
    ) {
      throw new InvalidTokenError("ERR_JWT_CLAIM_VALIDATION_FAILED");
    }
    const now = Math.floor(Date.now() / 1000);
    const iat = requiredNumericClaim(set, "iat");
    const exp = requiredNumericClaim(set, "exp");
    const nbf = numericClaim(set, "nbf");
    if (nbf !== undefined && nbf > now + CLOCK_TOLERANCE_SECONDS) {
      throw new InvalidTokenError("ERR_JWT_CLAIM_VALIDATION_FAILED");
    }
    if (exp <= now - CLOCK_TOLERANCE_SECONDS) throw new InvalidTokenError("expired");
    // Also checks that `iat` is not in the future, so a token cannot outlive 15 minutes.
    const age = now - iat;
    if (age - CLOCK_TOLERANCE_SECONDS > ACCESS_TOKEN_TTL_SECONDS) {
      throw new InvalidTokenError("expired");
    }
    if (age < -CLOCK_TOLERANCE_SECONDS) {
      throw new InvalidTokenError("ERR_JWT_CLAIM_VALIDATION_FAILED");
    }
    const parsed = claimsSchema.safeParse(set);
    if (!parsed.success) throw new InvalidTokenError("malformed claims");
    // Shared by every request that sends this token (verifyOnce), so nobody may change it.
    return Object.freeze(parsed.data);
  }

  return {
    async signAccessToken(claims, { now = new Date() } = {}) {
      const issuedAt = Math.floor(now.getTime() / 1000);
      return new SignJWT({ tid: claims.tid, sid: claims.sid })
        .setProtectedHeader(PROTECTED_HEADER)
        .setSubject(claims.sub)
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setJti(randomUUID())
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ACCESS_TOKEN_TTL_SECONDS)
        .sign(await signingKey);
    },
    async verifyAccessToken(token) {
      return verifyOnce(token);
    },
    verifyAccessTokenNow: verifyOnce,
  };
}
