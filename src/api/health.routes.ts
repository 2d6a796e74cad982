import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { PROBLEM_CONTENT_TYPE, problemSchema } from "../core/errors/index.js";
import { publicAccess } from "../core/http/access.js";

type ReadinessCheck = () => Promise<void>;

export interface HealthRoutesOptions {
  /** Backing services by name; Redis, when not configured, is reported as "disabled". */
  checks: { database: ReadinessCheck; redis: ReadinessCheck | undefined };
  info: { name: string; version: string; environment: string };
  /** Whether a failing check's error text may appear in the answer (never in production). */
  exposeErrors: boolean;
  checkTimeoutMs: number;
}

const checkStatus = z.string().describe('"ok", "disabled", or what failed');
const readySchema = z.object({
  status: z.enum(["ready", "degraded"]),
  checks: z.object({
    database: checkStatus,
    redis: checkStatus,
    shutdown: z
      .literal("draining")
      .optional()
      .describe("Present while the process drains before it stops: route elsewhere."),
  }),
});

const servingSchema = z.object({ status: z.enum(["serving", "draining"]) });

/**
 * A probe's 503: its own body, or, once the server is closing, the problem every route answers
 * then (core/http/shutdown.ts). The two are told apart by their content type.
 */
const probeUnavailable = (body: z.ZodType, description: string) => ({
  description,
  content: {
    "application/json": { schema: body },
    [PROBLEM_CONTENT_TYPE]: { schema: problemSchema },
  },
});

function withTimeout(check: ReadinessCheck, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([check(), timeout]).finally(() => clearTimeout(timer));
}

export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, options) => {
  app.get(
    "/health/live",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "checkLiveness",
        summary: "Liveness probe",
        description: "Answers as long as the process can serve HTTP; checks no dependency.",
        tags: ["health"],
        response: { 200: z.object({ status: z.literal("alive") }) },
      },
    },
    async () => ({ status: "alive" as const }),
  );

  app.get(
    "/health/ready",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "checkReadiness",
        summary: "Readiness probe",
        description:
          "Checks every configured backing service. Answers 503 with the failing check named when one is down, or with `shutdown: draining` while the process drains before it stops, so a load balancer stops routing here.",
        tags: ["health"],
        response: {
          200: readySchema,
          503: probeUnavailable(
            readySchema,
            "A backing service is down, or the process drains before it stops; a problem once it is closing.",
          ),
        },
      },
    },
    async (request, reply) => {
      const names = Object.keys(options.checks) as (keyof HealthRoutesOptions["checks"])[];
      const results = await Promise.all(
        names.map(async (name) => {
          const check = options.checks[name];
          if (!check) return [name, "disabled"] as const;
          try {
            await withTimeout(check, options.checkTimeoutMs);
            return [name, "ok"] as const;
          } catch (error) {
            request.log.warn({ err: error, check: name }, "readiness check failed");
            const text = error instanceof Error ? error.message : String(error);
            return [name, options.exposeErrors ? `error: ${text}` : "error"] as const;
          }
        }),
      );
      const checks = Object.fromEntries(results) as z.infer<typeof readySchema>["checks"];
      // A draining process is healthy but leaving: it must receive no new traffic.
      if (app.draining) checks.shutdown = "draining";
      const healthy =
        !app.draining && results.every(([, status]) => status === "ok" || status === "disabled");
      return reply
        .code(healthy ? 200 : 503)
        .send({ status: healthy ? "ready" : "degraded", checks });
    },
  );

  app.get(
    "/health/serving",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "checkServing",
        summary: "Load-balancer probe",
        description:
          "Whether this process takes new requests: 503 with `status: draining` from the start of its shutdown drain, 200 otherwise. Checks no backing service on purpose: when PostgreSQL or Redis is down, every process is down with it, and a balancer that took them all out of rotation could only refuse connections; kept in, they answer 503 with `Retry-After` and serve what needs neither service.",
        tags: ["health"],
        response: {
          200: servingSchema,
          503: probeUnavailable(
            servingSchema,
            "The process drains before it stops; a problem once it is closing.",
          ),
        },
      },
    },
    async (_request, reply) =>
      app.draining
        ? reply.code(503).send({ status: "draining" as const })
        : reply.send({ status: "serving" as const }),
  );

  app.get(
    "/info",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "getInfo",
        summary: "Service information",
        description: "The name, version and environment of this deployment.",
        tags: ["health"],
        response: {
          200: z.object({ name: z.string(), version: z.string(), environment: z.string() }),
        },
      },
    },
    async () => options.info,
  );
};
