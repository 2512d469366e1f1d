// Reading sales back: one sale with its lines, discounts, tenders and refunds; lists by day, store and register.
import { and, asc, desc, eq, gte, inArray, lte, sql, type SQL } from 'drizzle-orm'
import type { HoldsTaken } from '../stock/ledger.ts'
import type { Tx } from '../../db/client.ts'
import { notFound } from '../../lib/errors.ts'
import { refundLines, refunds, refundTenders, saleAdjustments, saleLines, sales, saleTenders } from './schema.ts'
import { checkRowCursor, keysetPage } from '../../db/page.ts'

export type SaleRow = typeof sales.$inferSelect

export interface SaleView extends SaleRow {
  lines: (typeof saleLines.$inferSelect & { adjustments: Omit<typeof saleAdjustments.$inferSelect, 'merchantId' | 'saleId' | 'lineId'>[] })[]
  tenders: (typeof saleTenders.$inferSelect)[]
  refunds: (typeof refunds.$inferSelect & { lines: (typeof refundLines.$inferSelect)[]; tenders: (typeof refundTenders.$inferSelect)[] })[]
  /** Levels a sale left below zero (negative stock allowed, or offline sales). */
  stockWarnings?: { variantId: string; locationId: string; onHand: number }[]
  /** Units online orders (or other holds) were counting on that the sale took (the allow policy, or offline sales). */
  holdsTaken?: HoldsTaken[]
  /** An offline sale priced beyond its cashier's role (recorded as it happened, and audited). */
  overLimit?: { code: string; message: string; details?: unknown }
}

export async function getSale(tx: Tx, merchantId: string, id: string): Promise<SaleView> {
  const [sale] = await tx.select().from(sales).where(and(eq(sales.merchantId, merchantId), eq(sales.id, id)))
  if (!sale) throw notFound('sale', id)
  // One after another: the handle may be a transaction, whose connection runs one query at a time.
  const lines = await tx.select().from(saleLines).where(eq(saleLines.saleId, id)).orderBy(asc(saleLines.lineNo))
  // Ids are time-ordered and made in order: discounts as they were applied, tenders as they were given.
  const adjustments = await tx.select().from(saleAdjustments).where(eq(saleAdjustments.saleId, id)).orderBy(asc(saleAdjustments.id))
  const tenders = await tx.select().from(saleTenders).where(eq(saleTenders.saleId, id)).orderBy(asc(saleTenders.id))
  const refundRows = await tx.select().from(refunds).where(eq(refunds.saleId, id)).orderBy(asc(refunds.recordedAt))
  const refundIds = refundRows.map((r) => r.id)
  const rLines = refundIds.length ? await tx.select().from(refundLines).where(inArray(refundLines.refundId, refundIds)).orderBy(asc(refundLines.id)) : []
  const rTenders = refundIds.length ? await tx.select().from(refundTenders).where(inArray(refundTenders.refundId, refundIds)).orderBy(asc(refundTenders.id)) : []
  return {
    ...sale,
    lines: lines.map((l) => ({
      ...l,
      adjustments: adjustments.filter((a) => a.lineId === l.id).map(({ merchantId: _m, saleId: _s, lineId: _l, ...a }) => a),
    })),
    tenders,
    refunds: refundRows.map((r) => ({ ...r, lines: rLines.filter((l) => l.refundId === r.id), tenders: rTenders.filter((t) => t.refundId === r.id) })),
  }
}

export interface SaleFilter {
  merchantId: string
  storeId?: string
  registerId?: string
  sessionId?: string
  businessDateFrom?: string
  businessDateTo?: string
  status?: 'completed' | 'voided'
  receiptNo?: string
  /**
   * A customer's sales (a statement): the sale's customer name or an on-account tender's account reference is this,
   * exactly but for case and the spaces around it.
   */
  customer?: string
  /** Sales made before this one (cursor: the last id of the previous page). */
  before?: string
  limit: number
}

const customerIs = (customer: string) => {
  const who = customer.toLowerCase()
  return sql`(lower(btrim(${sales.customerName})) = ${who} or exists (
    select 1 from ${saleTenders} t where t.sale_id = ${sales.id} and t.kind = 'on_account' and lower(btrim(t.account_ref)) = ${who}))`
}

export async function listSales(tx: Tx, f: SaleFilter) {
  const where: (SQL | undefined)[] = [
    eq(sales.merchantId, f.merchantId),
    f.storeId ? eq(sales.storeId, f.storeId) : undefined,
    f.registerId ? eq(sales.registerId, f.registerId) : undefined,
    f.sessionId ? eq(sales.sessionId, f.sessionId) : undefined,
    f.businessDateFrom ? gte(sales.businessDate, f.businessDateFrom) : undefined,
    f.businessDateTo ? lte(sales.businessDate, f.businessDateTo) : undefined,
    f.status ? eq(sales.status, f.status) : undefined,
    f.receiptNo ? eq(sales.receiptNo, f.receiptNo) : undefined,
    f.customer?.trim() ? customerIs(f.customer.trim()) : undefined,
  ]
  if (f.before) {
    // The cursor is the last sale of the previous page; the next page starts after it in time (ties by id).
    await checkRowCursor(tx, sales, f.merchantId, f.before)
    where.push(sql`(${sales.occurredAt}, ${sales.id}) < (select c.occurred_at, c.id from sales c where c.id = ${f.before})`)
  }
  const rows = await tx.select().from(sales).where(and(...where)).orderBy(desc(sales.occurredAt), desc(sales.id)).limit(f.limit + 1)
  return keysetPage(rows, f.limit, (r) => r.id)
}
