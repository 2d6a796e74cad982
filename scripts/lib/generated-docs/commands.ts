import { markdownTable } from "./markdown.js";
import { readText } from "./references.js";

/**
 * The npm scripts, the just recipes that mirror them, and the README's table of both. The
 * scripts are package.json's; what each does is said once, in the comment above its recipe in
 * the justfile, which `just --list` shows. AGENTS.md's list of commands is generated from the
 * two; the README's table stays hand-written (it says more) and is checked to name every
 * script and no other.
 */

export interface Command {
  /** The npm script. */
  readonly script: string;
  /** How it is typed: `npm test` for test, `npm run <script>` for the others. */
  readonly npm: string;
  /** The just recipe: the script's name with `:` as `-`. */
  readonly recipe: string;
  /** The comment above the recipe, without the `(npm run <script>)` it ends with. */
  readonly description: string;
}

interface Recipe {
  readonly comment: string;
  /** The npm script its body runs, if it runs one. */
  readonly runs: string | undefined;
}

const recipeOf = (script: string) => script.replaceAll(":", "-");
const npmCommand = (script: string) => (script === "test" ? "npm test" : `npm run ${script}`);

/** The justfile's recipes: each one's doc comment and the npm script its body runs. */
function justRecipes(justfile: string): Map<string, Recipe> {
  const recipes = new Map<string, Recipe>();
  const lines = justfile.split("\n");
  lines.forEach((line, index) => {
    const name = /^([a-z][a-z0-9-]*)(?:\s+[^:]*)?:\s*$/.exec(line)?.[1];
    if (!name) return;
    const comment: string[] = [];
    for (let above = index - 1; above >= 0 && lines[above]?.startsWith("#"); above--) {
      comment.unshift((lines[above] as string).replace(/^#\s?/, ""));
    }
    const body = lines[index + 1]?.trim() ?? "";
    const runs = /^@?npm run ([\w:-]+)(?: -- "\$@")?$/.exec(body)?.[1];
    recipes.set(name, { comment: comment.join(" "), runs });
  });
  return recipes;
}

/** Every npm script, in package.json's order, with its recipe and what it does. */
export function commands(root: string): Command[] {
  const { scripts } = JSON.parse(readText(root, "package.json")) as {
    scripts: Record<string, string>;
  };
  const recipes = justRecipes(readText(root, "justfile"));
  return Object.keys(scripts).map((script) => {
    const comment = recipes.get(recipeOf(script))?.comment ?? "";
    const description = comment
      .replace(new RegExp(`\\s*\\(${npmCommand(script)}\\)$`), "")
      .replace(new RegExp(`\\(${npmCommand(script)}; `), "(");
    return { script, npm: npmCommand(script), recipe: recipeOf(script), description };
  });
}

/** AGENTS.md's table of the commands. */
export function commandsTable(list: readonly Command[]): string {
  return markdownTable(
    ["command", "what it does"],
    list.map((command) => [`\`${command.npm}\``, command.description]),
  );
}

/**
 * The justfile has a commented recipe per npm script that runs it, and no recipe for a script
 * that is gone; the README's commands table has one row per script, with its recipe, and no
 * other row.
 */
export function commandsProblems(
  scripts: readonly string[],
  justfile: string,
  readme: string,
): string[] {
  const problems: string[] = [];
  const recipes = justRecipes(justfile);
  for (const script of scripts) {
    const recipe = recipes.get(recipeOf(script));
    if (!recipe || recipe.runs !== script) {
      problems.push(`the justfile has no recipe ${recipeOf(script)} running npm run ${script}`);
    } else if (recipe.comment === "") {
      problems.push(`the justfile's recipe ${recipeOf(script)} has no comment saying what it does`);
    }
  }
  for (const [name, recipe] of recipes) {
    if (name !== "default" && !scripts.includes(recipe.runs ?? "")) {
      problems.push(`the justfile's recipe ${name} runs no npm script of package.json`);
    }
  }
  const section = readme.slice(readme.indexOf("## Commands"));
  const rows = new Map<string, string>();
  for (const line of section.slice(0, section.indexOf("\n## ")).split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    const match = /^`npm (?:run ([\w:-]+)|(test))`$/.exec(cells[1] ?? "");
    if (!match) continue;
    const script = match[1] ?? (match[2] as string);
    if (rows.has(script)) problems.push(`README's commands table has ${npmCommand(script)} twice`);
    rows.set(script, cells[2] ?? "");
  }
  for (const script of scripts) {
    const row = rows.get(script);
    if (row === undefined)
      problems.push(`README's commands table has no row for ${npmCommand(script)}`);
    else if (row !== `\`just ${recipeOf(script)}\``) {
      problems.push(`README's commands table gives ${npmCommand(script)} the recipe ${row}`);
    }
  }
  for (const script of rows.keys()) {
    if (!scripts.includes(script)) {
      problems.push(
        `README's commands table has a row for ${npmCommand(script)}, which package.json does not define`,
      );
    }
  }
  return problems;
}
