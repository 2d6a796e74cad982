/**
 * Writes the TypeScript client's types (clients/typescript/src/schema.d.ts) from the OpenAPI
 * document: this app's own, built as `npm run openapi` builds it, or the document at the path
 * or URL given as the first argument (`npm run client -- https://api.example.com/openapi.json`).
 * The client's wrapper and README are beside it (clients/typescript/README.md); the examples of
 * the front-end guide (docs/front-end.md) are written into it again.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { clientTypesOf, SCHEMA_FILE } from "./lib/client/generate.js";
import { GUIDE_FILE, withSnippets } from "./lib/client/snippets.js";

async function documentFrom(source: string | undefined): Promise<object> {
  if (source && /^https?:\/\//.test(source)) {
    const response = await fetch(source, { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`GET ${source} answered ${response.status}`);
    return (await response.json()) as object;
  }
  if (source) return JSON.parse(readFileSync(resolve(source), "utf8")) as object;
  const app = await createApp(
    loadConfig({ ...process.env, LOG_LEVEL: "silent", DATABASE_URL: "", REDIS_URL: "" }),
  );
  try {
    return app.swagger();
  } finally {
    await app.close();
  }
}

const target = resolve(SCHEMA_FILE);
writeFileSync(target, await clientTypesOf(await documentFrom(process.argv[2])));
console.log(`wrote ${target}`);

// The guide shows the client's examples as they are now.
const guide = resolve(GUIDE_FILE);
writeFileSync(guide, withSnippets(readFileSync(guide, "utf8"), resolve(".")));
console.log(`wrote the examples into ${guide}`);
