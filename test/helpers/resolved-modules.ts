import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * Which modules a piece of code loads, for the tests that prove a dependency is imported only
 * when it is used. `script` (the body of an ES module) runs in a child process whose loader
 * records the URL of every module it resolves (a module.register hook); the script can write
 * lines of its own among them with `mark(line)`. Returns the lines in order.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** A quoted file URL of a file of the kit, for the script (which runs from a temporary folder). */
export const sourceUrl = (path: string): string =>
  JSON.stringify(pathToFileURL(join(ROOT, path)).href);

/** A quoted file URL of an installed package's entry, for the script. */
export const packageUrl = (name: string): string =>
  JSON.stringify(pathToFileURL(createRequire(join(ROOT, "package.json")).resolve(name)).href);

const HOOKS = `
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.RESOLVED_LOG, resolved.url + "\\n");
  return resolved;
}
`;

const PREAMBLE = `
import { appendFileSync } from "node:fs";
const mark = (line) => appendFileSync(process.env.RESOLVED_LOG, line + "\\n");
`;

export function resolvedModules(script: string): string[] {
  const work = mkdtempSync(join(os.tmpdir(), "kit-resolved-modules-"));
  try {
    const hooks = join(work, "hooks.mjs");
    const register = join(work, "register.mjs");
    const body = join(work, "script.mjs");
    const log = join(work, "resolved.log");
    writeFileSync(hooks, HOOKS);
    writeFileSync(
      register,
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
    writeFileSync(body, PREAMBLE + script);
    writeFileSync(log, "");
    execFileSync(
      process.execPath,
      ["--import", "tsx", "--import", pathToFileURL(register).href, body],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, RESOLVED_LOG: log },
        stdio: "pipe",
        timeout: 60_000,
      },
    );
    return readFileSync(log, "utf8").split("\n");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
