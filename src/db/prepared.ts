// Named statements for the hot paths (checkout, stock): PostgreSQL parses and plans each once per connection
// instead of on every call. Goes through drizzle's own session, so it works on the pool and inside transactions.
import type { SQL } from 'drizzle-orm'
import type { PgDialect, PgSession } from 'drizzle-orm/pg-core'
import type { Tx } from './client.ts'

export async function executeNamed<T extends Record<string, unknown>>(tx: Tx, name: string, query: SQL): Promise<{ rows: T[] }> {
  // drizzle keeps the session and dialect on every database and transaction object.
  const { session, dialect } = tx as unknown as { session: PgSession; dialect: PgDialect }
  const built = dialect.sqlToQuery(query)
  const result = (await session.prepareQuery(built, undefined, name, false).execute()) as { rows: T[] }
  return result
}
