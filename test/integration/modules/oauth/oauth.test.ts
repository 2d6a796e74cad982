import { createHash, randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../../../src/app.js";
import { users } from "../../../../src/core/database/index.js";
import { oneTimeTokens } from "../../../../src/modules/auth/one-time-tokens.table.js";
import { oauthAccounts } from "../../../../src/modules/oauth/oauth-accounts.table.js";
import { TEST_REDIS_URL, testConfig } from "../../../helpers/app.js";
import {
  FROM_THE_APP,
  login,
  PASSWORD,
  randomAddress,
  refresh,
  refreshCookieOf,
  register,
  type TokenBody,
  uniqueEmail,
} from "../../../helpers/auth.js";
import { markEmailVerified } from "../../../helpers/identity.js";
import { waitFor } from "../../../helpers/jobs.js";
import { LogCapture } from "../../../helpers/log-capture.js";
import {
  GITHUB_CLIENT,
  type GitHubStub,
  type GitHubUser,
  OIDC_CLIENT,
  type OidcProvider,
  startGitHubStub,
  startOidcProvider,
} from "../../../helpers/oauth-providers.js";
import { expectProblem } from "../../../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext } from "../../../helpers/tenancy.js";

/**
 * OAuth sign-in end to end: the kit's authorize redirect goes to a real OpenID Connect server
 * (Google's and Microsoft's shape) or to a stub of GitHub, whose redirect comes back to the
 * kit's callback, against the real PostgreSQL and Redis.
 */

let google: OidcProvider;
let microsoft: OidcProvider;
let github: GitHubStub;
let ctx: TenancyTestContext;
let env: Record<string, string>;
let redis: Redis;

beforeAll(async () => {
  [google, microsoft, github] = await Promise.all([
    startOidcProvider(),
    startOidcProvider(),
    startGitHubStub(),
  ]);
  env = {
    GOOGLE_CLIENT_ID: OIDC_CLIENT.id,
    GOOGLE_CLIENT_SECRET: OIDC_CLIENT.secret,
    GOOGLE_ISSUER: google.issuer,
    MICROSOFT_CLIENT_ID: OIDC_CLIENT.id,
    MICROSOFT_CLIENT_SECRET: OIDC_CLIENT.secret,
    MICROSOFT_ISSUER: microsoft.issuer,
    GITHUB_CLIENT_ID: GITHUB_CLIENT.id,
    GITHUB_CLIENT_SECRET: GITHUB_CLIENT.secret,
    GITHUB_URL: github.url,
    GITHUB_API_URL: github.apiUrl,
    OAUTH_TIMEOUT_MS: "1000",
    FRONTEND_URL: "http://app.example.test",
    CORS_ORIGINS: "http://app.example.test,http://admin.example.test",
  };
  ctx = await setupTenancyTest(env);
  env.DATABASE_URL = ctx.testDatabase.url;
  env.REDIS_URL = TEST_REDIS_URL;
  env.REDIS_KEY_PREFIX = ctx.config.redisKeyPrefix;
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(async () => {
  redis?.disconnect();
  await ctx?.close();
  await Promise.all([google?.stop(), microsoft?.stop(), github?.stop()]);
});

/** A person at a provider: a fresh subject and address for each test. */
function person(overrides: Record<string, unknown> = {}) {
  return {
    sub: `sub-${randomUUID()}`,
    email: uniqueEmail(),
    email_verified: true,
    name: "Grace Hopper",
    ...overrides,
  };
}

/** How Entra ID describes a person: no email_verified; xms_edov when the domain is verified. */
function entraPerson(overrides: Record<string, unknown> = {}) {
  return person({ email_verified: undefined, xms_edov: true, tid: randomUUID(), ...overrides });
}

/** A GitHub user with a fresh id and one primary, verified address unless told otherwise. */
function githubUser(overrides: Partial<GitHubUser> = {}): GitHubUser {
  return {
    id: 1_000_000 + Math.floor(Math.random() * 1_000_000_000),
    login: "hopper",
    name: null,
    emails: [{ email: uniqueEmail(), primary: true, verified: true }],
    ...overrides,
  };
}

interface Attempt {
  /** The provider's authorization URL the kit redirected to. */
  readonly authorizeUrl: URL;
  /** The browser binding cookie authorize set. */
  readonly binding: string;
}

async function startSignIn(
  app: FastifyInstance,
  provider: string,
  query = "",
  cookies: Record<string, string> = {},
): Promise<Attempt> {
  const response = await app.inject({
    method: "GET",
    url: `/api/v1/auth/oauth/${provider}/authorize${query}`,
    cookies,
    remoteAddress: randomAddress(),
  });
  expect(response.statusCode, response.body).toBe(302);
  const binding = response.cookies.find((cookie) => cookie.name === "oauth_binding");
  expect(binding?.value).toBeTruthy();
  return {
    authorizeUrl: new URL(response.headers.location as string),
    binding: binding?.value as string,
  };
}

/** Lets the provider handle the authorization request; returns the kit callback's path. */
async function passProvider(attempt: Attempt): Promise<string> {
  const response = await fetch(attempt.authorizeUrl, { redirect: "manual" });
  expect(response.status).toBe(302);
  const back = new URL(response.headers.get("location") as string);
  return `${back.pathname}${back.search}`;
}

function finish(
  app: FastifyInstance,
  callbackPath: string,
  options: { binding?: string | undefined; json?: boolean; browser?: boolean } = {},
): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {
    accept: options.json === false ? "text/html" : "application/json",
  };
  if (options.browser) {
    headers["sec-fetch-mode"] = "navigate";
    headers["sec-fetch-site"] = "cross-site";
  }
  return app.inject({
    method: "GET",
    url: callbackPath,
    headers,
    remoteAddress: randomAddress(),
    cookies: options.binding ? { oauth_binding: options.binding } : {},
  });
}

/** The whole flow for the person `claims` at `provider`; returns the callback's response. */
async function signInWith(
  provider: "google" | "microsoft" | "github",
  app: FastifyInstance = ctx.app,
  options: { json?: boolean; query?: string } = {},
) {
  const attempt = await startSignIn(app, provider, options.query);
  const callback = await passProvider(attempt);
  // As a browser sends it: the binding cookie is checked on every flow.
  return finish(app, callback, {
    binding: attempt.binding,
    json: options.json ?? true,
    browser: true,
  });
}

const stateKeyOf = (attempt: Attempt) => {
  const state = attempt.authorizeUrl.searchParams.get("state") as string;
  const hash = createHash("sha256").update(state).digest("hex");
  return `${ctx.config.redisKeyPrefix}one-time:oauth-state:${hash}`;
};

const accountsOf = (userId: string) =>
  ctx.database.bypassTenantIsolation("test", (db) =>
    db.select().from(oauthAccounts).where(eq(oauthAccounts.userId, userId)),
  );

/** The email-verification tokens issued to a user (one per mailed link). */
const verificationTokensOf = (userId: string) =>
  ctx.database.bypassTenantIsolation("test", (db) =>
    db
      .select()
      .from(oneTimeTokens)
      .where(
        and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, "email-verification")),
      ),
  );

const userByEmail = async (email: string) =>
  (
    await ctx.database.bypassTenantIsolation("test", (db) =>
      db.select().from(users).where(eq(users.email, email)),
    )
  )[0];

beforeEach(() => {
  google.claims = person();
  microsoft.claims = entraPerson();
  github.tokenDelayMs = 0;
  github.userStatus = 200;
});

describe("providers and authorize", () => {
  it("lists the configured providers only", async () => {
    const response = await ctx.app.inject({ method: "GET", url: "/api/v1/auth/oauth/providers" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      providers: [{ name: "google" }, { name: "microsoft" }, { name: "github" }],
    });

    const bare = await createApp(testConfig({ GOOGLE_CLIENT_ID: "id-without-a-secret" }));
    try {
      const none = await bare.inject({ method: "GET", url: "/api/v1/auth/oauth/providers" });
      expect(none.json()).toEqual({ providers: [] });
      const authorize = await bare.inject({
        method: "GET",
        url: "/api/v1/auth/oauth/google/authorize",
      });
      expectProblem(authorize, "not-found");
    } finally {
      await bare.close();
    }
  });

  it("404s an unknown or unconfigured provider, and sets no cookie", async () => {
    const response = await ctx.app.inject({
      method: "GET",
      url: "/api/v1/auth/oauth/facebook/authorize",
    });
    expectProblem(response, "not-found");
    expect(response.headers["set-cookie"]).toBeUndefined();

    const bare = await createApp(testConfig());
    try {
      const unconfigured = await bare.inject({
        method: "GET",
        url: "/api/v1/auth/oauth/google/authorize",
      });
      expectProblem(unconfigured, "not-found");
      expect(unconfigured.headers["set-cookie"]).toBeUndefined();
    } finally {
      await bare.close();
    }
  });

  it("redirects with state, PKCE S256 and a nonce, and keeps the state for 10 minutes", async () => {
    const attempt = await startSignIn(ctx.app, "google");
    const query = attempt.authorizeUrl.searchParams;
    expect(attempt.authorizeUrl.origin).toBe(new URL(google.issuer).origin);
    expect(query.get("response_type")).toBe("code");
    expect(query.get("client_id")).toBe(OIDC_CLIENT.id);
    expect(query.get("redirect_uri")).toBe(
      `${ctx.config.publicUrl}/api/v1/auth/oauth/google/callback`,
    );
    expect(query.get("scope")).toBe("openid email profile");
    expect(query.get("code_challenge_method")).toBe("S256");
    expect(query.get("code_challenge")).toMatch(/^[\w-]{43}$/);
    expect(query.get("state")).toMatch(/^[\w-]{43,}$/);
    expect(query.get("nonce")).toMatch(/^[\w-]{43,}$/);
    const ttl = await redis.ttl(stateKeyOf(attempt));
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
    // The state is stored under its hash, and the record does not repeat it.
    const stored = await redis.get(stateKeyOf(attempt));
    expect(stored).toBeTruthy();
    expect(stored).not.toContain(query.get("state"));
  });

  it("sends GitHub to its authorize endpoint with PKCE and no nonce", async () => {
    const attempt = await startSignIn(ctx.app, "github");
    expect(`${attempt.authorizeUrl.origin}${attempt.authorizeUrl.pathname}`).toBe(
      `${github.url}/login/oauth/authorize`,
    );
    expect(attempt.authorizeUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(attempt.authorizeUrl.searchParams.get("scope")).toBe("read:user user:email");
    expect(attempt.authorizeUrl.searchParams.has("nonce")).toBe(false);
  });

  it("refuses a redirectTo outside the front end, and stores nothing", async () => {
    for (const redirectTo of [
      "https://evil.example",
      "//evil.example/path",
      "/\\evil.example",
      "javascript:alert(1)",
      "http://app.example.test.evil.example/",
    ]) {
      const keysBefore = await redis.keys(`${ctx.config.redisKeyPrefix}one-time:*`);
      const response = await ctx.app.inject({
        method: "GET",
        url: `/api/v1/auth/oauth/google/authorize?redirectTo=${encodeURIComponent(redirectTo)}`,
      });
      const problem = expectProblem(response, "validation-failed");
      expect(problem.errors?.[0]?.field).toBe("redirectTo");
      expect(response.headers["set-cookie"]).toBeUndefined();
      expect(await redis.keys(`${ctx.config.redisKeyPrefix}one-time:*`)).toHaveLength(
        keysBefore.length,
      );
    }
  });
});

describe("callback: who signs in", () => {
  it("creates a verified user with a tenant of their own, sets the cookie, and answers tokens", async () => {
    // A Workspace account (hd): Google is the address's authority, so it counts as verified.
    google.claims = person({ hd: "example.test" });
    const response = await signInWith("google");
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<TokenBody>();
    expect(body).toMatchObject({
      tokenType: "Bearer",
      expiresIn: 900,
      user: { email: google.claims.email, name: "Grace Hopper", emailVerified: true },
      tenant: { name: "Grace Hopper's workspace" },
    });
    const cookie = refreshCookieOf(response);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/api/v1/auth" });
    expect(response.headers["cache-control"]).toBe("no-store");

    const me = await ctx.app.inject({
      method: "GET",
      url: "/api/v1/auth/me",
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    expect(me.json()).toMatchObject({ roles: ["owner"] });
    const user = await userByEmail(google.claims.email as string);
    expect(user?.passwordHash).toBeNull();
    // Nothing to verify, so no verification link is mailed.
    expect(await verificationTokensOf(body.user.id)).toEqual([]);
    expect(await accountsOf(body.user.id)).toEqual([
      expect.objectContaining({
        provider: "google",
        providerAccountId: google.claims.sub,
        email: google.claims.email,
      }),
    ]);
  });

  it("creates a Gmail user as verified, without an hd claim", async () => {
    const email = `hopper.${randomUUID()}@gmail.com`;
    google.claims = person({ email });
    const response = await signInWith("google");
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<TokenBody>();
    expect(body.user).toMatchObject({ email, emailVerified: true });
    expect(await verificationTokensOf(body.user.id)).toEqual([]);
  });

  it("creates a user whose address Google is not the authority for as unverified, and mails the link", async () => {
    // Jobs run in this app's process, so the email is read as its recipient would read it.
    const app = await createApp(testConfig({ ...env, REDIS_URL: "" }));
    try {
      // A personal Google account made with a work address: verified by Google once, not vouched.
      const email = uniqueEmail();
      google.claims = person({ email });
      const response = await signInWith("google", app);
      expect(response.statusCode, response.body).toBe(200);
      const body = response.json<TokenBody>();
      expect(body.user).toMatchObject({ email, emailVerified: false });
      expect((await userByEmail(email))?.emailVerifiedAt).toBeNull();
      expect(await accountsOf(body.user.id)).toHaveLength(1);

      const link = await waitFor("the verification email", () =>
        app.mailer.outbox
          .filter((message) => message.to === email)
          .flatMap((message) => message.text.match(/https?:\/\/\S+/g) ?? [])
          .find((candidate) => candidate.startsWith(`${env.FRONTEND_URL}/verify-email?token=`)),
      );
      const verify = await app.inject({
        method: "POST",
        url: "/api/v1/auth/email/verify",
        payload: { token: new URL(link).searchParams.get("token") },
        remoteAddress: randomAddress(),
      });
      expect(verify.statusCode, verify.body).toBe(204);
      expect((await userByEmail(email))?.emailVerifiedAt).toBeInstanceOf(Date);
    } finally {
      await app.close();
    }
  });

  it("redirects a browser to the front end with the cookie set", async () => {
    const attempt = await startSignIn(ctx.app, "google", "?redirectTo=%2Fprojects%3Ftab%3D1");
    const callback = await passProvider(attempt);
    const response = await finish(ctx.app, callback, {
      binding: attempt.binding,
      json: false,
      browser: true,
    });
    expect(response.statusCode, response.body).toBe(302);
    expect(response.headers.location).toBe("http://app.example.test/projects?tab=1");
    const cookie = refreshCookieOf(response);
    expect(cookie?.value).toBeTruthy();
    const refreshed = await refresh(ctx.app, cookie?.value as string);
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json<TokenBody>().user.email).toBe(google.claims.email);
  });

  it("redirects to an allowed absolute URL, and to FRONTEND_URL by default", async () => {
    const target = "http://admin.example.test/welcome";
    const attempt = await startSignIn(
      ctx.app,
      "google",
      `?redirectTo=${encodeURIComponent(target)}`,
    );
    const response = await finish(ctx.app, await passProvider(attempt), {
      binding: attempt.binding,
      json: false,
    });
    expect(response.headers.location).toBe(target);

    google.claims = person();
    const plain = await signInWith("google", ctx.app, { json: false });
    expect(plain.statusCode).toBe(302);
    expect(plain.headers.location).toBe("http://app.example.test");
  });

  it("signs a returning user in to the same account, whatever the provider's email says now", async () => {
    const first = (await signInWith("google")).json<TokenBody>();
    google.claims = { ...google.claims, email: uniqueEmail(), name: "Renamed" };
    const second = await signInWith("google");
    expect(second.statusCode).toBe(200);
    expect(second.json<TokenBody>().user.id).toBe(first.user.id);
    expect(second.json<TokenBody>().user.email).toBe(first.user.email);
    expect(await accountsOf(first.user.id)).toHaveLength(1);
  });

  it("links to an existing user by an email both sides verified, keeping their password", async () => {
    const existing = await register(ctx.app);
    await markEmailVerified(ctx.database, existing.body.user.id);
    // A Workspace account (hd): Google is the address's authority.
    google.claims = person({ email: existing.email.toUpperCase(), hd: "example.test" });
    const response = await signInWith("google");
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<TokenBody>().user.id).toBe(existing.body.user.id);
    expect(response.json<TokenBody>().tenant.id).toBe(existing.body.tenant.id);
    expect(await accountsOf(existing.body.user.id)).toHaveLength(1);
    expect((await login(ctx.app, { email: existing.email, password: PASSWORD })).statusCode).toBe(
      200,
    );
    // The link is in the tenant's audit log.
    const audit = await ctx.app.inject({
      method: "GET",
      url: "/api/v1/audit-logs?action=oauth.account_linked",
      headers: { authorization: `Bearer ${response.json<TokenBody>().accessToken}` },
    });
    expect(audit.json().items[0]).toMatchObject({
      resourceType: "oauth_account",
      metadata: { provider: "google", newUser: false },
    });
  });

  it("refuses to link to an account whose own address was never verified", async () => {
    // Someone may have registered the address without owning it, to wait for its owner.
    const unverified = await register(ctx.app);
    google.claims = person({ email: unverified.email, hd: "example.test" });
    const response = await signInWith("google");
    expect(expectProblem(response, "conflict").detail).toMatch(/never verified/);
    expect(await accountsOf(unverified.body.user.id)).toHaveLength(0);
    // Once the address is verified by the mailed link, the same sign-in links.
    await markEmailVerified(ctx.database, unverified.body.user.id);
    const linked = await signInWith("google");
    expect(linked.json<TokenBody>().user.id).toBe(unverified.body.user.id);
  });

  it("links by a Google address only where Google is its authority (Gmail or a Workspace domain)", async () => {
    const existing = await register(ctx.app);
    await markEmailVerified(ctx.database, existing.body.user.id);
    // A personal Google account made with someone's work address: verified once, not vouched.
    google.claims = person({ email: existing.email });
    expect(expectProblem(await signInWith("google"), "conflict").detail).toMatch(
      /does not vouch for the address/,
    );
    expect(await accountsOf(existing.body.user.id)).toHaveLength(0);
    // Such an account may still sign up on its own, its address unverified until the mailed
    // link is followed.
    google.claims = person();
    expect((await signInWith("google")).statusCode).toBe(200);
  });

  it("refuses to link by an email the provider did not verify, and changes nothing", async () => {
    const existing = await register(ctx.app);
    await markEmailVerified(ctx.database, existing.body.user.id);
    google.claims = person({ email: existing.email, email_verified: false, hd: "example.test" });
    const response = await signInWith("google");
    expectProblem(response, "conflict");
    expect(refreshCookieOf(response)).toBeUndefined();
    expect(await accountsOf(existing.body.user.id)).toHaveLength(0);
    expect((await login(ctx.app, { email: existing.email, password: PASSWORD })).statusCode).toBe(
      200,
    );
  });

  it("refuses to create an account without a verified email", async () => {
    for (const claims of [person({ email_verified: false }), person({ email: undefined })]) {
      google.claims = claims;
      const response = await signInWith("google");
      expectProblem(response, "forbidden");
      if (typeof claims.email === "string") expect(await userByEmail(claims.email)).toBeUndefined();
    }
  });

  it("refuses a second account of the same provider for one user", async () => {
    const email = uniqueEmail();
    google.claims = person({ email, hd: "example.test" });
    const first = (await signInWith("google")).json<TokenBody>();
    google.claims = person({ email, hd: "example.test" });
    const second = await signInWith("google");
    expect(expectProblem(second, "conflict").detail).toMatch(/already linked to another google/);
    expect(await accountsOf(first.user.id)).toHaveLength(1);
  });

  it("treats an address the kit cannot store as no address, and refuses an unusable account id", async () => {
    google.claims = person({ email: `${"a".repeat(320)}@example.test` });
    expectProblem(await signInWith("google"), "forbidden");
    google.claims = person({ sub: "s".repeat(256) });
    expectProblem(await signInWith("google"), "bad-gateway");
  });

  it("reads Microsoft's verified-domain claim (xms_edov), and nothing else, as a verified email", async () => {
    const existing = await register(ctx.app);
    await markEmailVerified(ctx.database, existing.body.user.id);
    microsoft.claims = entraPerson({ email: existing.email, xms_edov: undefined });
    expectProblem(await signInWith("microsoft"), "conflict");
    microsoft.claims = entraPerson({ email: existing.email, xms_edov: false });
    expectProblem(await signInWith("microsoft"), "conflict");
    microsoft.claims = entraPerson({ email: existing.email });
    const linked = await signInWith("microsoft");
    expect(linked.statusCode, linked.body).toBe(200);
    expect(linked.json<TokenBody>().user.id).toBe(existing.body.user.id);
  });

  it("signs in with GitHub by its primary verified email, and finds the user by id next time", async () => {
    const email = uniqueEmail();
    github.user = githubUser({
      emails: [
        { email: uniqueEmail(), primary: false, verified: true },
        { email, primary: true, verified: true },
      ],
    });
    const response = await signInWith("github");
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<TokenBody>();
    expect(body.user).toMatchObject({ email, name: "hopper", emailVerified: true });
    github.user = {
      ...github.user,
      emails: [{ email: uniqueEmail(), primary: true, verified: true }],
    };
    const again = await signInWith("github");
    expect(again.json<TokenBody>().user.id).toBe(body.user.id);
    expect(github.pendingCodes).toBe(0);
  });

  it("holds a provider's name to the kit's rules for names: no controls, no bidi overrides", async () => {
    const email = uniqueEmail();
    github.user = githubUser({
      name: "Grace\u202E\u0000 Hopper\r\nSecurity Team\u200B",
      emails: [{ email, primary: true, verified: true }],
    });
    const response = await signInWith("github");
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<TokenBody>();
    expect(body.user.name).toBe("Grace Hopper Security Team");
    expect(body.tenant?.name).toBe("Grace Hopper Security Team's workspace");
  });

  it("refuses GitHub sign-up when the primary email is unverified, even with another verified", async () => {
    github.user = githubUser({
      emails: [
        { email: uniqueEmail(), primary: true, verified: false },
        { email: uniqueEmail(), primary: false, verified: true },
      ],
    });
    expectProblem(await signInWith("github"), "forbidden");
  });

  it("refuses a deactivated user", async () => {
    const { user } = (await signInWith("google")).json<TokenBody>();
    await ctx.database.bypassTenantIsolation("test", (db) =>
      db.update(users).set({ isActive: false }).where(eq(users.id, user.id)),
    );
    const response = await signInWith("google");
    expect(expectProblem(response, "forbidden").detail).toBe("This account is deactivated.");
    expect(refreshCookieOf(response)).toBeUndefined();
  });

  it("makes one user of first sign-ins racing each other", async () => {
    const attempts = await Promise.all(
      Array.from({ length: 4 }, () => startSignIn(ctx.app, "google")),
    );
    const callbacks = await Promise.all(attempts.map(passProvider));
    const responses = await Promise.all(
      callbacks.map((callback, i) =>
        finish(ctx.app, callback, { binding: attempts[i]?.binding, browser: true }),
      ),
    );
    for (const response of responses) expect(response.statusCode, response.body).toBe(200);
    const ids = new Set(responses.map((response) => response.json<TokenBody>().user.id));
    expect(ids.size).toBe(1);
    expect(await accountsOf([...ids][0] as string)).toHaveLength(1);
  });
});

describe("callback: state", () => {
  it("answers 400 to a missing state", async () => {
    const response = await finish(ctx.app, "/api/v1/auth/oauth/google/callback?code=abc");
    expectProblem(response, "bad-request");
  });

  it("answers 400 to an unknown state", async () => {
    const response = await finish(
      ctx.app,
      `/api/v1/auth/oauth/google/callback?code=abc&state=${randomUUID()}`,
    );
    expectProblem(response, "bad-request");
  });

  it("answers 400 to a reused state, even after a successful sign-in", async () => {
    const attempt = await startSignIn(ctx.app, "google");
    const callback = await passProvider(attempt);
    expect((await finish(ctx.app, callback, { binding: attempt.binding })).statusCode).toBe(200);
    const again = await finish(ctx.app, callback, { binding: attempt.binding });
    expect(expectProblem(again, "bad-request").detail).toMatch(/unknown, expired or already used/);
    expect(refreshCookieOf(again)).toBeUndefined();
  });

  it("answers 400 to an expired state", async () => {
    const attempt = await startSignIn(ctx.app, "google");
    const callback = await passProvider(attempt);
    expect(await redis.pexpire(stateKeyOf(attempt), 1)).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expectProblem(await finish(ctx.app, callback, { binding: attempt.binding }), "bad-request");
  });

  it("answers 400 to a state of another provider", async () => {
    const attempt = await startSignIn(ctx.app, "google");
    const callback = await passProvider(attempt);
    const response = await finish(ctx.app, callback.replace("/google/", "/microsoft/"), {
      binding: attempt.binding,
    });
    expectProblem(response, "bad-request");
  });

  it("refuses a browser that did not start the sign-in (login CSRF)", async () => {
    const attempt = await startSignIn(ctx.app, "google");
    const callback = await passProvider(attempt);
    // The victim's browser: no binding cookie, or its own.
    const foreign = await startSignIn(ctx.app, "github");
    for (const binding of [undefined, foreign.binding]) {
      const response = await finish(ctx.app, callback, { binding, browser: true, json: false });
      expectProblem(response, "bad-request");
    }
    expect(await userByEmail(google.claims.email as string)).toBeUndefined();
  });

  it("keeps one binding per browser, so two sign-ins in two tabs both work", async () => {
    const first = await startSignIn(ctx.app, "google");
    const second = await startSignIn(ctx.app, "google", "", { oauth_binding: first.binding });
    expect(second.binding).toBe(first.binding);
    const firstCallback = await passProvider(first);
    google.claims = person();
    const secondCallback = await passProvider(second);
    for (const callback of [secondCallback, firstCallback]) {
      const response = await finish(ctx.app, callback, { binding: first.binding, browser: true });
      expect(response.statusCode, response.body).toBe(200);
    }
  });

  it("works across two API processes and across a restart (the state is in Redis)", async () => {
    const starting = await createApp(testConfig(env));
    const attempt = await startSignIn(starting, "google");
    await starting.close();
    const callback = await passProvider(attempt);
    // The callback reaches another process, started after the first one stopped.
    const response = await finish(ctx.app, callback, { binding: attempt.binding });
    expect(response.statusCode, response.body).toBe(200);
  });
});

describe("callback: provider answers", () => {
  it("turns error=access_denied into a 400 problem, and the state is used up", async () => {
    const attempt = await startSignIn(ctx.app, "google");
    const state = attempt.authorizeUrl.searchParams.get("state");
    const response = await finish(
      ctx.app,
      `/api/v1/auth/oauth/google/callback?error=access_denied&error_description=User+cancelled&state=${state}`,
      { binding: attempt.binding },
    );
    expect(expectProblem(response, "bad-request").detail).toMatch(/access_denied.*User cancelled/);
    expect(await redis.exists(stateKeyOf(attempt))).toBe(0);
  });

  it("refuses an ID token with the wrong nonce", async () => {
    google.claims = { ...person(), nonce: "somebody-elses-nonce" };
    const response = await signInWith("google");
    expect(expectProblem(response, "bad-request").detail).toMatch(/ID token failed validation/);
    expect(await userByEmail(google.claims.email as string)).toBeUndefined();
  });

  it("refuses an ID token for another audience", async () => {
    google.claims = { ...person(), aud: "another-client" };
    const response = await signInWith("google");
    expect(expectProblem(response, "bad-request").detail).toMatch(/ID token failed validation/);
  });

  it("refuses an expired ID token", async () => {
    google.claims = { ...person(), exp: Math.floor(Date.now() / 1000) - 3600 };
    expect(expectProblem(await signInWith("google"), "bad-request").detail).toMatch(
      /ID token failed validation/,
    );
  });

  it("refuses an ID token whose signature does not match (tampered in transit)", async () => {
    const target = person();
    google.claims = person();
    google.server.service.once("beforeResponse", (response: { body: { id_token: string } }) => {
      const [header, payload, signature] = response.body.id_token.split(".");
      const claims = JSON.parse(Buffer.from(payload as string, "base64url").toString());
      const forged = Buffer.from(JSON.stringify({ ...claims, ...target })).toString("base64url");
      response.body.id_token = `${header}.${forged}.${signature}`;
    });
    const response = await signInWith("google");
    expect(expectProblem(response, "bad-request").detail).toMatch(/ID token failed validation/);
    expect(await userByEmail(target.email)).toBeUndefined();
  });

  it("answers 400 when the provider refuses the code, and 502 when its token endpoint fails", async () => {
    google.server.service.once(
      "beforeResponse",
      (response: { statusCode: number; body: unknown }) => {
        response.statusCode = 400;
        response.body = { error: "invalid_grant", error_description: "code expired" };
      },
    );
    expect(expectProblem(await signInWith("google"), "bad-request").detail).toMatch(
      /refused the sign-in code \(invalid_grant\)/,
    );

    google.server.service.once(
      "beforeResponse",
      (response: { statusCode: number; body: unknown }) => {
        response.statusCode = 503;
        response.body = { message: "down for maintenance" };
      },
    );
    expectProblem(await signInWith("google"), "bad-gateway");
  });

  it("answers 502 when GitHub's API fails or answers nonsense, and creates nobody", async () => {
    for (const [status, detail] of [
      [500, /answered 500 to GET \/user/],
      [299, /malformed answer to GET \/user/],
    ] as const) {
      github.user = githubUser();
      github.userStatus = status;
      expect(expectProblem(await signInWith("github"), "bad-gateway").detail).toMatch(detail);
      expect(await userByEmail(github.user.emails[0]?.email as string)).toBeUndefined();
    }
  });

  it("answers 502 when the provider does not answer in time", async () => {
    github.user = githubUser();
    github.tokenDelayMs = 1_500;
    const response = await signInWith("github");
    expect(expectProblem(response, "bad-gateway").detail).toMatch(/did not answer in time/);
  });

  it("answers 502 when the provider cannot be reached", async () => {
    const offline = await startOidcProvider();
    const issuer = offline.issuer;
    await offline.stop();
    const logs = new LogCapture();
    const app = await createApp(testConfig({ ...env, GOOGLE_ISSUER: issuer, LOG_LEVEL: "info" }), {
      logStream: logs,
    });
    try {
      const response = await app.inject({
        method: "GET",
        url: "/api/v1/auth/oauth/google/authorize",
      });
      expect(expectProblem(response, "bad-gateway").detail).toMatch(/could not be reached/);
      // The operator learns why; the client does not.
      const [logged] = logs.matching({ msg: "upstream failure" });
      expect(logged).toMatchObject({ code: "bad-gateway", cause: { name: expect.any(String) } });
      expect(response.body).not.toContain("ECONNREFUSED");
    } finally {
      await app.close();
    }
  });

  it("passes GitHub's refused code (an error in a 200 answer) on as a 400", async () => {
    github.user = githubUser();
    const attempt = await startSignIn(ctx.app, "github");
    const callback = await passProvider(attempt);
    // The code is spent at GitHub before the kit exchanges it.
    const code = new URL(callback, "http://x").searchParams.get("code") as string;
    await fetch(`${github.url}/login/oauth/access_token`, {
      method: "POST",
      body: new URLSearchParams({
        code,
        client_id: GITHUB_CLIENT.id,
        client_secret: GITHUB_CLIENT.secret,
      }),
    });
    const response = await finish(ctx.app, callback, { binding: attempt.binding });
    expect(expectProblem(response, "bad-request").detail).toMatch(
      /refused the sign-in code \(bad_verification_code\)/,
    );
  });
});

describe("Microsoft's multi-tenant issuer (common)", () => {
  // Entra ID's discovery for `common` names the issuer
  // https://login.microsoftonline.com/{tenantid}/v2.0, and each ID token carries its directory's
  // own issuer and `tid`. This server plays login.microsoftonline.com: requests to it are routed
  // to a local OIDC server publishing exactly that.
  let entra: OidcProvider;
  let app: FastifyInstance;
  const realFetch = globalThis.fetch;
  const ENTRA = /^https:\/\/login\.microsoftonline\.com\/[^/]+\/v2\.0/;

  beforeAll(async () => {
    entra = await startOidcProvider();
    const local = entra.issuer;
    entra.server.issuer.url = "https://login.microsoftonline.com/{tenantid}/v2.0";
    globalThis.fetch = (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      return realFetch(ENTRA.test(url) ? url.replace(ENTRA, local) : input, init);
    };
    app = await createApp(testConfig({ ...env, MICROSOFT_ISSUER: "", MICROSOFT_TENANT: "" }));
  });
  afterAll(async () => {
    globalThis.fetch = realFetch;
    await app?.close();
    await entra?.stop();
  });

  it("accepts an ID token whose issuer is its own directory's", async () => {
    const attempt = await startSignIn(app, "microsoft");
    expect(attempt.authorizeUrl.href).toMatch(/^https:\/\/login\.microsoftonline\.com\//);
    const tid = randomUUID();
    entra.claims = entraPerson({ tid, iss: `https://login.microsoftonline.com/${tid}/v2.0` });
    const response = await finish(app, await passProvider(attempt), { binding: attempt.binding });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<TokenBody>().user.email).toBe(entra.claims.email);
  });

  it("refuses an ID token whose issuer is another directory than its tid", async () => {
    const attempt = await startSignIn(app, "microsoft");
    entra.claims = entraPerson({
      tid: randomUUID(),
      iss: `https://login.microsoftonline.com/${randomUUID()}/v2.0`,
    });
    const response = await finish(app, await passProvider(attempt), { binding: attempt.binding });
    expect(expectProblem(response, "bad-request").detail).toMatch(/ID token failed validation/);
  });
});

describe("linked accounts", () => {
  const accounts = (accessToken: string) =>
    ctx.app.inject({
      method: "GET",
      url: "/api/v1/users/me/accounts",
      headers: { authorization: `Bearer ${accessToken}` },
    });
  const unlink = (accessToken: string, provider: string) =>
    ctx.app.inject({
      method: "DELETE",
      url: `/api/v1/users/me/accounts/${provider}`,
      headers: { authorization: `Bearer ${accessToken}` },
    });

  it("lists a user's linked accounts, and refuses to unlink the last way to sign in", async () => {
    const email = uniqueEmail();
    // A Workspace account, so the address is verified and Microsoft's sign-in links to it.
    google.claims = person({ email, hd: "example.test" });
    const { accessToken } = (await signInWith("google")).json<TokenBody>();
    const listed = await accounts(accessToken);
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toEqual({
      items: [
        {
          provider: "google",
          email,
          linkedAt: expect.any(String),
          lastUsedAt: expect.any(String),
        },
      ],
    });
    expectProblem(await unlink(accessToken, "google"), "conflict");
    expectProblem(await unlink(accessToken, "github"), "not-found");

    // With a second provider linked, the first may go.
    microsoft.claims = person({ email });
    expect((await signInWith("microsoft")).statusCode).toBe(200);
    expect((await unlink(accessToken, "google")).statusCode).toBe(204);
    expect(
      (await accounts(accessToken)).json().items.map((a: { provider: string }) => a.provider),
    ).toEqual(["microsoft"]);
    expectProblem(await unlink(accessToken, "microsoft"), "conflict");
  });

  it("lets a user with a password unlink their only provider", async () => {
    const existing = await register(ctx.app);
    await markEmailVerified(ctx.database, existing.body.user.id);
    google.claims = person({ email: existing.email, hd: "example.test" });
    expect((await signInWith("google")).statusCode).toBe(200);
    expect((await unlink(existing.accessToken, "google")).statusCode).toBe(204);
    expect(await accountsOf(existing.body.user.id)).toHaveLength(0);
    // Unlinked means a new sign-in with that provider account links again (verified email).
    expect((await signInWith("google")).json<TokenBody>().user.id).toBe(existing.body.user.id);
  });

  const startLink = (accessToken: string, provider: string, payload: Record<string, string> = {}) =>
    ctx.app.inject({
      method: "POST",
      url: `/api/v1/users/me/accounts/${provider}`,
      headers: { authorization: `Bearer ${accessToken}` },
      payload,
      remoteAddress: randomAddress(),
    });

  /** Starts a link as `accessToken`'s user, passes the provider, and sends the callback. */
  async function linkWith(accessToken: string, provider: string, json = true) {
    const started = await startLink(accessToken, provider, { redirectTo: "/settings/accounts" });
    expect(started.statusCode, started.body).toBe(200);
    const binding = started.cookies.find((cookie) => cookie.name === "oauth_binding")?.value;
    expect(binding).toBeTruthy();
    const attempt = {
      authorizeUrl: new URL(started.json().authorizeUrl),
      binding: binding as string,
    };
    return finish(ctx.app, await passProvider(attempt), { binding, browser: true, json });
  }

  it("links an account to the signed-in user whatever its email, then signs them in with it", async () => {
    const existing = await register(ctx.app);
    // Another address, not vouched for: linking by email would refuse it, linking on request not.
    google.claims = person();
    const response = await linkWith(existing.accessToken, "google", false);
    expect(response.statusCode, response.body).toBe(302);
    expect(response.headers.location).toBe("http://app.example.test/settings/accounts");
    expect(refreshCookieOf(response)).toBeUndefined();
    expect((await accounts(existing.accessToken)).json().items).toEqual([
      expect.objectContaining({ provider: "google", email: google.claims.email }),
    ]);
    const signedIn = await signInWith("google");
    expect(signedIn.json<TokenBody>().user.id).toBe(existing.body.user.id);
    const audit = await ctx.app.inject({
      method: "GET",
      url: "/api/v1/audit-logs?action=oauth.account_linked",
      headers: existing.headers,
    });
    expect(audit.json().items[0]).toMatchObject({
      actor: { id: existing.body.user.id },
      metadata: { provider: "google", requestedBySignedInUser: true },
    });
  });

  it("answers the linked account to a JSON callback", async () => {
    const existing = await register(ctx.app);
    microsoft.claims = entraPerson();
    const response = await linkWith(existing.accessToken, "microsoft");
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      provider: "microsoft",
      email: microsoft.claims.email,
      linkedAt: expect.any(String),
      lastUsedAt: expect.any(String),
    });
  });

  it("refuses to link another user's account, or a second account of one provider", async () => {
    const owner = person();
    google.claims = owner;
    expect((await signInWith("google")).statusCode).toBe(200);
    const other = await register(ctx.app);
    google.claims = owner;
    expect(expectProblem(await linkWith(other.accessToken, "google"), "conflict").detail).toMatch(
      /linked to another user/,
    );
    google.claims = person();
    expect((await linkWith(other.accessToken, "google")).statusCode).toBe(200);
    google.claims = person();
    expect(expectProblem(await linkWith(other.accessToken, "google"), "conflict").detail).toMatch(
      /linked already/,
    );
    expect(await accountsOf(other.body.user.id)).toHaveLength(1);
  });

  it("refuses to start a link to an unconfigured provider or a redirect off the front end", async () => {
    const user = await register(ctx.app);
    const unknown = await startLink(user.accessToken, "facebook");
    expectProblem(unknown, "not-found");
    const offFrontEnd = await startLink(user.accessToken, "google", {
      redirectTo: "https://evil.example",
    });
    expectProblem(offFrontEnd, "validation-failed");
    // Nothing was started, so no binding cookie is set either.
    expect(unknown.headers["set-cookie"]).toBeUndefined();
    expect(offFrontEnd.headers["set-cookie"]).toBeUndefined();
    expectProblem(
      await startLink(user.accessToken, "google", { tenantId: "x" }),
      "validation-failed",
    );
  });

  it("needs a signed-in user", async () => {
    expectProblem(
      await ctx.app.inject({ method: "GET", url: "/api/v1/users/me/accounts" }),
      "unauthorized",
    );
    expectProblem(
      await ctx.app.inject({
        method: "POST",
        url: "/api/v1/users/me/accounts/google",
        payload: {},
      }),
      "unauthorized",
    );
    expectProblem(
      await ctx.app.inject({
        method: "DELETE",
        url: "/api/v1/users/me/accounts/google",
        headers: FROM_THE_APP,
      }),
      "unauthorized",
    );
  });
});
