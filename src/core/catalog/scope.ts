// The ids a promotion or a coupon template is scoped to must be the merchant's own: another merchant's product (or
// one that does not exist) would make a scope that silently applies to nothing.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid } from '../../lib/errors.ts'

export interface ScopeIds {
  productIds?: string[]
  variantIds?: string[]
  categoryIds?: string[]
  storeIds?: string[]
}

const TABLES = { productIds: 'products', variantIds: 'variants', categoryIds: 'categories', storeIds: 'stores' } as const

/** Refuses (422 unknown_scope) the first id of a scope that is not one of the merchant's. */
export async function assertScopeIds(tx: Tx, merchantId: string, scope: ScopeIds): Promise<void> {
  for (const [field, table] of Object.entries(TABLES) as [keyof ScopeIds, string][]) {
    const ids = [...new Set(scope[field] ?? [])]
    if (ids.length === 0) continue
    const { rows } = await tx.execute<{ id: string }>(sql`
      select x.id::text from unnest(${sql.param(ids)}::uuid[]) as x(id)
       where not exists (select 1 from ${sql.identifier(table)} t where t.id = x.id and t.merchant_id = ${merchantId}) limit 1`)
    if (rows[0]) throw invalid('unknown_scope', `${field.replace(/Ids$/, '')} ${rows[0].id} is not one of this merchant's`, { field, id: rows[0].id })
  }
}
