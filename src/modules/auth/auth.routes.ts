import type { FastifyReply, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Config } from "../../config.js";
import { bearerTokenOf, principalOf, type TokenService } from "../../core/auth/index.js";
import { publicAccess, signedInTenantOptional } from "../../core/http/access.js";
import { problemResponse } from "../../core/http/route-docs.js";
import type { LimiterFactory } from "../../core/rate-limit/index.js";
import type { AccountsService } from "./accounts.service.js";
import {
  changePasswordBody,
  forgotPasswordBody,
  loginBody,
  meResponseSchema,
  refreshCookieCleared,
  refreshCookieParameter,
  refreshCookieSet,
  registerBody,
  requestedWithParameter,
  resetPasswordBody,
  switchTenantBody,
  tokenResponseSchema,
  verifyEmailBody,
} from "./auth.schemas.js";
import { accountKey } from "./brute-force.js";
import { createCsrfCheck, REFRESH_COOKIE, refreshCookie } from "./cookies.js";
import type { EmailVerificationService } from "./email-verification.service.js";
import type { PasswordsService } from "./passwords.service.js";
import type { SessionsService } from "./sessions.service.js";
import { clientOf, type SignedIn } from "./sign-in.js";

export interface AuthRoutesOptions {
  sessions: SessionsService;
  passwords: PasswordsService;
  emailVerification: EmailVerificationService;
  accounts: AccountsService;
  config: Config;
  tokens: TokenService;
  limiters: LimiterFactory;
}

/** Reset mails one account may receive an hour; more requests still answer 202. */
const RESET_MAILS_PER_HOUR = 3;

/** 202 answers carry no body. */
const acceptedWithoutBody = z.undefined().optional();

/** The Fastify instance the route groups add their routes to. */
type App = Parameters<FastifyPluginAsyncZod>[0];

/** What the route groups share: the refresh cookie, the CSRF check, the sign-in answer. */
function createHttpHelpers(config: Config) {
  const cookie = refreshCookie(config);
  return {
    cookie,
    checkCsrf: createCsrfCheck(config),
    /** Sets the refresh cookie when there is one to set; answers the token response. */
    signIn(reply: FastifyReply, signedIn: SignedIn) {
      if (signedIn.refreshToken) cookie.set(reply, signedIn.refreshToken);
      return signedIn.response;
    },
    refreshTokenOf: (request: FastifyRequest) => request.cookies[REFRESH_COOKIE],
  };
}

type HttpHelpers = ReturnType<typeof createHttpHelpers>;

/**
 * HTTP in, HTTP out for /auth: cookies, CSRF and limits here, behaviour in the use cases
 * (sessions, passwords, email verification, accounts). The groups are registered in this
 * order, which is the order of the OpenAPI document's paths.
 */
export const authRoutes: FastifyPluginAsyncZod<AuthRoutesOptions> = async (app, options) => {
  const http = createHttpHelpers(options.config);
  signUpAndSignInRoutes(app, options, http);
  sessionRoutes(app, options, http);
  passwordRoutes(app, options);
  emailVerificationRoutes(app, options);
};

/** Registration and password sign-in: both answer a token response and set the cookie. */
function signUpAndSignInRoutes(
  app: App,
  { accounts, sessions }: AuthRoutesOptions,
  http: HttpHelpers,
) {
  const { signIn } = http;
  app.post(
    "/auth/register",
    {
      config: { access: publicAccess, rateLimit: { points: 20, durationSeconds: 3600 } },
      schema: {
        operationId: "register",
        summary: "Register",
        description:
          "Creates the user, a new tenant and the user's owner membership, signs in and mails an email verification link. Sets the refresh-token cookie.",
        tags: ["auth"],
        body: registerBody,
        response: {
          201: tokenResponseSchema,
          409: problemResponse("An account with this email already exists."),
        },
        responseHeaders: { 201: [refreshCookieSet] },
      },
    },
    async (request, reply) =>
      reply.code(201).send(signIn(reply, await accounts.register(request.body, clientOf(request)))),
  );

  app.post(
    "/auth/login",
    {
      config: { access: publicAccess, rateLimit: { points: 20, durationSeconds: 60 } },
      schema: {
        operationId: "login",
        summary: "Sign in",
        description:
          "Signs in to `tenantId`, or to the tenant used last. Every credential failure answers the same 401. Sets the refresh-token cookie.",
        tags: ["auth"],
        body: loginBody,
        response: {
          200: tokenResponseSchema,
          401: problemResponse(
            "The email or password is incorrect (one answer for every failure).",
          ),
          404: problemResponse("The user is not a member of `tenantId`."),
          429: problemResponse(
            "Too many sign-ins from this address, or too many failed ones for this account; retry after `Retry-After` seconds.",
          ),
        },
        responseHeaders: { 200: [refreshCookieSet] },
      },
    },
    async (request, reply) => signIn(reply, await sessions.login(request.body, clientOf(request))),
  );
}

/** The session's life after sign-in: refresh, sign-out, the current user, the tenant switch. */
function sessionRoutes(
  app: App,
  { sessions, accounts, tokens }: AuthRoutesOptions,
  http: HttpHelpers,
) {
  const { cookie, checkCsrf, signIn, refreshTokenOf } = http;
  app.post(
    "/auth/refresh",
    {
      config: { access: publicAccess, rateLimit: { points: 60, durationSeconds: 60 } },
      schema: {
        operationId: "refreshSession",
        summary: "Refresh the access token",
        description:
          "Rotates the refresh-token cookie and returns a new access token. Needs an Origin or Referer of the application, or X-Requested-With. A rotated token presented again after the grace window ends its whole session.",
        tags: ["auth"],
        parameterDocs: [refreshCookieParameter, requestedWithParameter],
        response: {
          200: tokenResponseSchema,
          401: problemResponse(
            "No refresh cookie, or its session has ended (revoked, expired, or a rotated token presented again); the cookie is cleared.",
          ),
          403: problemResponse("The request does not come from the application's own origin."),
        },
        responseHeaders: { 200: [refreshCookieSet], 401: [refreshCookieCleared] },
      },
    },
    async (request, reply) => {
      checkCsrf(request);
      try {
        return signIn(reply, await sessions.refresh(refreshTokenOf(request)));
      } catch (error) {
        cookie.clear(reply);
        throw error;
      }
    },
  );

  app.post(
    "/auth/logout",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "logout",
        summary: "Sign out",
        description:
          "Ends the session of the bearer token or of the refresh-token cookie (which needs an Origin or Referer of the application, or X-Requested-With) and clears the cookie.",
        tags: ["auth"],
        parameterDocs: [refreshCookieParameter, requestedWithParameter],
        response: {
          204: z.null(),
          403: problemResponse(
            "The refresh cookie was sent from outside the application's own origin.",
          ),
        },
        responseHeaders: { 204: [refreshCookieCleared] },
      },
    },
    async (request, reply) => {
      const bearer = bearerTokenOf(request);
      const claims = bearer
        ? await tokens.verifyAccessToken(bearer).catch(() => undefined)
        : undefined;
      const refreshToken = refreshTokenOf(request);
      // The cookie is acted on only with the CSRF proof; the bearer token needs none.
      if (refreshToken) checkCsrf(request);
      if (claims) await sessions.logout({ sessionId: claims.sid });
      if (refreshToken) await sessions.logout({ refreshToken });
      cookie.clear(reply);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/auth/logout-all",
    {
      config: { access: signedInTenantOptional },
      schema: {
        operationId: "logoutEverywhere",
        summary: "Sign out everywhere",
        description:
          "Ends every session of the user; all their access tokens stop working at once.",
        tags: ["auth"],
        response: { 204: z.null() },
        responseHeaders: { 204: [refreshCookieCleared] },
      },
    },
    async (request, reply) => {
      await sessions.logoutAll(principalOf(request));
      cookie.clear(reply);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/auth/me",
    {
      config: { access: signedInTenantOptional },
      schema: {
        operationId: "getCurrentUser",
        summary: "The signed-in user, tenant, roles and memberships",
        description:
          "The caller's account, the token's tenant with the roles and effective permissions it grants, and every tenant the user belongs to (for a tenant switcher).",
        tags: ["auth"],
        response: { 200: meResponseSchema },
      },
    },
    async (request) => accounts.me(principalOf(request)),
  );

  app.post(
    "/auth/switch-tenant",
    {
      config: { access: signedInTenantOptional },
      schema: {
        operationId: "switchTenant",
        summary: "Switch to another tenant",
        description:
          "Returns an access token for another tenant of the user (404 when not a member); the session's refresh-token cookie, when sent, rotates with it.",
        tags: ["auth"],
        body: switchTenantBody,
        parameterDocs: [refreshCookieParameter],
        response: {
          200: tokenResponseSchema,
          404: problemResponse("The user is not a member of this tenant."),
        },
        responseHeaders: { 200: [refreshCookieSet] },
      },
    },
    async (request, reply) =>
      signIn(
        reply,
        await sessions.switchTenant(
          principalOf(request),
          request.body.tenantId,
          refreshTokenOf(request),
        ),
      ),
  );
}

/** Forgotten, reset and changed passwords. */
function passwordRoutes(app: App, { passwords, limiters }: AuthRoutesOptions) {
  const resetMails = limiters("password-reset-mails", RESET_MAILS_PER_HOUR, 3600);
  app.post(
    "/auth/password/forgot",
    {
      config: { access: publicAccess, rateLimit: { points: 5, durationSeconds: 60 } },
      schema: {
        operationId: "requestPasswordReset",
        summary: "Ask for a password reset link",
        description:
          "Always answers 202, at once: the link is mailed afterwards, only when the address belongs to an active account, and at most three times an hour per account.",
        tags: ["auth"],
        body: forgotPasswordBody,
        response: { 202: acceptedWithoutBody },
      },
    },
    async (request, reply) => {
      const { email } = request.body;
      const log = request.log;
      // Not awaited: the answer must not wait for, or reveal, what happens next.
      void resetMails
        .consume(accountKey(email))
        .then(
          () => passwords.requestPasswordReset(email),
          (rejection: unknown) => {
            if (rejection instanceof Error) throw rejection;
            log.info("password reset mails for this account are used up for the hour");
          },
        )
        .catch((error: unknown) => log.error({ err: error }, "password reset request failed"));
      return reply.code(202).send(undefined);
    },
  );

  app.post(
    "/auth/password/reset",
    {
      config: { access: publicAccess, rateLimit: { points: 10, durationSeconds: 60 } },
      schema: {
        operationId: "resetPassword",
        summary: "Reset the password with a mailed token",
        description: "The token works once, within an hour. Ends every session of the user.",
        tags: ["auth"],
        body: resetPasswordBody,
        response: {
          204: z.null(),
          400: problemResponse(
            "The reset link is invalid, used or expired, or the body is not valid JSON.",
          ),
        },
      },
    },
    async (request, reply) => {
      await passwords.resetPassword(request.body.token, request.body.password, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/auth/password/change",
    {
      config: {
        access: signedInTenantOptional,
        rateLimit: { points: 5, durationSeconds: 60, by: "user" },
      },
      schema: {
        operationId: "changePassword",
        summary: "Change the password",
        description: "Ends the user's other sessions; this one continues.",
        tags: ["auth"],
        body: changePasswordBody,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      const { currentPassword, newPassword } = request.body;
      await passwords.changePassword(principalOf(request), currentPassword, newPassword);
      return reply.code(204).send(null);
    },
  );
}

/** The mailed email verification and its resend. */
function emailVerificationRoutes(app: App, { emailVerification }: AuthRoutesOptions) {
  app.post(
    "/auth/email/verify",
    {
      config: { access: publicAccess, rateLimit: { points: 10, durationSeconds: 60 } },
      schema: {
        operationId: "verifyEmail",
        summary: "Verify the email address with a mailed token",
        description: "The token works once, within 24 hours.",
        tags: ["auth"],
        body: verifyEmailBody,
        response: {
          204: z.null(),
          400: problemResponse(
            "The verification link is invalid, used or expired, or the body is not valid JSON.",
          ),
        },
      },
    },
    async (request, reply) => {
      await emailVerification.verifyEmail(request.body.token);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/auth/email/verify/resend",
    {
      config: {
        access: signedInTenantOptional,
        rateLimit: { points: 5, durationSeconds: 3600, by: "user" },
      },
      schema: {
        operationId: "resendEmailVerification",
        summary: "Mail a new verification link",
        description: "202 whether or not the address is already verified.",
        tags: ["auth"],
        response: { 202: acceptedWithoutBody },
      },
    },
    async (request, reply) => {
      await emailVerification.resendVerification(principalOf(request));
      return reply.code(202).send(undefined);
    },
  );
}
