import { createHmac, randomUUID } from "node:crypto";
import { type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectProblem } from "../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext, type TestTenant } from "../helpers/tenancy.js";

/**
 * Every way an access token can be wrong, each answered 401 with a problem body and a
 * WWW-Authenticate challenge, and never with data. The one token that is merely late (expired
 * by less than the 30 s clock tolerance) still works.
 */

let ctx: TenancyTestContext;
let tenant: TestTenant;
beforeAll(async () => {
  ctx = await setupTenancyTest();
  tenant = await ctx.newTenant();
  // Data that must never show up in a rejected answer.
  const created = await ctx.app.inject({
    method: "POST",
    url: "/api/v1/notes",
    headers: tenant.headers,
    payload: { name: "secret-note" },
  });
  expect(created.statusCode).toBe(201);
});
afterAll(() => ctx.close());

const encoder = new TextEncoder();
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A complete, valid claim set for the test tenant; override or drop (undefined) any claim. */
function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const iat = nowSeconds();
  const all: Record<string, unknown> = {
    sub: tenant.userId,
    tid: tenant.tenant.id,
    sid: tenant.sessionId,
    jti: randomUUID(),
    iss: ctx.config.jwtIssuer,
    aud: ctx.config.jwtAudience,
    iat,
    exp: iat + 900,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined));
}

/** Signs `payload` as is with jose (no claim is added). */
function sign(
  payload: JWTPayload,
  { alg = "HS256", secret = ctx.config.secretKey }: { alg?: string; secret?: string } = {},
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(encoder.encode(secret));
}

/** A token assembled by hand: any header, HMAC-SHA256 over it with `secret`, or no signature. */
function handMade(
  header: Record<string, unknown>,
  payload: JWTPayload,
  secret: string | null,
): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature =
    secret === null ? "" : createHmac("sha256", secret).update(input).digest("base64url");
  return `${input}.${signature}`;
}

type Authorization = () => Promise<string | undefined>;
const bearer =
  (token: () => Promise<string> | string): Authorization =>
  async () =>
    `Bearer ${await token()}`;

const rejected: [string, Authorization][] = [
  ["no Authorization header", async () => undefined],
  ["an empty Authorization header", async () => ""],
  ['"Bearer" and nothing else', async () => "Bearer"],
  ['"Bearer " and an empty token', async () => "Bearer "],
  ["Bearer with garbage", async () => "Bearer garbage"],
  ["Bearer with three garbage segments", async () => "Bearer aaa.bbb.ccc"],
  ["Bearer with characters outside the token alphabet", async () => "Bearer <script>"],
  ["a Basic scheme", async () => `Basic ${Buffer.from("user:password").toString("base64")}`],
  ["a Basic scheme carrying a valid token", async () => `Basic ${tenant.token}`],
  [
    "a token signed with another secret",
    bearer(() => sign(claims(), { secret: "another-secret-of-at-least-thirty-two-characters" })),
  ],
  [
    "a token expired 5 minutes ago (issued 20 minutes ago)",
    bearer(() =>
      ctx.tokens.signAccessToken(
        { sub: tenant.userId, tid: tenant.tenant.id, sid: tenant.sessionId },
        { now: new Date(Date.now() - 20 * 60_000) },
      ),
    ),
  ],
  ["a wrong audience", bearer(() => sign(claims({ aud: "https://elsewhere.example/api" })))],
  ["a wrong issuer", bearer(() => sign(claims({ iss: "https://elsewhere.example" })))],
  ["no audience", bearer(() => sign(claims({ aud: undefined })))],
  ["no issuer", bearer(() => sign(claims({ iss: undefined })))],
  [
    "alg none with an empty signature",
    bearer(() => handMade({ alg: "none", typ: "JWT" }, claims(), null)),
  ],
  [
    "alg none with a valid HS256 signature appended",
    bearer(() => handMade({ alg: "none", typ: "JWT" }, claims(), ctx.config.secretKey)),
  ],
  ["HS512 with the right secret", bearer(() => sign(claims(), { alg: "HS512" }))],
  ["HS384 with the right secret", bearer(() => sign(claims(), { alg: "HS384" }))],
  [
    "a header saying RS256 over an HMAC signature",
    bearer(() => handMade({ alg: "RS256", typ: "JWT" }, claims(), ctx.config.secretKey)),
  ],
  [
    "a valid HS256 token with its signature stripped",
    bearer(async () => `${(await sign(claims())).split(".").slice(0, 2).join(".")}.`),
  ],
  [
    "a valid HS256 token with a changed payload",
    bearer(async () => {
      const [header, , signature] = (await sign(claims())).split(".");
      return `${header}.${b64url(claims({ tid: randomUUID() }))}.${signature}`;
    }),
  ],
  ["no tid", bearer(() => sign(claims({ tid: undefined })))],
  ["no sid", bearer(() => sign(claims({ sid: undefined })))],
  ["no sub", bearer(() => sign(claims({ sub: undefined })))],
  ["no jti", bearer(() => sign(claims({ jti: undefined })))],
  ["no exp", bearer(() => sign(claims({ exp: undefined })))],
  ["no iat", bearer(() => sign(claims({ iat: undefined })))],
  ["a tid that is not a UUID", bearer(() => sign(claims({ tid: "tenant-a" })))],
  ["a tid that is a number", bearer(() => sign(claims({ tid: 42 })))],
  ["a sub that is not a UUID", bearer(() => sign(claims({ sub: "admin" })))],
  [
    "a token for a tenant that does not exist",
    bearer(() =>
      ctx.tokens.signAccessToken({
        sub: tenant.userId,
        tid: randomUUID(),
        sid: tenant.sessionId,
      }),
    ),
  ],
];

describe("GET /api/v1/notes with a bad access token", () => {
  it.each(rejected)("%s answers 401 with a challenge and no data", async (_, authorization) => {
    const value = await authorization();
    const response = await ctx.app.inject({
      url: "/api/v1/notes",
      headers: value === undefined ? {} : { authorization: value },
    });
    const problem = expectProblem(response, "unauthorized", { instance: "/api/v1/notes" });
    expect(response.headers["www-authenticate"]).toMatch(/^Bearer\b/);
    expect(problem).not.toHaveProperty("items");
    expect(response.body).not.toContain("secret-note");
    expect(response.body).not.toContain(tenant.tenant.id);
  });
});

describe("GET /api/v1/notes with an acceptable access token", () => {
  const accepted: [string, () => Promise<string>][] = [
    ["the test tenant's own token", async () => tenant.token],
    [
      "a token expired 20 s ago (within the 30 s clock tolerance)",
      () =>
        ctx.tokens.signAccessToken(
          { sub: tenant.userId, tid: tenant.tenant.id, sid: tenant.sessionId },
          { now: new Date(Date.now() - (15 * 60 + 20) * 1000) },
        ),
    ],
    ["a hand-signed HS256 token with every claim", () => sign(claims())],
  ];

  it.each(accepted)("%s answers 200 with the tenant's notes", async (_, token) => {
    const response = await ctx.app.inject({
      url: "/api/v1/notes",
      headers: { authorization: `Bearer ${await token()}` },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<{ items: { name: string }[] }>().items.map((note) => note.name)).toEqual([
      "secret-note",
    ]);
  });
});
