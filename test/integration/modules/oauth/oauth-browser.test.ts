import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createApp } from "../../../../src/app.js";
import { TEST_REDIS_URL, testConfig } from "../../../helpers/app.js";
import {
  OIDC_CLIENT,
  type OidcProvider,
  startOidcProvider,
} from "../../../helpers/oauth-providers.js";
import { createTestDatabase, type TestDatabase } from "../../../helpers/test-database.js";

/**
 * The OAuth sign-in in a real browser (Debian's headless Chromium, driven by playwright-core):
 * the kit's authorize redirect, the provider, the kit's callback, and the landing on the front
 * end with the refresh cookie set; then the front-end page calls /auth/refresh with that cookie.
 * The provider is at `localhost` and the kit at `127.0.0.1`, so the provider's redirect back is
 * a cross-site navigation, as it is in production. A second test links an account from the front
 * end's settings: the binding cookie comes from a credentialed fetch, the link from a navigation.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let provider: OidcProvider;
let frontend: Server;
let testDatabase: TestDatabase;
let app: FastifyInstance;
let browser: Browser;
let apiUrl: string;
let frontendUrl: string;

/** The front end's landing page: it gets an access token with the cookie, as an SPA does. */
const LANDING_PAGE = `<!doctype html><title>Signed in</title><h1>Signed in</h1>`;

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

beforeAll(async () => {
  provider = await startOidcProvider("localhost");
  frontend = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end(LANDING_PAGE);
  });
  await new Promise<void>((resolve) => frontend.listen(0, "127.0.0.1", resolve));
  frontendUrl = `http://127.0.0.1:${(frontend.address() as AddressInfo).port}`;

  testDatabase = await createTestDatabase();
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  app = await createApp(
    testConfig({
      DATABASE_URL: testDatabase.url,
      REDIS_URL: TEST_REDIS_URL,
      PUBLIC_URL: apiUrl,
      FRONTEND_URL: frontendUrl,
      CORS_ORIGINS: frontendUrl,
      GOOGLE_CLIENT_ID: OIDC_CLIENT.id,
      GOOGLE_CLIENT_SECRET: OIDC_CLIENT.secret,
      GOOGLE_ISSUER: provider.issuer,
    }),
  );
  await app.listen({ host: "127.0.0.1", port: apiPort });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await testDatabase?.drop();
  await new Promise((resolve) => frontend?.close(resolve));
  await provider?.stop();
});

it("signs in through the provider and lands on the front end with a working refresh cookie", async () => {
  const email = `browser-${randomUUID()}@example.test`;
  // A Workspace account (hd): Google vouches for the address, so the new user is verified.
  provider.claims = {
    sub: `sub-${randomUUID()}`,
    email,
    email_verified: true,
    hd: "example.test",
    name: "Ada",
  };
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const visited: string[] = [];
    page.on("request", (request) => {
      if (request.isNavigationRequest()) visited.push(new URL(request.url()).origin);
    });

    await page.goto(`${apiUrl}/api/v1/auth/oauth/google/authorize?redirectTo=/welcome`);
    await page.waitForURL(`${frontendUrl}/welcome`);
    expect(await page.textContent("h1")).toBe("Signed in");
    // The browser really went to the provider and back.
    expect(visited).toContain(new URL(provider.issuer).origin);

    const cookies = await context.cookies(`${apiUrl}/api/v1/auth/refresh`);
    const refreshCookie = cookies.find((cookie) => cookie.name === "refresh_token");
    expect(refreshCookie).toMatchObject({
      httpOnly: true,
      sameSite: "Strict",
      path: "/api/v1/auth",
    });
    // The front end's script cannot read it.
    expect(await page.evaluate("document.cookie")).not.toContain("refresh_token");

    const refreshed = await page.evaluate(async (api) => {
      const response = await fetch(`${api}/api/v1/auth/refresh`, {
        method: "POST",
        credentials: "include",
        headers: { "x-requested-with": "XMLHttpRequest" },
      });
      return { status: response.status, body: (await response.json()) as { accessToken: string } };
    }, apiUrl);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toMatchObject({
      tokenType: "Bearer",
      accessToken: expect.any(String),
      user: { email, emailVerified: true },
    });

    const me = await page.evaluate(
      async ({ api, token }) => {
        const response = await fetch(`${api}/api/v1/auth/me`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return response.json();
      },
      { api: apiUrl, token: refreshed.body.accessToken },
    );
    expect(me).toMatchObject({ user: { email }, roles: ["owner"] });
  } finally {
    await context.close();
  }
});

it("links an account from the front end's settings: a fetch sets the binding, a navigation links", async () => {
  // A user who signed up with a password, signed in on the front end.
  const email = `linker-${randomUUID()}@example.test`;
  const registered = await app.inject({
    method: "POST",
    url: "/api/v1/auth/register",
    payload: { email, password: "correct horse battery staple", name: "Lin", tenantName: "Lin's" },
  });
  expect(registered.statusCode, registered.body).toBe(201);
  const accessToken = registered.json<{ accessToken: string }>().accessToken;
  // Their Google account has another address, which Google does not vouch for.
  provider.claims = {
    sub: `sub-${randomUUID()}`,
    email: `other-${randomUUID()}@example.test`,
    email_verified: true,
  };

  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${frontendUrl}/settings`);
    const started = await page.evaluate(
      async ({ api, token }) => {
        const response = await fetch(`${api}/api/v1/users/me/accounts/google`, {
          method: "POST",
          credentials: "include",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ redirectTo: "/settings/linked" }),
        });
        return {
          status: response.status,
          body: (await response.json()) as { authorizeUrl: string },
        };
      },
      { api: apiUrl, token: accessToken },
    );
    expect(started.status).toBe(200);

    await page.goto(started.body.authorizeUrl);
    await page.waitForURL(`${frontendUrl}/settings/linked`);
    const accounts = await page.evaluate(
      async ({ api, token }) => {
        const response = await fetch(`${api}/api/v1/users/me/accounts`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return response.json();
      },
      { api: apiUrl, token: accessToken },
    );
    expect(accounts).toEqual({
      items: [expect.objectContaining({ provider: "google", email: provider.claims.email })],
    });
  } finally {
    await context.close();
  }
});
