import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from "openapi-typescript";

/** Where the TypeScript client lives, from the repository's root. */
export const CLIENT_FOLDER = "clients/typescript";
/** The generated types, beside the wrapper that imports them (src/index.ts). */
export const SCHEMA_FILE = `${CLIENT_FOLDER}/src/schema.d.ts`;

/**
 * The client's types (`paths`, `operations`, `components`) for an OpenAPI document, as the
 * text of schema.d.ts: what `npm run client` writes and the client test compiles against.
 * openapi-typescript validates the document first and throws on one it cannot describe.
 */
export async function clientTypesOf(document: object): Promise<string> {
  const nodes = await openapiTS(document as OpenAPI3, { silent: true });
  return `${COMMENT_HEADER.replace(
    " */",
    " * Written by `npm run client` from the API's OpenAPI document (/openapi.json).\n */",
  )}${astToString(nodes)}`;
}
