import { afterEach, describe, expect, it, vi } from "vitest";
import { AppError } from "../../src/core/errors/index.js";
import { createLimiterFactory } from "../../src/core/rate-limit/index.js";
import {
  createLoginThrottle,
  FAILURES_PER_ACCOUNT,
  FAILURES_PER_ACCOUNT_AND_IP,
} from "../../src/modules/auth/brute-force.js";

/**
 * The failed sign-in counts without Redis (the embedded default): the in-memory store must keep
 * an account's known addresses for 30 days like Redis does.
 */

const DAY_MS = 86_400_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => {
  vi.useRealTimers();
});

/** Uses up the account-wide count with failures from fresh addresses. */
async function exhaustAccount(throttle: ReturnType<typeof createLoginThrottle>, email: string) {
  for (let address = 0; address < FAILURES_PER_ACCOUNT / FAILURES_PER_ACCOUNT_AND_IP; address++) {
    for (let i = 0; i < FAILURES_PER_ACCOUNT_AND_IP; i++) {
      await throttle.attempt(email, `192.0.2.${address + 1}`);
    }
  }
  const refused = await throttle.attempt(email, "198.51.100.1").catch((error: unknown) => error);
  expect(refused).toBeInstanceOf(AppError);
  expect((refused as AppError).code).toBe("rate-limited");
}

describe("known addresses without Redis", () => {
  it("keeps an address the account signed in from for 30 days, then forgets it", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const throttle = createLoginThrottle(createLimiterFactory(undefined, "test:"));
      const email = "owner@example.test";
      const home = "203.0.113.7";
      await throttle.succeeded(email, home, await throttle.attempt(email, home));
      // Long enough for a timer that overflowed (and so fires after 1 ms) to have fired.
      await sleep(20);

      await exhaustAccount(throttle, email);
      // The owner's usual address is not refused, and its attempt is not counted.
      expect(await throttle.attempt(email, home)).toEqual({ countedForAccount: false });

      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(Date.now() + 29 * DAY_MS);
      expect(await throttle.attempt(email, home)).toEqual({ countedForAccount: false });
      vi.setSystemTime(Date.now() + 2 * DAY_MS);
      expect(await throttle.attempt(email, home)).toEqual({ countedForAccount: true });

      expect(warnings.map((warning) => warning.name)).not.toContain("TimeoutOverflowWarning");
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("makes the address of a password reset known too", async () => {
    const throttle = createLoginThrottle(createLimiterFactory(undefined, "test:"));
    const email = "reset@example.test";
    await throttle.trust(email, "203.0.113.9");
    await sleep(20);
    await exhaustAccount(throttle, email);
    expect(await throttle.attempt(email, "203.0.113.9")).toEqual({ countedForAccount: false });
  });
});
