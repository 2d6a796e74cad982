import { z } from "zod";
import { pageQueryFields, pageSchemaOf } from "../../core/http/cursor.js";

/** What the API returns for an item. */
export const itemSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    createdBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: "Item" });

export type ItemResponse = z.infer<typeof itemSchema>;

const name = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(200, "must be at most 200 characters");
const description = z.string().max(2000, "must be at most 2000 characters").nullable();

/** Unknown fields, `tenantId` among them, are refused: the tenant comes from the token only. */
export const createItemBody = z.strictObject({ name, description: description.optional() });

export const updateItemBody = z
  .strictObject({ name: name.optional(), description: description.optional() })
  .refine((body) => body.name !== undefined || body.description !== undefined, {
    message: "send at least one of name and description",
  });

export const itemParams = z.object({ id: z.uuid("must be a UUID") });

export const listItemsQuery = z.object(pageQueryFields);

export const itemPageSchema = pageSchemaOf(itemSchema);
