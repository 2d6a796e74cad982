import { describe, expect, it } from "vitest";
import { settlesWithin } from "../../src/core/jobs/index.js";

describe("settlesWithin", () => {
  it("is true for work that settles in time", async () => {
    expect(await settlesWithin(Promise.resolve("done"), 50)).toBe(true);
  });

  it("is false for work still running at the end of the time, which is left running", async () => {
    let finished = false;
    const work = new Promise<void>((resolve) => setTimeout(resolve, 200)).then(() => {
      finished = true;
    });
    expect(await settlesWithin(work, 20)).toBe(false);
    await work;
    expect(finished).toBe(true);
  });

  it("passes on a rejection within the time", async () => {
    await expect(settlesWithin(Promise.reject(new Error("boom")), 50)).rejects.toThrow("boom");
  });
});
