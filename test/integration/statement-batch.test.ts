import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import {
  type BatchStatement,
  forgetPreparedStatements,
  StatementBatch,
  statementName,
} from "../../src/core/database/pg-statement-batch.js";
import { TEST_DATABASE_URL } from "../helpers/app.js";

/**
 * The statement batch (src/core/database/pg-statement-batch.ts) against the real PostgreSQL:
 * a named statement is described by the server once per connection, and every later batch
 * decodes its rows with the shape it was told then.
 */

const opened: pg.Client[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((client) => client.end()));
});

async function connect(): Promise<{ client: pg.Client; rowDescriptions: () => number }> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  opened.push(client);
  let count = 0;
  // The server's RowDescription messages, as the connection parses them.
  (client as unknown as { connection: pg.Connection }).connection.on("rowDescription", () => {
    count += 1;
  });
  return { client, rowDescriptions: () => count };
}

const TYPED_TEXT =
  "select $1::int as number, $2::bool as flag, $3::text as label, '2026-01-02T03:04:05Z'::timestamptz as at from generate_series(1, $4::int)";
const typed = (rows: number, text = TYPED_TEXT): BatchStatement => ({
  name: statementName("typed", text),
  text,
  values: [7, true, "seven", rows],
});

const run = async (client: pg.Client, statements: BatchStatement[]) =>
  client.query(new StatementBatch(statements)).done;

describe("the statement batch's row shapes", () => {
  it("describes a named statement once per connection and decodes later rows the same way", async () => {
    const { client, rowDescriptions } = await connect();
    const first = await run(client, [typed(2)]);
    expect(rowDescriptions()).toBe(1);
    const expected = { number: 7, flag: true, label: "seven", at: "2026-01-02 03:04:05+00" };
    expect(first[0]?.rows).toEqual([expected, expected]);

    for (let time = 0; time < 3; time++) {
      const again = await run(client, [typed(2)]);
      expect(again[0]?.rows).toEqual([expected, expected]);
    }
    // No RowDescription after the first: the server was not asked to describe the statement.
    expect(rowDescriptions()).toBe(1);
  });

  it("gives an empty result of a described statement its fields", async () => {
    const { client } = await connect();
    await run(client, [typed(1)]);
    const empty = await run(client, [typed(0)]);
    expect(empty[0]?.rows).toEqual([]);
    expect(
      (empty[0] as unknown as { fields: { name: string }[] }).fields.map((field) => field.name),
    ).toEqual(["number", "flag", "label", "at"]);
  });

  it("keeps unnamed statements described every time", async () => {
    const { client, rowDescriptions } = await connect();
    const unnamed = { ...typed(1), name: "" };
    await run(client, [unnamed]);
    await run(client, [unnamed]);
    expect(rowDescriptions()).toBe(2);
  });

  it("describes a statement again once it has been prepared again", async () => {
    const { client, rowDescriptions } = await connect();
    await run(client, [typed(1)]);
    forgetPreparedStatements(client);
    const again = await run(client, [typed(1)]);
    expect(rowDescriptions()).toBe(2);
    expect(again[0]?.rows[0]).toMatchObject({ number: 7, flag: true });
  });

  it("keeps each statement of a batch to its own shape, also after a failed batch", async () => {
    const { client, rowDescriptions } = await connect();
    const otherText = "select $1::text as word, $2::int + 1 as next";
    const other: BatchStatement = {
      name: statementName("other", otherText),
      text: otherText,
      values: ["two", 1],
    };
    const failing: BatchStatement = {
      name: statementName("failing", "select 1 / $1::int as ratio"),
      text: "select 1 / $1::int as ratio",
      values: [0],
    };
    await run(client, [typed(1), other]);
    await expect(run(client, [other, failing, typed(1)])).rejects.toThrow(/division by zero/);
    const after = await run(client, [other, typed(1), other]);
    expect(after.map((result) => result.rows)).toEqual([
      [{ word: "two", next: 2 }],
      [{ number: 7, flag: true, label: "seven", at: "2026-01-02 03:04:05+00" }],
      [{ word: "two", next: 2 }],
    ]);
    // typed and other were each described once, on the first batch; the failing statement
    // failed before its description (PostgreSQL plans it, and so divides, at the Bind).
    expect(rowDescriptions()).toBe(2);
  });
});
