// Opening stock from another POS: each row is a quantity of a SKU (or barcode) at a location of the store, received
// onto the stock ledger as a 'receipt' movement whose cause is the import (cause_type 'import', cause_id
// "opening:<key>") with the reason "opening balance from <source>", valued at the row's unit cost (else the
// variant's cost). Stock changes only through the ledger (applyMovements), like every other receipt.
//
// The same opening stock twice does not double it: the key is a SHA-256 over the file's lines as they resolve —
// (variant, location, quantity), sorted — so the same file again, saved as CSV instead of XLSX, with its rows in
// another order or its costs corrected, is recognised and nothing is received again. A file with other quantities
// is another opening receipt and adds up; the report warns when the store's locations already hold one.
import { createHash } from 'node:crypto'
import { and, eq, inArray, like, ne, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid } from '../../lib/errors.ts'
import { MoneyError } from '../../lib/money.ts'
import { getSettings } from '../merchants/settings.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { stockLocations } from '../stores/schema.ts'
import { getStore } from '../stores/service.ts'
import { gtinKey } from '../catalog/barcodes.ts'
import { costValue } from '../stock/items.ts'
import { applyMovements, MAX_MOVEMENT_QUANTITY } from '../stock/ledger.ts'
import { stockMovements } from '../stock/schema.ts'
import { cellsOf, REQUIRED, type StockField } from './headers.ts'
import { beginImport, CHECK_STEP, checkHeader, openingReason, readAmount, readWhole, type ImportOptions, type PosImportReport } from './report.ts'
import type { Table } from './table.ts'

export interface StockSummary {
  /** These opening quantities were imported before: nothing is (or would be) received again. */
  alreadyImported: boolean
  /** "opening:<sha256>", the cause id of the movements; null when the file has problems. */
  receiptKey: string | null
  /** Lines received (or to be). */
  lines: number
  /** Rows with quantity 0: nothing to receive. */
  skippedZero: number
  /** Base units received, summed. */
  quantity: number
  /** Value at cost in minor units, summed (each line rounded half up). */
  value: number
  locations: { id: string; name: string; lines: number }[]
}

/** Lines written to the ledger per call. */
const WRITE_CHUNK = 1000

interface Line {
  line: number
  variantId: string
  sku: string
  locationId: string
  quantity: number
  unitCost: number
  costPer: number
}

const openingKey = (lines: Line[]) => {
  const h = createHash('sha256')
  for (const l of [...lines].map((x) => `${x.variantId}|${x.locationId}|${x.quantity}`).sort()) h.update(`${l}\n`)
  return `opening:${h.digest('hex')}`
}

/** Opening stock import for one store: check every row; unless a dry run or a row is bad, receive it all. */
/** A quantity's value at a cost (it goes into the summary), or null when it is not an amount counted exactly. */
function valueOf(quantity: number, unitCost: number, costPer: number): number | null {
  try {
    return costValue(quantity, unitCost, costPer)
  } catch (e) {
    if (e instanceof MoneyError) return null
    throw e
  }
}

export async function importOpeningStock(tx: Tx, actor: Actor, table: Table, opts: ImportOptions & { storeId: string }): Promise<PosImportReport<StockSummary>> {
  const merchantId = actor.merchantId
  const summary: StockSummary = { alreadyImported: false, receiptKey: null, lines: 0, skippedZero: 0, quantity: 0, value: 0, locations: [] }
  const { map, p, warnings, report } = beginImport('stock', table, opts, summary)
  const store = await getStore(tx, merchantId, opts.storeId)
  if (!checkHeader(p, table.headerLine, REQUIRED.stock, { anyOf: ['sku', 'barcode'] })) return report(false)
  const { currency } = await getSettings(tx, merchantId)

  const locations = (await tx.select().from(stockLocations).where(and(eq(stockLocations.merchantId, merchantId), eq(stockLocations.storeId, store.id)))).filter((l) => l.active)
  const byName = new Map<string, typeof locations>()
  for (const l of locations) byName.set(l.name.trim().toLowerCase(), [...(byName.get(l.name.trim().toLowerCase()) ?? []), l])
  const saleDefault = locations.find((l) => l.isSaleDefault)
  const known = locations.map((l) => l.name).join(', ') || 'none'

  // Each row on its own.
  type Draft = { line: number; sku?: string; barcode?: string; locationId: string; quantity: number; unitCost?: number }
  const drafts: Draft[] = []
  const total = table.rows.length
  for (const [i, row] of table.rows.entries()) {
    const c = cellsOf(map, row.values) as Partial<Record<StockField, string>>
    const before = p.count
    const bad = (field: StockField, code: string, message: string) => p.add(row.line, field, c[field] ?? null, code, message)
    if (!c.sku && !c.barcode) p.add(row.line, map.index.has('sku') ? 'sku' : 'barcode', null, 'missing_value', 'give the sku or the barcode of the item')
    let quantity = 0
    if (c.quantity === undefined) bad('quantity', 'missing_value', 'quantity is required')
    else {
      const n = readWhole(c.quantity, table.decimalMark)
      if (n === undefined) bad('quantity', 'invalid_quantity', `quantity is a whole number of the product's base unit (pieces, g, ml, cm), not "${c.quantity}"`)
      else if (n < 0) bad('quantity', 'negative_quantity', 'an opening quantity cannot be negative')
      else if (n > MAX_MOVEMENT_QUANTITY) bad('quantity', 'quantity_too_large', `an opening quantity is at most ${MAX_MOVEMENT_QUANTITY.toLocaleString('en')} base units a row`)
      else quantity = n
    }
    let unitCost: number | undefined
    if (c.unit_cost !== undefined) {
      unitCost = readAmount(c.unit_cost, currency, table.decimalMark)
      if (unitCost === undefined) bad('unit_cost', 'invalid_amount', `unit_cost must be an amount in ${currency} like 12.50, not "${c.unit_cost}"`)
      else if (unitCost < 0) bad('unit_cost', 'negative_amount', 'a unit cost cannot be negative')
    }
    let locationId = ''
    if (c.location === undefined) {
      if (saleDefault) locationId = saleDefault.id
      else bad('location', 'no_sale_location', `store ${store.code} has no stock location for sales; name the location`)
    } else {
      const matches = byName.get(c.location.toLowerCase()) ?? []
      if (matches.length === 1) locationId = matches[0]!.id
      else if (matches.length > 1) bad('location', 'ambiguous_location', `store ${store.code} has ${matches.length} locations named ${c.location}`)
      else bad('location', 'unknown_location', `store ${store.code} has no active location named ${c.location} (known: ${known})`)
    }
    // A row of quantity 0 is resolved and checked like the others (a mistyped SKU is a mistake either way); only
    // then is it skipped.
    if (p.count === before) drafts.push({ line: row.line, sku: c.sku, barcode: c.barcode, locationId, quantity, unitCost })
    if ((i + 1) % CHECK_STEP === 0) await opts.onProgress?.({ kind: 'stock', phase: 'check', done: i + 1, total })
  }

  // The items, by SKU and by barcode.
  const skus = [...new Set(drafts.flatMap((d) => (d.sku ? [d.sku] : [])))]
  const codes = [...new Set(drafts.flatMap((d) => (d.barcode ? [d.barcode] : [])))]
  type Item = { id: string; sku: string; cost: number; price_per: number }
  const bySku = new Map<string, Item>()
  const byCode = new Map<string, Item>()
  if (skus.length) {
    const { rows } = await tx.execute<Item>(sql`select id, sku, cost, price_per from variants where merchant_id = ${merchantId} and sku = any(${sql.param(skus)}::text[])`)
    for (const r of rows) bySku.set(r.sku, { ...r, cost: Number(r.cost) })
  }
  // A GTIN is found however it is written (a UPC-A and its EAN-13 form), as at the till.
  const byGtin = new Map<string, Item>()
  if (codes.length) {
    const gtins = codes.flatMap((c) => gtinKey(c) ?? [])
    const { rows } = await tx.execute<Item & { code: string; gtin: string | null }>(sql`
      select v.id, v.sku, v.cost, v.price_per, b.code, b.gtin from barcodes b join variants v on v.id = b.variant_id
       where b.merchant_id = ${merchantId} and (b.code = any(${sql.param(codes)}::text[]) or b.gtin = any(${sql.param(gtins)}::text[]))`)
    for (const r of rows) {
      const item = { id: r.id, sku: r.sku, cost: Number(r.cost), price_per: r.price_per }
      byCode.set(r.code, item)
      if (r.gtin) byGtin.set(r.gtin, item)
    }
  }
  const itemOfCode = (code: string) => byCode.get(code) ?? byGtin.get(gtinKey(code) ?? '')
  const lines: Line[] = []
  const seen = new Map<string, number>()
  let worth = 0
  for (const d of drafts) {
    const viaSku = d.sku ? bySku.get(d.sku) : undefined
    const viaCode = d.barcode ? itemOfCode(d.barcode) : undefined
    if (d.sku && !viaSku) {
      p.add(d.line, 'sku', d.sku, 'unknown_sku', `no product has SKU ${d.sku}${d.barcode && viaCode ? ` (barcode ${d.barcode} is SKU ${viaCode.sku})` : ''}`)
      continue
    }
    if (!d.sku && d.barcode && !viaCode) {
      p.add(d.line, 'barcode', d.barcode, 'unknown_barcode', `no product has barcode ${d.barcode}`)
      continue
    }
    if (viaSku && d.barcode && viaCode && viaCode.id !== viaSku.id) {
      p.add(d.line, 'barcode', d.barcode, 'sku_barcode_mismatch', `barcode ${d.barcode} belongs to SKU ${viaCode.sku}, not ${viaSku.sku}`)
      continue
    }
    const item = (viaSku ?? viaCode)!
    const k = `${d.locationId}/${item.id}`
    const first = seen.get(k)
    if (first !== undefined) {
      p.add(d.line, viaSku ? 'sku' : 'barcode', d.sku ?? d.barcode ?? null, 'duplicate_item', `SKU ${item.sku} at this location is also on line ${first}`)
      continue
    }
    seen.set(k, d.line)
    if (d.quantity === 0) {
      summary.skippedZero++
      continue
    }
    const unitCost = d.unitCost ?? item.cost
    const tooLarge = (message: string) => p.add(d.line, d.unitCost === undefined ? 'quantity' : 'unit_cost', String(d.unitCost === undefined ? d.quantity : unitCost), 'value_too_large', message)
    const value = valueOf(d.quantity, unitCost, item.price_per)
    if (value === null) {
      tooLarge(`${d.quantity} of SKU ${item.sku} at this cost are worth more than an amount can hold exactly`)
      continue
    }
    // The file's total is reported too: it must add up exactly, like each row.
    if (!Number.isSafeInteger(worth + value)) {
      tooLarge('the stock of the file up to this line is worth more than an amount can hold exactly: import it in parts')
      continue
    }
    worth += value
    lines.push({ line: d.line, variantId: item.id, sku: item.sku, locationId: d.locationId, quantity: d.quantity, unitCost, costPer: item.price_per })
  }
  await opts.onProgress?.({ kind: 'stock', phase: 'check', done: total, total })
  if (p.count > 0) return report(false)

  summary.receiptKey = openingKey(lines)
  summary.lines = lines.length
  summary.quantity = lines.reduce((a, l) => a + l.quantity, 0)
  summary.value = worth
  summary.locations = locations.map((l) => ({ id: l.id, name: l.name, lines: lines.filter((x) => x.locationId === l.id).length })).filter((l) => l.lines > 0)
  if (summary.skippedZero) warnings.push(`${summary.skippedZero} row${summary.skippedZero === 1 ? '' : 's'} with quantity 0 received nothing`)
  if (lines.length === 0) {
    warnings.push('the file has no quantity to receive')
    return report(false)
  }

  // Two imports of the same opening stock at once: the second waits and then finds the first's movements.
  if (!opts.dryRun) await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`${merchantId}:${summary.receiptKey}`}, 0))`)
  const [earlier] = await tx
    .select({ at: sql<string>`min(${stockMovements.recordedAt})::text` })
    .from(stockMovements)
    .where(and(eq(stockMovements.merchantId, merchantId), eq(stockMovements.causeType, 'import'), eq(stockMovements.causeId, summary.receiptKey)))
  if (earlier?.at) {
    summary.alreadyImported = true
    warnings.push(`this opening stock was imported before (${earlier.at}); nothing is received again`)
    return report(false)
  }
  const others = await tx
    .select({ n: sql<number>`count(distinct ${stockMovements.causeId})::int` })
    .from(stockMovements)
    .where(
      and(
        eq(stockMovements.merchantId, merchantId),
        eq(stockMovements.causeType, 'import'),
        like(stockMovements.causeId, 'opening:%'),
        ne(stockMovements.causeId, summary.receiptKey),
        inArray(stockMovements.locationId, summary.locations.map((l) => l.id)),
      ),
    )
  if (others[0]!.n > 0) warnings.push(`these locations already hold opening stock from ${others[0]!.n} other import${others[0]!.n === 1 ? '' : 's'}: the quantities add up`)
  if (opts.dryRun) return report(false)

  // In (location, variant) order across chunks, the ledger's own lock order, so a till selling meanwhile waits and
  // never deadlocks with the import.
  const ordered = [...lines].sort((a, b) => (a.locationId === b.locationId ? (a.variantId < b.variantId ? -1 : 1) : a.locationId < b.locationId ? -1 : 1))
  const reason = openingReason(opts.source)
  const at = opts.now ?? new Date()
  for (let i = 0; i < ordered.length; i += WRITE_CHUNK) {
    const chunk = ordered.slice(i, i + WRITE_CHUNK)
    await applyMovements(
      tx,
      actor,
      chunk.map((l) => ({
        variantId: l.variantId,
        locationId: l.locationId,
        quantity: l.quantity,
        kind: 'receipt' as const,
        causeType: 'import' as const,
        causeId: summary.receiptKey,
        reason,
        unitCost: l.unitCost,
        costPer: l.costPer,
        occurredAt: at,
      })),
      { policy: 'allow' },
    )
    await opts.onProgress?.({ kind: 'stock', phase: 'write', done: Math.min(i + WRITE_CHUNK, ordered.length), total: ordered.length })
  }
  await recordAudit(tx, actor, {
    action: 'stock.opening_imported',
    entityType: 'store',
    entityId: store.id,
    details: { source: opts.source, receiptKey: summary.receiptKey, lines: summary.lines, quantity: summary.quantity, value: summary.value },
  })
  return report(true)
}

/** A store by its code (the CLI's --store and the API's ?store=). */
export async function storeByCode(tx: Tx, merchantId: string, code: string) {
  const c = code.trim()
  const { rows } = await tx.execute<{ id: string }>(sql`select id from stores where merchant_id = ${merchantId} and lower(code) = lower(${c}) order by (code = ${c}) desc limit 1`)
  if (rows.length === 0) throw invalid('unknown_store', `no store has code ${code}`)
  return rows[0]!.id
}
