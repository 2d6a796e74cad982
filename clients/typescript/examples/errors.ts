import { type components, type KitClient, ProblemError, unwrap } from "../src/index.js";

type Item = components["schemas"]["Item"];

/**
 * Every error is an RFC 9457 problem: `status`, a `type` ending in its code
 * (`validation-failed`, `not-found`, `forbidden`, ...), a `detail` to show, `errors` naming
 * each invalid field of a 422, and the `traceId` to quote to support.
 */
export async function createItemFromForm(
  api: KitClient,
  form: { name: string; description?: string },
): Promise<{ item: Item } | { fieldErrors: Record<string, string> }> {
  try {
    return { item: await unwrap(api.api.POST("/api/v1/items", { body: form })) };
  } catch (error) {
    if (error instanceof ProblemError && error.code === "validation-failed") {
      return { fieldErrors: error.fieldErrors };
    }
    throw error;
  }
}

/** Without exceptions: `error` is typed as the problem; another tenant's item is a 404 too. */
export async function findItem(api: KitClient, id: string): Promise<Item | null> {
  const { data, error, response } = await api.api.GET("/api/v1/items/{id}", {
    params: { path: { id } },
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
