import { type components, type KitClient, paginate, unwrap } from "../src/index.js";

type Item = components["schemas"]["Item"];

/** One page at a time, for a "Load more" button: keep `nextCursor` until it is null. */
export async function itemsPage(api: KitClient, cursor?: string) {
  return unwrap(api.api.GET("/api/v1/items", { params: { query: { limit: 20, cursor } } }));
}

/** Every item, newest first; `paginate` fetches the next page as the loop needs it. */
export async function allItems(api: KitClient, pageSize = 50): Promise<Item[]> {
  const items: Item[] = [];
  const pages = paginate((cursor) =>
    api.api.GET("/api/v1/items", { params: { query: { limit: pageSize, cursor } } }),
  );
  for await (const item of pages) items.push(item);
  return items;
}
