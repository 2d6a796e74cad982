import { createHash } from "node:crypto";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { AppError } from "../../core/errors/index.js";
import type { LimiterFactory } from "../../core/rate-limit/index.js";

/**
 * Failed sign-ins, counted per account, on top of the per-IP route limit:
 *  - per account and IP: 10 failures an hour, then that IP is refused for that account until
 *    the hour ends. A success from the IP clears its count.
 *  - per account, all IPs together: 100 failures an hour, then the account's password sign-in
 *    is refused until the hour ends.
 * An attacker can therefore never lock the owner out from the attacker's own IPs for long:
 * their refusals are per IP, the account-wide one needs ten or more IPs and lasts at most an
 * hour after their last burst, and a password reset (which the limit does not touch) still
 * works. Counters live in the rate-limit store; when it is unreachable, sign-in is refused.
 */
export const FAILURES_PER_ACCOUNT_AND_IP = 10;
export const FAILURES_PER_ACCOUNT = 100;
const WINDOW_SECONDS = 3600;

const accountKey = (email: string) =>
  createHash("sha256").update(email.trim().toLowerCase()).digest("base64url");

export function createLoginThrottle(limiters: LimiterFactory) {
  const perAccountAndIp = limiters(
    "login-failures:account-ip",
    FAILURES_PER_ACCOUNT_AND_IP,
    WINDOW_SECONDS,
  );
  const perAccount = limiters("login-failures:account", FAILURES_PER_ACCOUNT, WINDOW_SECONDS);
  const keys = (email: string, ip: string) => {
    const account = accountKey(email);
    return [
      [perAccountAndIp, `${account}:${ip}`],
      [perAccount, account],
    ] as const satisfies readonly (readonly [RateLimiterAbstract, string])[];
  };
  const unavailable = () =>
    new AppError("service-unavailable", "Sign-in is unavailable right now; retry shortly.", {
      headers: { "retry-after": "5" },
    });

  return {
    /** Refuses with 429 while either count is used up. */
    async check(email: string, ip: string): Promise<void> {
      for (const [limiter, key] of keys(email, ip)) {
        const state = await limiter.get(key).catch(() => {
          throw unavailable();
        });
        if (state && state.consumedPoints >= limiter.points) {
          const retryAfter = String(Math.max(1, Math.ceil(state.msBeforeNext / 1000)));
          throw new AppError(
            "rate-limited",
            "Too many failed sign-ins for this account; retry after the delay given.",
            { headers: { "retry-after": retryAfter } },
          );
        }
      }
    },
    async failed(email: string, ip: string): Promise<void> {
      await Promise.all(
        keys(email, ip).map(([limiter, key]) =>
          limiter.penalty(key).catch(() => {
            throw unavailable();
          }),
        ),
      );
    },
    async succeeded(email: string, ip: string): Promise<void> {
      const [[limiter, key]] = keys(email, ip);
      await limiter.delete(key).catch(() => undefined);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
