import { describe, expect, it } from "vitest";
import { startServer } from "../helpers/server-process.js";

interface Line {
  msg?: string;
  heapUsedBeforeMb?: number;
  heapUsedAfterMb?: number;
  youngGenerationBeforeMb?: number;
  youngGenerationAfterMb?: number;
}

const linesOf = (stdout: string): Line[] =>
  stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Line);

describe("start-up garbage", () => {
  it("is collected, young generation included, before the listener opens when the process runs with --expose-gc", async () => {
    const server = await startServer({}, { nodeFlags: ["--expose-gc"] });
    const collected = linesOf(server.stdout()).find(
      (line) => line.msg === "start-up garbage collected",
    );
    expect(collected, server.stdout()).toBeDefined();
    expect(collected?.heapUsedAfterMb).toBeLessThan(collected?.heapUsedBeforeMb ?? 0);
    // A last-resort collection: the V8 of Node 22 and 24 shrinks the young generation to its
    // minimum (it had grown to its maximum while the server was built); Node 20's V8 ignores the
    // flavour and runs a plain collection, which leaves the young generation as it was.
    const youngBefore = collected?.youngGenerationBeforeMb ?? 0;
    if (Number(process.versions.node.split(".")[0]) >= 22) {
      expect(youngBefore).toBeGreaterThan(2);
      expect(collected?.youngGenerationAfterMb).toBeLessThanOrEqual(2);
    } else {
      expect(collected?.youngGenerationAfterMb).toBe(youngBefore);
    }
    // Before the server said it listens.
    const messages = server.messages();
    expect(messages.indexOf("start-up garbage collected")).toBeLessThan(
      messages.indexOf(`Server listening at http://127.0.0.1:${server.port}`),
    );
    server.child.kill("SIGKILL");
  });

  it("is left to V8 without the flag", async () => {
    const server = await startServer();
    expect(server.messages()).not.toContain("start-up garbage collected");
    server.child.kill("SIGKILL");
  });
});
