import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { markdownTable } from "./markdown.js";

/** A default module: its export, its folder, the doc comment on the export, its source files. */
export interface ModuleEntry {
  readonly exportName: string;
  readonly folder: string;
  readonly summary: string;
  readonly files: readonly string[];
}

/** The text of the doc comment on an exported declaration, on one line. */
function docComment(source: string, path: string, exportName: string): string {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true);
  for (const statement of file.statements) {
    const exported = ts
      .getModifiers(statement as ts.HasModifiers)
      ?.some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword);
    if (!ts.isVariableStatement(statement) || !exported) continue;
    const declaration = statement.declarationList.declarations.find(
      (candidate) => ts.isIdentifier(candidate.name) && candidate.name.text === exportName,
    );
    if (!declaration) continue;
    const comment = ts
      .getJSDocCommentsAndTags(declaration)
      .map((doc) => ts.getTextOfJSDocComment(doc.comment) ?? "")
      .join(" ")
      .replace(/\s+/g, " ")
      .trim();
    if (comment) return comment;
  }
  throw new Error(
    `${path}: ${exportName} needs to be exported with a doc comment saying what it does`,
  );
}

const sourceFile = (root: string, path: string) =>
  ts.createSourceFile(path, readFileSync(join(root, path), "utf8"), ts.ScriptTarget.Latest, true);

/**
 * The modules of `defaultModules` in mounting order, read from src/modules.ts's source: each
 * element of the array, the `src/modules/<folder>/index.js` it is imported from, and the doc
 * comment on its export there. Read, not imported, so the check costs no application start-up.
 * A module folder that is not mounted fails: the README would list it as part of the kit.
 */
export function defaultModuleEntries(root: string): ModuleEntry[] {
  const app = sourceFile(root, "src/modules.ts");
  const importedFrom = new Map<string, string>();
  let elements: readonly ts.Expression[] | undefined;
  for (const statement of app.statements) {
    if (ts.isImportDeclaration(statement) && ts.isStringLiteral(statement.moduleSpecifier)) {
      const bindings = statement.importClause?.namedBindings;
      if (bindings && ts.isNamedImports(bindings)) {
        for (const binding of bindings.elements) {
          importedFrom.set(binding.name.text, statement.moduleSpecifier.text);
        }
      }
    }
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        // `[...] as const satisfies readonly AppModule[]`: the array inside.
        let initializer = declaration.initializer;
        while (
          initializer &&
          (ts.isSatisfiesExpression(initializer) || ts.isAsExpression(initializer))
        ) {
          initializer = initializer.expression;
        }
        if (
          ts.isIdentifier(declaration.name) &&
          declaration.name.text === "defaultModules" &&
          initializer &&
          ts.isArrayLiteralExpression(initializer)
        ) {
          elements = initializer.elements;
        }
      }
    }
  }
  if (!elements) throw new Error("src/modules.ts no longer declares defaultModules as an array");
  const entries = elements.map((element) => {
    const name = element.getText(app);
    const folder = /^\.\/modules\/([\w-]+)\/index\.js$/.exec(importedFrom.get(name) ?? "")?.[1];
    if (!ts.isIdentifier(element) || !folder) {
      throw new Error(`defaultModules' ${name} is not imported from a module's index.ts`);
    }
    const path = `src/modules/${folder}/index.ts`;
    return {
      exportName: name,
      folder,
      summary: docComment(readFileSync(join(root, path), "utf8"), path, name),
      // Source files only: the SQL snapshots beside them are written by the same run.
      files: readdirSync(join(root, "src/modules", folder))
        .filter((file) => file.endsWith(".ts"))
        .sort(),
    };
  });
  const folders = readdirSync(join(root, "src/modules"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);
  const unmounted = folders.filter((folder) => !entries.some((entry) => entry.folder === folder));
  if (unmounted.length > 0) {
    throw new Error(
      `src/modules/ holds folders defaultModules does not mount: ${unmounted.join(", ")}`,
    );
  }
  return entries;
}

/** The README's table of the default modules. */
export function modulesTable(entries: readonly ModuleEntry[]): string {
  return markdownTable(
    ["#", "module", "folder", "what", "files"],
    entries.map((entry, position) => [
      String(position + 1),
      `\`${entry.exportName}\``,
      `\`src/modules/${entry.folder}/\``,
      entry.summary,
      entry.files.join(", "),
    ]),
  );
}

/** docs/adding-a-module.md's step 7: `defaultModules` as it is, with the new module last. */
export function defaultModulesSnippet(entries: readonly ModuleEntry[], added: string): string {
  const names = entries.map((entry) => entry.exportName);
  // A project that has the doc's example module registered already shows it once.
  const lines = [...names, ...(names.includes(added) ? [] : [added])].map((name) => `  ${name},`);
  return [
    "```ts",
    "export const defaultModules = [",
    ...lines,
    "] as const satisfies readonly AppModule[];",
    "```",
  ].join("\n");
}

/** The properties of `ModuleDependencies`, with their types and doc comments. */
function moduleDependencies(root: string) {
  const path = "src/core/http/module.ts";
  const file = sourceFile(root, path);
  const declaration = file.statements.find(
    (statement): statement is ts.InterfaceDeclaration =>
      ts.isInterfaceDeclaration(statement) && statement.name.text === "ModuleDependencies",
  );
  if (!declaration) throw new Error(`${path} no longer declares ModuleDependencies`);
  return declaration.members.filter(ts.isPropertySignature).map((member) => ({
    name: member.name.getText(file),
    type: member.type?.getText(file) ?? "unknown",
    doc: ts
      .getJSDocCommentsAndTags(member)
      .map((doc) => ts.getTextOfJSDocComment(doc.comment) ?? "")
      .join(" ")
      .replace(/\s+/g, " ")
      .trim(),
  }));
}

/** A list of what every module receives, for the docs that explain modules. */
export function moduleDependenciesList(root: string): string {
  return moduleDependencies(root)
    .map(({ name, type, doc }) => `- \`${name}\` (\`${type}\`)${doc ? `: ${doc}` : ""}`)
    .join("\n");
}
