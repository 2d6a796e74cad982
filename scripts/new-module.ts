/**
 * Writes a tenant-scoped module in the house style of src/modules/items/ and registers it:
 *
 *   npm run new:module -- <name> [--fields name:text,done:boolean,dueAt:timestamp?]
 *                                [--singular <word>] [--description <text>]
 *
 * <name> is the plural, kebab-case (projects, work-orders): the folder, the URL
 * (/api/v1/<name>), the permission resource and, snake_case, the table. Fields are
 * `name:type`, camelCase names, types text, boolean, integer and timestamp; `name:type?` makes
 * one nullable (optional when creating, `null` clears it). Without --fields: `name:text`.
 *
 * It writes src/modules/<name>/ (table, repository, schemas, service, permissions, routes,
 * index), its line in src/modules.ts, the table's migration (drizzle-kit) and the hand-written
 * one (row-level security, grants, audit trigger, the default roles' grants), its tests and
 * route expectations in test/integration/modules/<name>/, then formats them and runs what
 * `npm run docs:generate` does. A bad name or field is one line on stderr, and nothing is written.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { generateModule } from "./lib/new-module/generate.js";
import {
  checkIdentifiers,
  checkUnused,
  type ModuleSpec,
  moduleNames,
  parseFields,
  SpecError,
} from "./lib/new-module/spec.js";
import { defaultDescription } from "./lib/new-module/templates.js";

const USAGE = `usage: npm run new:module -- <name> [--fields <field>,...] [--singular <word>] [--description <text>]
  <name>          the plural, lowercase, words joined by "-": projects, work-orders
  --fields        name:type[?],... types: text, boolean, integer, timestamp; ? makes a field
                  nullable (default: name:text)
  --singular      the singular when it is not the name without its plural ending (people: person)
  --description   the module's one-line doc comment, shown in the README's table of modules`;

function specOf(argv: readonly string[]): { spec: ModuleSpec; description: string } {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new SpecError((error as Error).message);
  }
  const [name, ...extra] = parsed.positionals;
  if (name === undefined) throw new SpecError("name the module: npm run new:module -- <name>");
  if (extra.length > 0)
    throw new SpecError(`one module at a time (also given: ${extra.join(" ")})`);
  const names = moduleNames(name, parsed.values.singular);
  const spec = { ...names, fields: parseFields(parsed.values.fields ?? "name:text") };
  checkIdentifiers(spec);
  const description = (parsed.values.description ?? defaultDescription(spec)).trim();
  if (description === "" || /[\n*]/.test(description)) {
    throw new SpecError("--description: one line of text, without * or line breaks");
  }
  return { spec, description };
}

const parse = (argv: readonly string[]) =>
  parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      fields: { type: "string" },
      singular: { type: "string" },
      description: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });

const root = resolve(import.meta.dirname, "..");
const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(USAGE);
} else {
  try {
    const { spec, description } = specOf(argv);
    checkUnused(root, spec);
    const written = await generateModule(root, spec, description, (line) =>
      console.error(`warning: ${line}`),
    );
    console.log(`Wrote the ${spec.name} module:\n  ${written.join("\n  ")}`);
    console.log(`
Next:
  npx vitest run test/integration/modules/${spec.name}/ test/integration/permissions.test.ts -t "${spec.name}"
  npm run lint && npm run db:check
  then commit the files above; change the fields in ${spec.name}.table.ts with a new migration
  (npm run db:generate -- --name <change>), see docs/adding-a-module.md.`);
  } catch (error) {
    if (error instanceof SpecError) {
      console.error(`new:module: ${error.message}`);
      process.exitCode = 64;
    } else {
      console.error(`new:module failed, and wrote nothing: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  }
}
