/**
 * Just enough of the Caddyfile syntax to derive the topology's Caddyfile from
 * deploy/Caddyfile, and to compare the two: lines of tokens (quoted tokens kept as written),
 * `#` comments, and `{ ... }` blocks opened at the end of a line.
 */

export interface CaddyNode {
  /** The directive and its arguments, or [] for the global options block. */
  readonly tokens: readonly string[];
  /** The block's lines, if the line opens one. */
  readonly children?: readonly CaddyNode[];
}

interface OpenNode {
  tokens: string[];
  children: OpenNode[] | undefined;
}

export function parseCaddyfile(text: string): CaddyNode[] {
  const root: OpenNode = { tokens: [], children: [] };
  const stack: OpenNode[] = [root];
  text.split("\n").forEach((line, index) => {
    const tokens = tokenize(line);
    if (tokens.length === 0) return;
    const parent = stack.at(-1) as OpenNode;
    if (tokens.length === 1 && tokens[0] === "}") {
      if (stack.length === 1) throw new Error(`Caddyfile line ${index + 1}: unbalanced "}"`);
      stack.pop();
      return;
    }
    if (tokens.at(-1) === "{") {
      const node: OpenNode = { tokens: tokens.slice(0, -1), children: [] };
      parent.children?.push(node);
      stack.push(node);
      return;
    }
    if (tokens.includes("{") || tokens.includes("}")) {
      throw new Error(`Caddyfile line ${index + 1}: braces must end a line or stand alone`);
    }
    parent.children?.push({ tokens, children: undefined });
  });
  if (stack.length !== 1) throw new Error('Caddyfile: a block is not closed with "}"');
  return (root.children ?? []).map(freeze);
}

function freeze(node: OpenNode): CaddyNode {
  return node.children
    ? { tokens: node.tokens, children: node.children.map(freeze) }
    : { tokens: node.tokens };
}

function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let index = 0;
  while (index < line.length) {
    const character = line[index] as string;
    if (character === " " || character === "\t" || character === "\r") {
      index += 1;
    } else if (character === "#") {
      break;
    } else if (character === '"' || character === "`") {
      let end = index + 1;
      while (end < line.length && line[end] !== character) end += line[end] === "\\" ? 2 : 1;
      if (end >= line.length) throw new Error(`Caddyfile: unclosed quote in: ${line.trim()}`);
      tokens.push(line.slice(index, end + 1));
      index = end + 1;
    } else {
      let end = index;
      while (end < line.length && !/[\s]/.test(line[end] as string)) end += 1;
      tokens.push(line.slice(index, end));
      index = end;
    }
  }
  return tokens;
}

function formatCaddyfile(nodes: readonly CaddyNode[], depth = 0): string {
  const indent = "\t".repeat(depth);
  return nodes
    .map((node) => {
      const head = node.tokens.join(" ");
      if (!node.children) return `${indent}${head}\n`;
      const open = head ? `${indent}${head} {\n` : `${indent}{\n`;
      return `${open}${formatCaddyfile(node.children, depth + 1)}${indent}}\n`;
    })
    .join("");
}

/** The global options block ({ ... } first in the file), or undefined. */
export function globalOptions(nodes: readonly CaddyNode[]): CaddyNode | undefined {
  const first = nodes[0];
  return first?.children && first.tokens.length === 0 ? first : undefined;
}

/** The site blocks: every top-level block with an address. */
export function siteBlocks(nodes: readonly CaddyNode[]): CaddyNode[] {
  return nodes.filter((node) => node.children && node.tokens.length > 0);
}

/** The lines of `block` whose directive is `name`. */
export function directives(block: CaddyNode, name: string): CaddyNode[] {
  return (block.children ?? []).filter((node) => node.tokens[0] === name);
}

export interface LoopbackSite {
  /** Caddy's HTTP port on 127.0.0.1. */
  readonly port: number;
  /** Caddy's admin endpoint port on 127.0.0.1. */
  readonly adminPort: number;
  /** The API processes, as host:port. */
  readonly upstreams: readonly string[];
}

/**
 * The topology's Caddyfile, made from deploy/Caddyfile so the two cannot drift: the global
 * options plus `auto_https off` and an admin endpoint on a free port, and deploy/Caddyfile's
 * only site block, unchanged but for its address (plain HTTP on 127.0.0.1:`port`, bound to the
 * loopback) and the upstreams of its reverse_proxy (the API processes instead of api:8000).
 */
export function loopbackCaddyfile(deployCaddyfile: string, site: LoopbackSite): string {
  const nodes = parseCaddyfile(deployCaddyfile);
  const sites = siteBlocks(nodes);
  const [deploySite] = sites;
  if (!deploySite || sites.length !== 1) {
    throw new Error("deploy/Caddyfile must have exactly one site block");
  }
  const proxies = directives(deploySite, "reverse_proxy");
  if (proxies.length !== 1) {
    throw new Error("deploy/Caddyfile's site must have exactly one reverse_proxy");
  }
  const replaced = new Set(["auto_https", "admin"]);
  const options: CaddyNode = {
    tokens: [],
    children: [
      ...(globalOptions(nodes)?.children ?? []).filter(
        (node) => !replaced.has(node.tokens[0] ?? ""),
      ),
      // No certificates and no redirect to HTTPS: plain HTTP on the loopback only.
      { tokens: ["auto_https", "off"] },
      // Caddy's default admin port (2019) is fixed; two topologies must not collide.
      { tokens: ["admin", `127.0.0.1:${site.adminPort}`] },
    ],
  };
  const loopbackSite: CaddyNode = {
    tokens: [`http://127.0.0.1:${site.port}`],
    children: [
      // The site address names the host Caddy answers for; bind keeps the listener off the
      // machine's other interfaces.
      { tokens: ["bind", "127.0.0.1"] },
      ...(deploySite.children ?? []).map((node) =>
        node.tokens[0] === "reverse_proxy"
          ? { ...node, tokens: ["reverse_proxy", ...site.upstreams] }
          : node,
      ),
    ],
  };
  return [
    "# Generated by the topology (scripts/lib/topology) from deploy/Caddyfile; do not edit.",
    formatCaddyfile([options, loopbackSite]),
  ].join("\n");
}
