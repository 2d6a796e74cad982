import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { requirePermission } from "../../core/permissions/index.js";
import {
  createItemBody,
  itemPageSchema,
  itemParams,
  itemSchema,
  listItemsQuery,
  updateItemBody,
} from "./items.schemas.js";
import type { ItemsService } from "./items.service.js";

/** HTTP in, HTTP out: validation and documentation here, behaviour in items.service.ts. */
export const itemsRoutes: FastifyPluginAsyncZod<{ items: ItemsService }> = async (
  app,
  { items },
) => {
  app.get(
    "/items",
    {
      config: { access: requirePermission("items", "read") },
      schema: {
        operationId: "listItems",
        summary: "List items",
        description: "Newest first. Pass `nextCursor` back as `cursor` for the next page.",
        tags: ["items"],
        querystring: listItemsQuery,
        response: { 200: itemPageSchema },
      },
    },
    async (request) => items.list(request.tenantDb, request.query.limit, request.query.cursor),
  );

  app.post(
    "/items",
    {
      config: { access: requirePermission("items", "create") },
      schema: {
        operationId: "createItem",
        summary: "Create an item",
        description: "The item belongs to the token's tenant; `createdBy` is the caller.",
        tags: ["items"],
        body: createItemBody,
        response: { 201: itemSchema },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await items.create(request.tenantDb, request.body)),
  );

  app.get(
    "/items/:id",
    {
      config: { access: requirePermission("items", "read") },
      schema: {
        operationId: "getItem",
        summary: "Get an item",
        description: "404 for a missing item and for another tenant's alike.",
        tags: ["items"],
        params: itemParams,
        response: { 200: itemSchema },
      },
    },
    async (request) => items.get(request.tenantDb, request.params.id),
  );

  app.patch(
    "/items/:id",
    {
      config: { access: requirePermission("items", "update") },
      schema: {
        operationId: "updateItem",
        summary: "Update an item",
        description: "Changes only the fields sent; `description: null` clears it.",
        tags: ["items"],
        params: itemParams,
        body: updateItemBody,
        response: { 200: itemSchema },
      },
    },
    async (request) => items.update(request.tenantDb, request.params.id, request.body),
  );

  app.delete(
    "/items/:id",
    {
      config: { access: requirePermission("items", "delete") },
      schema: {
        operationId: "deleteItem",
        summary: "Delete an item",
        description: "404 for a missing item and for another tenant's alike.",
        tags: ["items"],
        params: itemParams,
        response: { 204: z.null().describe("Deleted") },
      },
    },
    async (request, reply) => {
      await items.remove(request.tenantDb, request.params.id);
      return reply.code(204).send(null);
    },
  );
};
