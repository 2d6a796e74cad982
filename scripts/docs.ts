/**
 * Writes what the docs derive from the code: the generated sections of README.md, AGENTS.md,
 * llms.txt and docs/*.md (default modules, migrations, environment variables, module
 * dependencies, commands, the index of the docs) and the SQL snapshots beside the files that
 * prepare statements. With --check, writes nothing and fails
 * when a committed file differs, so CI catches docs that drifted from the code.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { differences, generateDocs, REPOSITORY_ROOT } from "./lib/generated-docs/index.js";

const check = process.argv.includes("--check");
const generated = await generateDocs(REPOSITORY_ROOT);
const differing = differences(REPOSITORY_ROOT, generated);

if (check) {
  if (differing.length > 0) {
    console.error(
      `These files differ from what the code produces; run \`npm run docs:generate\`:\n  ${differing.join("\n  ")}`,
    );
  }
} else {
  for (const path of differing) {
    const content = generated.files.get(path);
    if (content === undefined) rmSync(join(REPOSITORY_ROOT, path));
    else writeFileSync(join(REPOSITORY_ROOT, path), content);
    console.log(`${content === undefined ? "removed" : "wrote"} ${path}`);
  }
  if (differing.length === 0) console.log("generated docs and SQL snapshots are up to date");
}
if (generated.problems.length > 0) {
  console.error(
    `The hand-written references disagree with the code:\n  ${generated.problems.join("\n  ")}`,
  );
}
if ((check && differing.length > 0) || generated.problems.length > 0) process.exitCode = 1;
