// Keyset pagination: a list query asks for one row more than the page, and the extra row says a next page exists.
import { and, eq } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { badRequest } from '../lib/errors.ts'
import type { Tx } from './client.ts'

/** The page of `rows` (fetched with `limit + 1`) and the cursor of the next page: the key of its last item. */
export function keysetPage<T>(rows: T[], limit: number, keyOf: (row: T) => string | number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit)
  return { items, nextCursor: rows.length > limit ? String(keyOf(items[items.length - 1]!)) : null }
}

/**
 * A list's cursor that names a row (the id of the previous page's last item) must be a row of that table and of the
 * merchant reading: anything else is 400 invalid_cursor, never another merchant's place in the list.
 */
export async function checkRowCursor(tx: Tx, table: PgTable & { id: PgColumn; merchantId: PgColumn }, merchantId: string, id: string): Promise<void> {
  const [row] = await tx.select({ id: table.id }).from(table).where(and(eq(table.merchantId, merchantId), eq(table.id, id)))
  if (!row) throw badRequest('invalid_cursor', 'cursor must be the nextCursor of a previous page')
}
