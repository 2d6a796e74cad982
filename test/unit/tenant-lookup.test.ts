/**
 * The tenant lookup's copy in the process (src/core/auth/tenant-lookup.ts), with a stand-in
 * for the shared cache that reads through on every call: a recent copy is answered as it is,
 * an older one (up to 10 minutes) is answered while one background read refreshes it, at most
 * four refreshes run at once, and past those 10 minutes, or after a refresh failed, the request
 * waits for the read. What the shared cache and the database answer is tested with the real
 * ones in rate-limit.test.ts.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createTenantLookup } from "../../src/core/auth/tenant-lookup.js";
import type { Cache } from "../../src/core/cache/cache.js";
import type { TenantDatabase, TenantRow } from "../../src/core/database/index.js";

interface Harness {
  lookup: ReturnType<typeof createTenantLookup>;
  tenantDb: TenantDatabase;
  /** How many times the record was read from the shared cache. */
  reads(): number;
  /** What the next reads answer: a row with this plan, or a refusal. */
  answer(plan: TenantRow["plan"] | Error): void;
}

function harness(): Harness {
  const tenantId = randomUUID();
  let next: TenantRow["plan"] | Error = "free";
  let reads = 0;
  const cache = {
    getOrSet: async (_key: string, _ttl: number, load: () => Promise<unknown>) => load(),
  } as unknown as Cache;
  const tenantDb = {
    scope: { tenantId },
    rows: async () => {
      reads += 1;
      if (next instanceof Error) throw next;
      return [{ id: tenantId, plan: next } as TenantRow];
    },
  } as unknown as TenantDatabase;
  return {
    lookup: createTenantLookup(cache),
    tenantDb,
    reads: () => reads,
    answer: (value) => {
      next = value;
    },
  };
}

/** The plan a lookup answered, and whether it had to wait for it. */
async function planOf(h: Harness): Promise<{ plan: string; waited: boolean }> {
  const answer = h.lookup(h.tenantDb);
  const waited = answer instanceof Promise;
  return { plan: (await answer).plan, waited };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("tenant lookup", () => {
  it("waits for the first read, then answers the copy at once for at least 22.5 seconds", async () => {
    const h = harness();
    expect(await planOf(h)).toEqual({ plan: "free", waited: true });
    h.answer("pro");
    vi.advanceTimersByTime(22_400);
    expect(await planOf(h)).toEqual({ plan: "free", waited: false });
    expect(h.reads()).toBe(1);
  });

  it("answers an older copy at once while one background read refreshes it", async () => {
    const h = harness();
    await planOf(h);
    h.answer("pro");
    vi.advanceTimersByTime(30_000);
    // Three requests in the same turn, before the read could answer: one read for them all.
    const during = await Promise.all([planOf(h), planOf(h), planOf(h)]);
    expect(during).toEqual(Array(3).fill({ plan: "free", waited: false }));
    await vi.waitFor(() => expect(h.reads()).toBe(2));
    expect(await planOf(h)).toEqual({ plan: "pro", waited: false });
    expect(h.reads()).toBe(2);
  });

  it("spreads the refreshes of copies read together over their last 7.5 seconds", async () => {
    const tenants = Array.from({ length: 200 }, () => harness());
    for (const h of tenants) await planOf(h);
    const refreshedBy = async (ms: number) => {
      vi.setSystemTime(start + ms);
      for (const h of tenants) await planOf(h);
      return tenants.filter((h) => h.reads() > 1).length;
    };
    const start = Date.now();
    expect(await refreshedBy(22_400)).toBe(0);
    // Half way through the spread, about half of them: far from none and from all.
    const halfWay = await refreshedBy(26_250);
    expect(halfWay).toBeGreaterThan(40);
    expect(halfWay).toBeLessThan(160);
    expect(await refreshedBy(30_000)).toBe(200);
  });

  it("answers a copy up to 10 minutes old at once, and waits past that", async () => {
    const h = harness();
    await planOf(h);
    h.answer("enterprise");
    // A quiet spell longer than the shared cache's 60 s: the first request does not wait.
    vi.advanceTimersByTime(9 * 60_000);
    expect(await planOf(h)).toEqual({ plan: "free", waited: false });
    await vi.waitFor(() => expect(h.reads()).toBe(2));
    expect(await planOf(h)).toEqual({ plan: "enterprise", waited: false });
    h.answer("pro");
    vi.advanceTimersByTime(10 * 60_000);
    expect(await planOf(h)).toEqual({ plan: "pro", waited: true });
  });

  it("refreshes four copies at a time while the others are answered as they are", async () => {
    const lookup = createTenantLookup({
      getOrSet: async (_key: string, _ttl: number, load: () => Promise<unknown>) => load(),
    } as unknown as Cache);
    let inFlight = 0;
    let mostInFlight = 0;
    let reads = 0;
    const releases: (() => void)[] = [];
    const tenantDbs = Array.from(
      { length: 10 },
      () =>
        ({
          scope: { tenantId: randomUUID() },
          rows: async () => {
            reads += 1;
            inFlight += 1;
            mostInFlight = Math.max(mostInFlight, inFlight);
            if (reads > 10) await new Promise<void>((release) => releases.push(release));
            inFlight -= 1;
            return [{ plan: reads > 10 ? "pro" : "free" } as TenantRow];
          },
        }) as unknown as TenantDatabase,
    );
    for (const tenantDb of tenantDbs) await lookup(tenantDb);
    vi.advanceTimersByTime(5 * 60_000);
    // Every copy is stale: each is answered at once and queued for its refresh.
    for (const tenantDb of tenantDbs) expect(lookup(tenantDb)).toMatchObject({ plan: "free" });
    await vi.waitFor(() => expect(releases).toHaveLength(4));
    expect(reads).toBe(14);
    // Until a refresh lands, its tenant (and the queued ones) are still answered from the copy.
    for (const tenantDb of tenantDbs) expect(lookup(tenantDb)).toMatchObject({ plan: "free" });
    while (reads < 20 || releases.length > 0) {
      await vi.waitFor(() => expect(releases.length).toBeGreaterThan(0));
      releases.shift()?.();
    }
    await vi.waitFor(() => expect(inFlight).toBe(0));
    expect(mostInFlight).toBe(4);
    expect(reads).toBe(20);
    for (const tenantDb of tenantDbs) expect(lookup(tenantDb)).toMatchObject({ plan: "pro" });
  });

  it("drops the copy when the refresh fails, so the next request gets the refusal", async () => {
    const h = harness();
    await planOf(h);
    h.answer(new Error("The tenant of this token no longer exists."));
    vi.advanceTimersByTime(30_000);
    expect(await planOf(h)).toEqual({ plan: "free", waited: false });
    await vi.waitFor(() => expect(h.reads()).toBe(2));
    await Promise.resolve();
    const after = h.lookup(h.tenantDb);
    expect(after).toBeInstanceOf(Promise);
    await expect(after).rejects.toThrow("no longer exists");
  });
});
