// Type declarations for the two node-postgres internals the statement batch reuses:
// its result parser and its parameter serializer (both exported by pg's package.json).
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
