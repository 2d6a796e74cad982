/**
 * What the kit uses of node:http, taken through process.getBuiltinModule rather than an ES
 * import. An ES import of a built-in builds a namespace of every export, and from Node 22 on
 * node:http exports WebSocket, CloseEvent and MessageEvent as getters that load Node's bundled
 * undici (its fetch): 1 MB more live heap in the API on Node 24, which fetches nothing until an
 * OAuth sign-in (docs/operations.md#memory). Import these names from here, not node:http.
 */
const http = process.getBuiltinModule("node:http");

export const { STATUS_CODES, createServer } = http;
