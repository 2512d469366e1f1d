import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, ledgerMismatches, seedProduct, seedStore, setSettings, type SeededStore } from '../helpers/pos.ts'
import { applyMovements } from '../../src/core/stock/ledger.ts'
import type { MovementKind } from '../../src/core/stock/schema.ts'

describe('stock receipts, adjustments, levels and low stock', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function shop(opts: { stock?: number; cost?: number } = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, store, { price: 1990, cost: opts.cost ?? 1000, stock: opts.stock ?? 10 })
    const manager = await m.staff('manager')
    const cashier = await m.staff('cashier')
    return { m, store, item, api: createApi(hub).as(manager.token), cashierApi: createApi(hub).as(cashier.token), admin: createApi(hub).as(m.adminToken) }
  }

  const level = async (variantId: string, locationId: string) => {
    const r = await hub.database.db.execute<{ on_hand: number; reserved: number }>(sql`select on_hand, reserved from stock_levels where variant_id = ${variantId} and location_id = ${locationId}`)
    return r.rows[0] ? { onHand: Number(r.rows[0].on_hand), reserved: Number(r.rows[0].reserved) } : undefined
  }

  const move = (store: SeededStore, variantId: string, quantity: number, kind: MovementKind, occurredAt?: Date) =>
    hub.database.db.transaction((tx) =>
      applyMovements(tx, store.actor, [{ variantId, locationId: store.locationId, quantity, kind, causeType: kind === 'return' ? 'refund_line' : 'sale_line', occurredAt }], { policy: 'allow' }),
    )

  it('a receipt adds stock at the cost paid, per the pricePer of weighed goods, and defaults to the variant cost', async () => {
    const { m, store, item, api } = await shop({ stock: 10 })
    const cheese = await seedProduct(hub, store, { price: 3980, pricePer: 1000, cost: 2500, unit: 'g' })
    const r = await api.post('/api/v1/stock/receipts', {
      locationId: store.locationId,
      reference: 'DN-2026-0042',
      note: 'morning delivery',
      lines: [
        { sku: item.sku, quantity: 5, unitCost: 900 },
        { variantId: cheese.variantId, quantity: 1333 },
      ],
    })
    expect(r.status).toBe(201)
    expect(r.body.lines[0]).toMatchObject({ sku: item.sku, quantity: 5, unitCost: 900, costPer: 1, value: 4500, onHandAfter: 15 })
    // 1333 g at ¥25.00 per kg = 3332.5 fen, rounded half up
    expect(r.body.lines[1]).toMatchObject({ sku: cheese.sku, quantity: 1333, unitCost: 2500, costPer: 1000, value: 3333, onHandAfter: 1333 })
    expect(r.body.totalValue).toBe(7833)

    const levels = await api.get(`/api/v1/stock/levels?locationId=${store.locationId}`)
    expect(levels.status).toBe(200)
    const bySku = Object.fromEntries(levels.body.items.map((l: any) => [l.sku, l]))
    expect(bySku[item.sku]).toMatchObject({ onHand: 15, reserved: 0, available: 15, safetyStock: null, low: false, storeId: store.storeId })
    expect(bySku[cheese.sku]).toMatchObject({ onHand: 1333, available: 1333 })

    const moves = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}`)
    expect(moves.body.items.map((x: any) => [x.kind, x.quantity, x.onHandAfter])).toEqual([
      ['receipt', 5, 15],
      ['receipt', 10, 10],
    ])
    expect(moves.body.items[0]).toMatchObject({ causeType: 'receipt', causeId: r.body.receiptId, reason: 'DN-2026-0042', unitCost: 900, actorType: 'user' })
    const audit = await createApi(hub).as(m.adminToken).get(`/api/v1/audit?action=stock.received`)
    expect(audit.body.items[0].details).toMatchObject({ receiptId: r.body.receiptId, note: 'morning delivery', totalValue: 7833 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('an adjustment records its reason, is audited with its cost value, and may not take available stock below zero under the block policy', async () => {
    const { m, store, item, api, admin } = await shop({ stock: 10, cost: 1000 })
    const held = await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 3, sourceId: 'order-1' })
    expect(held.status).toBe(201)

    const tooMuch = await api.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: -8, reason: 'damaged' }] })
    expect(tooMuch.status).toBe(409)
    expect(tooMuch.body.error).toMatchObject({ code: 'insufficient_stock', details: { onHand: 10, reserved: 3, requested: 8 } })
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 10, reserved: 3 })

    const ok = await api.post('/api/v1/stock/adjustments', {
      locationId: store.locationId,
      lines: [
        { sku: item.sku, quantity: -7, reason: 'damaged', note: 'water leak in the back room' },
        { variantId: item.variantId, quantity: 2, reason: 'correction' },
      ],
    })
    expect(ok.status).toBe(201)
    expect(ok.body).toMatchObject({ quantity: -5, gainValue: 2000, lossValue: -7000, netValue: -5000, stockWarnings: [] })
    expect(ok.body.lines.map((l: any) => [l.reason, l.quantity, l.value, l.onHandAfter])).toEqual([
      ['damaged', -7, -7000, 5],
      ['correction', 2, 2000, 12],
    ])
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 5, reserved: 3 })

    const moves = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}&kind=adjustment`)
    // Newest first: a level's increases are written before its decreases.
    expect(moves.body.items.map((x: any) => [x.reason, x.quantity, x.causeId])).toEqual([
      ['damaged', -7, ok.body.adjustmentId],
      ['correction', 2, ok.body.adjustmentId],
    ])
    const audit = await admin.get(`/api/v1/audit?action=stock.adjusted`)
    expect(audit.body.items).toHaveLength(1)
    expect(audit.body.items[0]).toMatchObject({ entityType: 'stock_location', entityId: store.locationId })
    expect(audit.body.items[0].details).toMatchObject({ adjustmentId: ok.body.adjustmentId, netValue: -5000, lossValue: -7000 })
    expect(audit.body.items[0].details.lines[0]).toMatchObject({ sku: item.sku, quantity: -7, reason: 'damaged', note: 'water leak in the back room', value: -7000 })
    await api.delete(`/api/v1/stock/reservations/${held.body.id}`)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('under block, an adjustment that nets to what is allowed writes its increases first, so no ledger row goes below zero', async () => {
    const { item, store, api } = await shop({ stock: 4 })
    const r = await api.post('/api/v1/stock/adjustments', {
      locationId: store.locationId,
      lines: [
        { sku: item.sku, quantity: -8, reason: 'damaged' },
        { sku: item.sku, quantity: 10, reason: 'correction' },
      ],
    })
    expect(r.status).toBe(201)
    const rows = await hub.database.db.execute<{ id: string; quantity: string; on_hand_after: string; reason: string }>(
      sql`select id, quantity, on_hand_after, reason from stock_movements where variant_id = ${item.variantId} and kind = 'adjustment' order by id`,
    )
    expect(rows.rows.map((x) => [Number(x.quantity), Number(x.on_hand_after)])).toEqual([
      [10, 14],
      [-8, 6],
    ])
    // Each line of the answer still names its own movement.
    expect(r.body.lines.map((l: { quantity: number; movementId: number }) => [l.quantity, String(l.movementId)])).toEqual([
      [-8, String(rows.rows[1]!.id)],
      [10, String(rows.rows[0]!.id)],
    ])
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 6, reserved: 0 })
  })

  it('under the allow policy an adjustment may take on-hand below zero, with a warning and a stock.negative event', async () => {
    const { m, store, item, api, admin } = await shop({ stock: 10 })
    await setSettings(hub, m.merchantId, { negativeStock: 'allow' })
    const r = await api.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: -12, reason: 'theft' }] })
    expect(r.status).toBe(201)
    expect(r.body.stockWarnings).toEqual([{ variantId: item.variantId, locationId: store.locationId, onHand: -2 }])
    const ev = await admin.get('/api/v1/events?type=stock.negative')
    expect(ev.body.items.map((e: any) => e.data)).toEqual([{ variantId: item.variantId, locationId: store.locationId, onHand: -2 }])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a level falling to its safety stock records one stock.low event and is listed as low until restocked', async () => {
    const { m, store, item, api, admin } = await shop({ stock: 10 })
    const set = await api.put('/api/v1/stock/thresholds', { locationId: store.locationId, variantId: item.variantId, safetyStock: 5 })
    expect(set.status).toBe(200)
    expect(set.body).toMatchObject({ safetyStock: 5, onHand: 10, available: 10, low: false })
    const adjust = (quantity: number) => api.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity, reason: 'lost' }] })
    const lowEvents = async () => (await admin.get('/api/v1/events?type=stock.low')).body.items

    await adjust(-4) // 6: above the threshold
    expect(await lowEvents()).toEqual([])
    expect((await api.get(`/api/v1/stock/low?locationId=${store.locationId}`)).body.items).toEqual([])
    await adjust(-1) // 5: at the threshold
    expect((await lowEvents()).map((e: any) => e.data)).toEqual([{ variantId: item.variantId, locationId: store.locationId, onHand: 5, safetyStock: 5 }])
    await adjust(-1) // 4: still low, no second event
    expect(await lowEvents()).toHaveLength(1)
    const lowList = await api.get(`/api/v1/stock/low?storeId=${store.storeId}`)
    expect(lowList.body.items.map((l: any) => [l.sku, l.onHand, l.safetyStock, l.low])).toEqual([[item.sku, 4, 5, true]])
    expect((await api.get(`/api/v1/stock/levels?lowOnly=true`)).body.items.map((l: any) => l.sku)).toEqual([item.sku])

    const restock = await api.post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 20 }] })
    expect(restock.status).toBe(201)
    expect((await api.get(`/api/v1/stock/low?locationId=${store.locationId}`)).body.items).toEqual([])
    await adjust(-19) // 24 → 5: crosses again, a second event
    expect(await lowEvents()).toHaveLength(2)

    const cleared = await api.put('/api/v1/stock/thresholds', { locationId: store.locationId, variantId: item.variantId, safetyStock: null })
    expect(cleared.body).toMatchObject({ safetyStock: null, low: false })
    const audit = await admin.get('/api/v1/audit?action=stock.threshold_set')
    expect(audit.body.items.map((a: any) => [a.details.from, a.details.to])).toEqual([
      [5, null],
      [null, 5],
    ])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a threshold can be set before a variant was ever stocked at a location', async () => {
    const { m, store, api } = await shop()
    const fresh = await seedProduct(hub, store, { price: 500 })
    const r = await api.put('/api/v1/stock/thresholds', { locationId: store.locationId, variantId: fresh.variantId, safetyStock: 2 })
    expect(r.body).toMatchObject({ onHand: 0, safetyStock: 2, low: true })
    expect((await api.get(`/api/v1/stock/low?locationId=${store.locationId}`)).body.items.map((l: any) => l.sku)).toEqual([fresh.sku])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('levels page through with a cursor and filter by store, location, SKU and variant', async () => {
    const { m, store, item, api } = await shop({ stock: 1 })
    const b = await seedProduct(hub, store, { price: 100, stock: 2 })
    const c = await seedProduct(hub, store, { price: 100, stock: 3 })
    const other = await seedStore(hub, m.merchantId, { openSession: false })
    const elsewhere = await seedProduct(hub, other, { price: 100, stock: 9 })

    const first = await api.get(`/api/v1/stock/levels?storeId=${store.storeId}&limit=2`)
    expect(first.body.items).toHaveLength(2)
    expect(first.body.nextCursor).toEqual(expect.any(String))
    const second = await api.get(`/api/v1/stock/levels?storeId=${store.storeId}&limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`)
    expect(second.body.items).toHaveLength(1)
    expect(second.body.nextCursor).toBeNull()
    expect([...first.body.items, ...second.body.items].map((l: any) => l.sku).sort()).toEqual([item.sku, b.sku, c.sku].sort())

    expect((await api.get(`/api/v1/stock/levels?sku=${c.sku}`)).body.items.map((l: any) => l.onHand)).toEqual([3])
    expect((await api.get(`/api/v1/stock/levels?variantId=${b.variantId}`)).body.items.map((l: any) => l.onHand)).toEqual([2])
    expect((await api.get(`/api/v1/stock/levels?storeId=${other.storeId}`)).body.items.map((l: any) => l.sku)).toEqual([elsewhere.sku])
    expect((await api.get(`/api/v1/stock/levels?cursor=nonsense`)).status).toBe(400)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('movements list newest first, filter by kind, location and time, and page with a cursor', async () => {
    const { m, store, item, api } = await shop({ stock: 10 })
    const day = 86_400_000
    const now = Date.now()
    await move(store, item.variantId, -2, 'sale', new Date(now - 3 * day))
    await move(store, item.variantId, 1, 'return', new Date(now - 2 * day))
    await move(store, item.variantId, -1, 'sale', new Date(now - day))

    const all = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}&locationId=${store.locationId}`)
    expect(all.body.items.map((x: any) => [x.kind, x.quantity])).toEqual([
      ['sale', -1],
      ['return', 1],
      ['sale', -2],
      ['receipt', 10],
    ])
    const ids = all.body.items.map((x: any) => x.id)
    expect([...ids].sort((a: number, b: number) => b - a)).toEqual(ids)

    const sales = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}&kind=sale`)
    expect(sales.body.items.map((x: any) => x.quantity)).toEqual([-1, -2])
    const window = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}&from=${new Date(now - 2.5 * day).toISOString()}&to=${new Date(now - 0.5 * day).toISOString()}`)
    expect(window.body.items.map((x: any) => x.kind)).toEqual(['sale', 'return'])

    const p1 = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}&limit=3`)
    expect(p1.body.items).toHaveLength(3)
    const p2 = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}&limit=3&cursor=${p1.body.nextCursor}`)
    expect(p2.body.items.map((x: any) => x.kind)).toEqual(['receipt'])
    expect(p2.body.nextCursor).toBeNull()
    for (const bad of ['abc', '0', '-1']) expect((await api.get(`/api/v1/stock/movements?cursor=${bad}`)).status, bad).toBe(400)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('reorder suggestions turn the window’s sales, returns and voids into a velocity and put the least cover first', async () => {
    const { m, store, api } = await shop()
    const day = 86_400_000
    const now = Date.now()
    // X: 32 sold and 2 returned in the window, 50 sold before it; 20 left; safety stock 10
    const x = await seedProduct(hub, store, { price: 100, stock: 100 })
    await move(store, x.variantId, -20, 'sale', new Date(now - 3 * day))
    await move(store, x.variantId, -12, 'sale', new Date(now - 10 * day))
    await move(store, x.variantId, 2, 'return', new Date(now - 5 * day))
    await move(store, x.variantId, -50, 'sale', new Date(now - 40 * day))
    await api.put('/api/v1/stock/thresholds', { locationId: store.locationId, variantId: x.variantId, safetyStock: 10 })
    // Y: 8 sold, one voided: 7 in the window; 3 left
    const y = await seedProduct(hub, store, { price: 100, stock: 10 })
    await move(store, y.variantId, -8, 'sale', new Date(now - day))
    await move(store, y.variantId, 1, 'void', new Date(now - day))
    // Z: no sales, below its safety stock
    const z = await seedProduct(hub, store, { price: 100, stock: 2 })
    await api.put('/api/v1/stock/thresholds', { locationId: store.locationId, variantId: z.variantId, safetyStock: 4 })

    const r = await api.get(`/api/v1/stock/reorder-suggestions?locationId=${store.locationId}`)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ windowDays: 28, coverDays: 14 })
    const rows = r.body.items.filter((i: any) => [x.sku, y.sku, z.sku].includes(i.sku))
    expect(rows.map((i: any) => [i.sku, i.unitsSold, i.dailyVelocity, i.available, i.daysOfCover, i.suggestedQuantity])).toEqual([
      // 7/28 = 0.25 a day; 3 last 12 days; ⌈7 × 14 / 28⌉ = ⌈3.5⌉ = 4, − 3 available = 1
      [y.sku, 7, '0.250', 3, 12, 1],
      // 30/28 = 1.0714…; 20 last ⌊18.67⌋ = 18 days; 15 + 10 safety − 20 = 5
      [x.sku, 30, '1.071', 20, 18, 5],
      // nothing sold: no cover figure, only the safety stock shortfall
      [z.sku, 0, '0.000', 2, null, 2],
    ])
    const longer = await api.get(`/api/v1/stock/reorder-suggestions?locationId=${store.locationId}&windowDays=56&coverDays=30`)
    const xs = longer.body.items.find((i: any) => i.sku === x.sku)
    // 80 sold in 56 days; ⌈80 × 30 / 56⌉ = ⌈42.86⌉ = 43; 43 + 10 − 20 = 33
    expect(xs).toMatchObject({ unitsSold: 80, dailyVelocity: '1.429', daysOfCover: 14, suggestedQuantity: 33 })
    expect((await api.get(`/api/v1/stock/reorder-suggestions?locationId=${store.locationId}&windowDays=0`)).status).toBe(400)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a return restocked into another location is netted out where the item was sold, never counted as negative sales there', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    const backroom = (await admin.post(`/api/v1/stores/${store.storeId}/locations`, { name: 'Back room', kind: 'backroom' })).body
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 3 }], tenders: [{ kind: 'card', amount: 3000 }] })).body
    const refund = await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 3, locationId: backroom.id }] })
    expect(refund.status).toBe(201)
    const at = async (locationId: string) => (await admin.get(`/api/v1/stock/reorder-suggestions?locationId=${locationId}`)).body.items.find((i: any) => i.sku === item.sku)
    expect(await at(store.locationId)).toMatchObject({ unitsSold: 0, dailyVelocity: '0.000', onHand: 7 })
    expect(await at(backroom.id)).toMatchObject({ unitsSold: 0, onHand: 3 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('the low-stock list leaves out archived products, as the reorder suggestions do', async () => {
    const { store, api, admin } = await shop()
    const gone = await seedProduct(hub, store, { price: 100, stock: 0 })
    const kept = await seedProduct(hub, store, { price: 100, stock: 0 })
    for (const v of [gone, kept]) await api.put('/api/v1/stock/thresholds', { locationId: store.locationId, variantId: v.variantId, safetyStock: 2 })
    expect((await admin.delete(`/api/v1/products/${gone.productId}`)).status).toBe(200)
    const low = (await api.get(`/api/v1/stock/low?locationId=${store.locationId}`)).body.items.map((i: any) => i.sku)
    expect(low).toContain(kept.sku)
    expect(low).not.toContain(gone.sku)
  })

  it('reorder suggestions count stock already on its way to the location, and leave out archived products', async () => {
    const { store, api, admin } = await shop()
    const now = Date.now()
    const backroom = (await admin.post(`/api/v1/stores/${store.storeId}/locations`, { name: 'Back room', kind: 'backroom' })).body
    // 28 sold in the window, 2 left: ⌈28 × 14 / 28⌉ = 14 needed, less the 2 here and the 10 on their way = 2.
    const x = await seedProduct(hub, store, { price: 100, stock: 30 })
    await move(store, x.variantId, -28, 'sale', new Date(now - 86_400_000))
    await api.post('/api/v1/stock/receipts', { locationId: backroom.id, lines: [{ sku: x.sku, quantity: 10 }] })
    const sent = await api.post('/api/v1/stock/transfers', { fromLocationId: backroom.id, toLocationId: store.locationId, lines: [{ sku: x.sku, quantity: 10 }] })
    expect(sent.status).toBe(201)
    const gone = await seedProduct(hub, store, { price: 100, stock: 20 })
    await move(store, gone.variantId, -14, 'sale', new Date(now - 86_400_000))
    expect((await admin.delete(`/api/v1/products/${gone.productId}`)).status).toBe(200)
    const items = (await api.get(`/api/v1/stock/reorder-suggestions?locationId=${store.locationId}`)).body.items
    expect(items.find((i: any) => i.sku === x.sku)).toMatchObject({ available: 2, inTransit: 10, suggestedQuantity: 2 })
    expect(items.find((i: any) => i.sku === gone.sku)).toBeUndefined()
  })

  it('bad input is refused with a 4xx in the standard error shape and changes nothing', async () => {
    const { m, store, item, api } = await shop({ stock: 10 })
    const other = await seedMerchant(hub)
    const foreign = await seedStore(hub, other.merchantId, { openSession: false })
    const post = (path: string, body: unknown) => api.post(path, body)

    const unknown = await post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: 'NO-SUCH-SKU', quantity: 1 }] })
    expect(unknown.status).toBe(422)
    expect(unknown.body.error).toMatchObject({ code: 'unknown_item', message: expect.stringContaining('NO-SUCH-SKU') })
    const zero = await post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 0, reason: 'lost' }] })
    expect(zero.status).toBe(400)
    expect(zero.body.error.code).toBe('validation_failed')
    expect(zero.body.error.details.issues[0].path).toBe('json.lines.0.quantity')
    const negativeReceipt = await post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: -1 }] })
    expect(negativeReceipt.status).toBe(400)
    const twoRefs = await post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: item.sku, variantId: item.variantId, quantity: 1 }] })
    expect(twoRefs.status).toBe(400)
    expect(twoRefs.body.error.message).toContain('exactly one of variantId, sku, barcode')
    const badReason = await post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: -1, reason: 'fell off a truck' }] })
    expect(badReason.status).toBe(400)
    const fractional = await post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 1.5 }] })
    expect(fractional.status).toBe(400)
    const foreignLocation = await post('/api/v1/stock/receipts', { locationId: foreign.locationId, lines: [{ sku: item.sku, quantity: 1 }] })
    expect(foreignLocation.status).toBe(404)
    expect(foreignLocation.body.error.code).toBe('stock_location_not_found')
    const negativeThreshold = await api.put('/api/v1/stock/thresholds', { locationId: store.locationId, variantId: item.variantId, safetyStock: -1 })
    expect(negativeThreshold.status).toBe(400)
    const noLines = await post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [] })
    expect(noLines.status).toBe(400)

    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 10, reserved: 0 })
    const moves = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}`)
    expect(moves.body.items).toHaveLength(1)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('quantities and values beyond what is counted exactly are refused with a 422, and nothing moves', async () => {
    const { m, store, item, api } = await shop({ stock: 10, cost: 1000 })
    const costly = await api.post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 2, unitCost: Number.MAX_SAFE_INTEGER }] })
    expect(costly.status).toBe(422)
    expect(costly.body.error.code).toBe('amount_out_of_range')
    // A level this close to the largest exact integer cannot take another receipt: its on-hand would stop being exact.
    await move(store, item.variantId, Number.MAX_SAFE_INTEGER - 20, 'receipt')
    const full = await api.post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 100, unitCost: 0 }] })
    expect(full.status).toBe(422)
    expect(full.body.error).toMatchObject({ code: 'quantity_out_of_range', details: { variantId: item.variantId, locationId: store.locationId } })
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: Number.MAX_SAFE_INTEGER - 10, reserved: 0 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a receipt naming its location in upper case receives into that location', async () => {
    const { store, item, api } = await shop({ stock: 10 })
    const r = await api.post('/api/v1/stock/receipts', { locationId: store.locationId.toUpperCase(), lines: [{ sku: item.sku, quantity: 1 }] })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 11, reserved: 0 })
  })

  it('refuses movement time bounds beyond the years a business day can be counted in with a 400', async () => {
    const { api } = await shop()
    for (const q of ['to=9999-12-31', 'from=9999-12-31T23:59:59-23:59', 'from=0001-01-01']) {
      const r = await api.get(`/api/v1/stock/movements?${q}`)
      expect(r.status, q).toBe(400)
      expect(r.body.error.code).toBe('validation_failed')
    }
    expect((await api.get('/api/v1/stock/movements?to=2099-12-31')).status).toBe(200)
    // Every route that takes business dates bounds them alike.
    for (const path of ['/api/v1/sales?to=9999-12-31', '/api/v1/reports/daily-sales?from=2026-01-01&to=9999-12-31']) {
      const r = await api.get(path)
      expect(r.status, path).toBe(400)
      expect(r.body.error.code).toBe('validation_failed')
    }
  })

  it('a cashier may look at stock but not receive goods, adjust stock or set thresholds', async () => {
    const { m, store, item, cashierApi } = await shop({ stock: 10 })
    expect((await cashierApi.get(`/api/v1/stock/levels?locationId=${store.locationId}`)).status).toBe(200)
    expect((await cashierApi.get(`/api/v1/stock/movements`)).status).toBe(200)
    const adjust = await cashierApi.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: -1, reason: 'lost' }] })
    expect(adjust.status).toBe(403)
    expect(adjust.body.error).toMatchObject({ code: 'permission_denied', details: { permission: 'stock.adjust', role: 'cashier' } })
    expect((await cashierApi.post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 1 }] })).status).toBe(403)
    expect((await cashierApi.put('/api/v1/stock/thresholds', { locationId: store.locationId, variantId: item.variantId, safetyStock: 1 })).status).toBe(403)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 10, reserved: 0 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it("merchant B can neither see nor move merchant A's stock", async () => {
    const a = await shop({ stock: 10 })
    const b = await shop({ stock: 4 })
    const apiB = b.admin
    expect((await apiB.get(`/api/v1/stock/levels?locationId=${a.store.locationId}`)).status).toBe(404)
    expect((await apiB.get(`/api/v1/stock/levels?storeId=${a.store.storeId}`)).status).toBe(404)
    expect((await apiB.get(`/api/v1/stock/low?locationId=${a.store.locationId}`)).status).toBe(404)
    expect((await apiB.get(`/api/v1/stock/reorder-suggestions?locationId=${a.store.locationId}`)).status).toBe(404)
    const levelsB = await apiB.get('/api/v1/stock/levels?limit=200')
    expect(levelsB.body.items.map((l: any) => l.variantId)).toEqual([b.item.variantId])
    expect((await apiB.get(`/api/v1/stock/movements?variantId=${a.item.variantId}`)).body.items).toEqual([])
    expect((await apiB.get(`/api/v1/stock/levels?variantId=${a.item.variantId}`)).body.items).toEqual([])

    const intoA = await apiB.post('/api/v1/stock/adjustments', { locationId: a.store.locationId, lines: [{ sku: b.item.sku, quantity: -1, reason: 'theft' }] })
    expect(intoA.status).toBe(404)
    const aItemInB = await apiB.post('/api/v1/stock/adjustments', { locationId: b.store.locationId, lines: [{ variantId: a.item.variantId, quantity: -1, reason: 'theft' }] })
    expect(aItemInB.status).toBe(422)
    expect(aItemInB.body.error.code).toBe('unknown_item')
    expect((await apiB.put('/api/v1/stock/thresholds', { locationId: a.store.locationId, variantId: a.item.variantId, safetyStock: 1 })).status).toBe(404)
    expect((await apiB.post('/api/v1/stock/receipts', { locationId: a.store.locationId, lines: [{ sku: b.item.sku, quantity: 1 }] })).status).toBe(404)

    expect(await level(a.item.variantId, a.store.locationId)).toEqual({ onHand: 10, reserved: 0 })
    expect(await ledgerMismatches(hub, a.m.merchantId)).toEqual([])
    expect(await ledgerMismatches(hub, b.m.merchantId)).toEqual([])
  })

  it('a receipt replayed with the same Idempotency-Key adds the stock once', async () => {
    const { m, store, item, api } = await shop({ stock: 10 })
    const body = { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 6 }] }
    const headers = { 'idempotency-key': 'delivery-77' }
    const first = await api.post('/api/v1/stock/receipts', body, { headers })
    const again = await api.post('/api/v1/stock/receipts', body, { headers })
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(again.body.receiptId).toBe(first.body.receiptId)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 16, reserved: 0 })
    const other = await api.post('/api/v1/stock/receipts', { ...body, lines: [{ sku: item.sku, quantity: 7 }] }, { headers })
    expect(other.status).toBe(422)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })
})
