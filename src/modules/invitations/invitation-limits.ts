import { type RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import type { Config } from "../../config.js";
import { AppError } from "../../core/errors/index.js";
import type { LimiterFactory } from "../../core/rate-limit/index.js";

const HOUR_SECONDS = 3600;
const DAY_SECONDS = 86_400;

/** Where the limits' windows start: an hour back for the inviter, a day back for the tenant. */
export interface InvitationWindows {
  readonly inviter: Date;
  readonly tenant: Date;
}

/** What the invitations table says a tenant and an inviter have sent recently. */
export interface InvitationsMade {
  /** By the inviter in the last hour. */
  readonly byInviterLastHour: number;
  /** In the tenant in the last day. */
  readonly inTenantLastDay: number;
}

/** Counts the invitations made since the windows' starts (the invitations table). */
type CountMade = (since: InvitationWindows) => Promise<InvitationsMade>;

/**
 * How many invitations may be sent: per inviter an hour and per tenant a day
 * (INVITATION_LIMIT_PER_INVITER, INVITATION_LIMIT_PER_TENANT), counted in the rate-limit store so
 * they hold across processes, whatever RATE_LIMIT_ENABLED says. Only invitations that are made
 * count: `take` once the request has passed every other check, `giveBack` if it then fails.
 * When the store is unreachable (a Redis outage), the limits are checked against the
 * invitations table instead: inviting keeps working, and the mail waits in the outbox until
 * Redis is back. That count holds across processes too; concurrent invitations may pass it
 * together, so during an outage a limit can be exceeded by the requests in flight.
 */
export function createInvitationLimits(limiters: LimiterFactory, limits: Config["invitations"]) {
  const perInviter = limiters("invitations:inviter", limits.perInviterPerHour, HOUR_SECONDS);
  const perTenant = limiters("invitations:tenant", limits.perTenantPerDay, DAY_SECONDS);
  const inviterRefusal = `You may send at most ${limits.perInviterPerHour} invitations an hour`;
  const tenantRefusal = `This tenant may send at most ${limits.perTenantPerDay} invitations a day`;

  const refuse = (refusal: string, retryAfterSeconds: number) =>
    new AppError("rate-limited", `${refusal}; retry after the delay given.`, {
      headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    });

  /** Consumes a point; false when the store could not be reached. */
  async function take(limiter: RateLimiterAbstract, key: string, refusal: string) {
    try {
      await limiter.consume(key);
      return true;
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) return false;
      throw refuse(refusal, rejection.msBeforeNext / 1000);
    }
  }

  /** The limits checked against what the table holds; nothing to give back afterwards. */
  async function checkMade(countMade: CountMade) {
    const now = Date.now();
    const made = await countMade({
      inviter: new Date(now - HOUR_SECONDS * 1000),
      tenant: new Date(now - DAY_SECONDS * 1000),
    });
    if (made.byInviterLastHour >= limits.perInviterPerHour) {
      throw refuse(inviterRefusal, HOUR_SECONDS);
    }
    if (made.inTenantLastDay >= limits.perTenantPerDay) throw refuse(tenantRefusal, DAY_SECONDS);
  }

  return {
    /**
     * Counts one invitation from `inviterId` in `tenantId`; 429 once either limit is used up.
     * `countMade` is asked, with the windows, only when the store is unreachable. Returns
     * whether the store counted it (and so whether `giveBack` has anything to undo).
     */
    async take(tenantId: string, inviterId: string, countMade: CountMade): Promise<boolean> {
      if (!(await take(perInviter, inviterId, inviterRefusal))) {
        await checkMade(countMade);
        return false;
      }
      try {
        if (await take(perTenant, tenantId, tenantRefusal)) return true;
        await checkMade(countMade);
      } catch (error) {
        await perInviter.reward(inviterId).catch(() => undefined);
        throw error;
      }
      await perInviter.reward(inviterId).catch(() => undefined);
      return false;
    },
    /** Gives back what `take` counted, for an invitation that was not made after all. */
    async giveBack(tenantId: string, inviterId: string): Promise<void> {
      await Promise.all([perInviter.reward(inviterId), perTenant.reward(tenantId)]).catch(
        () => undefined,
      );
    },
  };
}
