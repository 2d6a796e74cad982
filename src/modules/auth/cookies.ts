import type { FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../../config.js";
import { AppError } from "../../core/errors/index.js";

/**
 * The refresh-token cookie and the CSRF rule for the routes that read it.
 *
 * `refresh_token=<token>; HttpOnly; SameSite=Strict; Path=/api/v1/auth; Max-Age=604800`, plus
 * `Secure` outside development and test: scripts cannot read it, other sites cannot send it,
 * and it travels only to the auth routes.
 */
export const REFRESH_COOKIE = "refresh_token";
export const REFRESH_TOKEN_TTL_SECONDS = 7 * 24 * 3600;
const COOKIE_PATH = "/api/v1/auth";

/** Cookies are `Secure` everywhere but development and test, which run over plain HTTP. */
export const cookiesAreSecure = (config: Config) =>
  config.environment !== "development" && config.environment !== "test";

export function refreshCookie(config: Config) {
  const secure = cookiesAreSecure(config);
  return {
    set(reply: FastifyReply, token: string) {
      reply.setCookie(REFRESH_COOKIE, token, {
        httpOnly: true,
        sameSite: "strict",
        path: COOKIE_PATH,
        maxAge: REFRESH_TOKEN_TTL_SECONDS,
        secure,
      });
    },
    clear(reply: FastifyReply) {
      reply.clearCookie(REFRESH_COOKIE, {
        httpOnly: true,
        sameSite: "strict",
        path: COOKIE_PATH,
        secure,
      });
    },
  };
}

/**
 * A request that acts on the refresh cookie must show it comes from the kit's own front end:
 * an `Origin` (or, without one, a `Referer`) among CORS_ORIGINS or PUBLIC_URL, or an
 * `X-Requested-With` header, which a cross-site form cannot send and a cross-site script can
 * send only after a CORS pre-flight that the allow-list refuses.
 */
export function createCsrfCheck(config: Config) {
  const trusted = new Set([...config.corsOrigins, new URL(config.publicUrl).origin]);
  const originOf = (value: string) => {
    try {
      return new URL(value).origin;
    } catch {
      return undefined;
    }
  };
  return (request: FastifyRequest) => {
    const origin = request.headers.origin;
    const referer = request.headers.referer;
    const source = origin ?? (referer ? originOf(referer) : undefined);
    if (source !== undefined) {
      if (trusted.has(source)) return;
    } else if (request.headers["x-requested-with"]) {
      return;
    }
    throw new AppError(
      "forbidden",
      "This request must come from the application's own origin (send Origin, or X-Requested-With).",
    );
  };
}
