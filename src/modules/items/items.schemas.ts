import { z } from "zod";
import { pageQueryFields, pageSchemaOf } from "../../core/http/cursor.js";
import { displayName, multilineText } from "../../core/http/text.js";

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

const name = displayName({ max: 200 });
/** Free text over several lines: line feeds are kept, other control characters refused. */
const description = multilineText({ max: 2000 }).nullable();

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
