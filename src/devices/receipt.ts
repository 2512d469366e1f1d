// The receipt and kitchen-ticket models the printers draw, built from a recorded sale or refund through the core
// services' own reads (nothing is written). Amounts are the sale's own to the fen; a refund receipt shows what the
// refund returned, line by line, with the same shares the refund computed. A receipt of a sale voided before it
// printed (a reprint, or one that waited for its printer) carries the void, so it is never taken as proof of purchase.
import { and, desc, eq, isNull, lte } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { DomainError, notFound } from '../lib/errors.ts'
import { mulDivRound, sum } from '../lib/money.ts'
import { businessDate, localTimeOfDay } from '../lib/time.ts'
import { categoryAncestry } from '../core/catalog/products.ts'
import { getMember } from '../core/members/members.ts'
import { pointsLedger } from '../core/members/schema.ts'
import { getMerchant } from '../core/merchants/service.ts'
import { getSale, type SaleView } from '../core/sales/queries.ts'
import { refunds } from '../core/sales/schema.ts'
import { listApiKeys } from '../core/staff/api-keys.ts'
import { getUser } from '../core/staff/users.ts'
import { getRegister, getStore } from '../core/stores/service.ts'
import { label, tenderLabel } from './render/text.ts'
import type { KitchenTicket, ReceiptLine, ReceiptModel } from './types.ts'

export interface ReceiptOptions {
  /** A copy printed again at someone's request: marked REPRINT, and the points balance (today's, not the sale's) left off. */
  reprint: boolean
  /** Defaults to the merchant's time zone. */
  timeZone?: string
  /** When a reprint is made (printed in its footer); defaults to now. */
  now?: Date
}

const localDateTime = (at: Date, timeZone: string) => `${businessDate(at, timeZone)} ${localTimeOfDay(at, timeZone)}`

/** Whole base units as printed: pieces as they are, grams as kg, millilitres as L, centimetres as m ("0.350kg"). */
function formatQuantity(quantity: number, unit: string): string {
  const scaled = (per: number, digits: number, suffix: string) => `${Math.floor(quantity / per)}.${String(quantity % per).padStart(digits, '0')}${suffix}`
  if (unit === 'g') return scaled(1000, 3, 'kg')
  if (unit === 'ml') return scaled(1000, 3, 'L')
  if (unit === 'cm') return scaled(100, 2, 'm')
  return String(quantity)
}

/** What a price is per, where that is not one printed unit of the quantity (see ReceiptLine.priceUnit). */
function priceUnitOf(pricePer: number, unit: string): string {
  const natural = unit === 'g' || unit === 'ml' ? 1000 : unit === 'cm' ? 100 : 1
  if (pricePer === natural) return ''
  return unit === 'piece' ? String(pricePer) : `${pricePer}${unit}`
}

/**
 * The member's points balance right after the sale (or the refund) a receipt is of, from the points ledger: a receipt
 * printed late (the printer was offline, out of paper) still shows that, not today's balance.
 */
async function pointsBalanceAfter(tx: Tx, memberId: string, sale: SaleView, refund: SaleView['refunds'][number] | null): Promise<number> {
  const own = refund ? eq(pointsLedger.refundId, refund.id) : and(eq(pointsLedger.saleId, sale.id), isNull(pointsLedger.refundId))
  const [mine] = await tx.select({ balance: pointsLedger.balanceAfter }).from(pointsLedger).where(and(eq(pointsLedger.memberId, memberId), own)).orderBy(desc(pointsLedger.id)).limit(1)
  if (mine) return mine.balance
  // No points moved with it: the balance as it stood then.
  const at = refund?.recordedAt ?? sale.recordedAt
  const [before] = await tx.select({ balance: pointsLedger.balanceAfter }).from(pointsLedger).where(and(eq(pointsLedger.memberId, memberId), lte(pointsLedger.at, at))).orderBy(desc(pointsLedger.id)).limit(1)
  return before?.balance ?? 0
}

/** A staff member's or API key's name; `type` unknown (a refund's creator): either. Null for the hub itself. */
async function actorName(tx: Tx, merchantId: string, id: string | null, type?: 'user' | 'api_key' | 'system'): Promise<string | null> {
  if (!id || type === 'system') return null
  if (type !== 'api_key') {
    try {
      return (await getUser(tx, merchantId, id)).name
    } catch (e) {
      if (!(e instanceof DomainError && e.kind === 'not_found')) throw e
    }
    if (type === 'user') return null
  }
  const keys = await listApiKeys(tx, merchantId, { includeRevoked: true })
  return keys.find((k) => k.id === id)?.name ?? null
}

function taxesByRate(items: { rateBp: number; amount: number }[]) {
  const byRate = new Map<number, number>()
  for (const t of items) byRate.set(t.rateBp, (byRate.get(t.rateBp) ?? 0) + t.amount)
  return [...byRate].sort(([a], [b]) => b - a).map(([rateBp, amount]) => ({ rateBp, amount }))
}

/** A line's amounts as printed: the gross and discounts the price list shows, whose difference is the line's net. */
const saleLine = (l: SaleView['lines'][number]): ReceiptLine => ({
  name: l.name,
  sku: l.sku,
  quantity: formatQuantity(l.quantity, l.unit),
  unitPrice: l.unitPrice,
  priceUnit: priceUnitOf(l.pricePer, l.unit),
  gross: l.gross,
  discount: l.discountTotal,
  // Tax-inclusive: what the customer pays for the line. Tax-exclusive: the net before tax (tax is added below).
  total: l.gross - l.discountTotal,
  discountLabels: [...new Set(l.adjustments.map((a) => a.label))],
})

/**
 * The lines of one refund. A refund stores what it returned per line (its share of the line total and tax); the
 * gross is shared the same way (cumulatively over the units refunded before), so gross − discount is that return.
 */
function refundLines(sale: SaleView, refund: SaleView['refunds'][number]): ReceiptLine[] {
  const earlier = sale.refunds.slice(0, sale.refunds.indexOf(refund))
  return refund.lines.map((rl) => {
    const line = sale.lines.find((l) => l.id === rl.saleLineId)!
    const before = sum(earlier.flatMap((r) => r.lines.filter((x) => x.saleLineId === line.id).map((x) => x.quantity)))
    const net = sale.taxInclusive ? rl.amount : rl.amount - rl.taxAmount
    const share = mulDivRound(line.gross, before + rl.quantity, line.quantity) - mulDivRound(line.gross, before, line.quantity)
    const gross = line.discountTotal === 0 ? net : share
    return {
      name: line.name,
      sku: line.sku,
      quantity: formatQuantity(rl.quantity, line.unit),
      unitPrice: line.unitPrice,
      priceUnit: priceUnitOf(line.pricePer, line.unit),
      gross,
      discount: gross - net,
      total: net,
      discountLabels: [...new Set(line.adjustments.map((a) => a.label))],
    }
  })
}

async function saleIdOf(tx: Tx, merchantId: string, ref: { saleId: string } | { refundId: string }): Promise<string> {
  if ('saleId' in ref) return ref.saleId
  const [r] = await tx.select({ saleId: refunds.saleId }).from(refunds).where(and(eq(refunds.merchantId, merchantId), eq(refunds.id, ref.refundId)))
  if (!r) throw notFound('refund', ref.refundId)
  return r.saleId
}

export async function loadReceipt(tx: Tx, merchantId: string, ref: { saleId: string } | { refundId: string }, opts: ReceiptOptions): Promise<ReceiptModel> {
  const sale = await getSale(tx, merchantId, await saleIdOf(tx, merchantId, ref))
  const refund = 'refundId' in ref ? sale.refunds.find((r) => r.id === ref.refundId)! : null
  const merchant = await getMerchant(tx, merchantId)
  const timeZone = opts.timeZone ?? merchant.timeZone
  const locale = merchant.locale
  const store = await getStore(tx, merchantId, sale.storeId)
  const register = await getRegister(tx, merchantId, refund?.registerId ?? sale.registerId)
  const member = sale.memberId ? await getMember(tx, merchantId, sale.memberId) : null

  const footer = [label('thanks', locale)]
  if (opts.reprint) footer.push(`${label('reprintedAt', locale)} ${localDateTime(opts.now ?? new Date(), timeZone)}`)
  const common = {
    reprint: opts.reprint,
    // A voided sale's receipt (a reprint, or one that waited for its printer) must say so: it is no proof of purchase.
    voidedAt: !refund && sale.status === 'voided' && sale.voidedAt ? localDateTime(sale.voidedAt, timeZone) : null,
    merchantName: merchant.name,
    storeName: store.name,
    storeAddress: store.address,
    storePhone: store.phone,
    registerCode: register.code,
    currency: sale.currency,
    taxInclusive: sale.taxInclusive,
    member: member && {
      cardNo: member.cardNo,
      name: member.name,
      pointsEarned: refund ? 0 : sale.pointsEarned,
      pointsRedeemed: refund ? 0 : sale.pointsRedeemed,
      pointsBalance: opts.reprint || member.status !== 'active' ? null : await pointsBalanceAfter(tx, member.id, sale, refund),
    },
    // The merchant settings hold no e-receipt URL yet, so there is nothing to encode.
    qr: null,
    footer,
  }

  if (!refund) {
    return {
      ...common,
      kind: 'sale',
      receiptNo: sale.receiptNo,
      originalReceiptNo: null,
      printedAt: localDateTime(sale.occurredAt, timeZone),
      cashier: await actorName(tx, merchantId, sale.cashierId, sale.cashierType),
      lines: sale.lines.map(saleLine),
      subtotal: sale.grossTotal,
      discountTotal: sale.discountTotal,
      taxes: taxesByRate(sale.lines.map((l) => ({ rateBp: l.taxRateBp, amount: l.taxAmount }))),
      taxTotal: sale.taxTotal,
      total: sale.total,
      rounding: sale.roundingAdjustment,
      tenders: sale.tenders.map((t) => ({ kind: t.kind, label: tenderLabel(t.kind, locale), amount: t.amount, received: t.received })),
      change: sale.changeGiven,
    }
  }

  const lines = refundLines(sale, refund)
  const rateOf = new Map(sale.lines.map((l) => [l.id, l.taxRateBp]))
  const returned = sum(refund.lines.map((l) => l.amount))
  return {
    ...common,
    kind: 'refund',
    receiptNo: refund.refundNo,
    originalReceiptNo: sale.receiptNo,
    printedAt: localDateTime(refund.occurredAt, timeZone),
    cashier: await actorName(tx, merchantId, refund.createdBy),
    lines,
    subtotal: sum(lines.map((l) => l.gross)),
    discountTotal: sum(lines.map((l) => l.discount)),
    taxes: taxesByRate(refund.lines.map((l) => ({ rateBp: rateOf.get(l.saleLineId)!, amount: l.taxAmount }))),
    taxTotal: refund.taxTotal,
    total: returned,
    // The refund's share of the sale's cash rounding.
    rounding: refund.total - returned,
    tenders: refund.tenders.map((t) => ({ kind: t.kind, label: tenderLabel(t.kind, locale), amount: t.amount, received: null })),
    change: 0,
  }
}

export interface KitchenPrinter {
  deviceId: string
  /** The station printed on the ticket. */
  name: string
  /** Categories routed to it; a category brings its subcategories along. */
  categoryIds: string[]
}

/** One ticket per kitchen printer that has lines of the sale in its categories; printers with none get no ticket. */
export async function kitchenTickets(
  tx: Tx,
  merchantId: string,
  saleId: string,
  printers: readonly KitchenPrinter[],
  opts: { reprint: boolean; timeZone?: string },
): Promise<{ deviceId: string; ticket: KitchenTicket }[]> {
  const sale = await getSale(tx, merchantId, saleId)
  const store = await getStore(tx, merchantId, sale.storeId)
  const timeZone = opts.timeZone ?? (await getMerchant(tx, merchantId)).timeZone
  const categorized = sale.lines.filter((l) => l.categoryId !== null)
  const ancestry = await categoryAncestry(tx, merchantId, [...new Set(categorized.map((l) => l.categoryId!))])
  const out: { deviceId: string; ticket: KitchenTicket }[] = []
  for (const p of printers) {
    const routed = new Set(p.categoryIds)
    const lines = categorized.filter((l) => ancestry.get(l.categoryId!)!.some((c) => routed.has(c)))
    if (lines.length === 0) continue
    out.push({
      deviceId: p.deviceId,
      ticket: {
        reprint: opts.reprint,
        ...(sale.status === 'voided' && sale.voidedAt ? { voidedAt: localDateTime(sale.voidedAt, timeZone) } : {}),
        storeName: store.name,
        station: p.name,
        receiptNo: sale.receiptNo,
        printedAt: localDateTime(sale.occurredAt, timeZone),
        // Sale lines carry no preparation notes.
        lines: lines.map((l) => ({ name: l.name, quantity: formatQuantity(l.quantity, l.unit), note: null })),
      },
    })
  }
  return out
}
