import type { Field, FieldType, ModuleSpec } from "./spec.js";

/**
 * The files of a new module, in the house style of src/modules/items/: each function returns
 * one file's text. Biome formats them once written, so line breaks here need not be final.
 */

/** The longest text a generated text field takes, in the schema and the table's check. */
const TEXT_MAX = 200;

const COLUMN: Record<FieldType, (column: string) => string> = {
  text: (column) => `text("${column}")`,
  boolean: (column) => `boolean("${column}")`,
  integer: (column) => `integer("${column}")`,
  timestamp: (column) => `timestamp("${column}", { withTimezone: true, mode: "date" })`,
};

/** What the column holds in TypeScript. */
const TS_TYPE: Record<FieldType, string> = {
  text: "string",
  boolean: "boolean",
  integer: "number",
  timestamp: "Date",
};

/** The cast of the update's parameter, which PostgreSQL cannot infer inside `case`. */
const SQL_CAST: Record<FieldType, string> = {
  text: "text",
  boolean: "boolean",
  integer: "integer",
  timestamp: "timestamptz",
};

/** The request schema of a field (without optional/nullable). */
const REQUEST_SCHEMA: Record<FieldType, string> = {
  text: `displayName({ max: ${TEXT_MAX} })`,
  boolean: "z.boolean()",
  // PostgreSQL's integer: a larger number is a 422, never an overflow.
  integer: "z.number().int().min(-2147483648).max(2147483647)",
  timestamp: "instant",
};

/** The request schema of a timestamp, declared once in the schemas file that needs it. */
const INSTANT = `/**
 * An ISO 8601 date and time with its offset. Years 1000 to 9999 in UTC: four digits in
 * PostgreSQL's text and in toISOString, which read back as written.
 */
const instant = z.iso
  .datetime({ offset: true })
  .max(40)
  .refine((value) => {
    // A value that is no date at all has its one error already, from the format.
    const year = new Date(value).getUTCFullYear();
    return Number.isNaN(year) || (year >= 1000 && year <= 9999);
  }, "must be within the years 1000 to 9999 in UTC");
`;

const RESPONSE_SCHEMA: Record<FieldType, string> = {
  text: "z.string()",
  boolean: "z.boolean()",
  integer: "z.number().int()",
  timestamp: "z.iso.datetime()",
};

/** A boolean that is not nullable defaults to false: creating may leave it out. */
const hasDefault = (field: Field) => field.type === "boolean" && !field.nullable;
const optionalOnCreate = (field: Field) => field.nullable || hasDefault(field);

/** Values the generated tests send: on create, and as a change. */
function sampleValue(field: Field, kind: "create" | "change"): unknown {
  switch (field.type) {
    case "text":
      return kind === "create" ? `First ${field.name}` : `Changed ${field.name}`;
    case "boolean":
      return kind === "create";
    case "integer":
      return kind === "create" ? 42 : 7;
    case "timestamp":
      return kind === "create" ? "2030-01-02T03:04:05.000Z" : "2031-06-07T08:09:10.000Z";
  }
}

const json = (value: unknown) => JSON.stringify(value);
const list = (names: readonly string[]) =>
  names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names.at(-1) as string}`;
const article = (word: string) => (/^[aeiou]/.test(word) ? "an" : "a");

export function tableFile(spec: ModuleSpec): string {
  const types = new Set(spec.fields.map((field) => field.type));
  const pgImports = ["check", "pgTable", "primaryKey", "uuid"];
  for (const type of types) if (!pgImports.includes(type)) pgImports.push(type);
  const texts = spec.fields.filter((field) => field.type === "text");
  if (texts.length === 0) pgImports.splice(pgImports.indexOf("check"), 1);
  const columns = spec.fields.map((field) => {
    let column = COLUMN[field.type](field.column);
    if (!field.nullable) column += ".notNull()";
    if (hasDefault(field)) column += ".default(false)";
    return `    ${field.name}: ${column},`;
  });
  const checks = texts.map(
    (field) =>
      `    check("${spec.table}_${field.column}_length", sql\`char_length(\${table.${field.name}}) between 1 and ${TEXT_MAX}\`),`,
  );
  return `${texts.length > 0 ? 'import { sql } from "drizzle-orm";\n' : ""}import { ${pgImports.sort().join(", ")} } from "drizzle-orm/pg-core";
import { id, timestamps } from "../../core/database/columns.js";
import { tenantId } from "../../core/database/tenant-column.js";

/** The ${spec.words.many} of each tenant. Its primary key leads with tenant_id, like every tenant table. */
export const ${spec.plural} = pgTable(
  "${spec.table}",
  {
    tenantId: tenantId(),
    id: id(),
${columns.join("\n")}
    createdBy: uuid("created_by"),
    ...timestamps(),
  },
  (table) => [
    primaryKey({ name: "${spec.table}_pkey", columns: [table.tenantId, table.id] }),
${checks.join("\n")}
  ],
);

export type ${spec.Singular}Row = typeof ${spec.plural}.$inferSelect;
`;
}

export function repositoryFile(spec: ModuleSpec): string {
  const { plural, Singular, table } = spec;
  const needsSql = spec.fields.length > 0;
  // A timestamp goes to the driver as it is: the column's own encoder cannot take a null.
  const inserted = spec.fields.map((field) =>
    field.type === "timestamp"
      ? `      ${field.name}: sql\`\${param("${field.name}")}::timestamptz\`,`
      : `      ${field.name}: param("${field.name}"),`,
  );
  const sets = spec.fields.map(
    (field) =>
      `      ${field.name}: sql\`case when \${param("set${field.pascal}")}::boolean then \${param("${field.name}")}::${SQL_CAST[field.type]} else \${${plural}.${field.name}} end\`,`,
  );
  const changes = spec.fields.map(
    (field) =>
      `  ${field.name}?: ${TS_TYPE[field.type]}${field.nullable ? " | null" : ""} | undefined;`,
  );
  const binds = spec.fields.flatMap((field) => [
    `      set${field.pascal}: changes.${field.name} !== undefined,`,
    `      ${field.name}: changes.${field.name} ?? null,`,
  ]);
  return `import { and, desc, eq, lt${needsSql ? ", sql" : ""} } from "drizzle-orm";
import { param, prepareStatement, type TenantDatabase } from "../../core/database/index.js";
import { type ${Singular}Row, ${plural} } from "./${spec.name}.table.js";

/*
 * Every query is built once, here, and runs as a named prepared statement in the tenant's
 * transaction. Each one filters on tenant_id as well as relying on row-level security.
 */
const ofTenant = eq(${plural}.tenantId, param("tenantId"));

const findById = prepareStatement("${table}_find_by_id", ${plural}, (db) =>
  db
    .select()
    .from(${plural})
    .where(and(ofTenant, eq(${plural}.id, param("id")))),
);

// Keyset pagination, newest first (ids are time-ordered): the cost of a page does not grow
// with the table. Two statements, so each has a plan that uses the (tenant_id, id) key.
const firstPage = prepareStatement("${table}_first_page", ${plural}, (db) =>
  db.select().from(${plural}).where(ofTenant).orderBy(desc(${plural}.id)).limit(param("limit")),
);
const pageAfter = prepareStatement("${table}_page_after", ${plural}, (db) =>
  db
    .select()
    .from(${plural})
    .where(and(ofTenant, lt(${plural}.id, param("after"))))
    .orderBy(desc(${plural}.id))
    .limit(param("limit")),
);

const insert = prepareStatement("${table}_insert", ${plural}, (db) =>
  db
    .insert(${plural})
    .values({
      tenantId: param("tenantId"),
      id: param("id"),
${inserted.join("\n")}
      createdBy: param("createdBy"),
    })
    .returning(),
);

// One statement for a partial update: a field is changed only when its flag is true, so a
// nullable field can be cleared (set to null) as well as left alone.
const update = prepareStatement("${table}_update", ${plural}, (db) =>
  db
    .update(${plural})
    .set({
${sets.join("\n")}
    })
    .where(and(ofTenant, eq(${plural}.id, param("id"))))
    .returning(),
);

const remove = prepareStatement("${table}_delete", ${plural}, (db) =>
  db
    .delete(${plural})
    .where(and(ofTenant, eq(${plural}.id, param("id"))))
    .returning(),
);

export type { ${Singular}Row };

/** What creating stores: the row without its tenant (the scope's) and its timestamps. */
type New${Singular} = Omit<${Singular}Row, "tenantId" | "createdAt" | "updatedAt">;

/** The fields an update changes; one left undefined is kept. */
interface ${Singular}Changes {
${changes.join("\n")}
}

/**
 * ${capitalise(spec.words.many)} of the tenant that \`db\` is bound to; there is no way to name another tenant.
 * Built once (the statements above), called with the request's \`TenantDatabase\`.
 */
export const ${plural}Repository = {
  async findById(db: TenantDatabase, id: string): Promise<${Singular}Row | undefined> {
    return (await db.rows(findById, { id }))[0];
  },
  /** Up to \`limit\` ${spec.words.many} older than \`after\` (all when undefined), newest first. */
  list(db: TenantDatabase, limit: number, after: string | undefined): Promise<${Singular}Row[]> {
    return after === undefined
      ? db.rows(firstPage, { limit })
      : db.rows(pageAfter, { limit, after });
  },
  async insert(db: TenantDatabase, values: New${Singular}): Promise<${Singular}Row> {
    const [row] = await db.rows(insert, values);
    return row as ${Singular}Row;
  },
  async update(
    db: TenantDatabase,
    id: string,
    changes: ${Singular}Changes,
  ): Promise<${Singular}Row | undefined> {
    const rows = await db.rows(update, {
      id,
${binds.join("\n")}
    });
    return rows[0];
  },
  async remove(db: TenantDatabase, id: string): Promise<boolean> {
    return (await db.rows(remove, { id })).length > 0;
  },
};
`;
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

export function schemasFile(spec: ModuleSpec): string {
  const { Singular, Plural, singular } = spec;
  const usesText = spec.fields.some((field) => field.type === "text");
  const response = spec.fields.map(
    (field) =>
      `    ${field.name}: ${RESPONSE_SCHEMA[field.type]}${field.nullable ? ".nullable()" : ""},`,
  );
  const request = (field: Field) =>
    `${REQUEST_SCHEMA[field.type]}${field.nullable ? ".nullable()" : ""}`;
  const create = spec.fields.map(
    (field) => `  ${field.name}: ${request(field)}${optionalOnCreate(field) ? ".optional()" : ""},`,
  );
  const update = spec.fields.map((field) => `    ${field.name}: ${request(field)}.optional(),`);
  const names = spec.fields.map((field) => field.name);
  const atLeastOne =
    names.length === 1 ? `send ${names[0]}` : `send at least one of ${list(names)}`;
  return `import { z } from "zod";
import { pageQueryFields, pageSchemaOf } from "../../core/http/cursor.js";
${usesText ? 'import { displayName } from "../../core/http/text.js";\n' : ""}
${spec.fields.some((field) => field.type === "timestamp") ? `${INSTANT}\n` : ""}/** What the API returns for ${article(spec.words.one)} ${spec.words.one}. */
export const ${singular}Schema = z
  .object({
    id: z.uuid(),
${response.join("\n")}
    createdBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: "${Singular}" });

export type ${Singular}Response = z.infer<typeof ${singular}Schema>;

/** Unknown fields, \`tenantId\` among them, are refused: the tenant comes from the token only. */
export const create${Singular}Body = z.strictObject({
${create.join("\n")}
});

export type Create${Singular}Input = z.infer<typeof create${Singular}Body>;

export const update${Singular}Body = z
  .strictObject({
${update.join("\n")}
  })
  .refine((body) => ${names.map((name) => `body.${name} !== undefined`).join(" || ")}, {
    message: "${atLeastOne}",
  });

export type Update${Singular}Input = z.infer<typeof update${Singular}Body>;

export const ${singular}Params = z.object({ id: z.uuid("must be a UUID") });

export const list${Plural}Query = z.object(pageQueryFields);

export const ${singular}PageSchema = pageSchemaOf(${singular}Schema);
`;
}

export function serviceFile(spec: ModuleSpec): string {
  const { Singular, Plural, plural, singular } = spec;
  const toResponse = spec.fields.map((field) => {
    if (field.type !== "timestamp") return `    ${field.name}: row.${field.name},`;
    return field.nullable
      ? `    ${field.name}: row.${field.name} === null ? null : row.${field.name}.toISOString(),`
      : `    ${field.name}: row.${field.name}.toISOString(),`;
  });
  const created = spec.fields.map((field) => {
    const value = `input.${field.name}`;
    if (field.type === "timestamp") {
      return field.nullable
        ? `      ${field.name}: ${value} == null ? null : new Date(${value}),`
        : `      ${field.name}: new Date(${value}),`;
    }
    if (field.nullable) return `      ${field.name}: ${value} ?? null,`;
    if (hasDefault(field)) return `      ${field.name}: ${value} ?? false,`;
    return `      ${field.name}: ${value},`;
  });
  const hasTimestamps = spec.fields.some((field) => field.type === "timestamp");
  const changes = spec.fields.map((field) => {
    const value = `changes.${field.name}`;
    if (field.type !== "timestamp") return `        ${field.name}: ${value},`;
    return field.nullable
      ? `        ${field.name}: ${value} == null ? ${value} : new Date(${value}),`
      : `        ${field.name}: ${value} === undefined ? undefined : new Date(${value}),`;
  });
  const updateCall = hasTimestamps
    ? `await ${plural}Repository.update(db, id, {
${changes.join("\n")}
      })`
    : `await ${plural}Repository.update(db, id, changes)`;
  return `import { newId, type TenantDatabase } from "../../core/database/index.js";
import { notFound } from "../../core/errors/index.js";
import { idCursor, pageOf } from "../../core/http/cursor.js";
import { type ${Singular}Row, ${plural}Repository } from "./${spec.name}.repository.js";
import type {
  Create${Singular}Input,
  ${Singular}Response,
  Update${Singular}Input,
} from "./${spec.name}.schemas.js";

function to${Singular}Response(row: ${Singular}Row): ${Singular}Response {
  return {
    id: row.id,
${toResponse.join("\n")}
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** Cursors are opaque to clients: the last ${spec.words.one}'s id, versioned and base64url-encoded. */
const cursor = idCursor("${spec.table}1");

const ${singular}NotFound = () => notFound("The ${spec.words.one} does not exist.");

/**
 * The ${spec.words.one} use cases. Built once, when the module is registered; each call takes the
 * tenant (and user) it acts for as \`db\`, the request's \`TenantDatabase\`. A service that needs
 * module dependencies takes them here (\`createRbacService({ sessions })\`).
 */
export function create${Plural}Service() {
  return {
    async get(db: TenantDatabase, id: string): Promise<${Singular}Response> {
      const row = await ${plural}Repository.findById(db, id);
      if (!row) throw ${singular}NotFound();
      return to${Singular}Response(row);
    },

    async list(db: TenantDatabase, limit: number, after: string | undefined) {
      // One extra row tells whether another page follows.
      const rows = await ${plural}Repository.list(
        db,
        limit + 1,
        after === undefined ? undefined : cursor.decode(after),
      );
      return pageOf(rows, limit, to${Singular}Response, (row) => cursor.encode(row.id));
    },

    async create(db: TenantDatabase, input: Create${Singular}Input): Promise<${Singular}Response> {
      const row = await ${plural}Repository.insert(db, {
        id: newId(),
${created.join("\n")}
        createdBy: db.scope.userId ?? null,
      });
      return to${Singular}Response(row);
    },

    async update(
      db: TenantDatabase,
      id: string,
      changes: Update${Singular}Input,
    ): Promise<${Singular}Response> {
      const row = ${updateCall};
      if (!row) throw ${singular}NotFound();
      return to${Singular}Response(row);
    },

    async remove(db: TenantDatabase, id: string): Promise<void> {
      if (!(await ${plural}Repository.remove(db, id))) throw ${singular}NotFound();
    },
  };
}

export type ${Plural}Service = ReturnType<typeof create${Plural}Service>;
`;
}

export function routesFile(spec: ModuleSpec): string {
  const { Singular, Plural, plural, singular, name } = spec;
  const one = `${article(spec.words.one)} ${spec.words.one}`;
  const nullable = spec.fields.filter((field) => field.nullable).map((field) => field.name);
  const updateDescription =
    nullable.length > 0
      ? `Changes only the fields sent; ${nullable.map((field) => `\`${field}: null\``).join(", ")} clears it.`
      : "Changes only the fields sent.";
  return `import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { requirePermission } from "../../core/permissions/index.js";
import {
  create${Singular}Body,
  list${Plural}Query,
  ${singular}PageSchema,
  ${singular}Params,
  ${singular}Schema,
  update${Singular}Body,
} from "./${name}.schemas.js";
import type { ${Plural}Service } from "./${name}.service.js";

/** HTTP in, HTTP out: validation and documentation here, behaviour in ${name}.service.ts. */
export const ${plural}Routes: FastifyPluginAsyncZod<{ ${plural}: ${Plural}Service }> = async (
  app,
  { ${plural} },
) => {
  app.get(
    "/${name}",
    {
      config: { access: requirePermission("${name}", "read") },
      schema: {
        operationId: "list${Plural}",
        summary: "List ${spec.words.many}",
        description: "Newest first. Pass \`nextCursor\` back as \`cursor\` for the next page.",
        tags: ["${name}"],
        querystring: list${Plural}Query,
        response: { 200: ${singular}PageSchema },
      },
    },
    async (request) => ${plural}.list(request.tenantDb, request.query.limit, request.query.cursor),
  );

  app.post(
    "/${name}",
    {
      config: { access: requirePermission("${name}", "create") },
      schema: {
        operationId: "create${Singular}",
        summary: "Create ${one}",
        description: "The ${spec.words.one} belongs to the token's tenant; \`createdBy\` is the caller.",
        tags: ["${name}"],
        body: create${Singular}Body,
        response: { 201: ${singular}Schema },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await ${plural}.create(request.tenantDb, request.body)),
  );

  app.get(
    "/${name}/:id",
    {
      config: { access: requirePermission("${name}", "read") },
      schema: {
        operationId: "get${Singular}",
        summary: "Get ${one}",
        description: "404 for a missing ${spec.words.one} and for another tenant's alike.",
        tags: ["${name}"],
        params: ${singular}Params,
        response: { 200: ${singular}Schema },
      },
    },
    async (request) => ${plural}.get(request.tenantDb, request.params.id),
  );

  app.patch(
    "/${name}/:id",
    {
      config: { access: requirePermission("${name}", "update") },
      schema: {
        operationId: "update${Singular}",
        summary: "Update ${one}",
        description: "${updateDescription}",
        tags: ["${name}"],
        params: ${singular}Params,
        body: update${Singular}Body,
        response: { 200: ${singular}Schema },
      },
    },
    async (request) => ${plural}.update(request.tenantDb, request.params.id, request.body),
  );

  app.delete(
    "/${name}/:id",
    {
      config: { access: requirePermission("${name}", "delete") },
      schema: {
        operationId: "delete${Singular}",
        summary: "Delete ${one}",
        description: "404 for a missing ${spec.words.one} and for another tenant's alike.",
        tags: ["${name}"],
        params: ${singular}Params,
        response: { 204: z.null().describe("Deleted") },
      },
    },
    async (request, reply) => {
      await ${plural}.remove(request.tenantDb, request.params.id);
      return reply.code(204).send(null);
    },
  );
};
`;
}

export function permissionsFile(spec: ModuleSpec): string {
  const { words } = spec;
  return `import { definePermissions } from "../../core/permissions/index.js";

/** The ${spec.name} module's permissions, and which default roles hold them. */
export const ${spec.plural}Permissions = definePermissions({
  ${json(spec.name)}: {
    actions: {
      read: "List and read ${words.many}",
      create: "Create ${words.many}",
      update: "Change ${words.many}",
      delete: "Delete ${words.many}",
    },
    grants: { admin: "*", member: ["read", "create", "update"], viewer: ["read"] },
  },
});
`;
}

export function indexFile(spec: ModuleSpec, description: string): string {
  const { plural, Plural, name } = spec;
  return `import { defineModule } from "../../core/http/module.js";
import { ${plural}Permissions } from "./${name}.permissions.js";
import { ${plural}Routes } from "./${name}.routes.js";
import { create${Plural}Service } from "./${name}.service.js";

/** ${description} */
export const ${plural}Module = defineModule(
  async (app) => {
    // Built once per application; each route calls it with the request's tenant scope.
    await app.register(${plural}Routes, { ${plural}: create${Plural}Service() });
  },
  { permissions: ${plural}Permissions },
);
`;
}

/** The default description of the module, the doc comment the README's module table shows. */
export const defaultDescription = (spec: ModuleSpec) =>
  `${capitalise(spec.words.many)} of the tenant: list, create, read, update and delete.`;

/** The hand-written migration: isolation, grants, updated_at, the audit, the default roles. */
export function securityMigration(spec: ModuleSpec): string {
  const { table, name } = spec;
  return `-- Tenant isolation for ${table} (hand-written, by npm run new:module; see docs/tenancy.md): the
-- tenant policy, the app roles' grants, updated_at, the audit trigger, and the ${name}
-- permissions for the default roles of the tenants that exist now.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.${table} TO app_tenant, app_system;
--> statement-breakpoint
ALTER TABLE public.${table} ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.${table} FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON public.${table}
  USING (tenant_id = (SELECT app.current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app.current_tenant_id()));
--> statement-breakpoint
CREATE TRIGGER ${table}_touch_updated_at BEFORE UPDATE ON public.${table}
  FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
--> statement-breakpoint
-- Every change in the tenant's audit log: ${spec.auditType}.created, .updated, .deleted.
CREATE TRIGGER ${table}_audit AFTER INSERT OR UPDATE OR DELETE ON public.${table}
  FOR EACH ROW EXECUTE FUNCTION app.audit_change('${spec.auditType}', 'id', 'created_at', 'updated_at');
--> statement-breakpoint
-- New tenants get these grants from ${spec.plural}Permissions (src/modules/${name}/); the tenants
-- that exist now get them here. As app_system, which sees every tenant's roles.
SET ROLE app_system;
--> statement-breakpoint
INSERT INTO public.role_permissions (tenant_id, role_id, permission)
SELECT r.tenant_id, r.id, g.permission
FROM public.roles r
JOIN (VALUES
  ('admin', '${name}:*'),
  ('member', '${name}:read'), ('member', '${name}:create'), ('member', '${name}:update'),
  ('viewer', '${name}:read')
) AS g(name, permission) ON g.name = r.name
WHERE r.system;
--> statement-breakpoint
RESET ROLE;
`;
}

function objectLiteral(values: Record<string, unknown>, indent: string): string {
  return `{\n${Object.entries(values)
    .map(([key, value]) => `${indent}  ${key}: ${json(value)},`)
    .join("\n")}\n${indent}}`;
}

const samples = (spec: ModuleSpec, kind: "create" | "change") =>
  Object.fromEntries(spec.fields.map((field) => [field.name, sampleValue(field, kind)]));

/** The changes the tests send: a nullable field cleared, the others changed. */
const changeSamples = (spec: ModuleSpec) =>
  Object.fromEntries(
    spec.fields.map((field) => [field.name, field.nullable ? null : sampleValue(field, "change")]),
  );

export function routeExpectationsFile(spec: ModuleSpec): string {
  const { name, singular } = spec;
  const first = spec.fields[0] as Field;
  const idKey = `${singular}Id`;
  return `import { defineRouteExpectations } from "../../../helpers/route-expectations.js";

/** A valid body for creating ${article(spec.words.one)} ${spec.words.one}. */
const created = ${objectLiteral(samples(spec, "create"), "")};

/** The ${name} routes: who may call each, and the requests the matrix and isolation tests send. */
export default defineRouteExpectations({
  permissions: ["${name}:read", "${name}:create", "${name}:update", "${name}:delete"],
  defaultGrants: {
    admin: ["${name}:*"],
    member: ["${name}:read", "${name}:create", "${name}:update"],
    viewer: ["${name}:read"],
  },
  // ${capitalise(article(spec.words.one))} ${spec.words.one} in the matrix's tenant, for the routes on one.
  async arrange(send) {
    const response = await send({ method: "POST", url: "/api/v1/${name}", payload: created });
    if (response.statusCode !== 201) throw new Error(\`arranging ${article(spec.words.one)} ${spec.words.one}: \${response.body}\`);
    return { ${idKey}: response.json<{ id: string }>().id };
  },
  routes: {
    "GET /api/v1/${name}": { requires: "${name}:read", status: 200, scope: "tenant" },
    "POST /api/v1/${name}": {
      requires: "${name}:create",
      status: 201,
      payload: () => created,
      scope: "tenant",
      isolation: { payload: created },
    },
    "GET /api/v1/${name}/{id}": {
      requires: "${name}:read",
      status: 200,
      url: (setup) => \`/api/v1/${name}/\${setup.arranged.${idKey}}\`,
      scope: "tenant",
      isolation: { url: (id) => \`/api/v1/${name}/\${id}\` },
    },
    "PATCH /api/v1/${name}/{id}": {
      requires: "${name}:update",
      status: 200,
      url: (setup) => \`/api/v1/${name}/\${setup.arranged.${idKey}}\`,
      payload: () => (${objectLiteral({ [first.name]: sampleValue(first, "change") }, "      ")}),
      scope: "tenant",
      isolation: {
        url: (id) => \`/api/v1/${name}/\${id}\`,
        payload: ${objectLiteral({ [first.name]: sampleValue(first, "change") }, "        ")},
      },
    },
    "DELETE /api/v1/${name}/{id}": {
      requires: "${name}:delete",
      status: 204,
      url: (setup) => \`/api/v1/${name}/\${setup.arranged.${idKey}}\`,
      scope: "tenant",
      isolation: { url: (id) => \`/api/v1/${name}/\${id}\` },
    },
  },
});
`;
}

export function testFile(spec: ModuleSpec): string {
  const { name, words } = spec;
  const created = samples(spec, "create");
  const changes = changeSamples(spec);
  const first = spec.fields[0] as Field;
  return `import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSignedInMember } from "../../../helpers/identity.js";
import { expectProblem } from "../../../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext, type TestTenant } from "../../../helpers/tenancy.js";

let ctx: TenancyTestContext;
beforeAll(async () => {
  ctx = await setupTenancyTest();
});
afterAll(() => ctx.close());

const url = "/api/v1/${name}";
const created = ${objectLiteral(created, "")};
const changes = ${objectLiteral(changes, "")};

async function create(tenant: TestTenant, payload: Record<string, unknown> = created) {
  const response = await ctx.app.inject({ method: "POST", url, headers: tenant.headers, payload });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ id: string } & Record<string, unknown>>();
}

describe("${name}", () => {
  it("creates, reads, updates, lists and deletes ${article(words.one)} ${words.one}", async () => {
    const tenant = await ctx.newTenant();
    const { headers } = tenant;
    const one = await create(tenant);
    expect(one).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      ...created,
      createdBy: tenant.userId,
      createdAt: expect.any(String),
      updatedAt: one.createdAt,
    });

    const read = await ctx.app.inject({ url: \`\${url}/\${one.id}\`, headers });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(one);

    const updated = await ctx.app.inject({
      method: "PATCH",
      url: \`\${url}/\${one.id}\`,
      headers,
      payload: changes,
    });
    expect(updated.statusCode, updated.body).toBe(200);
    expect(updated.json()).toMatchObject({ id: one.id, ...changes });

    const listed = await ctx.app.inject({ url, headers });
    expect(listed.json()).toEqual({ items: [updated.json()], nextCursor: null });

    const removed = await ctx.app.inject({ method: "DELETE", url: \`\${url}/\${one.id}\`, headers });
    expect(removed.statusCode).toBe(204);
    expectProblem(await ctx.app.inject({ url: \`\${url}/\${one.id}\`, headers }), "not-found");
  });

  it("creates one from the required fields alone${spec.fields.some(optionalOnCreate) ? ", the others null or false" : ""}", async () => {
    const tenant = await ctx.newTenant();
    const one = await create(tenant, ${json(requiredSamples(spec))});
    expect(one).toMatchObject(${json(defaultsAnswered(spec))});
  });

  it("pages through a list newest first", async () => {
    const tenant = await ctx.newTenant();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.unshift((await create(tenant)).id);
    const first = await ctx.app.inject({ url: \`\${url}?limit=2\`, headers: tenant.headers });
    const page = first.json<{ items: { id: string }[]; nextCursor: string }>();
    expect(page.items.map((item) => item.id)).toEqual(ids.slice(0, 2));
    const next = await ctx.app.inject({
      url: \`\${url}?limit=2&cursor=\${page.nextCursor}\`,
      headers: tenant.headers,
    });
    expect(next.json()).toMatchObject({ items: [{ id: ids[2] }], nextCursor: null });
  });

  it("answers 404 for another tenant's ${words.one} and changes nothing", async () => {
    const a = await ctx.newTenant();
    const b = await ctx.newTenant();
    const own = await create(a);
    for (const method of ["GET", "PATCH", "DELETE"] as const) {
      const response = await ctx.app.inject({
        method,
        url: \`\${url}/\${own.id}\`,
        headers: b.headers,
        ...(method === "PATCH" ? { payload: changes } : {}),
      });
      expectProblem(response, "not-found");
    }
    const list = await ctx.app.inject({ url, headers: b.headers });
    expect(list.json()).toEqual({ items: [], nextCursor: null });
    const still = await ctx.app.inject({ url: \`\${url}/\${own.id}\`, headers: a.headers });
    expect(still.json()).toEqual(own);
  });

  it("lets a viewer read but not create, change or delete", async () => {
    const owner = await ctx.newTenant();
    const one = await create(owner);
    const viewer = await createSignedInMember(ctx.database, owner.tenant.id, { role: "viewer" });
    const token = await ctx.tokens.signAccessToken({
      sub: viewer.userId,
      tid: owner.tenant.id,
      sid: viewer.sessionId,
    });
    const headers = { authorization: \`Bearer \${token}\` };
    expect((await ctx.app.inject({ url: \`\${url}/\${one.id}\`, headers })).statusCode).toBe(200);
    expectProblem(await ctx.app.inject({ method: "POST", url, headers, payload: created }), "forbidden");
    expectProblem(
      await ctx.app.inject({ method: "PATCH", url: \`\${url}/\${one.id}\`, headers, payload: changes }),
      "forbidden",
    );
    expectProblem(
      await ctx.app.inject({ method: "DELETE", url: \`\${url}/\${one.id}\`, headers }),
      "forbidden",
    );
  });

  it("refuses a tenantId, an unknown field, a wrong type and an empty update with 422", async () => {
    const tenant = await ctx.newTenant();
    const { headers } = tenant;
    const withTenant = await ctx.app.inject({
      method: "POST",
      url,
      headers,
      payload: { ...created, tenantId: tenant.tenant.id },
    });
    expect(expectProblem(withTenant, "validation-failed").errors).toEqual([
      { field: "tenantId", message: "is not an accepted field" },
    ]);
    const unknown = await ctx.app.inject({
      method: "POST",
      url,
      headers,
      payload: { ...created, not_a_field: 1 },
    });
    expect(expectProblem(unknown, "validation-failed").errors).toEqual([
      { field: "not_a_field", message: "is not an accepted field" },
    ]);
    const wrongType = await ctx.app.inject({
      method: "POST",
      url,
      headers,
      payload: { ...created, ${first.name}: ${json(wrongTypeOf(first))} },
    });
    expect(expectProblem(wrongType, "validation-failed").errors).toEqual([
      { field: "${first.name}", message: expect.any(String) },
    ]);
    const one = await create(tenant);
    const empty = await ctx.app.inject({
      method: "PATCH",
      url: \`\${url}/\${one.id}\`,
      headers,
      payload: {},
    });
    expectProblem(empty, "validation-failed");
  });
});
`;
}

/** A create body with only the fields that have no default. */
const requiredSamples = (spec: ModuleSpec) =>
  Object.fromEntries(
    spec.fields
      .filter((field) => !optionalOnCreate(field))
      .map((field) => [field.name, sampleValue(field, "create")]),
  );

/** What the API answers for `requiredSamples`: the others null, a boolean false. */
const defaultsAnswered = (spec: ModuleSpec) =>
  Object.fromEntries(
    spec.fields.map((field) => [
      field.name,
      !optionalOnCreate(field) ? sampleValue(field, "create") : field.nullable ? null : false,
    ]),
  );

/** A value of the wrong type for `field`. */
function wrongTypeOf(field: Field): unknown {
  return field.type === "text" ? 12 : "not a value";
}
