// Transfers between two locations of a merchant, in two steps: sending takes the stock out of the source at once
// ('transfer_out', refused under the 'block' policy like a sale that would go below available), and it stays in
// transit until the destination receives what actually arrived ('transfer_in'), with shortages and surpluses
// recorded per line. Cancelling a transfer in transit puts the stock back at the source.
import { and, desc, eq, lt, or, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { requireLocation, resolveItems, stockSettings, variantName, type ItemRef } from './items.ts'
import { applyMovements, MAX_MOVEMENT_QUANTITY } from './ledger.ts'
import { flagOrdersLosingCover } from '../channel-stock/orders.ts'
import { stockTransferLines, stockTransfers } from './schema.ts'

export type StockTransfer = typeof stockTransfers.$inferSelect

export interface TransferLineView {
  variantId: string
  sku: string
  name: string
  quantitySent: number
  /** null until received. */
  quantityReceived: number | null
  /** sent − received when fewer arrived, else 0; null until received. */
  short: number | null
  /** received − sent when more arrived, else 0; null until received. */
  over: number | null
}

export type TransferView = StockTransfer & { lines: TransferLineView[] }

export interface SendTransferInput {
  fromLocationId: string
  toLocationId: string
  lines: (ItemRef & { quantity: number })[]
  note?: string
  at?: Date
}

export async function sendTransfer(tx: Tx, actor: Actor, input: SendTransferInput): Promise<TransferView> {
  if (input.fromLocationId === input.toLocationId) throw invalid('same_location', 'a transfer needs two different locations')
  await requireLocation(tx, actor.merchantId, input.fromLocationId)
  await requireLocation(tx, actor.merchantId, input.toLocationId, { active: true })
  input.lines.forEach((l, i) => {
    if (!Number.isSafeInteger(l.quantity) || l.quantity <= 0) throw invalid('invalid_quantity', `quantity of line ${i + 1} must be a positive whole number of base units`, { quantity: l.quantity })
  })
  const settings = await stockSettings(tx, actor.merchantId)
  const items = await resolveItems(tx, actor.merchantId, input.lines, settings)
  // One line per variant: the same variant named twice is sent once with both quantities.
  const merged = new Map<string, { variantId: string; quantity: number; unitCost: number; costPer: number }>()
  input.lines.forEach((l, i) => {
    const item = items[i]!
    const m = merged.get(item.variantId) ?? { variantId: item.variantId, quantity: 0, unitCost: item.cost, costPer: item.pricePer }
    m.quantity += l.quantity
    assertLineQuantity(item.sku, m.quantity)
    merged.set(item.variantId, m)
  })
  const id = newId()
  const at = input.at ?? new Date()
  await tx.insert(stockTransfers).values({
    id,
    merchantId: actor.merchantId,
    fromLocationId: input.fromLocationId,
    toLocationId: input.toLocationId,
    status: 'in_transit',
    note: input.note ?? null,
    sentBy: actor.id,
    sentAt: at,
  })
  await tx.insert(stockTransferLines).values([...merged.values()].map((m) => ({ transferId: id, merchantId: actor.merchantId, variantId: m.variantId, quantitySent: m.quantity })))
  const applied = await applyMovements(
    tx,
    actor,
    [...merged.values()].map((m) => ({
      variantId: m.variantId,
      locationId: input.fromLocationId,
      quantity: -m.quantity,
      kind: 'transfer_out' as const,
      causeType: 'transfer' as const,
      causeId: id,
      unitCost: m.unitCost,
      costPer: m.costPer,
      occurredAt: at,
    })),
    { policy: settings.negativeStock },
  )
  // Units online orders hold, sent away under the allow policy: the orders left without cover are flagged.
  if (applied.holdsTaken.length) await flagOrdersLosingCover(tx, actor.merchantId, applied.holdsTaken, at)
  const view = await getTransfer(tx, actor.merchantId, id)
  await recordAudit(tx, actor, {
    action: 'stock.transfer_sent',
    entityType: 'stock_transfer',
    entityId: id,
    details: { fromLocationId: input.fromLocationId, toLocationId: input.toLocationId, lines: view.lines.map((l) => ({ variantId: l.variantId, sku: l.sku, quantity: l.quantitySent })) },
  })
  return view
}

/** Lines naming one variant add up to one line, which may move no more than any line may. */
function assertLineQuantity(variant: string, quantity: number) {
  if (quantity > MAX_MOVEMENT_QUANTITY) {
    throw invalid('quantity_too_large', `the lines of ${variant} add up to ${quantity} base units; one transfer line moves at most ${MAX_MOVEMENT_QUANTITY}`, { quantity, max: MAX_MOVEMENT_QUANTITY })
  }
}

async function lockTransfer(tx: Tx, merchantId: string, id: string): Promise<StockTransfer> {
  const [t] = await tx
    .select()
    .from(stockTransfers)
    .where(and(eq(stockTransfers.merchantId, merchantId), eq(stockTransfers.id, id)))
    .for('update')
  if (!t) throw notFound('stock_transfer', id)
  if (t.status !== 'in_transit') throw conflict('transfer_not_in_transit', `the transfer is already ${t.status}`, { status: t.status })
  return t
}

/** The cost each line left the source at, so both legs of a transfer carry the same value. */
async function sentCosts(tx: Tx, transferId: string) {
  const { rows } = await tx.execute<{ variant_id: string; unit_cost: number; cost_per: number }>(sql`
    select distinct on (variant_id) variant_id, unit_cost, cost_per from stock_movements
     where cause_type = 'transfer' and cause_id = ${transferId} and kind = 'transfer_out'
     order by variant_id, id`)
  return new Map(rows.map((r) => [r.variant_id, { unitCost: Number(r.unit_cost), costPer: Number(r.cost_per) }]))
}

export interface ReceiveTransferInput {
  /** What arrived per variant; omitted: everything as sent. A line of the transfer that is not listed arrived as 0. */
  lines?: { variantId: string; quantityReceived: number }[]
  at?: Date
}

export async function receiveTransfer(tx: Tx, actor: Actor, id: string, input: ReceiveTransferInput = {}): Promise<TransferView> {
  const t = await lockTransfer(tx, actor.merchantId, id)
  const lines = await tx.select().from(stockTransferLines).where(eq(stockTransferLines.transferId, id))
  const received = new Map<string, number>()
  if (input.lines) {
    const onTransfer = new Set(lines.map((l) => l.variantId))
    for (const [i, l] of input.lines.entries()) {
      if (!Number.isSafeInteger(l.quantityReceived) || l.quantityReceived < 0) {
        throw invalid('invalid_quantity', `quantityReceived of line ${i + 1} must be a whole number of base units, 0 or more`, { quantityReceived: l.quantityReceived })
      }
      const variantId = l.variantId.toLowerCase()
      if (!onTransfer.has(variantId)) throw invalid('variant_not_in_transfer', `variant ${l.variantId} was not sent on this transfer`, { variantId: l.variantId })
      received.set(variantId, (received.get(variantId) ?? 0) + l.quantityReceived)
      assertLineQuantity(variantId, received.get(variantId)!)
    }
  } else {
    for (const l of lines) received.set(l.variantId, l.quantitySent)
  }
  const at = input.at ?? new Date()
  const costs = await sentCosts(tx, id)
  await applyMovements(
    tx,
    actor,
    lines
      .filter((l) => (received.get(l.variantId) ?? 0) > 0)
      .map((l) => ({
        variantId: l.variantId,
        locationId: t.toLocationId,
        quantity: received.get(l.variantId)!,
        kind: 'transfer_in' as const,
        causeType: 'transfer' as const,
        causeId: id,
        unitCost: costs.get(l.variantId)?.unitCost ?? 0,
        costPer: costs.get(l.variantId)?.costPer ?? 1,
        occurredAt: at,
      })),
    { policy: 'allow' },
  )
  for (const l of lines) {
    await tx
      .update(stockTransferLines)
      .set({ quantityReceived: received.get(l.variantId) ?? 0 })
      .where(and(eq(stockTransferLines.transferId, id), eq(stockTransferLines.variantId, l.variantId)))
  }
  await tx.update(stockTransfers).set({ status: 'received', receivedBy: actor.id, receivedAt: at }).where(eq(stockTransfers.id, id))
  const view = await getTransfer(tx, actor.merchantId, id)
  const discrepancies = view.lines.filter((l) => l.short || l.over)
  await recordAudit(tx, actor, {
    action: 'stock.transfer_received',
    entityType: 'stock_transfer',
    entityId: id,
    details: {
      toLocationId: t.toLocationId,
      lines: view.lines.map((l) => ({ variantId: l.variantId, sku: l.sku, sent: l.quantitySent, received: l.quantityReceived })),
      discrepancies: discrepancies.map((l) => ({ variantId: l.variantId, sku: l.sku, short: l.short, over: l.over })),
    },
  })
  return view
}

/** Cancels a transfer in transit: what left the source goes back there ('transfer_in' at the source). */
export async function cancelTransfer(tx: Tx, actor: Actor, id: string, input: { at?: Date } = {}): Promise<TransferView> {
  const t = await lockTransfer(tx, actor.merchantId, id)
  const lines = await tx.select().from(stockTransferLines).where(eq(stockTransferLines.transferId, id))
  const costs = await sentCosts(tx, id)
  const at = input.at ?? new Date()
  await applyMovements(
    tx,
    actor,
    lines.map((l) => ({
      variantId: l.variantId,
      locationId: t.fromLocationId,
      quantity: l.quantitySent,
      kind: 'transfer_in' as const,
      causeType: 'transfer' as const,
      causeId: id,
      reason: 'cancelled',
      unitCost: costs.get(l.variantId)?.unitCost ?? 0,
      costPer: costs.get(l.variantId)?.costPer ?? 1,
      occurredAt: at,
    })),
    { policy: 'allow' },
  )
  await tx.update(stockTransfers).set({ status: 'cancelled' }).where(eq(stockTransfers.id, id))
  await recordAudit(tx, actor, { action: 'stock.transfer_cancelled', entityType: 'stock_transfer', entityId: id, details: { fromLocationId: t.fromLocationId, toLocationId: t.toLocationId } })
  return getTransfer(tx, actor.merchantId, id)
}

async function linesOf(tx: Tx, transferIds: string[]) {
  if (transferIds.length === 0) return new Map<string, TransferLineView[]>()
  const { rows } = await tx.execute<{ transfer_id: string; variant_id: string; sku: string; name: string; quantity_sent: number; quantity_received: number | null }>(sql`
    select tl.transfer_id, tl.variant_id, v.sku, ${variantName} as name, tl.quantity_sent, tl.quantity_received
      from stock_transfer_lines tl
      join variants v on v.id = tl.variant_id
      join products p on p.id = v.product_id
     where tl.transfer_id = any(${sql.param(transferIds)}::uuid[])
     order by v.sku`)
  const by = new Map<string, TransferLineView[]>()
  for (const r of rows) {
    const sent = Number(r.quantity_sent)
    const got = r.quantity_received === null ? null : Number(r.quantity_received)
    const list = by.get(r.transfer_id) ?? []
    list.push({
      variantId: r.variant_id,
      sku: r.sku,
      name: r.name,
      quantitySent: sent,
      quantityReceived: got,
      short: got === null ? null : Math.max(0, sent - got),
      over: got === null ? null : Math.max(0, got - sent),
    })
    by.set(r.transfer_id, list)
  }
  return by
}

export async function getTransfer(tx: Tx, merchantId: string, id: string): Promise<TransferView> {
  const [t] = await tx
    .select()
    .from(stockTransfers)
    .where(and(eq(stockTransfers.merchantId, merchantId), eq(stockTransfers.id, id)))
  if (!t) throw notFound('stock_transfer', id)
  return { ...t, lines: (await linesOf(tx, [id])).get(id) ?? [] }
}

export interface TransferFilter {
  status?: StockTransfer['status']
  /** Transfers from or to this location. */
  locationId?: string
  before?: string
  limit: number
}

export async function listTransfers(tx: Tx, merchantId: string, f: TransferFilter) {
  if (f.locationId) await requireLocation(tx, merchantId, f.locationId)
  const where: (SQL | undefined)[] = [
    eq(stockTransfers.merchantId, merchantId),
    f.status ? eq(stockTransfers.status, f.status) : undefined,
    f.locationId ? or(eq(stockTransfers.fromLocationId, f.locationId), eq(stockTransfers.toLocationId, f.locationId)) : undefined,
    f.before ? lt(stockTransfers.id, f.before) : undefined,
  ]
  const rows = await tx.select().from(stockTransfers).where(and(...where)).orderBy(desc(stockTransfers.id)).limit(f.limit + 1)
  const page = rows.slice(0, f.limit)
  const lines = await linesOf(
    tx,
    page.map((t) => t.id),
  )
  return { items: page.map((t): TransferView => ({ ...t, lines: lines.get(t.id) ?? [] })), nextCursor: rows.length > f.limit ? page[page.length - 1]!.id : null }
}
