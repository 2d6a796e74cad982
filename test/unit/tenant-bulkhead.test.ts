import { describe, expect, it } from "vitest";
import { TenantBulkhead } from "../../src/core/database/tenant-bulkhead.js";
import { AppError } from "../../src/core/errors/index.js";

/** A piece of work that ends when the test says so. */
function gate() {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe("TenantBulkhead", () => {
  it("lets a tenant hold its share at once, then queues its next requests in order", async () => {
    const bulkhead = new TenantBulkhead(2, 1_000);
    const gates = [gate(), gate(), gate(), gate()];
    const order: number[] = [];
    const runs = gates.map((g, n) =>
      bulkhead.run("a", async () => {
        order.push(n);
        await g.opened;
        return n;
      }),
    );
    await Promise.resolve();
    expect(order).toEqual([0, 1]);
    expect(bulkhead.held("a")).toBe(2);

    // Another tenant is not held up by the first one's share.
    expect(await bulkhead.run("b", async () => "b")).toBe("b");

    gates[1]?.open();
    await runs[1];
    expect(order).toEqual([0, 1, 2]);
    gates[0]?.open();
    gates[2]?.open();
    gates[3]?.open();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect(order).toEqual([0, 1, 2, 3]);
    expect(bulkhead.held("a")).toBe(0);
  });

  it("answers 503 with Retry-After to a request that waited too long, and forgets it", async () => {
    const bulkhead = new TenantBulkhead(1, 50);
    const first = gate();
    const running = bulkhead.run("a", () => first.opened);
    const waiting = bulkhead.run("a", async () => "never");
    const refusal = await waiting.catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(AppError);
    expect(refusal).toMatchObject({ code: "service-unavailable", status: 503 });
    first.open();
    await running;
    expect(bulkhead.held("a")).toBe(0);
    // The slot is free again.
    expect(await bulkhead.run("a", async () => "next")).toBe("next");
  });

  it("frees the slot when the work fails", async () => {
    const bulkhead = new TenantBulkhead(1, 1_000);
    await expect(
      bulkhead.run("a", async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(bulkhead.held("a")).toBe(0);
    expect(await bulkhead.run("a", async () => 1)).toBe(1);
  });

  it("answers a rejection and frees the slot when the work throws before it returns", async () => {
    const bulkhead = new TenantBulkhead(1, 1_000);
    const run = bulkhead.run("a", () => {
      throw new Error("thrown at once");
    });
    expect(run).toBeInstanceOf(Promise);
    await expect(run).rejects.toThrow("thrown at once");
    expect(bulkhead.held("a")).toBe(0);
  });

  it("starts the work in the same turn when the tenant has room", () => {
    const bulkhead = new TenantBulkhead(1, 1_000);
    let started = false;
    void bulkhead.run("a", async () => {
      started = true;
    });
    expect(started).toBe(true);
    expect(bulkhead.held("a")).toBe(1);
  });
});
