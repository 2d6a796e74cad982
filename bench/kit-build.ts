/**
 * For the bench-only kit entries (unguarded-server.ts, unchecked-server.ts): loads modules of
 * the built kit named by --kit-dir (dist/src by default, so `npm run build` first), so that an
 * entry runs the same build as the `get` target.
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

// tsx turns on source maps for its own transforms; the kit under `node dist/src/main.js` runs
// without them, and so does this process (error stacks would otherwise cost more here).
process.setSourceMapsEnabled(false);

const { values } = parseArgs({ options: { "kit-dir": { type: "string" } } });
const kitDir = resolve(
  values["kit-dir"] ?? join(dirname(fileURLToPath(import.meta.url)), "../dist/src"),
);

/** A module of the built kit, by its path under dist/src. */
export const loadKitModule = <Module>(file: string) =>
  import(pathToFileURL(join(kitDir, file)).href) as Promise<Module>;
