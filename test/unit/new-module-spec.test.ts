import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  checkUnused,
  moduleNames,
  parseFields,
  SpecError,
} from "../../scripts/lib/new-module/spec.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** What `npm run new:module` accepts as a module name and fields, and what it refuses. */

describe("new:module names", () => {
  it("spells a name every way the files need", () => {
    expect(moduleNames("work-orders")).toEqual({
      name: "work-orders",
      table: "work_orders",
      plural: "workOrders",
      Plural: "WorkOrders",
      singular: "workOrder",
      Singular: "WorkOrder",
      auditType: "work_order",
      words: { one: "work order", many: "work orders" },
    });
  });

  it.each([
    ["projects", "Project"],
    ["categories", "Category"],
    ["boxes", "Box"],
    ["addresses", "Address"],
    ["batches", "Batch"],
    ["courses", "Course"],
    ["days", "Day"],
  ])("guesses the singular of %s", (name, singular) => {
    expect(moduleNames(name).Singular).toBe(singular);
  });

  it("takes the singular it cannot guess", () => {
    expect(() => moduleNames("people")).toThrow('cannot tell the singular of "people"');
    expect(moduleNames("people", "person")).toMatchObject({ Singular: "Person", table: "people" });
  });

  it.each([
    ["Projects", "a module name is a lowercase plural"],
    ["my_projects", "a module name is a lowercase plural"],
    ["ab", "a module name is a lowercase plural"],
    ["projects-", "a module name is a lowercase plural"],
    ["a".repeat(33), "a module name is a lowercase plural"],
    ["news", '"new" is a reserved word in JavaScript'],
  ])("refuses %s in one line", (name, message) => {
    expect(() => moduleNames(name)).toThrow(SpecError);
    expect(() => moduleNames(name)).toThrow(message);
  });
});

describe("new:module names the project has", () => {
  const spec = (name: string) => ({ ...moduleNames(name), fields: parseFields("name:text") });

  it.each([
    ["tenants", 'the module "src/modules/tenants" exists already'],
    ["roles", 'the table "roles" exists already'],
    ["permissions", 'the route "/api/v1/permissions" exists already'],
    ["members", 'the permission resource "members" exists already'],
    ["audit-logs", 'the table "audit_logs" exists already'],
  ])("refuses %s", (name, message) => {
    expect(() => checkUnused(repoRoot, spec(name))).toThrow(message);
  });

  it("refuses the name of a test fixture module, whose table and routes every test database has", () => {
    expect(() => checkUnused(repoRoot, spec("notes"))).toThrow(
      'module "notes": the tests\' fixture module test/fixtures/notes-module/ has this name',
    );
  });

  it("refuses the names a test fixture module's code uses, under another module name", () => {
    const jottings = { ...moduleNames("jottings", "note"), fields: parseFields("name:text") };
    expect(() => checkUnused(repoRoot, jottings)).toThrow(
      'the OpenAPI schema "Note" exists already',
    );
  });

  it("accepts a new one", () => {
    expect(() => checkUnused(repoRoot, spec("projects"))).not.toThrow();
  });
});

describe("new:module fields", () => {
  it("reads names, types and nullability", () => {
    expect(parseFields("title:text,done:boolean,dueAt:timestamp?,estimate:integer")).toEqual([
      { name: "title", pascal: "Title", column: "title", type: "text", nullable: false },
      { name: "done", pascal: "Done", column: "done", type: "boolean", nullable: false },
      { name: "dueAt", pascal: "DueAt", column: "due_at", type: "timestamp", nullable: true },
      {
        name: "estimate",
        pascal: "Estimate",
        column: "estimate",
        type: "integer",
        nullable: false,
      },
    ]);
  });

  it.each([
    ["title", 'field "title": write it name:type or name:type?'],
    ["title:string", 'field "title": unknown type "string"'],
    ["Title:text", 'field "Title": a field name is camelCase'],
    ["due_at:timestamp", 'field "due_at": a field name is camelCase'],
    ["id:text", 'field "id": every module has id'],
    ["tenantId:text", 'field "tenantId": every module has id'],
    ["setName:text", 'field "setName": set<Field> names the update\'s flags'],
    ["a:text,a:integer", 'field "a": named twice'],
    ["", "--fields: name at least one field"],
  ])("refuses %j", (fields, message) => {
    expect(() => parseFields(fields)).toThrow(SpecError);
    expect(() => parseFields(fields)).toThrow(message);
  });
});
