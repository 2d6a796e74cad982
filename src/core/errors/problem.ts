import { z } from "zod";
import { STATUS_CODES } from "../http/node-http.js";
import { type ProblemCode, problemCatalog } from "./catalog.js";

/** RFC 9457 problem details, the body of every error response. */
export const problemSchema = z
  .object({
    type: z.string().describe("URI identifying the problem type"),
    title: z.string().describe("Short, human-readable summary of the problem type"),
    status: z.number().int().describe("HTTP status code"),
    detail: z.string().describe("Explanation specific to this occurrence"),
    instance: z.string().describe("Path of the request that failed"),
    errors: z
      .array(
        z.object({
          field: z
            .string()
            .describe(
              "The input's path, whatever its location: a body field's path joined with `.` (`name`, `roleIds.0`), a query or path parameter's name (`limit`, `id`), a header's lower-case name; empty for a rule on a whole input",
            ),
          message: z.string(),
        }),
      )
      .optional()
      .describe("Only for validation-failed (422): what is wrong with each field"),
    traceId: z.string().describe("Identifier to quote when reporting the problem"),
  })
  .meta({ id: "Problem" });

export type Problem = z.infer<typeof problemSchema>;

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export function buildProblem(
  typeBaseUrl: string,
  code: ProblemCode,
  fields: {
    detail: string;
    instance: string;
    traceId: string;
    errors?: Problem["errors"];
    status?: number;
  },
): Problem {
  const entry = problemCatalog[code];
  const status = fields.status ?? entry.status;
  const title = fields.status ? (STATUS_CODES[fields.status] ?? entry.title) : entry.title;
  return {
    type: `${typeBaseUrl}/${code}`,
    title,
    status,
    detail: fields.detail,
    instance: fields.instance,
    ...(fields.errors ? { errors: fields.errors } : {}),
    traceId: fields.traceId,
  };
}
