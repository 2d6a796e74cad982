import { AppError } from "../errors/index.js";

interface Compartment {
  held: number;
  readonly waiting: (() => void)[];
}

/**
 * A cap on how many tenant-pool connections one tenant holds at once in this process, so a
 * tenant whose statements are slow (a lock, a heavy query, a flood) fills its own share of the
 * pool and not the pool: the other tenants' requests still find a free connection. Requests over
 * the cap wait their turn, first come first served, for at most `waitMs`; then they answer 503
 * with Retry-After. Per process, like the pool it guards.
 */
export class TenantBulkhead {
  private readonly compartments = new Map<string, Compartment>();

  constructor(
    private readonly perTenant: number,
    private readonly waitMs: number,
  ) {}

  /**
   * Runs `work` once the tenant holds one of its connections, and gives the connection back
   * when it settles. Without `async`: when the tenant has room, as nearly always, the work
   * starts in this turn and its answer passes through one promise (this runs on every read).
   */
  run<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    const compartment = this.compartments.get(tenantId);
    if (!compartment) {
      this.compartments.set(tenantId, { held: 1, waiting: [] });
    } else if (compartment.held < this.perTenant) {
      compartment.held += 1;
    } else {
      return this.waitForTurn(compartment).then(() => this.holding(tenantId, work));
    }
    return this.holding(tenantId, work);
  }

  /** Connections `tenantId` holds now (for tests and metrics). */
  held(tenantId: string): number {
    return this.compartments.get(tenantId)?.held ?? 0;
  }

  /** Runs `work` on a connection `tenantId` already holds, and releases it after. */
  private holding<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    let running: Promise<T>;
    try {
      running = work();
    } catch (error) {
      this.release(tenantId);
      return Promise.reject(error);
    }
    return running.then(
      (value) => {
        this.release(tenantId);
        return value;
      },
      (error: unknown) => {
        this.release(tenantId);
        throw error;
      },
    );
  }

  private waitForTurn(compartment: Compartment): Promise<void> {
    return new Promise((resolve, reject) => {
      const turn = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const index = compartment.waiting.indexOf(turn);
        if (index >= 0) compartment.waiting.splice(index, 1);
        reject(
          new AppError(
            "service-unavailable",
            "Too many of this tenant's requests are waiting for the database; retry shortly.",
            { headers: { "retry-after": "1" } },
          ),
        );
      }, this.waitMs);
      compartment.waiting.push(turn);
    });
  }

  private release(tenantId: string): void {
    const compartment = this.compartments.get(tenantId);
    if (!compartment) return;
    const next = compartment.waiting.shift();
    // The slot passes straight to the next in line: `held` stays as it is.
    if (next) {
      next();
      return;
    }
    compartment.held -= 1;
    if (compartment.held === 0) this.compartments.delete(tenantId);
  }
}
