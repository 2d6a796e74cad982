import { randomUUID } from "node:crypto";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { expect } from "vitest";

/** Sent with cookie requests, as the kit's front end does (the CSRF rule of refresh and logout). */
export const FROM_THE_APP = { "x-requested-with": "XMLHttpRequest" } as const;

export const PASSWORD = "correct horse battery staple";

export interface TokenBody {
  accessToken: string;
  tokenType: string;
  expiresIn: number;
  user: { id: string; email: string; name: string; emailVerified: boolean };
  tenant: { id: string; name: string; slug: string };
}

export interface SignedInUser {
  readonly email: string;
  readonly body: TokenBody;
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly headers: { authorization: string };
}

export const uniqueEmail = () => `user-${randomUUID()}@example.test`;

/** The refresh-token cookie a response sets, or undefined. */
export function refreshCookieOf(response: LightMyRequestResponse) {
  return response.cookies.find((cookie) => cookie.name === "refresh_token");
}

export function signedInFrom(response: LightMyRequestResponse, email: string): SignedInUser {
  const body = response.json<TokenBody>();
  const cookie = refreshCookieOf(response);
  expect(cookie?.value, "the refresh cookie").toBeTruthy();
  return {
    email,
    body,
    accessToken: body.accessToken,
    refreshToken: cookie?.value as string,
    headers: { authorization: `Bearer ${body.accessToken}` },
  };
}

/** Registers a new user (and tenant); each call from its own client address. */
export async function register(
  app: FastifyInstance,
  overrides: Partial<{ email: string; password: string; name: string; tenantName: string }> = {},
): Promise<SignedInUser> {
  const email = overrides.email ?? uniqueEmail();
  const response = await app.inject({
    method: "POST",
    url: "/api/v1/auth/register",
    remoteAddress: randomAddress(),
    payload: {
      email,
      password: PASSWORD,
      name: "Ada Lovelace",
      tenantName: `Tenant ${randomUUID().slice(0, 8)}`,
      ...overrides,
    },
  });
  expect(response.statusCode, response.body).toBe(201);
  return signedInFrom(response, email);
}

export function login(
  app: FastifyInstance,
  payload: { email: string; password: string; tenantId?: string },
  remoteAddress = randomAddress(),
) {
  return app.inject({ method: "POST", url: "/api/v1/auth/login", payload, remoteAddress });
}

export function refresh(app: FastifyInstance, refreshToken: string, headers = FROM_THE_APP) {
  return app.inject({
    method: "POST",
    url: "/api/v1/auth/refresh",
    cookies: { refresh_token: refreshToken },
    headers,
  });
}

/** Signs `user` in once more, from another address: a second session of the same account. */
export async function signInAgain(app: FastifyInstance, user: SignedInUser): Promise<SignedInUser> {
  return signedInFrom(await login(app, { email: user.email, password: PASSWORD }), user.email);
}

/** POST /auth/switch-tenant with `user`'s access token (and refresh cookie, when given). */
export function switchTenant(
  app: FastifyInstance,
  user: Pick<SignedInUser, "headers">,
  tenantId: string,
  refreshToken?: string,
) {
  return app.inject({
    method: "POST",
    url: "/api/v1/auth/switch-tenant",
    headers: user.headers,
    ...(refreshToken ? { cookies: { refresh_token: refreshToken } } : {}),
    payload: { tenantId },
  });
}

/** A client address of its own, so per-IP limits of one test do not meet another's. */
export function randomAddress(): string {
  const byte = () => Math.floor(Math.random() * 254) + 1;
  return `10.${byte()}.${byte()}.${byte()}`;
}
