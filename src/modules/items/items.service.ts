import { newId, type TenantDatabase } from "../../core/database/index.js";
import { notFound } from "../../core/errors/index.js";
import { idCursor, pageOf } from "../../core/http/cursor.js";
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
const cursor = idCursor("i1");

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

    async list(limit: number, after: string | undefined) {
      // One extra row tells whether another page follows.
      const rows = await repository.list(
        limit + 1,
        after === undefined ? undefined : cursor.decode(after),
      );
      return pageOf(rows, limit, toItemResponse, (row) => cursor.encode(row.id));
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
