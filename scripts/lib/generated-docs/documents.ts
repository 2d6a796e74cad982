import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readText } from "./references.js";

/**
 * The index of the documentation, in reading order, which README.md, AGENTS.md and llms.txt
 * each hold: a title read from each document's first heading, and a line saying what it
 * covers, kept here. A document of docs/ or docs/decisions/ without a line here, or a line
 * for a document that is gone, fails the generation.
 */
export const DOCUMENT_SUMMARIES: Readonly<Record<string, string>> = {
  "docs/architecture.md": "layers, dependency rules, request flow hook by hook",
  "docs/tenancy.md": "how isolation works, roles, policies, PgBouncer, new tenant tables",
  "docs/authentication.md":
    "sign-up, sign-in, refresh rotation, revocation, passwords, brute force, front ends",
  "docs/oauth.md":
    "sign-in with Google, Microsoft and GitHub, state and PKCE, account linking, each provider's console",
  "docs/permissions.md":
    "the permission catalog, tenant roles, member roles, protecting a route, the 403, the security test",
  "docs/audit.md":
    "what the audit log records, its guarantees, reading it, auditing a table, recording an event, retention",
  "docs/adding-a-module.md": "a second module, step by step",
  "docs/caching.md": "the per-tenant cache, namespaces and invalidation, outages",
  "docs/rate-limiting.md": "limits per IP, per tenant plan and per route, headers, Redis outages",
  "docs/jobs.md": "background jobs, the transactional outbox, the worker, crons, mail",
  "docs/errors.md": "the problem format and every error code",
  "docs/front-end.md":
    "the TypeScript client: sign-in, the refresh cookie, silent refresh, tenants, pages, errors",
  "docs/api-versioning.md":
    "deprecating a route (Deprecation, Sunset, the metric), an `/api/v2` next to `/api/v1`",
  "docs/configuration.md": "every environment variable",
  "docs/operations.md": "probes, metrics, logs, shutdown, timeouts, the worker, deployment",
  "docs/observability.md":
    "tracing, the kit's metrics for operators, alerts, the dashboard, running Prometheus and Grafana",
  "docs/decisions/0001-tenant-read-path.md":
    "a design decision: how tenant reads reach PostgreSQL, what it costs, what remains",
};

/** The Markdown files of docs/ and docs/decisions/. */
function documentFiles(root: string): string[] {
  return ["docs", "docs/decisions"]
    .filter((folder) => existsSync(join(root, folder)))
    .flatMap((folder) =>
      readdirSync(join(root, folder))
        .filter((file) => file.endsWith(".md"))
        .map((file) => `${folder}/${file}`),
    );
}

/** The list of the documents: `- [Title](path): what it covers`. */
export function documentsList(
  root: string,
  summaries: Readonly<Record<string, string>> = DOCUMENT_SUMMARIES,
): string {
  const files = documentFiles(root);
  const unlisted = files.filter((path) => !(path in summaries));
  if (unlisted.length > 0) {
    throw new Error(
      `${unlisted.join(", ")}: add a line saying what it covers to DOCUMENT_SUMMARIES (scripts/lib/generated-docs/documents.ts)`,
    );
  }
  const gone = Object.keys(summaries).filter((path) => !files.includes(path));
  if (gone.length > 0) {
    throw new Error(`DOCUMENT_SUMMARIES lists ${gone.join(", ")}, which does not exist`);
  }
  return Object.entries(summaries)
    .map(([path, summary]) => `- [${titleOf(readText(root, path), path)}](${path}): ${summary}`)
    .join("\n");
}

function titleOf(document: string, path: string): string {
  const title = /^# (.+)$/m.exec(document)?.[1]?.trim();
  if (!title) throw new Error(`${path} has no title (a first-level heading)`);
  return title;
}
