import { createHash } from 'node:crypto';
import { QueryFailedError, type QueryRunner } from 'typeorm';

/** The part of a node-postgres client (TypeORM's connection under a Postgres query runner) used here. */
interface PgClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

function isPgClient(value: unknown): value is PgClient {
  return typeof (value as { query?: unknown } | null)?.query === 'function';
}

/**
 * Runs a statement as a named (prepared) statement on the query runner's connection, usually inside its
 * transaction: Postgres parses it once per connection and, after a few runs, stops planning it — most of
 * the database's CPU for a short, complex statement on the webhook hot path. Errors are TypeORM's
 * QueryFailedError, like `runner.query` throws. The name is derived from the text, so a changed
 * statement never meets an older preparation of another text.
 */
export async function preparedQuery<T>(runner: QueryRunner, text: string, values: unknown[]): Promise<T[]> {
  const client: unknown = await runner.connect();
  if (!isPgClient(client)) return (await runner.query(text, values)) as T[];
  try {
    const result = await client.query({ name: statementName(text), text, values });
    return result.rows as T[];
  } catch (error) {
    throw new QueryFailedError(text, values, error as Error);
  }
}

const names = new Map<string, string>();

/** `parley_<sha1 of the text, 16 hex>`, computed once per text. */
function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `parley_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    if (names.size < 1000) names.set(text, name);
  }
  return name;
}
