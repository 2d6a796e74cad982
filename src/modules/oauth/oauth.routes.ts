import type { FastifyReply, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Config } from "../../config.js";
import { principalOf } from "../../core/auth/index.js";
import { publicAccess, signedInTenantOptional } from "../../core/http/access.js";
import { problemResponse } from "../../core/http/route-docs.js";
import {
  clientOf,
  cookiesAreSecure,
  newOpaqueToken,
  refreshCookie,
  refreshCookieSet,
  tokenResponseSchema,
} from "../auth/index.js";
import type { AccountLinks } from "./account-links.js";
import {
  authorizeQuery,
  bindingCookieDocs,
  callbackQuery,
  linkBody,
  linkedAccountSchema,
  linkedAccountsResponseSchema,
  linkStartSchema,
  providerParams,
  providersResponseSchema,
} from "./oauth.schemas.js";
import type { OAuthService } from "./oauth.service.js";
import { STATE_TTL_SECONDS } from "./oauth-attempts.js";

export interface OAuthRoutesOptions {
  oauth: OAuthService;
  links: AccountLinks;
  config: Config;
}

/**
 * Ties a callback to the browser that started the sign-in, so nobody can sign a victim's
 * browser in to the attacker's account by sending it the attacker's callback link (login
 * CSRF). Lax, not Strict: the provider's redirect back is a cross-site navigation, which
 * carries Lax cookies and not Strict ones. One value per browser, so sign-ins in two tabs do
 * not overwrite each other. Over HTTPS it is a `__Host-` cookie (Secure, Path=/, no Domain),
 * which a sibling subdomain cannot set for this host ("cookie tossing").
 */
const bindingCookieOf = (secure: boolean) =>
  secure
    ? { name: "__Host-oauth_binding", path: "/" }
    : { name: "oauth_binding", path: "/api/v1/auth/oauth" };

/** Browsers send Fetch Metadata headers with every request; other HTTP clients do not. */
const isFromBrowser = (request: FastifyRequest) =>
  request.headers["sec-fetch-mode"] !== undefined ||
  request.headers["sec-fetch-site"] !== undefined;

const wantsJson = (request: FastifyRequest) => {
  const accept = request.headers.accept ?? "";
  return accept.includes("application/json") && !accept.includes("text/html");
};

const redirectSchema = z.null().describe("Redirect: see the Location header");

/** The Fastify instance the route groups add their routes to. */
type App = Parameters<FastifyPluginAsyncZod>[0];

/** The browser binding cookie, and starting an attempt bound to it; shared by both groups. */
function createBinding(config: Config) {
  const secure = cookiesAreSecure(config);
  const bindingCookie = bindingCookieOf(secure);

  /** The browser's binding: the one it holds, else a new one. */
  const bindingOf = (request: FastifyRequest) =>
    request.cookies[bindingCookie.name] ?? newOpaqueToken();

  return {
    cookie: bindingCookie,
    docs: bindingCookieDocs(bindingCookie, secure, STATE_TTL_SECONDS),
    /**
     * Starts an attempt with the browser's binding, and sets the cookie only once the attempt
     * exists: a refused start (unknown provider, bad redirectTo, provider down) sets nothing.
     */
    async startBound(
      request: FastifyRequest,
      reply: FastifyReply,
      start: (binding: string) => Promise<URL>,
    ) {
      const binding = bindingOf(request);
      const url = await start(binding);
      reply.setCookie(bindingCookie.name, binding, {
        httpOnly: true,
        sameSite: "lax",
        path: bindingCookie.path,
        maxAge: STATE_TTL_SECONDS,
        secure,
      });
      return url;
    },
  };
}

type Binding = ReturnType<typeof createBinding>;

/** Each route gets an entry of its own, as with its other responses. */
const unreachable = () =>
  problemResponse(
    "The provider could not be reached, did not answer in time, or answered something unusable.",
  );

/**
 * HTTP in, HTTP out for OAuth sign-in and linked accounts; behaviour in oauth.service.ts (start
 * and callback) and account-links.ts. The groups are registered in this order, which is the
 * order of the OpenAPI document's paths.
 */
export const oauthRoutes: FastifyPluginAsyncZod<OAuthRoutesOptions> = async (app, options) => {
  const binding = createBinding(options.config);
  signInRoutes(app, options, binding);
  linkedAccountRoutes(app, options, binding);
};

/** The providers, and a sign-in's start and callback (which also completes a link). */
function signInRoutes(app: App, { oauth, config }: OAuthRoutesOptions, bound: Binding) {
  const cookie = refreshCookie(config);
  const { cookie: bindingCookie, docs: binding, startBound } = bound;
  app.get(
    "/auth/oauth/providers",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "listOAuthProviders",
        summary: "List OAuth providers",
        description: "The providers configured on this server, for the sign-in page's buttons.",
        tags: ["auth"],
        response: { 200: providersResponseSchema },
      },
    },
    async () => ({ providers: oauth.providerNames().map((name) => ({ name })) }),
  );

  app.get(
    "/auth/oauth/:provider/authorize",
    {
      config: { access: publicAccess, rateLimit: { points: 30, durationSeconds: 60 } },
      schema: {
        operationId: "startOAuthSignIn",
        summary: "Start an OAuth sign-in",
        description:
          "Redirects to the provider with a one-time `state` (valid 10 minutes), PKCE (`code_challenge_method=S256`) and, for OpenID Connect, a `nonce`. Sets the `oauth_binding` cookie that the callback checks, on the redirect only: a refused start sets no cookie. 404 for a provider that is not configured; 422 for a `redirectTo` outside the front end.",
        tags: ["auth"],
        params: providerParams,
        querystring: authorizeQuery,
        response: { 302: redirectSchema, 502: unreachable() },
        responseHeaders: { 302: [binding.set] },
      },
    },
    async (request, reply) => {
      const url = await startBound(request, reply, (binding) =>
        oauth.authorize(request.params.provider, { redirectTo: request.query.redirectTo, binding }),
      );
      return reply.header("cache-control", "no-store").redirect(url.href, 302);
    },
  );

  app.get(
    "/auth/oauth/:provider/callback",
    {
      config: { access: publicAccess, rateLimit: { points: 30, durationSeconds: 60 } },
      schema: {
        operationId: "completeOAuthSignIn",
        summary: "Complete an OAuth sign-in",
        description:
          "Where the provider sends the browser back. Signs in the user linked to the provider account; else links the account to the user with the same email, when the provider vouches for the address and the user verified it; else creates a user with a tenant of their own, whose email counts as verified only when the provider vouches for it (otherwise the verification link is mailed, as at registration). Sets the refresh-token cookie and redirects to the front end, or answers the token response to `Accept: application/json`. A callback of a link started with `POST /users/me/accounts/:provider` links the account to that user instead, sets no cookie, and answers the linked account to `Accept: application/json`. 400 for a missing, unknown, expired or used state, a provider error or an ID token that fails validation; 409 when an account with the email exists but cannot be linked; 502 when the provider cannot be reached.",
        tags: ["auth"],
        params: providerParams,
        querystring: callbackQuery,
        parameterDocs: [binding.parameter],
        response: {
          200: z.union([tokenResponseSchema, linkedAccountSchema]),
          302: redirectSchema,
          400: problemResponse(
            "The state is missing, unknown, expired, used or another browser's; the provider refused or cancelled the sign-in; or its ID token failed validation.",
          ),
          403: problemResponse(
            "The provider shared no verified email address, or the account is deactivated.",
          ),
          409: problemResponse(
            "An account with the email exists but cannot be linked, or the provider account belongs to another user.",
          ),
          502: unreachable(),
        },
        responseHeaders: { 200: [refreshCookieSet], 302: [refreshCookieSet] },
      },
    },
    async (request, reply) => {
      const queryStart = request.url.indexOf("?");
      const outcome = await oauth.callback(request.params.provider, request.query, {
        search: queryStart >= 0 ? request.url.slice(queryStart) : "",
        binding: request.cookies[bindingCookie.name],
        fromBrowser: isFromBrowser(request),
        client: clientOf(request),
      });
      reply.header("cache-control", "no-store");
      if (outcome.kind === "linked") {
        if (wantsJson(request)) return reply.code(200).send(outcome.account);
        return reply.redirect(outcome.redirectTo, 302);
      }
      const { signedIn } = outcome;
      if (signedIn.refreshToken) cookie.set(reply, signedIn.refreshToken);
      if (wantsJson(request)) return reply.code(200).send(signedIn.response);
      return reply.redirect(outcome.redirectTo, 302);
    },
  );
}

/** The signed-in user's linked accounts: list, start a link, unlink. */
function linkedAccountRoutes(app: App, { oauth, links }: OAuthRoutesOptions, bound: Binding) {
  const { docs: binding, startBound } = bound;
  app.get(
    "/users/me/accounts",
    {
      config: { access: signedInTenantOptional },
      schema: {
        operationId: "listLinkedAccounts",
        summary: "List linked accounts",
        description: "The signed-in user's accounts at OAuth providers.",
        tags: ["users"],
        response: { 200: linkedAccountsResponseSchema },
      },
    },
    async (request) => ({ items: await links.list(principalOf(request)) }),
  );

  app.post(
    "/users/me/accounts/:provider",
    {
      config: { access: signedInTenantOptional, rateLimit: { points: 30, durationSeconds: 60 } },
      schema: {
        operationId: "startAccountLink",
        summary: "Start linking an account",
        description:
          "Starts linking an account at the provider to the signed-in user, whatever its email: answers the provider's `authorizeUrl` for the front end to navigate to, and sets the `oauth_binding` cookie (send the request with credentials). The callback then links the account and redirects to `redirectTo`. 404 for a provider that is not configured; 409 at the callback when that provider account belongs to another user, or another account of the provider is linked already.",
        tags: ["users"],
        params: providerParams,
        body: linkBody,
        response: { 200: linkStartSchema, 502: unreachable() },
        responseHeaders: { 200: [binding.set] },
      },
    },
    async (request, reply) => {
      const url = await startBound(request, reply, (binding) =>
        oauth.startLink(principalOf(request), request.params.provider, {
          redirectTo: request.body.redirectTo,
          binding,
        }),
      );
      return reply.header("cache-control", "no-store").send({ authorizeUrl: url.href });
    },
  );

  app.delete(
    "/users/me/accounts/:provider",
    {
      config: { access: signedInTenantOptional },
      schema: {
        operationId: "unlinkAccount",
        summary: "Unlink an account",
        description:
          "Removes the link to a provider account. 404 when none is linked; 409 when it is the last way to sign in (no password and no other linked account).",
        tags: ["users"],
        params: providerParams,
        response: {
          204: z.null(),
          409: problemResponse("It is the account's last way to sign in."),
        },
      },
    },
    async (request, reply) => {
      await links.unlink(principalOf(request), request.params.provider);
      return reply.code(204).send(null);
    },
  );
}
