import { type RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import type { Config } from "../../config.js";
import { AppError } from "../../core/errors/index.js";
import type { LimiterFactory } from "../../core/rate-limit/index.js";

const HOUR_SECONDS = 3600;
const DAY_SECONDS = 86_400;

/**
 * How many invitations may be sent: per inviter an hour and per tenant a day
 * (INVITATION_LIMIT_PER_INVITER, INVITATION_LIMIT_PER_TENANT), counted in the rate-limit store so
 * they hold across processes, whatever RATE_LIMIT_ENABLED says. Only invitations that are made
 * count: `take` once the request has passed every other check, `giveBack` if it then fails.
 * When the store is unreachable, inviting is refused (503) rather than left unlimited.
 */
export function createInvitationLimits(limiters: LimiterFactory, limits: Config["invitations"]) {
  const perInviter = limiters("invitations:inviter", limits.perInviterPerHour, HOUR_SECONDS);
  const perTenant = limiters("invitations:tenant", limits.perTenantPerDay, DAY_SECONDS);

  async function take(limiter: RateLimiterAbstract, key: string, refusal: string) {
    try {
      await limiter.consume(key);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) {
        throw new AppError(
          "service-unavailable",
          "Inviting is unavailable right now; retry shortly.",
          {
            headers: { "retry-after": "5" },
          },
        );
      }
      const retryAfter = String(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)));
      throw new AppError("rate-limited", `${refusal}; retry after the delay given.`, {
        headers: { "retry-after": retryAfter },
      });
    }
  }

  return {
    /** Counts one invitation from `inviterId` in `tenantId`; 429 once either limit is used up. */
    async take(tenantId: string, inviterId: string): Promise<void> {
      await take(
        perInviter,
        inviterId,
        `You may send at most ${limits.perInviterPerHour} invitations an hour`,
      );
      try {
        await take(
          perTenant,
          tenantId,
          `This tenant may send at most ${limits.perTenantPerDay} invitations a day`,
        );
      } catch (error) {
        await perInviter.reward(inviterId).catch(() => undefined);
        throw error;
      }
    },
    /** Gives back what `take` counted, for an invitation that was not made after all. */
    async giveBack(tenantId: string, inviterId: string): Promise<void> {
      await Promise.all([perInviter.reward(inviterId), perTenant.reward(tenantId)]).catch(
        () => undefined,
      );
    },
  };
}
