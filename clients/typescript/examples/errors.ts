import { type components, type KitClient, ProblemError, unwrap } from "../src/index.js";

type Role = components["schemas"]["Role"];

/**
 * Every error is an RFC 9457 problem: `status`, a `type` ending in its code
 * (`validation-failed`, `not-found`, `forbidden`, ...), a `detail` to show, `errors` naming
 * each invalid field of a 422, and the `traceId` to quote to support.
 */
export async function createRoleFromForm(
  api: KitClient,
  form: { name: string; description?: string; permissions: string[] },
): Promise<{ role: Role } | { fieldErrors: Record<string, string> }> {
  try {
    return { role: await unwrap(api.api.POST("/api/v1/roles", { body: form })) };
  } catch (error) {
    if (error instanceof ProblemError && error.code === "validation-failed") {
      return { fieldErrors: error.fieldErrors };
    }
    throw error;
  }
}

/** Without exceptions: `error` is typed as the problem; another tenant's role is a 404 too. */
export async function describeRole(
  api: KitClient,
  id: string,
  description: string,
): Promise<Role | null> {
  const { data, error, response } = await api.api.PATCH("/api/v1/roles/{id}", {
    params: { path: { id } },
    body: { description },
  });
  if (error) {
    if (response.status === 404) return null;
    throw new ProblemError(error);
  }
  return data;
}

/** What to show for a problem nobody handled: its detail, and the id support can look up. */
export function describeProblem(error: unknown): string {
  if (error instanceof ProblemError) {
    if (error.status === 403) return "You are not allowed to do this in this workspace.";
    if (error.status === 429) return "Too many requests; wait a moment and try again.";
    return `${error.problem.detail} (reference ${error.problem.traceId})`;
  }
  return "The server could not be reached.";
}
