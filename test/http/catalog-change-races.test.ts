// Catalog changes racing the till and each other: a variant's unit does not change under a sale or a receipt counted
// in the old one (through PATCH or the catalog import), and an import does not write back values an edit committed
// while it ran. Each race is held open deterministically: one transaction waits on a gate while the other runs.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { stringify } from 'csv-stringify/sync'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api } from '../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore, setSettings, type SeededStore } from '../helpers/pos.ts'
import type { TestHub } from '../helpers/db.ts'
import type { Tx } from '../../src/db/client.ts'
import { updateVariant } from '../../src/core/catalog/products.ts'
import { importCatalog } from '../../src/core/catalog/import-export.ts'
import { readCsv } from '../../src/core/catalog/catalog-file.ts'
import { completeSale } from '../../src/core/sales/checkout.ts'
import { receiveStock } from '../../src/core/stock/operations.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Gates of held transactions a failed test left open, opened after each test so the database can be dropped. */
const gates = new Set<() => void>()

/** Runs `work` in a transaction that stays open until `commit()`; resolves `opened` once the work is done. */
function held(hub: TestHub, work: (tx: Tx) => Promise<unknown>) {
  let commit!: () => void
  const gate = new Promise<void>((r) => (commit = r))
  gates.add(commit)
  let opened!: () => void
  const ready = new Promise<void>((r) => (opened = r))
  const done = hub.database.db.transaction(async (tx) => {
    await work(tx)
    opened()
    await gate
  })
  // A work that fails never opens the gate: its error is what the test sees.
  return { opened: Promise.race([ready, done]), commit: async () => (commit(), await done) }
}

/** Waits until a backend of this database waits on a lock (the request under test), or the request has answered. */
async function waitsOrAnswers(hub: TestHub, request: Promise<unknown>): Promise<'waits' | 'answered'> {
  let answered = false
  request.then(
    () => (answered = true),
    () => (answered = true),
  )
  for (let i = 0; i < 200; i++) {
    if (answered) return 'answered'
    const { rows } = await hub.database.db.execute<{ n: number }>(
      sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
    )
    if (rows[0]!.n > 0) return 'waits'
    await sleep(25)
  }
  throw new Error('the request neither waited on a lock nor answered')
}

const unitOf = async (hub: TestHub, variantId: string) =>
  (await hub.database.db.execute<{ unit: string }>(sql`select coalesce(v.unit, p.unit) as unit from variants v join products p on p.id = v.product_id where v.id = ${variantId}`)).rows[0]!.unit

const saleLineUnits = async (hub: TestHub, saleId: string) =>
  (await hub.database.db.execute<{ unit: string }>(sql`select unit from sale_lines where sale_id = ${saleId}`)).rows.map((r) => r.unit)

const importFile = (api: Api, rows: string[][], opts: { dryRun?: boolean } = {}) =>
  api.post(`/api/v1/catalog/import${opts.dryRun ? '?dryRun=true' : ''}`, undefined, { raw: new TextEncoder().encode(stringify(rows)), headers: { 'content-type': 'text/csv' } })

const sheet = (rows: string[][]) => readCsv(new TextEncoder().encode(stringify(rows)))

async function shop(hub: TestHub) {
  const m = await seedMerchant(hub)
  const store = await seedStore(hub, m.merchantId)
  await setSettings(hub, m.merchantId, { negativeStock: 'allow' })
  const item = await seedProduct(hub, store, { price: 1000, cost: 500 })
  return { store, item, api: createApi(hub).as(m.adminToken) }
}

const saleOf = (store: SeededStore, sku: string) => ({ registerId: store.registerId, lines: [{ sku, quantity: 2 }], tenders: [{ kind: 'wechat' as const, amount: 2000 }] })

describe('catalog changes racing sales, receipts and edits', () => {
  const hub = useTestHub()
  afterEach(() => {
    for (const open of gates) open()
    gates.clear()
  })
  checkLedgerAfterEach(hub)

  it('a unit change waits for a sale of the variant in flight, then is refused as the variant is now sold', async () => {
    const { store, item, api } = await shop(hub)
    const sale = held(hub, (tx) => completeSale(tx, store.actor, saleOf(store, item.sku)))
    await sale.opened
    const patch = api.patch(`/api/v1/variants/${item.variantId}`, { unit: 'g' })
    await waitsOrAnswers(hub, patch)
    await sale.commit()
    const r = await patch
    expect([r.status, r.body.error?.code]).toEqual([409, 'unit_in_use'])
    expect(await unitOf(hub, item.variantId)).toBe('piece')
  })

  it('a sale of a variant whose unit change is in flight waits for it and is counted in the new unit', async () => {
    const { store, item, api } = await shop(hub)
    const patch = held(hub, (tx) => updateVariant(tx, store.actor, item.variantId, { unit: 'g' }))
    await patch.opened
    const sale = api.post('/api/v1/sales', saleOf(store, item.sku))
    const state = await waitsOrAnswers(hub, sale)
    await patch.commit()
    expect(state, 'the sale did not wait for the unit change').toBe('waits')
    const s = await sale
    expect(s.status, JSON.stringify(s.body)).toBe(201)
    expect(await unitOf(hub, item.variantId)).toBe('g')
    expect(await saleLineUnits(hub, s.body.id)).toEqual(['g'])
  })

  it('a unit change waits for a receipt of the variant in flight, then is refused as the variant now has stock', async () => {
    const { store, item, api } = await shop(hub)
    const receipt = held(hub, (tx) => receiveStock(tx, store.actor, { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 5 }] }))
    await receipt.opened
    const patch = api.patch(`/api/v1/variants/${item.variantId}`, { unit: 'g' })
    await waitsOrAnswers(hub, patch)
    await receipt.commit()
    const r = await patch
    expect([r.status, r.body.error?.code]).toEqual([409, 'unit_in_use'])
    expect(await unitOf(hub, item.variantId)).toBe('piece')
  })

  it('an import changing a unit waits for a sale of the variant in flight, then reports the unit as in use', async () => {
    const { store, item, api } = await shop(hub)
    const sale = held(hub, (tx) => completeSale(tx, store.actor, saleOf(store, item.sku)))
    await sale.opened
    const imp = importFile(api, [
      ['product_key', 'product_name', 'tax_category', 'sku', 'price', 'variant_unit'],
      [item.sku, `Item ${item.sku}`, 'standard', item.sku, '10.00', 'g'],
    ])
    await waitsOrAnswers(hub, imp)
    await sale.commit()
    const r = await imp
    expect(r.status).toBe(422)
    expect(r.body.error.details.errors.map((e: any) => [e.sku, e.code])).toEqual([[item.sku, 'unit_change']])
    expect(await unitOf(hub, item.variantId)).toBe('piece')
  })

  it('a sale of a variant whose unit an import in flight changes waits for the import and is counted in the new unit', async () => {
    const { store, item, api } = await shop(hub)
    const rows = [
      ['product_key', 'product_name', 'tax_category', 'sku', 'price', 'variant_unit'],
      [item.sku, `Item ${item.sku}`, 'standard', item.sku, '10.00', 'g'],
    ]
    const imp = held(hub, async (tx) => expect((await importCatalog(tx, store.actor, sheet(rows), { dryRun: false })).applied).toBe(true))
    await imp.opened
    const sale = api.post('/api/v1/sales', saleOf(store, item.sku))
    const state = await waitsOrAnswers(hub, sale)
    await imp.commit()
    expect(state, 'the sale did not wait for the import').toBe('waits')
    const s = await sale
    expect(s.status, JSON.stringify(s.body)).toBe(201)
    expect(await unitOf(hub, item.variantId)).toBe('g')
    expect(await saleLineUnits(hub, s.body.id)).toEqual(['g'])
  })

  it('an import that only changes a price keeps an edit committed while it ran (shelf and cost)', async () => {
    const { store, item, api } = await shop(hub)
    const edit = held(hub, (tx) => updateVariant(tx, store.actor, item.variantId, { onShelf: false, cost: 650 }))
    await edit.opened
    const imp = importFile(api, [
      ['product_name', 'sku', 'price', 'cost', 'on_shelf'],
      [`Item ${item.sku}`, item.sku, '12.00', '', ''],
    ])
    await waitsOrAnswers(hub, imp)
    await edit.commit()
    const r = await imp
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    const v = (await api.get(`/api/v1/products/${item.productId}`)).body.variants[0]
    expect({ price: v.price, onShelf: v.onShelf, cost: v.cost }).toEqual({ price: 1200, onShelf: false, cost: 650 })
    // The price change is audited from the price in force when the import wrote it.
    const audit = await api.get(`/api/v1/audit?action=variant.price_changed&entityId=${item.variantId}`)
    expect(audit.body.items.map((e: any) => e.details)).toContainEqual(expect.objectContaining({ price: { from: 1000, to: 1200 }, source: 'import' }))
  })

  it('an import weighs its changes against an edit committed while it ran: a price the edit changed is audited as changed back', async () => {
    const { store, item, api } = await shop(hub)
    const edit = held(hub, (tx) => updateVariant(tx, store.actor, item.variantId, { price: 1500 }))
    await edit.opened
    // The file changes the shelf only; its price cell is the price the import would have read before the edit.
    const imp = importFile(api, [
      ['product_name', 'sku', 'price', 'on_shelf'],
      [`Item ${item.sku}`, item.sku, '10.00', 'false'],
    ])
    await waitsOrAnswers(hub, imp)
    await edit.commit()
    const r = await imp
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    const v = (await api.get(`/api/v1/products/${item.productId}`)).body.variants[0]
    // The file's price is written as the file says (price is required), measured against the price in force.
    expect({ price: v.price, onShelf: v.onShelf }).toEqual({ price: 1000, onShelf: false })
    const audit = await api.get(`/api/v1/audit?action=variant.price_changed&entityId=${item.variantId}`)
    expect(audit.body.items.map((e: any) => e.details)).toContainEqual(expect.objectContaining({ price: { from: 1500, to: 1000 }, source: 'import' }))
  })

  it('a dry run of an import does not wait for an edit in flight', async () => {
    const { store, item, api } = await shop(hub)
    const edit = held(hub, (tx) => updateVariant(tx, store.actor, item.variantId, { onShelf: false }))
    await edit.opened
    const dry = importFile(
      api,
      [
        ['product_name', 'sku', 'price'],
        [`Item ${item.sku}`, item.sku, '12.00'],
      ],
      { dryRun: true },
    )
    const state = await waitsOrAnswers(hub, dry)
    await edit.commit()
    expect(state).toBe('answered')
    expect((await dry).status).toBe(200)
  })

  it('a sale does not wait for a price edit or a price-only import of its variant in flight', async () => {
    const { store, item, api } = await shop(hub)
    const edit = held(hub, (tx) => updateVariant(tx, store.actor, item.variantId, { price: 1000, cost: 600 }))
    await edit.opened
    const during = api.post('/api/v1/sales', saleOf(store, item.sku))
    const state = await waitsOrAnswers(hub, during)
    await edit.commit()
    expect(state).toBe('answered')
    expect((await during).status).toBe(201)

    const rows = [
      ['product_name', 'sku', 'price'],
      [`Item ${item.sku}`, item.sku, '11.00'],
    ]
    const imp = held(hub, async (tx) => expect((await importCatalog(tx, store.actor, sheet(rows), { dryRun: false })).applied).toBe(true))
    await imp.opened
    // Sold at the price in force: the import's is not committed yet.
    const whileImporting = api.post('/api/v1/sales', saleOf(store, item.sku))
    const importState = await waitsOrAnswers(hub, whileImporting)
    await imp.commit()
    expect(importState).toBe('answered')
    expect((await whileImporting).status).toBe(201)
  })
})
