import { newId, type TenantDatabase } from "../../core/database/index.js";
import { notFound } from "../../core/errors/index.js";
import { idCursor, pageOf } from "../../core/http/cursor.js";
import { type ItemChanges, type ItemRow, itemsRepository } from "./items.repository.js";
import type { ItemResponse } from "./items.schemas.js";

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

/**
 * The item use cases. Built once, when the module is registered; each call takes the tenant
 * (and user) it acts for as `db`, the request's `TenantDatabase`. Items need none of the
 * module dependencies: a service that does takes them here (`createRbacService({ sessions })`).
 */
export function createItemsService() {
  return {
    async get(db: TenantDatabase, id: string): Promise<ItemResponse> {
      const row = await itemsRepository.findById(db, id);
      if (!row) throw itemNotFound();
      return toItemResponse(row);
    },

    async list(db: TenantDatabase, limit: number, after: string | undefined) {
      // One extra row tells whether another page follows.
      const rows = await itemsRepository.list(
        db,
        limit + 1,
        after === undefined ? undefined : cursor.decode(after),
      );
      return pageOf(rows, limit, toItemResponse, (row) => cursor.encode(row.id));
    },

    async create(
      db: TenantDatabase,
      input: { name: string; description?: string | null | undefined },
    ): Promise<ItemResponse> {
      const row = await itemsRepository.insert(db, {
        id: newId(),
        name: input.name,
        description: input.description ?? null,
        createdBy: db.scope.userId ?? null,
      });
      return toItemResponse(row);
    },

    async update(db: TenantDatabase, id: string, changes: ItemChanges): Promise<ItemResponse> {
      const row = await itemsRepository.update(db, id, changes);
      if (!row) throw itemNotFound();
      return toItemResponse(row);
    },

    async remove(db: TenantDatabase, id: string): Promise<void> {
      if (!(await itemsRepository.remove(db, id))) throw itemNotFound();
    },
  };
}

export type ItemsService = ReturnType<typeof createItemsService>;
