import type { FastifyBaseLogger } from "fastify";
import type { z } from "zod";
import type { Database, TenantDatabase } from "../database/index.js";
import type { TraceCarrier } from "../observability/tracing.js";

/**
 * What a handler gets besides its payload; a module names it for a handler written apart from
 * its `defineJob`.
 * @public
 */
export interface JobContext {
  readonly jobId: string;
  /** 1 on the first run, 2 on the first retry, ... */
  readonly attempt: number;
  readonly log: FastifyBaseLogger;
  /** Aborted when the job exceeds its timeout or the worker shuts down. */
  readonly signal: AbortSignal;
  /**
   * For jobs enqueued in a tenant's context: the database bound to that tenant (and to the
   * user and request that enqueued it). Undefined for system jobs.
   */
  readonly tenantDb: TenantDatabase | undefined;
  /** The whole database, for system jobs (cleanup); reach across tenants only on purpose. */
  readonly database: Database;
  /**
   * Runs `fn` unless a run of this job id already completed the step named `step`, and records
   * the step as done when `fn` resolves. Resolves to true when `fn` ran now, false when it was
   * skipped. For a side effect that must not happen twice when the job runs again after it (a
   * retry, or the rerun of a job whose worker died): a mail, a payment call. A crash between
   * `fn` resolving and the record being written still repeats the step; see docs/jobs.md.
   */
  once(step: string, fn: () => Promise<void>): Promise<boolean>;
}

export interface JobDefinition<Schema extends z.ZodType = z.ZodType> {
  readonly name: string;
  /** Validates the payload when it is enqueued and again when it runs. */
  readonly schema: Schema;
  readonly handler: (payload: z.output<Schema>, context: JobContext) => Promise<void>;
  /** Runs in total, the first included. Any thrown error leads to a retry until then. */
  readonly attempts: number;
  /** Delay before retry n is delayMs * 2^(n-1) (exponential) or delayMs (fixed). */
  readonly backoff: { readonly type: "exponential" | "fixed"; readonly delayMs: number };
  /** A run taking longer fails (and is retried) and its signal is aborted. */
  readonly timeoutMs: number;
  /** How the payload rests in the outbox and the queue when it holds secrets (see PayloadSealing). */
  readonly sealing: PayloadSealing<z.input<Schema>> | undefined;
  /**
   * Whether a completed run stays in the queue (7 days) or leaves it at once. Either way a
   * second publication with the same job id within 7 days is ignored.
   */
  readonly keepCompleted: boolean;
}

/**
 * For payloads holding secrets (a mailed link with its token): `seal` turns a valid payload
 * into what is stored (in the outbox row and the queue), and `open` turns that back into the
 * payload, in the worker, right before the schema check and the handler. A stored payload that
 * cannot be opened fails the job without retries; `open` must throw without quoting it.
 */
export interface PayloadSealing<Payload> {
  seal(payload: Payload): unknown;
  open(stored: unknown): unknown;
}

export function defineJob<Schema extends z.ZodType>(definition: {
  name: string;
  schema: Schema;
  handler: JobDefinition<Schema>["handler"];
  attempts?: number;
  backoff?: JobDefinition["backoff"];
  timeoutMs?: number;
  sealing?: PayloadSealing<z.input<Schema>>;
  keepCompleted?: boolean;
}): JobDefinition<Schema> {
  if (!/^[a-z][a-z0-9-]*$/.test(definition.name)) {
    throw new Error(`Job name "${definition.name}" must be kebab-case`);
  }
  return Object.freeze({
    attempts: 5,
    backoff: { type: "exponential" as const, delayMs: 1_000 },
    timeoutMs: 60_000,
    sealing: undefined,
    keepCompleted: true,
    ...definition,
  });
}

/** A job definition of any payload type, as registries and queues hold them. */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds handlers of every payload type.
export type AnyJob = JobDefinition<z.ZodType<any>>;

/** A job run on a schedule, once per tick across all workers. */
export interface CronDefinition {
  readonly name: string;
  /** A cron pattern, evaluated in UTC ("0 3 * * *" is 03:00 UTC daily). */
  readonly pattern: string;
  readonly job: AnyJob;
  readonly payload: unknown;
}

export function defineCron<Schema extends z.ZodType>(definition: {
  name: string;
  pattern: string;
  job: JobDefinition<Schema>;
  payload: z.input<Schema>;
}): CronDefinition {
  return Object.freeze({ ...definition });
}

/** What travels with a job: its payload and the context it was enqueued in. */
export interface JobEnvelope {
  readonly payload: unknown;
  readonly tenantId?: string | undefined;
  readonly userId?: string | undefined;
  readonly requestId?: string | undefined;
  /**
   * The trace of whoever enqueued it (W3C traceparent), while tracing is on: the job's span
   * continues it, after a delay or a retry alike, and so do its log lines.
   */
  readonly trace?: TraceCarrier | undefined;
}

/** The registered jobs by name; a job that is not registered cannot be enqueued or run. */
export class JobRegistry {
  private readonly byName = new Map<string, AnyJob>();

  constructor(definitions: readonly AnyJob[]) {
    for (const definition of definitions) {
      if (this.byName.has(definition.name)) {
        throw new Error(`Job "${definition.name}" is defined twice`);
      }
      this.byName.set(definition.name, definition);
    }
  }

  get(name: string): AnyJob | undefined {
    return this.byName.get(name);
  }

  has(definition: AnyJob): boolean {
    return this.byName.get(definition.name) === definition;
  }

  all(): AnyJob[] {
    return [...this.byName.values()];
  }
}
