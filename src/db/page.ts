// Keyset pagination: a list query asks for one row more than the page, and the extra row says a next page exists.

/** The page of `rows` (fetched with `limit + 1`) and the cursor of the next page: the key of its last item. */
export function keysetPage<T>(rows: T[], limit: number, keyOf: (row: T) => string | number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit)
  return { items, nextCursor: rows.length > limit ? String(keyOf(items[items.length - 1]!)) : null }
}
