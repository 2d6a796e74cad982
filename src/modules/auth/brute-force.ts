import { createHash } from "node:crypto";
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { AppError } from "../../core/errors/index.js";
import type { LimiterFactory } from "../../core/rate-limit/index.js";

/**
 * Failed sign-ins, counted per account, on top of the per-IP limit of the login route. Every
 * attempt is counted before the password is checked (so concurrent guesses count too), and a
 * success gives it back:
 *  - per account and IP: 10 attempts an hour without success, then that IP is refused for
 *    that account until the hour ends. A success from the IP clears its count.
 *  - per account, all IPs together: 100 an hour, then the account's password sign-in is
 *    refused until the hour ends, except from the account's known addresses: those from
 *    which it signed in, or reset its password, in the last 30 days.
 * An attacker can therefore never lock the owner out: the attacker's failures block the
 * attacker's own addresses, and the account-wide block, which needs ten or more addresses to
 * reach, never applies where the owner usually signs in. An owner on a new network during
 * such an attack resets the password, which makes that address known. Counters live in the
 * rate-limit store; when it is unreachable, sign-in is refused (503).
 */
export const FAILURES_PER_ACCOUNT_AND_IP = 10;
export const FAILURES_PER_ACCOUNT = 100;
const WINDOW_SECONDS = 3600;
const KNOWN_ADDRESS_SECONDS = 30 * 86_400;

/** Store keys carry a hash of the address, not the address itself. */
export const accountKey = (email: string) =>
  createHash("sha256").update(email.trim().toLowerCase()).digest("base64url");

export function createLoginThrottle(limiters: LimiterFactory) {
  const perAccountAndIp = limiters(
    "login-failures:account-ip",
    FAILURES_PER_ACCOUNT_AND_IP,
    WINDOW_SECONDS,
  );
  const perAccount = limiters("login-failures:account", FAILURES_PER_ACCOUNT, WINDOW_SECONDS);
  const knownAddresses = knownAddressStore(limiters);
  const unavailable = () =>
    new AppError("service-unavailable", "Sign-in is unavailable right now; retry shortly.", {
      headers: { "retry-after": "5" },
    });

  async function take(limiter: RateLimiterAbstract, key: string) {
    try {
      await limiter.consume(key);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw unavailable();
      const retryAfter = String(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)));
      throw new AppError(
        "rate-limited",
        "Too many failed sign-ins for this account; retry after the delay given.",
        { headers: { "retry-after": retryAfter } },
      );
    }
  }

  const isKnown = (account: string, ip: string) =>
    knownAddresses.has(`${account}:${ip}`).catch(() => false);

  return {
    /**
     * Counts an attempt for `email` from `ip` before the password is checked, refusing with
     * 429 once a count is used up. Returns what `succeeded` needs to give the attempt back.
     */
    async attempt(email: string, ip: string): Promise<{ countedForAccount: boolean }> {
      const account = accountKey(email);
      await take(perAccountAndIp, `${account}:${ip}`);
      if (await isKnown(account, ip)) return { countedForAccount: false };
      await take(perAccount, account);
      return { countedForAccount: true };
    },

    /** After a correct password: clears the address's count and makes the address known. */
    async succeeded(email: string, ip: string, attempt: { countedForAccount: boolean }) {
      const account = accountKey(email);
      await Promise.all([
        perAccountAndIp.delete(`${account}:${ip}`),
        attempt.countedForAccount ? perAccount.reward(account) : undefined,
        knownAddresses.remember(`${account}:${ip}`),
      ]).catch(() => undefined);
    },

    /** After a password reset from `ip`: the owner proved control of the mailbox there. */
    async trust(email: string, ip: string): Promise<void> {
      const account = accountKey(email);
      await Promise.all([
        perAccountAndIp.delete(`${account}:${ip}`),
        knownAddresses.remember(`${account}:${ip}`),
      ]).catch(() => undefined);
    },
  };
}

/** The addresses an account signed in from (or reset its password from) in the last 30 days. */
interface KnownAddresses {
  has(key: string): Promise<boolean>;
  remember(key: string): Promise<void>;
}

function knownAddressStore(limiters: LimiterFactory): KnownAddresses {
  const store = limiters("login-known-addresses", 1, KNOWN_ADDRESS_SECONDS);
  if (store instanceof RateLimiterMemory) return inMemoryKnownAddresses();
  return {
    has: async (key) => (await store.get(key)) !== null,
    remember: async (key) => {
      await store.set(key, 1, KNOWN_ADDRESS_SECONDS);
    },
  };
}

/**
 * Without Redis, the known addresses live in the process with their expiry times, compared on
 * each read. The in-memory rate limiter cannot hold them: it forgets a key with a timer, and
 * Node's timers hold at most 2^31 - 1 ms (24.8 days); a 30-day one overflows, fires at once
 * (with a TimeoutOverflowWarning), and the address would be forgotten as soon as it was known.
 */
function inMemoryKnownAddresses(): KnownAddresses {
  const expiries = new Map<string, number>();
  let nextSweep = Date.now() + WINDOW_SECONDS * 1000;
  return {
    async has(key) {
      const expiresAt = expiries.get(key);
      if (expiresAt === undefined) return false;
      if (expiresAt > Date.now()) return true;
      expiries.delete(key);
      return false;
    },
    async remember(key) {
      const at = Date.now();
      // An hourly sweep keeps addresses never read again from piling up.
      if (at >= nextSweep) {
        for (const [each, expiresAt] of expiries) if (expiresAt <= at) expiries.delete(each);
        nextSweep = at + WINDOW_SECONDS * 1000;
      }
      expiries.set(key, at + KNOWN_ADDRESS_SECONDS * 1000);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
