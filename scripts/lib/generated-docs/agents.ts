import type { z } from "zod";
import type { ModuleEntry } from "./modules.js";

/**
 * The short forms AGENTS.md holds of what the README shows in full: an assistant reads the
 * whole file on every task, so it gets names and one line each, and the README's tables for
 * the rest.
 */

/** Each default module in mounting order: export, folder, what it does. */
export function modulesList(entries: readonly ModuleEntry[]): string {
  return entries
    .map(
      (entry) => `- \`${entry.exportName}\` (\`src/modules/${entry.folder}/\`): ${entry.summary}`,
    )
    .join("\n");
}

/** The names of the variables the schema reads, in its order. */
export function environmentNames(schema: z.ZodObject<Record<string, z.ZodType>>): string {
  return Object.keys(schema.shape)
    .map((name) => `\`${name}\``)
    .join(", ");
}
