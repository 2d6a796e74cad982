// Type declarations for the node-postgres internals the statement batch reuses: its result
// parser, its parameter serializer and its query class (exported by pg's package.json).
declare module "pg/lib/result.js" {
  import type { FieldDef } from "pg";

  interface TypeParsers {
    getTypeParser(oid: number, format?: string): (value: string) => unknown;
  }
  export default class Result {
    constructor(rowMode: "array" | undefined, types: TypeParsers);
    rows: Record<string, unknown>[];
    rowCount: number | null;
    addFields(fields: FieldDef[]): void;
    addCommandComplete(message: { text?: string; command?: string }): void;
    parseRow(fields: unknown[]): Record<string, unknown>;
    addRow(row: Record<string, unknown>): void;
  }
}

declare module "pg/lib/utils.js" {
  const utils: { prepareValue(value: unknown): unknown };
  export default utils;
}

declare module "pg/lib/query.js" {
  import { EventEmitter } from "node:events";

  export default class Query extends EventEmitter {
    /** The query's text, or a config object (which node-postgres copies). */
    constructor(config: string | { text: string });
  }
}
