import { newId, type TenantDatabase } from "../../core/database/index.js";
import { AppError, notFound } from "../../core/errors/index.js";
import { type ItemChanges, itemsRepository } from "./items.repository.js";
import type { ItemResponse } from "./items.schemas.js";
import type { ItemRow } from "./items.table.js";

function toItemResponse(row: ItemRow): ItemResponse {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** Cursors are opaque to clients: the last item's id, versioned and base64url-encoded. */
const CURSOR_PREFIX = "i1:";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const encodeCursor = (id: string) => Buffer.from(`${CURSOR_PREFIX}${id}`).toString("base64url");

function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, "base64url").toString("utf8");
  const id = decoded.startsWith(CURSOR_PREFIX) ? decoded.slice(CURSOR_PREFIX.length) : "";
  if (!UUID.test(id)) {
    throw new AppError("validation-failed", "The request is invalid; see errors for each field.", {
      errors: [{ field: "query.cursor", message: "is not a cursor from this list" }],
    });
  }
  return id;
}

const itemNotFound = () => notFound("The item does not exist.");

/** The item use cases, for the tenant (and user) that `db` is bound to. */
export function itemsService(db: TenantDatabase) {
  const repository = itemsRepository(db);
  return {
    async get(id: string): Promise<ItemResponse> {
      const row = await repository.findById(id);
      if (!row) throw itemNotFound();
      return toItemResponse(row);
    },

    async list(limit: number, cursor: string | undefined) {
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      // One extra row tells whether another page follows.
      const rows = await repository.list(limit + 1, after);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map(toItemResponse),
        nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null,
      };
    },

    async create(input: { name: string; description?: string | null | undefined }) {
      const row = await repository.insert({
        id: newId(),
        name: input.name,
        description: input.description ?? null,
        createdBy: db.scope.userId ?? null,
      });
      return toItemResponse(row);
    },

    async update(id: string, changes: ItemChanges): Promise<ItemResponse> {
      const row = await repository.update(id, changes);
      if (!row) throw itemNotFound();
      return toItemResponse(row);
    },

    async remove(id: string): Promise<void> {
      if (!(await repository.remove(id))) throw itemNotFound();
    },
  };
}
