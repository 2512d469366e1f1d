// Goods received into a location and stock adjusted with a reason (damage, loss, theft, expiry, correction):
// movements on the ledger, valued at cost, with adjustments audited.
import type { Tx } from '../../db/client.ts'
import { invalid } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { sum } from '../../lib/money.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { costValue, requireLocation, resolveItems, stockSettings, type ItemRef } from './items.ts'
import { applyMovements, type ApplyResult } from './ledger.ts'
import { flagOrdersLosingCover } from '../channel-stock/orders.ts'

export const ADJUSTMENT_REASONS = ['damaged', 'lost', 'theft', 'expired', 'correction', 'other'] as const
export type AdjustmentReason = (typeof ADJUSTMENT_REASONS)[number]

export interface ReceiptInput {
  locationId: string
  /** The supplier's delivery note or purchase order number. */
  reference?: string
  note?: string
  lines: (ItemRef & { quantity: number; unitCost?: number })[]
  at?: Date
}

export interface StockLineResult {
  variantId: string
  sku: string
  name: string
  quantity: number
  unitCost: number
  costPer: number
  /** quantity × unit cost, in minor units (rounded half up per line). */
  value: number
  onHandAfter: number
  movementId: number
}

const positive = (n: number, what: string) => {
  if (!Number.isSafeInteger(n) || n <= 0) throw invalid('invalid_quantity', `${what} must be a positive whole number of base units`, { quantity: n })
}

/**
 * Receives goods: one 'receipt' movement per line at the cost paid (minor units per the variant's pricePer; the
 * variant's cost when not given). The receipt has no table of its own: its id is the movements' cause id and its
 * reference is their reason.
 */
export async function receiveStock(tx: Tx, actor: Actor, input: ReceiptInput) {
  await requireLocation(tx, actor.merchantId, input.locationId, { active: true })
  input.lines.forEach((l, i) => positive(l.quantity, `quantity of line ${i + 1}`))
  input.lines.forEach((l, i) => {
    if (l.unitCost !== undefined && (!Number.isSafeInteger(l.unitCost) || l.unitCost < 0)) throw invalid('invalid_amount', `unit cost of line ${i + 1} must be a whole, non-negative number of minor units`)
  })
  const items = await resolveItems(tx, actor.merchantId, input.lines)
  const receiptId = newId()
  const lines = input.lines.map((l, i) => ({ item: items[i]!, quantity: l.quantity, unitCost: l.unitCost ?? items[i]!.cost, costPer: items[i]!.pricePer }))
  const applied = await applyMovements(
    tx,
    actor,
    lines.map((l) => ({
      variantId: l.item.variantId,
      locationId: input.locationId,
      quantity: l.quantity,
      kind: 'receipt' as const,
      causeType: 'receipt' as const,
      causeId: receiptId,
      reason: input.reference ?? null,
      unitCost: l.unitCost,
      costPer: l.costPer,
      occurredAt: input.at,
    })),
    { policy: 'allow' },
  )
  const result = withAfter(lines, applied)
  const totalValue = sum(result.map((l) => l.value))
  await recordAudit(tx, actor, {
    action: 'stock.received',
    entityType: 'stock_location',
    entityId: input.locationId,
    details: { receiptId, reference: input.reference ?? null, note: input.note ?? null, totalValue, lines: result.map(auditLine) },
  })
  return { receiptId, locationId: input.locationId, reference: input.reference ?? null, note: input.note ?? null, totalValue, lines: result }
}

export interface AdjustmentInput {
  locationId: string
  lines: (ItemRef & { quantity: number; reason: AdjustmentReason; note?: string })[]
  at?: Date
}

/**
 * Adjusts stock with a reason, valued at the variant's current cost. A decrease obeys the merchant's negative-stock
 * policy: under 'block' it may not take available stock (on-hand − reserved) below zero.
 */
export async function adjustStock(tx: Tx, actor: Actor, input: AdjustmentInput) {
  await requireLocation(tx, actor.merchantId, input.locationId)
  input.lines.forEach((l, i) => {
    if (!Number.isSafeInteger(l.quantity) || l.quantity === 0) throw invalid('invalid_quantity', `quantity of line ${i + 1} must be a non-zero whole number of base units`, { quantity: l.quantity })
    if (!(ADJUSTMENT_REASONS as readonly string[]).includes(l.reason)) throw invalid('invalid_reason', `reason must be one of ${ADJUSTMENT_REASONS.join(', ')}`)
  })
  const settings = await stockSettings(tx, actor.merchantId)
  const items = await resolveItems(tx, actor.merchantId, input.lines, settings)
  const adjustmentId = newId()
  const lines = input.lines.map((l, i) => ({ item: items[i]!, quantity: l.quantity, unitCost: items[i]!.cost, costPer: items[i]!.pricePer, reason: l.reason, note: l.note ?? null }))
  const applied = await applyMovements(
    tx,
    actor,
    lines.map((l) => ({
      variantId: l.item.variantId,
      locationId: input.locationId,
      quantity: l.quantity,
      kind: 'adjustment' as const,
      causeType: 'adjustment' as const,
      causeId: adjustmentId,
      reason: l.reason,
      unitCost: l.unitCost,
      costPer: l.costPer,
      occurredAt: input.at,
    })),
    { policy: settings.negativeStock },
  )
  // Units online orders hold, taken under the allow policy: the orders left without cover are flagged, as a sale's are.
  if (applied.holdsTaken.length) await flagOrdersLosingCover(tx, actor.merchantId, applied.holdsTaken, input.at ?? new Date())
  const result = withAfter(lines, applied).map((r, i) => ({ ...r, reason: lines[i]!.reason, note: lines[i]!.note }))
  const totals = {
    quantity: sum(result.map((l) => l.quantity)),
    gainValue: sum(result.filter((l) => l.value > 0).map((l) => l.value)),
    lossValue: sum(result.filter((l) => l.value < 0).map((l) => l.value)),
    netValue: sum(result.map((l) => l.value)),
  }
  await recordAudit(tx, actor, {
    action: 'stock.adjusted',
    entityType: 'stock_location',
    entityId: input.locationId,
    details: { adjustmentId, ...totals, lines: result.map((l) => ({ ...auditLine(l), reason: l.reason, note: l.note })) },
  })
  return {
    adjustmentId,
    locationId: input.locationId,
    ...totals,
    lines: result,
    stockWarnings: applied.negatives.map((n) => ({ variantId: n.variantId, locationId: n.locationId, onHand: n.onHand })),
  }
}

/** Pairs each line with its movement and the on-hand that movement left (the ledger gives both in input order). */
function withAfter(
  lines: { item: { variantId: string; sku: string; name: string }; quantity: number; unitCost: number; costPer: number }[],
  applied: ApplyResult,
): StockLineResult[] {
  return lines.map((l, i) => ({
    variantId: l.item.variantId,
    sku: l.item.sku,
    name: l.item.name,
    quantity: l.quantity,
    unitCost: l.unitCost,
    costPer: l.costPer,
    value: costValue(l.quantity, l.unitCost, l.costPer),
    onHandAfter: applied.onHandAfter[i]!,
    movementId: applied.movementIds[i]!,
  }))
}

const auditLine = (l: StockLineResult) => ({ variantId: l.variantId, sku: l.sku, quantity: l.quantity, unitCost: l.unitCost, costPer: l.costPer, value: l.value })
