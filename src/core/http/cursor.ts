import { z } from "zod";
import { AppError } from "../errors/index.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Opaque keyset cursors over a UUID column: the last row's id, with a list-specific prefix,
 * base64url-encoded. A cursor from another list, or made up, is a 422 on `cursor`.
 */
export function idCursor(prefix: string) {
  const tag = `${prefix}:`;
  return {
    encode: (id: string) => Buffer.from(`${tag}${id}`).toString("base64url"),
    decode(cursor: string): string {
      const decoded = Buffer.from(cursor, "base64url").toString("utf8");
      const id = decoded.startsWith(tag) ? decoded.slice(tag.length) : "";
      if (!UUID.test(id)) {
        throw new AppError(
          "validation-failed",
          "The request is invalid; see errors for each field.",
          { errors: [{ field: "cursor", message: "is not a cursor from this list" }] },
        );
      }
      return id;
    },
  };
}

/** One page of `rows` fetched with `limit + 1`: the page and the cursor of the next one. */
export function pageOf<Row, Item>(
  rows: readonly Row[],
  limit: number,
  toItem: (row: Row) => Item,
  cursorOf: (row: Row) => string,
): { items: Item[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(toItem),
    nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null,
  };
}

/** The query of every keyset list: `?limit=1..100` (default 20) and `?cursor=`. */
export const pageQueryFields = {
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional().describe("nextCursor of the previous page"),
};

/** The answer of every keyset list: `{ items, nextCursor }`. */
export const pageSchemaOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });
