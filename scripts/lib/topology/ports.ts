import { createConnection, createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * A TCP port of 127.0.0.1 that nothing listens on right now, chosen by the kernel. Another
 * program could take it before the caller binds it; the topology binds each one at once.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined, or throws
 * once `timeoutMs` has passed (naming `what`, and the last error `check` threw, if any).
 * `abort` ends the wait early with its own error, e.g. when the awaited process has exited.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs?: number; abort?: () => Error | undefined },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const aborted = options.abort?.();
    if (aborted) throw aborted;
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`${what} did not happen within ${options.timeoutMs / 1000} s${cause}`);
    }
    await sleep(options.intervalMs ?? 100);
  }
}
