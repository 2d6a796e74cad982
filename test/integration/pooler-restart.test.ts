import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { sql } from "drizzle-orm";
import type { FastifyBaseLogger } from "fastify";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../src/core/database/index.js";
import { isServiceUnavailable } from "../../src/core/errors/unavailable.js";
import { testConfig } from "../helpers/config.js";
import { createTenant } from "../helpers/factories.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

/**
 * PostgreSQL restarted behind a transaction pooler, as in production with PgBouncer: the
 * pooler keeps the kit's connections open while its own server connections are gone, and
 * answers the next statement on each (a transaction's BEGIN) with a FATAL error before closing
 * it. Every such failed transaction must give its connection back to the pool: once the server
 * is back, the next transactions find a connection at once instead of waiting out
 * CONNECTION_WAIT_MS for a pool that failures emptied.
 */

const logger = pino({ level: "silent" }) as unknown as FastifyBaseLogger;

/** A FATAL ErrorResponse as PgBouncer sends it while it cannot log in to its server. */
function fatalError(message: string): Buffer {
  const fields = Buffer.concat([
    ...[
      ["S", "FATAL"],
      ["V", "FATAL"],
      ["C", "08P01"],
      ["M", message],
    ].map(([type, value]) => Buffer.from(`${type}${value}\0`)),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write("E", 0);
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

/**
 * A TCP stand-in for the pooler: each client connection is forwarded to a server connection of
 * its own while the server is up. `serverGone` drops the server connections and keeps the
 * clients'; from then on whatever a client sends is answered with the FATAL error, and the
 * connection closed.
 */
class Pooler {
  readonly #links = new Set<{ client: Socket; upstream: Socket | undefined }>();
  #up = true;

  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<Pooler> {
    let pooler: Pooler | undefined;
    const server = createServer((client) => pooler?.accept(client, targetHost, targetPort));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    pooler = new Pooler(server, (server.address() as { port: number }).port);
    return pooler;
  }

  private accept(client: Socket, host: string, port: number) {
    const link = { client, upstream: undefined as Socket | undefined };
    this.#links.add(link);
    client.on("error", () => undefined);
    client.on("close", () => {
      this.#links.delete(link);
      link.upstream?.destroy();
    });
    client.on("data", (chunk) => {
      if (link.upstream) link.upstream.write(chunk);
      else client.end(fatalError("server login has been failing, try again later"));
    });
    if (!this.#up) return;
    const upstream = tcpConnect(port, host);
    link.upstream = upstream;
    upstream.on("error", () => undefined);
    upstream.on("data", (chunk) => client.write(chunk));
    upstream.on("close", () => {
      if (link.upstream === upstream) client.destroy();
    });
  }

  serverGone() {
    this.#up = false;
    for (const link of this.#links) {
      const upstream = link.upstream;
      link.upstream = undefined;
      upstream?.destroy();
    }
  }

  serverBack() {
    this.#up = true;
  }

  async close() {
    for (const link of this.#links) {
      link.client.destroy();
      link.upstream?.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const behind = (url: string, port: number) => {
  const proxied = new URL(url);
  proxied.hostname = "127.0.0.1";
  proxied.port = String(port);
  return proxied.toString();
};

let testDatabase: TestDatabase;
let pooler: Pooler;
let database: Database;

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  const target = new URL(testDatabase.url);
  pooler = await Pooler.start(target.hostname, Number(target.port || 5432));
  database = await openDatabase(
    testConfig({
      DATABASE_URL: behind(testDatabase.tenantUrl, pooler.port),
      DATABASE_SYSTEM_URL: behind(testDatabase.systemUrl, pooler.port),
      DATABASE_POOL_SIZE: "2",
      DATABASE_SYSTEM_POOL_SIZE: "2",
      DATABASE_TENANT_CONNECTIONS: "2",
      DATABASE_PIPELINE_CONNECTIONS: "0",
    }),
    logger,
  );
});

afterAll(async () => {
  // A leaked connection would hold the pool's end for ever: bound it.
  await Promise.race([database?.close(), new Promise((resolve) => setTimeout(resolve, 2_000))]);
  await pooler?.close();
  await testDatabase?.drop();
});

describe("PostgreSQL restarted behind a transaction pooler", () => {
  it("a transaction whose BEGIN fails gives its connection back to the pool", async () => {
    const tenant = await createTenant(database);
    const tenantTransaction = () =>
      database
        .forTenant({ tenantId: tenant.id })
        .transaction((tx) => tx.execute(sql`select pg_sleep(0.05)`));
    const systemTransaction = () =>
      database.bypassTenantIsolation("pooler restart test", (tx) =>
        tx.execute(sql`select pg_sleep(0.05)`),
      );
    // Both pools hold two open connections, idle.
    await Promise.all([tenantTransaction(), tenantTransaction()]);
    await Promise.all([systemTransaction(), systemTransaction()]);

    pooler.serverGone();
    for (const attempt of [tenantTransaction, systemTransaction]) {
      for (let n = 0; n < 3; n += 1) {
        const failure = await attempt().then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(failure, "the transaction fails while the server is gone").toBeDefined();
        expect(isServiceUnavailable(failure), String(failure)).toBe(true);
      }
    }
    pooler.serverBack();

    // The pools are whole again: each transaction gets a connection well within
    // CONNECTION_WAIT_MS (5 s), which is how long it would wait for a pool emptied by leaks.
    const started = performance.now();
    await Promise.all([tenantTransaction(), tenantTransaction()]);
    await Promise.all([systemTransaction(), systemTransaction()]);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
