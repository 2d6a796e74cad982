import { createHmac, randomUUID } from "node:crypto";
import { decodeJwt, decodeProtectedHeader, type JWTPayload, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import {
  ACCESS_TOKEN_TTL_SECONDS,
  createTokenService,
  InvalidTokenError,
} from "../../src/core/auth/index.js";

const options = {
  secretKey: "unit-test-secret-0123456789-abcdefghijklmnop",
  issuer: "https://api.example.test",
  audience: "https://api.example.test/api",
};
const service = createTokenService(options);
const subject = () => ({ sub: randomUUID(), tid: randomUUID(), sid: randomUUID() });

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Every claim the service puts in a token, for hand-made variants. */
function fullClaims(overrides: Record<string, unknown> = {}): JWTPayload {
  const iat = Math.floor(Date.now() / 1000);
  return {
    ...subject(),
    jti: randomUUID(),
    iss: options.issuer,
    aud: options.audience,
    iat,
    exp: iat + ACCESS_TOKEN_TTL_SECONDS,
    ...overrides,
  };
}

async function rejection(token: string): Promise<InvalidTokenError> {
  const error = await service.verifyAccessToken(token).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(InvalidTokenError);
  return error as InvalidTokenError;
}

describe("createTokenService", () => {
  it("round-trips the claims through sign and verify", async () => {
    const claims = subject();
    const token = await service.signAccessToken(claims);
    const verified = await service.verifyAccessToken(token);
    expect(verified).toEqual({
      ...claims,
      jti: expect.any(String),
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
  });

  it("round-trips a token without a tenant, whose tid claim is present and null", async () => {
    const claims = { sub: randomUUID(), tid: null, sid: randomUUID() };
    const token = await service.signAccessToken(claims);
    expect(decodeJwt(token)).toHaveProperty("tid", null);
    expect(await service.verifyAccessToken(token)).toMatchObject(claims);
  });

  it("issues tokens that live exactly 900 seconds from the given time", async () => {
    expect(ACCESS_TOKEN_TTL_SECONDS).toBe(900);
    const now = new Date("2030-01-02T03:04:05.678Z");
    const token = await service.signAccessToken(subject(), { now });
    const payload = decodeJwt(token);
    expect(payload.iat).toBe(Math.floor(now.getTime() / 1000));
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(900);
    const fresh = decodeJwt(await service.signAccessToken(subject()));
    expect((fresh.exp ?? 0) - (fresh.iat ?? 0)).toBe(900);
  });

  it("gives every token its own jti", async () => {
    const claims = subject();
    const tokens = await Promise.all(
      Array.from({ length: 50 }, () => service.signAccessToken(claims)),
    );
    const ids = tokens.map((token) => decodeJwt(token).jti);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(50);
    const verified = await Promise.all(tokens.map((token) => service.verifyAccessToken(token)));
    expect(verified.map((claim) => claim.jti)).toEqual(ids);
  });

  it("sets iss, aud and an HS256 JWT header", async () => {
    const token = await service.signAccessToken(subject());
    expect(decodeProtectedHeader(token)).toEqual({ alg: "HS256", typ: "JWT" });
    expect(decodeJwt(token)).toMatchObject({ iss: options.issuer, aud: options.audience });
  });

  it("refuses tokens of another issuer, audience or secret", async () => {
    const claims = subject();
    for (const other of [
      { ...options, issuer: "https://other.example.test" },
      { ...options, audience: "https://other.example.test/api" },
      { ...options, secretKey: "another-unit-test-secret-0123456789-abcdefgh" },
    ]) {
      const token = await createTokenService(other).signAccessToken(claims);
      await rejection(token);
    }
  });

  it("refuses an expired token, and accepts one late by less than the 30 s tolerance", async () => {
    const claims = subject();
    const expired = await service.signAccessToken(claims, {
      now: new Date(Date.now() - (900 + 31) * 1000),
    });
    expect((await rejection(expired)).reason).toBe("expired");
    const late = await service.signAccessToken(claims, {
      now: new Date(Date.now() - (900 + 20) * 1000),
    });
    await expect(service.verifyAccessToken(late)).resolves.toMatchObject(claims);
  });

  it("accepts only HS256: none, HS512 and an RS256 header are refused as algorithms", async () => {
    const key = new TextEncoder().encode(options.secretKey);
    const payload = fullClaims();
    const none = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(payload)}.`;
    const hs512 = await new SignJWT(payload)
      .setProtectedHeader({ alg: "HS512", typ: "JWT" })
      .sign(key);
    const rsHeader = `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url(payload)}`;
    const rs256 = `${rsHeader}.${createHmac("sha256", options.secretKey).update(rsHeader).digest("base64url")}`;
    // The same payload with the right algorithm verifies, so the algorithm is what fails.
    const hs256 = await new SignJWT(payload)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(key);
    await expect(service.verifyAccessToken(hs256)).resolves.toMatchObject({ sub: payload.sub });
    expect((await rejection(none)).reason).toBe("ERR_JOSE_ALG_NOT_ALLOWED");
    expect((await rejection(hs512)).reason).toBe("ERR_JOSE_ALG_NOT_ALLOWED");
    expect((await rejection(rs256)).reason).toBe("ERR_JOSE_ALG_NOT_ALLOWED");
  });

  it("refuses a token missing any claim, or with ids that are not UUIDs", async () => {
    const key = new TextEncoder().encode(options.secretKey);
    const variants: Record<string, JWTPayload> = {};
    for (const claim of ["sub", "tid", "sid", "jti", "iat", "exp", "iss", "aud"]) {
      const payload = fullClaims();
      delete payload[claim];
      variants[`no ${claim}`] = payload;
    }
    variants["tid not a UUID"] = fullClaims({ tid: "tenant-a" });
    variants["tid an empty string"] = fullClaims({ tid: "" });
    variants["sid not a UUID"] = fullClaims({ sid: 7 });
    variants["sub not a UUID"] = fullClaims({ sub: "root" });
    for (const [name, payload] of Object.entries(variants)) {
      const token = await new SignJWT(payload)
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .sign(key);
      const error = await service.verifyAccessToken(token).catch((caught: unknown) => caught);
      expect(error, name).toBeInstanceOf(InvalidTokenError);
    }
  });

  it("refuses a token issued in the future beyond the clock tolerance", async () => {
    const claims = { sub: randomUUID(), tid: randomUUID(), sid: randomUUID() };
    const future = await service.signAccessToken(claims, { now: new Date(Date.now() + 3_600_000) });
    await expect(service.verifyAccessToken(future)).rejects.toBeInstanceOf(InvalidTokenError);
    const slightlyAhead = await service.signAccessToken(claims, {
      now: new Date(Date.now() + 20_000),
    });
    await expect(service.verifyAccessToken(slightlyAhead)).resolves.toMatchObject(claims);
  });

  it("refuses a token whose lifetime exceeds 15 minutes even if unexpired", async () => {
    const now = Math.floor(Date.now() / 1000);
    const key = new TextEncoder().encode(options.secretKey);
    const token = await new SignJWT(fullClaims({ iat: now - 3_000, exp: now + 3_000 }))
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(key);
    await expect(service.verifyAccessToken(token)).rejects.toBeInstanceOf(InvalidTokenError);
  });
});
