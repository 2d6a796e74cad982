import type { FastifySchemaCompiler, FastifySchemaValidationError } from "fastify";
import { validatorCompiler as zodValidatorCompiler } from "fastify-type-provider-zod";
import type { ZodType } from "zod";
import { findUnstorableText } from "./text.js";

/**
 * The app's validator compiler: the route's Zod schema, after one rule every route shares. A
 * string that PostgreSQL cannot store (see text.ts) anywhere in the body, query string or path
 * parameters answers 422 before the schema runs, so no route needs to remember it and no such
 * string reaches a query, a log line or a job.
 */
export const validatorCompiler: FastifySchemaCompiler<ZodType> = (route) => {
  const validate = zodValidatorCompiler(route);
  return (data) => {
    const unstorable = findUnstorableText(data);
    if (unstorable.length === 0) return validate(data);
    const error: FastifySchemaValidationError[] = unstorable.map(({ path, message }) => ({
      keyword: "unstorable_text",
      instancePath: path.length > 0 ? `/${path.join("/")}` : "",
      schemaPath: "#",
      params: {},
      message,
    }));
    return { error };
  };
};
