import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * What `npm run new:module` is asked for, checked before anything is written: the module's
 * names in each spelling the files need, and its fields with their column, schema and SQL.
 */

export type FieldType = "text" | "boolean" | "integer" | "timestamp";
const FIELD_TYPES: readonly FieldType[] = ["text", "boolean", "integer", "timestamp"];

export interface Field {
  /** The key in TypeScript and JSON (camelCase). */
  readonly name: string;
  /** `name` with a capital: `setName`, the update's flag. */
  readonly pascal: string;
  /** The column (snake_case). */
  readonly column: string;
  readonly type: FieldType;
  /** Written `name:type?`: the column takes NULL, creating may leave it out, updating may clear it. */
  readonly nullable: boolean;
}

export interface ModuleSpec {
  /** As typed, kebab-case and plural: the folder, the files, the URL and the permission resource. */
  readonly name: string;
  /** The table (snake_case plural). */
  readonly table: string;
  /** camelCase plural: the table's export, `projectsModule`, `projectsPermissions`. */
  readonly plural: string;
  /** PascalCase plural: `ProjectsService`, `listProjects`. */
  readonly Plural: string;
  /** camelCase singular: `projectSchema`. */
  readonly singular: string;
  /** PascalCase singular: `ProjectRow`, the OpenAPI component, `getProject`. */
  readonly Singular: string;
  /** snake_case singular: the audit log's resource type (`project.created`). */
  readonly auditType: string;
  /** Words for people: "work order", "work orders". */
  readonly words: { readonly one: string; readonly many: string };
  readonly fields: readonly Field[];
}

export class SpecError extends Error {}

const KEBAB = /^[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*$/;
const CAMEL = /^[a-z][a-zA-Z0-9]*$/;

/** Columns every generated table has, by their TypeScript key. */
const RESERVED_FIELDS = new Set(["id", "tenantId", "createdBy", "createdAt", "updatedAt"]);

/** Names that cannot be a binding in a module (strict mode) or that JavaScript reserves. */
const RESERVED_WORDS = new Set(
  "arguments await break case catch class const continue debugger default delete do else enum eval export extends false finally for function if implements import in instanceof interface let new null package private protected public return static super switch this throw true try typeof var void while with yield".split(
    " ",
  ),
);

/** PostgreSQL's reserved key words, which the hand-written SQL would have to quote. */
const SQL_RESERVED = new Set(
  "all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign from grant group having in initially intersect into lateral leading limit localtime localtimestamp not null offset on only or order placing primary references returning select session_user some symmetric system_user table then to trailing true union unique user using variadic when where window with".split(
    " ",
  ),
);

const pascal = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
const camelOf = (kebab: string) =>
  kebab.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
const snakeOfCamel = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** English plurals the usual way; anything else needs --singular. */
function singularOf(word: string): string | undefined {
  if (/[^aeiou]ies$/.test(word)) return `${word.slice(0, -3)}y`;
  if (/(?:ss|sh|ch|x|z)es$/.test(word)) return word.slice(0, -2);
  if (/[^su]s$/.test(word)) return word.slice(0, -1);
  return undefined;
}

/** `name:text`, `dueAt:timestamp?`: a field, or the reason it is not one. */
function parseField(text: string): Field {
  const match = /^([^:]*):([a-z]+)(\?)?$/.exec(text.trim());
  if (!match) {
    throw new SpecError(
      `field "${text}": write it name:type or name:type? (types: ${FIELD_TYPES.join(", ")})`,
    );
  }
  const [, name = "", type = "", optional] = match;
  if (!CAMEL.test(name) || name.length > 40) {
    throw new SpecError(
      `field "${name}": a field name is camelCase, starts with a letter and has at most 40 characters`,
    );
  }
  if (RESERVED_FIELDS.has(name)) {
    throw new SpecError(
      `field "${name}": every module has id, createdBy, createdAt and updatedAt, and tenantId comes from the token`,
    );
  }
  if (/^set[A-Z]/.test(name)) {
    throw new SpecError(
      `field "${name}": set<Field> names the update's flags; choose another name`,
    );
  }
  if (!FIELD_TYPES.includes(type as FieldType)) {
    throw new SpecError(
      `field "${name}": unknown type "${type}" (types: ${FIELD_TYPES.join(", ")})`,
    );
  }
  return {
    name,
    pascal: pascal(name),
    column: snakeOfCamel(name),
    type: type as FieldType,
    nullable: optional === "?",
  };
}

export function parseFields(list: string): Field[] {
  const fields = list
    .split(",")
    .filter((part) => part.trim() !== "")
    .map(parseField);
  if (fields.length === 0) throw new SpecError("--fields: name at least one field");
  const seen = new Set<string>();
  for (const field of fields) {
    if (seen.has(field.name)) throw new SpecError(`field "${field.name}": named twice`);
    seen.add(field.name);
  }
  return fields;
}

/** The names of a module called `name` (kebab-case plural), `singular` overriding the guess. */
export function moduleNames(name: string, singular?: string): Omit<ModuleSpec, "fields"> {
  if (!KEBAB.test(name) || name.length < 3 || name.length > 32) {
    throw new SpecError(
      `module "${name}": a module name is a lowercase plural of 3 to 32 letters and digits, words joined by "-" (projects, work-orders)`,
    );
  }
  const words = name.split("-");
  const last = words.at(-1) as string;
  const one = singular ?? singularOf(last);
  if (one === undefined) {
    throw new SpecError(
      `module "${name}": cannot tell the singular of "${last}"; pass --singular <word>`,
    );
  }
  if (!/^[a-z][a-z0-9]*$/.test(one) || one === last) {
    throw new SpecError(
      `--singular "${one}": one lowercase word, the singular of "${last}" (and not the same word)`,
    );
  }
  const singularWords = [...words.slice(0, -1), one];
  const plural = camelOf(name);
  const singularCamel = camelOf(singularWords.join("-"));
  for (const identifier of [plural, singularCamel]) {
    if (RESERVED_WORDS.has(identifier)) {
      throw new SpecError(`module "${name}": "${identifier}" is a reserved word in JavaScript`);
    }
  }
  const table = name.replaceAll("-", "_");
  if (SQL_RESERVED.has(table)) {
    throw new SpecError(`module "${name}": "${table}" is a reserved word in PostgreSQL`);
  }
  return {
    name,
    table,
    plural,
    Plural: pascal(plural),
    singular: singularCamel,
    Singular: pascal(singularCamel),
    auditType: singularWords.join("_"),
    words: { one: singularWords.join(" "), many: words.join(" ") },
  };
}

/** PostgreSQL cuts names longer than 63 bytes, so two constraints could end up with one name. */
export function checkIdentifiers(spec: ModuleSpec): void {
  for (const field of spec.fields) {
    const constraint = `${spec.table}_${field.column}_length`;
    if (constraint.length > 63) {
      throw new SpecError(
        `field "${field.name}": its check constraint ${constraint} is longer than PostgreSQL's 63 characters; choose a shorter name`,
      );
    }
  }
}

/** Every match of `pattern`'s first group in the files under `folder` whose names pass `keep`. */
function collect(
  folder: string,
  keep: (file: string) => boolean,
  pattern: RegExp,
  into: Set<string>,
): void {
  if (!existsSync(folder)) return;
  for (const file of readdirSync(folder, { recursive: true, encoding: "utf8" })) {
    if (!keep(file)) continue;
    for (const match of readFileSync(join(folder, file), "utf8").matchAll(pattern)) {
      into.add(match[1] as string);
    }
  }
}

/** Where the tests' fixture modules live: `test/fixtures/<name>-module/`. */
const FIXTURES = "test/fixtures";
const FIXTURE_MODULE = /^(.+)-module$/;

/**
 * The test fixture modules (test/fixtures/notes-module/ is `notes`), by name. The tests mount
 * them beside the project's modules and create their tables in the test databases, so a module
 * of the same name would meet them there: the same table, permission resource and routes.
 */
function fixtureModules(root: string): Map<string, string> {
  const folder = join(root, FIXTURES);
  const fixtures = new Map<string, string>();
  if (!existsSync(folder)) return fixtures;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const name = entry.isDirectory() ? FIXTURE_MODULE.exec(entry.name)?.[1] : undefined;
    if (name) fixtures.set(name, `${FIXTURES}/${entry.name}`);
  }
  return fixtures;
}

/**
 * What the project has already, that a new module's names must not meet: module folders (the
 * test fixture modules' too), tables, permission resources, first segments of /api/v1 routes,
 * OpenAPI component names, operationIds and audit resource types, of the project's modules and
 * of the test fixture modules.
 */
function taken(root: string) {
  const ts = (file: string) => file.endsWith(".ts");
  const sql = (file: string) => file.endsWith(".sql");
  const modules = new Set(readdirSync(join(root, "src/modules")));
  const fixtures = fixtureModules(root);
  const fixtureFolders = [...fixtures.values()].map((folder) => join(root, folder));
  // Where modules' code is: src/ and each fixture module's folder.
  const code = [join(root, "src"), ...fixtureFolders];
  const each = (keep: (file: string) => boolean, pattern: RegExp, into: Set<string>) => {
    for (const folder of code) collect(folder, keep, pattern, into);
  };
  const tables = new Set<string>();
  each(ts, /pgTable\(\s*"([^"]+)"/g, tables);
  const resources = new Set<string>();
  each((file) => file.endsWith(".permissions.ts"), /^ {2}"?([a-z][a-z0-9-]*)"?: \{$/gm, resources);
  const routes = new Set<string>();
  for (const folder of [join(root, "test/integration/modules"), ...code]) {
    collect(
      folder,
      (file) => file.endsWith(".routes-expectations.ts"),
      /\/api\/v1\/([a-z0-9-]+)/g,
      routes,
    );
  }
  each(ts, /app\.(?:get|post|put|patch|delete)\(\s*"\/([a-z0-9-]+)/g, routes);
  each(ts, /prefix: "\/([a-z0-9-]+)/g, routes);
  const components = new Set<string>();
  each(ts, /\.meta\(\{ id: "([^"]+)"/g, components);
  const operations = new Set<string>();
  each(ts, /operationId: "([^"]+)"/g, operations);
  const auditTypes = new Set<string>();
  // The migrations', and each fixture's own SQL.
  for (const folder of [join(root, "migrations"), ...fixtureFolders]) {
    collect(folder, sql, /audit_change\('([^']+)'/g, auditTypes);
  }
  return { modules, fixtures, tables, resources, routes, components, operations, auditTypes };
}

/** The operationIds a module gets. */
const operationIds = (spec: Pick<ModuleSpec, "Plural" | "Singular">) => [
  `list${spec.Plural}`,
  `create${spec.Singular}`,
  `get${spec.Singular}`,
  `update${spec.Singular}`,
  `delete${spec.Singular}`,
];

/** Refuses a module whose names the project uses already. */
export function checkUnused(root: string, spec: ModuleSpec): void {
  const have = taken(root);
  const clash = (what: string, value: string) => {
    throw new SpecError(`module "${spec.name}": ${what} "${value}" exists already`);
  };
  if (have.modules.has(spec.name) || existsSync(join(root, "src/modules", spec.name))) {
    clash("the module", `src/modules/${spec.name}`);
  }
  if (existsSync(join(root, "test/integration/modules", spec.name))) {
    clash("the test folder", `test/integration/modules/${spec.name}`);
  }
  const fixture = have.fixtures.get(spec.name);
  if (fixture) {
    throw new SpecError(
      `module "${spec.name}": the tests' fixture module ${fixture}/ has this name (its table, permissions and routes are in every test database); choose another name`,
    );
  }
  if (have.tables.has(spec.table)) clash("the table", spec.table);
  if (have.resources.has(spec.name)) clash("the permission resource", spec.name);
  if (have.routes.has(spec.name)) clash("the route", `/api/v1/${spec.name}`);
  if (have.components.has(spec.Singular)) clash("the OpenAPI schema", spec.Singular);
  for (const id of operationIds(spec)) if (have.operations.has(id)) clash("the operationId", id);
  if (have.auditTypes.has(spec.auditType)) clash("the audit resource type", spec.auditType);
  const modulesFile = readFileSync(join(root, "src/modules.ts"), "utf8");
  if (modulesFile.includes(`${spec.plural}Module`)) clash("the export", `${spec.plural}Module`);
}
