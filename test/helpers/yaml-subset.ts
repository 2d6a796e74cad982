/**
 * A reader for the YAML the deploy files are written in, so tests can hold them to the code
 * without a YAML dependency: block mappings and sequences, plain and quoted scalars (all kept
 * as strings), flow sequences of scalars, folded and literal block scalars, comments. Anything
 * else (anchors, aliases, tags, flow mappings, documents) is refused with its line number, so
 * a deploy file that outgrows this subset fails its test loudly instead of being misread.
 */

export type YamlValue = string | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  number: number;
}

export function parseYamlSubset(source: string): YamlValue {
  const lines = source.split("\n").map((raw, index) => ({ raw, number: index + 1 }));
  const reader = new Reader(lines);
  const first = reader.peek();
  if (!first) return null;
  const value = reader.block(first.indent);
  const rest = reader.peek();
  if (rest) throw new Error(`YAML line ${rest.number}: unexpected indentation`);
  return value;
}

class Reader {
  #index = 0;
  constructor(private readonly lines: { raw: string; number: number }[]) {}

  /** The next meaningful line (blank and comment-only lines skipped). */
  peek(): Line | undefined {
    while (this.#index < this.lines.length) {
      const { raw, number } = this.lines[this.#index] as { raw: string; number: number };
      const text = stripComment(raw).trimEnd();
      if (text.trim() !== "") {
        if (raw.includes("\t")) throw new Error(`YAML line ${number}: tabs are not supported`);
        const indent = text.length - text.trimStart().length;
        return { indent, text: text.trimStart(), number };
      }
      this.#index += 1;
    }
    return undefined;
  }

  next(): void {
    this.#index += 1;
  }

  block(indent: number): YamlValue {
    const line = this.peek();
    if (!line) return null;
    return line.text === "-" || line.text.startsWith("- ")
      ? this.sequence(indent)
      : this.mapping(indent);
  }

  sequence(indent: number): YamlValue[] {
    const items: YamlValue[] = [];
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      if (!(line.text === "-" || line.text.startsWith("- "))) break;
      const rest = line.text.slice(1).trimStart();
      if (rest === "") {
        this.next();
        const child = this.peek();
        items.push(child && child.indent > indent ? this.block(child.indent) : null);
      } else if (keyOf(rest)) {
        // "- key: value" opens a mapping whose keys line up with "key".
        const inner = indent + (line.text.length - rest.length);
        this.lines[this.#index] = {
          raw: `${" ".repeat(inner)}${rest}`,
          number: line.number,
        };
        items.push(this.mapping(inner));
      } else {
        this.next();
        items.push(this.scalarOrBlock(rest, indent, line.number));
      }
    }
    return items;
  }

  mapping(indent: number): { [key: string]: YamlValue } {
    const result: { [key: string]: YamlValue } = {};
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      const key = keyOf(line.text);
      if (!key) throw new Error(`YAML line ${line.number}: expected "key: value"`);
      if (key.name in result)
        throw new Error(`YAML line ${line.number}: duplicate key ${key.name}`);
      this.next();
      if (key.rest === "") {
        const child = this.peek();
        if (child && child.indent > indent) result[key.name] = this.block(child.indent);
        else if (child && child.indent === indent && child.text.startsWith("- ")) {
          result[key.name] = this.sequence(indent);
        } else result[key.name] = null;
      } else {
        result[key.name] = this.scalarOrBlock(key.rest, indent, line.number);
      }
    }
    return result;
  }

  /** A scalar on the line, a flow sequence, or a block scalar (> or |) on the lines below. */
  scalarOrBlock(text: string, indent: number, number: number): YamlValue {
    const block = /^([>|])([+-]?)$/.exec(text);
    if (block) {
      const parts: string[] = [];
      while (this.#index < this.lines.length) {
        const { raw } = this.lines[this.#index] as { raw: string };
        const content = raw.trimEnd();
        if (content.trim() !== "" && content.length - content.trimStart().length <= indent) break;
        parts.push(content.trim());
        this.#index += 1;
      }
      while (parts.at(-1) === "") parts.pop();
      const joined = block[1] === ">" ? parts.join(" ").replace(/ {2,}/g, " ") : parts.join("\n");
      return block[2] === "-" ? joined : `${joined}\n`;
    }
    if (text.startsWith("[")) {
      if (!text.endsWith("]")) throw new Error(`YAML line ${number}: multi-line flow sequence`);
      return splitFlow(text.slice(1, -1), number).map((item) => scalar(item, number));
    }
    return scalar(text, number);
  }
}

function keyOf(text: string): { name: string; rest: string } | undefined {
  const match =
    /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#\-[{][^:]*?|-[^\s:][^:]*?):(?:\s+(.*))?$/.exec(text);
  if (!match) return undefined;
  return { name: scalar(match[1] as string, 0), rest: (match[2] ?? "").trim() };
}

function scalar(text: string, number: number): string {
  if (/^[&*!{]/.test(text) || text.startsWith("<<")) {
    throw new Error(
      `YAML line ${number}: anchors, aliases, tags and flow mappings are not supported`,
    );
  }
  if (text.startsWith('"')) return JSON.parse(text) as string;
  if (text.startsWith("'")) return text.slice(1, -1).replaceAll("''", "'");
  return text;
}

function splitFlow(text: string, number: number): string[] {
  const items: string[] = [];
  let current = "";
  let quote: string | undefined;
  for (let index = 0; index < text.length; index += 1) {
    const character = text[index] as string;
    if (quote) {
      current += character;
      if (character === "\\" && quote === '"') {
        current += text[index + 1] ?? "";
        index += 1;
      } else if (character === quote) quote = undefined;
    } else if (character === '"' || character === "'") {
      quote = character;
      current += character;
    } else if (character === ",") {
      items.push(current.trim());
      current = "";
    } else if (character === "[" || character === "{") {
      throw new Error(`YAML line ${number}: nested flow collections are not supported`);
    } else current += character;
  }
  if (current.trim() !== "") items.push(current.trim());
  return items;
}

/** The line without its comment: a # at the start or after a space, outside quotes. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let index = 0; index < line.length; index += 1) {
    const character = line[index];
    if (quote) {
      if (character === quote) quote = undefined;
    } else if (character === '"' || character === "'") {
      quote = character;
    } else if (character === "#" && (index === 0 || /\s/.test(line[index - 1] as string))) {
      return line.slice(0, index);
    }
  }
  return line;
}
