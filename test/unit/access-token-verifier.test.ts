/**
 * The access-token verifier (createTokenService().verifyAccessToken), which checks HS256
 * compact tokens with node:crypto while jose signs them. Fixtures are signed by jose where jose
 * can produce them, and by hand (an HMAC-SHA256 with the right key over the exact text) where a
 * header or payload is one jose would refuse to write, so that a refusal proves the verifier
 * checked the header or payload rather than failing on the signature.
 */
import { createHmac, randomUUID } from "node:crypto";
import { type JWTPayload, SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ACCESS_TOKEN_TTL_SECONDS,
  createTokenService,
  InvalidTokenError,
} from "../../src/core/auth/index.js";

const options = {
  secretKey: "verifier-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
  issuer: "https://api.example.test",
  audience: "https://api.example.test/api",
};
const service = createTokenService(options);
const key = new TextEncoder().encode(options.secretKey);
/** The header segment of every token the kit issues: {"alg":"HS256","typ":"JWT"}. */
const KIT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

const nowSeconds = () => Math.floor(Date.now() / 1000);
const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const rawSegment = (text: string) => Buffer.from(text).toString("base64url");
const hmac = (input: string, secret = options.secretKey) =>
  createHmac("sha256", secret).update(input).digest("base64url");
/** A token over exactly these two segments, signed with the kit's key (or `secret`). */
const signedBy = (header: string, payload: string, secret = options.secretKey) =>
  `${header}.${payload}.${hmac(`${header}.${payload}`, secret)}`;

/** Every claim a kit token carries, valid now. */
function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const iat = nowSeconds();
  return {
    sub: randomUUID(),
    tid: randomUUID(),
    sid: randomUUID(),
    jti: randomUUID(),
    iss: options.issuer,
    aud: options.audience,
    iat,
    exp: iat + ACCESS_TOKEN_TTL_SECONDS,
    ...overrides,
  };
}

/** A token signed by jose with the kit's header and key, unless told otherwise. */
function joseToken(
  payload: JWTPayload,
  header: { alg: string; [name: string]: unknown } = { alg: "HS256", typ: "JWT" },
  secret: Uint8Array = key,
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(secret);
}

async function reasonOf(token: string): Promise<string> {
  const error = await service.verifyAccessToken(token).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, `accepted: ${token.slice(0, 120)}`).toBeInstanceOf(InvalidTokenError);
  return (error as InvalidTokenError).reason;
}

describe("the access-token verifier", () => {
  it("compares against the header segment jose writes for the kit's tokens", async () => {
    const issued = await service.signAccessToken({
      sub: randomUUID(),
      tid: randomUUID(),
      sid: randomUUID(),
    });
    expect(issued.split(".")[0]).toBe(KIT_HEADER);
    expect((await joseToken(claims())).split(".")[0]).toBe(KIT_HEADER);
    expect(Buffer.from(KIT_HEADER, "base64url").toString()).toBe('{"alg":"HS256","typ":"JWT"}');
  });

  it("accepts a valid jose-signed token and returns its claims", async () => {
    const payload = claims();
    const verified = await service.verifyAccessToken(await joseToken(payload));
    expect(verified).toEqual({
      sub: payload.sub,
      tid: payload.tid,
      sid: payload.sid,
      jti: payload.jti,
      iat: payload.iat,
      exp: payload.exp,
    });
    // The same text signed by hand verifies too: the fixtures below differ only where named.
    const [header, body] = (await joseToken(payload)).split(".") as [string, string];
    await expect(service.verifyAccessToken(signedBy(header, body))).resolves.toEqual(verified);
  });

  it("refuses a tampered payload, signature or header", async () => {
    const token = await joseToken(claims());
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const otherTenant = segment({ ...claims(), tid: randomUUID() });
    expect(await reasonOf(`${header}.${otherTenant}.${signature}`)).toBe(
      "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    );
    const flipped = `${signature.slice(0, 10)}${signature[10] === "A" ? "B" : "A"}${signature.slice(11)}`;
    expect(await reasonOf(`${header}.${payload}.${flipped}`)).toBe(
      "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    );
    const withKid = segment({ alg: "HS256", typ: "JWT", kid: "1" });
    expect(await reasonOf(`${withKid}.${payload}.${signature}`)).toBe("ERR_JWS_INVALID");
  });

  it("refuses a token signed with another secret", async () => {
    const other = new TextEncoder().encode("another-secret-0123456789-abcdefghijklmnopqrstuvwx");
    expect(await reasonOf(await joseToken(claims(), undefined, other))).toBe(
      "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    );
    const otherService = createTokenService({ ...options, secretKey: "x".repeat(64) });
    const token = await otherService.signAccessToken({
      sub: randomUUID(),
      tid: randomUUID(),
      sid: randomUUID(),
    });
    expect(await reasonOf(token)).toBe("ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
  });

  it("refuses alg none, with or without a signature", async () => {
    const payload = segment(claims());
    const none = segment({ alg: "none", typ: "JWT" });
    expect(await reasonOf(`${none}.${payload}.`)).toBe("ERR_JOSE_ALG_NOT_ALLOWED");
    expect(await reasonOf(signedBy(none, payload))).toBe("ERR_JOSE_ALG_NOT_ALLOWED");
    expect(await reasonOf(`${segment({ alg: "None" })}.${payload}.`)).toBe(
      "ERR_JOSE_ALG_NOT_ALLOWED",
    );
  });

  it("refuses HS384, HS512 and RS256 headers, each correctly signed for what it names", async () => {
    for (const alg of ["HS384", "HS512"]) {
      const token = await joseToken(claims(), { alg, typ: "JWT" });
      expect(await reasonOf(token), alg).toBe("ERR_JOSE_ALG_NOT_ALLOWED");
    }
    // Algorithm confusion: an RS256 header whose signature is an HMAC with the shared secret.
    const rs256 = signedBy(segment({ alg: "RS256", typ: "JWT" }), segment(claims()));
    expect(await reasonOf(rs256)).toBe("ERR_JOSE_ALG_NOT_ALLOWED");
  });

  it("refuses extra header parameters (kid, crit, b64, jku, jwk) even when correctly signed", async () => {
    const payload = segment(claims());
    const headers: Record<string, unknown>[] = [
      { alg: "HS256", typ: "JWT", kid: "primary" },
      { alg: "HS256", typ: "JWT", crit: ["exp"], exp: 1 },
      { alg: "HS256", typ: "JWT", b64: false, crit: ["b64"] },
      { alg: "HS256", typ: "JWT", jku: "https://attacker.example/keys" },
      { alg: "HS256", typ: "JWT", jwk: { kty: "oct", k: "AAAA" } },
      { alg: "HS256" },
      { alg: "HS256", typ: "jwt" },
      { alg: "HS256", typ: "at+jwt" },
    ];
    for (const header of headers) {
      expect(await reasonOf(signedBy(segment(header), payload)), JSON.stringify(header)).toBe(
        "ERR_JWS_INVALID",
      );
    }
    // jose itself signs a kid header; the verifier still refuses it.
    expect(await reasonOf(await joseToken(claims(), { alg: "HS256", typ: "JWT", kid: "k1" }))).toBe(
      "ERR_JWS_INVALID",
    );
  });

  it("refuses the right algorithm and key under another serialisation of the header", async () => {
    const reordered = await joseToken(claims(), { typ: "JWT", alg: "HS256" });
    expect(Buffer.from(reordered.split(".")[0] ?? "", "base64url").toString()).toBe(
      '{"typ":"JWT","alg":"HS256"}',
    );
    expect(await reasonOf(reordered)).toBe("ERR_JWS_INVALID");
    const payload = segment(claims());
    for (const text of [
      '{"alg": "HS256", "typ": "JWT"}',
      '{"alg":"HS256","typ":"JWT"} ',
      '{"alg":"HS256","typ":"JWT","alg":"HS256"}',
      '{"alg":"HS256","typ":"JWT","typ":"JWT"}',
    ]) {
      expect(await reasonOf(signedBy(rawSegment(text), payload)), text).toBe("ERR_JWS_INVALID");
    }
    // The kit's header with the same JSON but base64 padding or standard-alphabet characters.
    expect(await reasonOf(signedBy(`${KIT_HEADER}=`, payload))).toBe("ERR_JWS_INVALID");
  });

  it("refuses a wrong issuer or audience; accepts an audience array that contains the kit's", async () => {
    expect(await reasonOf(await joseToken(claims({ iss: "https://other.example.test" })))).toBe(
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
    );
    expect(await reasonOf(await joseToken(claims({ aud: "https://other.example.test/api" })))).toBe(
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
    );
    expect(
      await reasonOf(await joseToken(claims({ aud: ["https://other.example.test/api"] }))),
    ).toBe("ERR_JWT_CLAIM_VALIDATION_FAILED");
    expect(await reasonOf(signedBy(KIT_HEADER, segment(claims({ aud: 7 }))))).toBe(
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
    );
    expect(await reasonOf(signedBy(KIT_HEADER, segment(claims({ iss: [options.issuer] }))))).toBe(
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
    );
    const both = await joseToken(
      claims({ aud: ["https://other.example.test/api", options.audience] }),
    );
    await expect(service.verifyAccessToken(both)).resolves.toHaveProperty("sub");
  });

  it("refuses an expired token beyond the 30 s tolerance, and accepts one within it", async () => {
    const now = nowSeconds();
    expect(await reasonOf(await joseToken(claims({ iat: now - 900, exp: now - 40 })))).toBe(
      "expired",
    );
    expect(await reasonOf(await joseToken(claims({ iat: now - 960, exp: now - 31 })))).toBe(
      "expired",
    );
    await expect(
      service.verifyAccessToken(await joseToken(claims({ iat: now - 900, exp: now - 20 }))),
    ).resolves.toHaveProperty("sub");
  });

  it("refuses an iat in the future beyond the tolerance, and accepts one within it", async () => {
    const now = nowSeconds();
    const future = claims({ iat: now + 60, exp: now + 60 + ACCESS_TOKEN_TTL_SECONDS });
    expect(await reasonOf(await joseToken(future))).toBe("ERR_JWT_CLAIM_VALIDATION_FAILED");
    const ahead = claims({ iat: now + 20, exp: now + 20 + ACCESS_TOKEN_TTL_SECONDS });
    await expect(service.verifyAccessToken(await joseToken(ahead))).resolves.toHaveProperty("sub");
  });

  it("refuses an nbf in the future beyond the tolerance; accepts a past one or one within it", async () => {
    const now = nowSeconds();
    expect(await reasonOf(await joseToken(claims({ nbf: now + 120 })))).toBe(
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
    );
    expect(await reasonOf(signedBy(KIT_HEADER, segment(claims({ nbf: "0" }))))).toBe(
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
    );
    for (const nbf of [now - 60, now + 20]) {
      await expect(
        service.verifyAccessToken(await joseToken(claims({ nbf }))),
      ).resolves.toHaveProperty("sub");
    }
  });

  it("refuses a token older than its 900 s lifetime even if its exp is later", async () => {
    const now = nowSeconds();
    expect(await reasonOf(await joseToken(claims({ iat: now - 3_000, exp: now + 3_000 })))).toBe(
      "expired",
    );
    expect(await reasonOf(await joseToken(claims({ iat: now - 960, exp: now + 600 })))).toBe(
      "expired",
    );
    await expect(
      service.verifyAccessToken(await joseToken(claims({ iat: now - 910, exp: now + 600 }))),
    ).resolves.toHaveProperty("sub");
  });

  it("refuses a token missing any required claim", async () => {
    for (const claim of ["sub", "tid", "sid", "jti", "iat", "exp", "iss", "aud"]) {
      const payload = claims();
      delete payload[claim];
      expect(await reasonOf(await joseToken(payload)), claim).toBe(
        "ERR_JWT_CLAIM_VALIDATION_FAILED",
      );
    }
  });

  it("refuses iat and exp that are not finite numbers", async () => {
    for (const [claim, value] of [
      ["iat", String(nowSeconds())],
      ["exp", String(nowSeconds() + 600)],
      ["exp", null],
      ["iat", true],
    ] as const) {
      const token = signedBy(KIT_HEADER, segment(claims({ [claim]: value })));
      expect(await reasonOf(token), `${claim}: ${String(value)}`).toBe(
        "ERR_JWT_CLAIM_VALIDATION_FAILED",
      );
    }
    // JSON.parse reads 1e400 as Infinity: an exp that would never pass.
    const infinite = JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":1e400');
    expect(await reasonOf(signedBy(KIT_HEADER, rawSegment(infinite)))).toBe(
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
    );
  });

  it("refuses claims the schema does not accept, as malformed claims", async () => {
    for (const override of [
      { tid: "tenant-a" },
      { sub: "root" },
      { sid: 7 },
      { jti: "" },
      { iat: nowSeconds() + 0.5 },
    ]) {
      expect(await reasonOf(await joseToken(claims(override))), JSON.stringify(override)).toBe(
        "malformed claims",
      );
    }
  });

  it("refuses a signed payload that is not a JSON object", async () => {
    for (const text of [
      JSON.stringify([claims()]),
      '"a string"',
      "42",
      "null",
      "true",
      "{not json",
      "",
    ]) {
      const token = signedBy(KIT_HEADER, rawSegment(text));
      expect(await reasonOf(token), text).toBe(text === "" ? "ERR_JWS_INVALID" : "ERR_JWT_INVALID");
    }
    // Bytes that are not UTF-8.
    const invalidUtf8 = Buffer.concat([
      Buffer.from('{"sub":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]).toString("base64url");
    expect(await reasonOf(signedBy(KIT_HEADER, invalidUtf8))).toBe("ERR_JWT_INVALID");
  });

  it("refuses payload segments that are not strict base64url, even when correctly signed", async () => {
    // A payload whose encoding does not end on a 4-character boundary, so padding applies.
    let payload = segment(claims());
    for (let pad = 0; payload.length % 4 === 0; pad += 1) {
      payload = segment(claims({ x: "y".repeat(pad) }));
    }
    const valid = signedBy(KIT_HEADER, payload);
    await expect(service.verifyAccessToken(valid)).resolves.toHaveProperty("sub");
    const padded = `${payload}${"=".repeat(4 - (payload.length % 4))}`;
    const standard = Buffer.from(JSON.stringify(claims({ x: "?>?>?>" }))).toString("base64");
    expect(standard).toMatch(/[+/]/);
    const last = payload.at(-1) ?? "";
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const nonCanonical = `${payload.slice(0, -1)}${alphabet[alphabet.indexOf(last) + 1]}`;
    expect(Buffer.from(nonCanonical, "base64url")).toEqual(Buffer.from(payload, "base64url"));
    const malformed: Record<string, string> = {
      padded,
      "with + and /": standard.replace(/=+$/, ""),
      "with a space": `${payload.slice(0, 8)} ${payload.slice(8)}`,
      "with a newline": `${payload.slice(0, 8)}\n${payload.slice(8)}`,
      "with a tab at the end": `${payload}\t`,
      "with non-zero unused bits": nonCanonical,
      "one character too many": `${payload.slice(0, payload.length - (payload.length % 4))}A`,
    };
    for (const [name, text] of Object.entries(malformed)) {
      expect(await reasonOf(signedBy(KIT_HEADER, text)), name).toBe("ERR_JWS_INVALID");
    }
  });

  it("refuses signatures that are empty, padded, truncated or non-canonical", async () => {
    const token = await joseToken(claims());
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = signature.at(-1) ?? "";
    const sameBytes = `${signature.slice(0, -1)}${alphabet[alphabet.indexOf(last) + 1]}`;
    expect(Buffer.from(sameBytes, "base64url")).toEqual(Buffer.from(signature, "base64url"));
    const variants: Record<string, string> = {
      empty: "",
      padded: `${signature}=`,
      truncated: signature.slice(0, -1),
      extended: `${signature}A`,
      "standard base64": Buffer.from(signature, "base64url").toString("base64"),
      "non-zero unused bits": sameBytes,
      "twice as long": `${signature}${signature}`,
    };
    for (const [name, text] of Object.entries(variants)) {
      expect(await reasonOf(`${header}.${payload}.${text}`), name).toBe(
        "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
      );
    }
  });

  it("refuses anything but three segments", async () => {
    const token = await joseToken(claims());
    const [header, payload, signature] = token.split(".") as [string, string, string];
    for (const text of [
      "",
      header,
      `${header}.${payload}`,
      `${header}.${payload}.${signature}.`,
      `${header}.${payload}.${signature}.${signature}`,
      `${header}..${payload}.${signature}`,
      `.${header}.${payload}.${signature}`,
      // A JWE has five segments.
      `${header}.${payload}.${signature}.${payload}.${signature}`,
    ]) {
      expect(await reasonOf(text), text).toBe("ERR_JWS_INVALID");
    }
  });

  it("refuses a huge token before hashing it, even one validly signed", async () => {
    const huge = await joseToken(claims({ padding: "p".repeat(20_000) }));
    expect(huge.length).toBeGreaterThan(20_000);
    expect(await reasonOf(huge)).toBe("ERR_JWS_INVALID");
    expect(await reasonOf(`${KIT_HEADER}.${"A".repeat(1_000_000)}.${"A".repeat(43)}`)).toBe(
      "ERR_JWS_INVALID",
    );
    // A token with a long issuer and audience, as a long PUBLIC_URL gives, still verifies.
    const longUrl = `https://${"a".repeat(1_000)}.example.test`;
    const longService = createTokenService({
      ...options,
      issuer: longUrl,
      audience: `${longUrl}/api`,
    });
    const long = await longService.signAccessToken({
      sub: randomUUID(),
      tid: null,
      sid: randomUUID(),
    });
    expect(long.length).toBeGreaterThan(2_000);
    await expect(longService.verifyAccessToken(long)).resolves.toHaveProperty("tid", null);
  });
});

describe("tokens verified once per process", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("refuses a remembered token once it is too old, as on its first use", async () => {
    const issued = new Date();
    const remembering = createTokenService(options);
    const token = await remembering.signAccessToken(
      { sub: randomUUID(), tid: randomUUID(), sid: randomUUID() },
      { now: issued },
    );
    await expect(remembering.verifyAccessToken(token)).resolves.toHaveProperty("jti");
    vi.useFakeTimers({ now: issued.getTime() + (ACCESS_TOKEN_TTL_SECONDS + 29) * 1000 });
    await expect(remembering.verifyAccessToken(token)).resolves.toHaveProperty("jti");
    vi.setSystemTime(issued.getTime() + (ACCESS_TOKEN_TTL_SECONDS + 32) * 1000);
    await expect(remembering.verifyAccessToken(token)).rejects.toMatchObject({ reason: "expired" });
    // And a fresh service agrees at that moment.
    await expect(createTokenService(options).verifyAccessToken(token)).rejects.toMatchObject({
      reason: "expired",
    });
  });

  it("verifies in full a token one byte away from a remembered one", async () => {
    const token = await joseToken(claims());
    await expect(service.verifyAccessToken(token)).resolves.toHaveProperty("jti");
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const flipped = `${signature.slice(0, 10)}${signature[10] === "A" ? "B" : "A"}${signature.slice(11)}`;
    expect(await reasonOf(`${header}.${payload}.${flipped}`)).toBe(
      "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    );
    expect(await reasonOf(`${header}.${payload}.${signature}x`)).not.toBeUndefined();
    // The remembered one still passes.
    await expect(service.verifyAccessToken(token)).resolves.toHaveProperty("jti");
  });

  it("hands out claims nobody can change for the next request", async () => {
    const token = await joseToken(claims());
    const first = await service.verifyAccessToken(token);
    expect(Object.isFrozen(first)).toBe(true);
    expect(() => {
      (first as { tid: string | null }).tid = randomUUID();
    }).toThrow(TypeError);
    expect(await service.verifyAccessToken(token)).toEqual(first);
  });
});
