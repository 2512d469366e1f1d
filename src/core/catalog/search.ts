// Finding products for the back office and the till: by name (Chinese or English), SKU, barcode, category subtree
// and status, a page at a time. One query picks the page's product ids, three more load them with their variants
// and barcodes, whatever the page size.
import { sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { badRequest } from '../../lib/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { categoryWithDescendants, getProducts, type ProductWithVariants } from './products.ts'
import { gtinKey, typedDigits } from './barcodes.ts'

export interface ProductSearch {
  /** Case-insensitive part of the name or English name, part of a SKU, or a whole barcode. */
  q?: string
  /** This category and every category below it. */
  categoryId?: string
  /** Default 'active'. */
  status?: 'active' | 'archived' | 'all'
  /** Only products with at least one variant on (true) or off (false) the shelf. */
  onShelf?: boolean
  limit: number
  /** The `nextCursor` of the previous page. */
  cursor?: string
}

export interface ProductPage {
  items: ProductWithVariants[]
  nextCursor: string | null
}

/** `text` as a LIKE pattern that matches it anywhere, with its own % _ \ taken literally. */
export const containsPattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/**
 * Pages are in product id order (ids are UUIDv7, so roughly creation order): the order is total and stable, and
 * the cursor is the last id of the previous page, so paging never repeats or skips a product.
 */
export async function searchProducts(tx: Tx, merchantId: string, s: ProductSearch): Promise<ProductPage> {
  if (s.cursor !== undefined && !isUuid(s.cursor)) throw badRequest('invalid_cursor', 'cursor must be the nextCursor of a previous page')
  const where: SQL[] = [sql`p.merchant_id = ${merchantId}`]
  const status = s.status ?? 'active'
  if (status !== 'all') where.push(sql`p.status = ${status}`)
  if (s.categoryId) {
    const ids = isUuid(s.categoryId) ? await categoryWithDescendants(tx, merchantId, s.categoryId) : []
    if (ids.length === 0) return { items: [], nextCursor: null }
    where.push(sql`p.category_id = any(${sql.param(ids)}::uuid[])`)
  }
  if (s.onShelf !== undefined) where.push(sql`exists (select 1 from variants v where v.product_id = p.id and v.on_shelf = ${s.onShelf})`)
  const q = s.q?.trim()
  if (q) {
    const pattern = containsPattern(q.toLowerCase())
    where.push(sql`(
      lower(p.name) like ${pattern}
      or lower(p.name_en) like ${pattern}
      or p.id in (select v.product_id from variants v where v.merchant_id = ${merchantId} and lower(v.sku) like ${pattern})
      or p.id in (select v.product_id from barcodes b join variants v on v.id = b.variant_id where b.merchant_id = ${merchantId} and (b.code = ${q} or b.code = ${typedDigits(q)} or b.gtin = ${gtinKey(typedDigits(q)) ?? null}))
    )`)
  }
  if (s.cursor) where.push(sql`p.id > ${s.cursor}`)
  const { rows } = await tx.execute<{ id: string }>(sql`select p.id from products p where ${sql.join(where, sql` and `)} order by p.id limit ${s.limit + 1}`)
  const ids = rows.slice(0, s.limit).map((r) => r.id)
  const items = await getProducts(tx, merchantId, ids)
  return { items, nextCursor: rows.length > s.limit ? ids[ids.length - 1]! : null }
}
