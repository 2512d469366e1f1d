import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'

describe('stock reservations', () => {
  const hub = useTestHub({ poolSize: 20 })
  checkLedgerAfterEach(hub)

  async function shop(opts: { stock?: number } = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, store, { price: 1990, cost: 1000, stock: opts.stock ?? 10 })
    const manager = await m.staff('manager')
    const cashier = await m.staff('cashier')
    return { m, store, item, api: createApi(hub).as(manager.token), cashierApi: createApi(hub).as(cashier.token), admin: createApi(hub).as(m.adminToken) }
  }

  const level = async (variantId: string, locationId: string) => {
    const r = await hub.database.db.execute<{ on_hand: number; reserved: number }>(sql`select on_hand, reserved from stock_levels where variant_id = ${variantId} and location_id = ${locationId}`)
    return { onHand: Number(r.rows[0]!.on_hand), reserved: Number(r.rows[0]!.reserved) }
  }

  /** reserved must always equal the sum of the level's active reservations. */
  const reservedMismatches = async (merchantId: string) =>
    (
      await hub.database.db.execute(sql`
        select l.location_id, l.variant_id, l.reserved, coalesce(sum(r.quantity), 0)::bigint as held
          from stock_levels l
          left join stock_reservations r on r.location_id = l.location_id and r.variant_id = l.variant_id and r.status = 'active'
         where l.merchant_id = ${merchantId}
         group by 1, 2, 3
        having l.reserved <> coalesce(sum(r.quantity), 0)`)
    ).rows

  it('a reservation holds stock out of available, and a repeat for the same source returns the first hold', async () => {
    const { m, store, item, api } = await shop({ stock: 10 })
    const body = { sku: item.sku, locationId: store.locationId, quantity: 4, sourceType: 'shopify_order', sourceId: '#1001' }
    const r = await api.post('/api/v1/stock/reservations', body)
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ status: 'active', quantity: 4, sku: item.sku, sourceType: 'shopify_order', sourceId: '#1001', expiresAt: null })
    const levels = await api.get(`/api/v1/stock/levels?variantId=${item.variantId}`)
    expect(levels.body.items[0]).toMatchObject({ onHand: 10, reserved: 4, available: 6 })

    const repeat = await api.post('/api/v1/stock/reservations', body)
    expect(repeat.status).toBe(200)
    expect(repeat.body.id).toBe(r.body.id)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 10, reserved: 4 })

    const manual = await api.post('/api/v1/stock/reservations', { variantId: item.variantId, locationId: store.locationId, quantity: 1, sourceId: 'hold for Mrs Wang' })
    expect(manual.body.sourceType).toBe('manual')
    const list = await api.get(`/api/v1/stock/reservations?status=active&variantId=${item.variantId}`)
    expect(list.body.items.map((x: any) => x.id)).toEqual([manual.body.id, r.body.id])
    expect((await api.get(`/api/v1/stock/reservations?sourceType=shopify_order&sourceId=%231001`)).body.items.map((x: any) => x.id)).toEqual([r.body.id])
    expect((await api.get(`/api/v1/stock/reservations/${r.body.id}`)).body.quantity).toBe(4)
    expect(await reservedMismatches(m.merchantId)).toEqual([])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('an order fulfilled from a hold leaves the ledger at the variant’s cost, as every other movement does', async () => {
    const { store, item, api } = await shop()
    const r = await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 2, sourceId: 'order-cost' })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect((await api.post(`/api/v1/stock/reservations/${r.body.id}/consume`)).status).toBe(200)
    const moves = (await api.get(`/api/v1/stock/movements?variantId=${item.variantId}`)).body.items
    expect(moves.filter((x: any) => x.kind === 'reservation_consumed').map((x: any) => [x.quantity, x.unitCost, x.costPer])).toEqual([[-2, 1000, 1]])
  })

  it('a reservation never takes more than is available', async () => {
    const { m, store, item, api } = await shop({ stock: 5 })
    await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 3, sourceId: 'a' })
    const r = await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 3, sourceId: 'b' })
    expect(r.status).toBe(409)
    expect(r.body.error).toMatchObject({ code: 'insufficient_stock', details: { requested: 3 } })
    expect((await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 2, sourceId: 'b' })).status).toBe(201)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 5, reserved: 5 })
    expect(await reservedMismatches(m.merchantId)).toEqual([])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('releasing gives the stock back, twice is harmless, and a released hold cannot be consumed', async () => {
    const { m, store, item, api } = await shop({ stock: 5 })
    const r = await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 2, sourceId: 'x' })
    const released = await api.delete(`/api/v1/stock/reservations/${r.body.id}`)
    expect(released.status).toBe(200)
    expect(released.body.status).toBe('released')
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 5, reserved: 0 })
    const again = await api.delete(`/api/v1/stock/reservations/${r.body.id}`)
    expect(again.status).toBe(200)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 5, reserved: 0 })
    const consume = await api.post(`/api/v1/stock/reservations/${r.body.id}/consume`)
    expect(consume.status).toBe(409)
    expect(consume.body.error.code).toBe('reservation_released')
    expect((await api.delete('/api/v1/stock/reservations/01890a5d-ac96-774b-bcce-b302099a8057')).status).toBe(404)
    expect(await reservedMismatches(m.merchantId)).toEqual([])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a source whose hold was released (by hand or on expiry) can hold again: a new hold, the released one kept as history', async () => {
    const { m, store, item, api } = await shop({ stock: 10 })
    const body = { sku: item.sku, locationId: store.locationId, quantity: 4, sourceId: 'order-9' }
    const first = await api.post('/api/v1/stock/reservations', body)
    await api.delete(`/api/v1/stock/reservations/${first.body.id}`)
    const again = await api.post('/api/v1/stock/reservations', body)
    expect(again.status).toBe(201)
    expect(again.body).toMatchObject({ status: 'active', quantity: 4 })
    expect(again.body.id).not.toBe(first.body.id)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 10, reserved: 4 })
    // The repeat of the new hold is that hold; the released one stays released.
    const repeat = await api.post('/api/v1/stock/reservations', body)
    expect(repeat.status).toBe(200)
    expect(repeat.body.id).toBe(again.body.id)
    expect((await api.get(`/api/v1/stock/reservations/${first.body.id}`)).body.status).toBe('released')
    expect((await api.post(`/api/v1/stock/reservations/${again.body.id}/consume`)).status).toBe(200)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 6, reserved: 0 })
    expect(await reservedMismatches(m.merchantId)).toEqual([])
  })

  it('consuming a reservation takes the units off on-hand and reserved together, once', async () => {
    const { m, store, item, api } = await shop({ stock: 5 })
    const r = await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 2, sourceType: 'pickup', sourceId: 'P-9' })
    const consumed = await api.post(`/api/v1/stock/reservations/${r.body.id}/consume`)
    expect(consumed.status).toBe(200)
    expect(consumed.body).toMatchObject({ status: 'consumed', consumed: true })
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 3, reserved: 0 })
    const twice = await api.post(`/api/v1/stock/reservations/${r.body.id}/consume`)
    expect(twice.body).toMatchObject({ status: 'consumed', consumed: false })
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 3, reserved: 0 })
    const moves = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}&kind=reservation_consumed`)
    expect(moves.body.items).toEqual([expect.objectContaining({ quantity: -2, onHandAfter: 3, causeType: 'reservation', causeId: r.body.id })])
    const release = await api.delete(`/api/v1/stock/reservations/${r.body.id}`)
    expect(release.status).toBe(409)
    expect(release.body.error.code).toBe('reservation_consumed')
    expect(await reservedMismatches(m.merchantId)).toEqual([])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('concurrent reservations of the last units never hold more than is available', async () => {
    const { m, store, item, api } = await shop({ stock: 5 })
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 1, sourceId: `web-${i}` })),
    )
    expect(results.filter((r) => r.status === 201)).toHaveLength(5)
    expect(results.filter((r) => r.status === 409).every((r) => r.body.error.code === 'insufficient_stock')).toBe(true)
    expect(results.filter((r) => r.status === 409)).toHaveLength(7)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 5, reserved: 5 })
    // the same order sent three times at once still holds once
    const other = await seedProduct(hub, store, { price: 100, stock: 5 })
    const twins = await Promise.all([1, 2, 3].map(() => api.post('/api/v1/stock/reservations', { sku: other.sku, locationId: store.locationId, quantity: 2, sourceId: 'web-twin' })))
    expect(twins.map((t) => t.status).sort()).toEqual([200, 200, 201])
    expect(new Set(twins.map((t) => t.body.id)).size).toBe(1)
    expect(await level(other.variantId, store.locationId)).toEqual({ onHand: 5, reserved: 2 })
    expect(await reservedMismatches(m.merchantId)).toEqual([])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('the same reservation sent twice at once for all that is available holds once and answers both with that hold', async () => {
    const { api, store, item, m } = await shop({ stock: 2 })
    const twins = await Promise.all([1, 2].map(() => api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 2, sourceId: 'web-1001' })))
    expect(twins.map((t) => t.status).sort()).toEqual([200, 201])
    expect(twins[0]!.body.id).toBe(twins[1]!.body.id)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 2, reserved: 2 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('answers 400 for a NUL character in a text the database cannot store', async () => {
    const { api, store, item } = await shop()
    const r = await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 1, sourceId: 'order\u00001' })
    expect(r.status).toBe(400)
    expect(r.body.error.code).toBe('invalid_value')
  })

  it('refuses bad input: zero quantity, an expiry in the past, an unknown SKU, a foreign location', async () => {
    const { m, store, item, api } = await shop()
    const other = await seedMerchant(hub)
    const foreign = await seedStore(hub, other.merchantId, { openSession: false })
    expect((await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 0, sourceId: 'z' })).status).toBe(400)
    const past = await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 1, sourceId: 'z', expiresAt: '2020-01-01T00:00:00Z' })
    expect(past.status).toBe(422)
    expect(past.body.error.code).toBe('invalid_expiry')
    expect((await api.post('/api/v1/stock/reservations', { sku: 'NOPE', locationId: store.locationId, quantity: 1, sourceId: 'z' })).body.error.code).toBe('unknown_item')
    expect((await api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: foreign.locationId, quantity: 1, sourceId: 'z' })).status).toBe(404)
    expect((await api.post('/api/v1/stock/reservations', { locationId: store.locationId, quantity: 1, sourceId: 'z' })).status).toBe(400)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 10, reserved: 0 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it("a cashier cannot hold stock, and merchant B cannot see, release or consume A's reservation", async () => {
    const a = await shop()
    const b = await shop()
    expect((await a.cashierApi.post('/api/v1/stock/reservations', { sku: a.item.sku, locationId: a.store.locationId, quantity: 1, sourceId: 'c' })).status).toBe(403)
    const r = await a.api.post('/api/v1/stock/reservations', { sku: a.item.sku, locationId: a.store.locationId, quantity: 1, sourceId: 'c' })
    expect((await b.admin.get(`/api/v1/stock/reservations/${r.body.id}`)).status).toBe(404)
    expect((await b.admin.delete(`/api/v1/stock/reservations/${r.body.id}`)).status).toBe(404)
    expect((await b.admin.post(`/api/v1/stock/reservations/${r.body.id}/consume`)).status).toBe(404)
    expect((await b.admin.get('/api/v1/stock/reservations')).body.items).toEqual([])
    expect((await b.admin.post('/api/v1/stock/reservations', { sku: b.item.sku, locationId: a.store.locationId, quantity: 1, sourceId: 'c' })).status).toBe(404)
    expect(await level(a.item.variantId, a.store.locationId)).toEqual({ onHand: 10, reserved: 1 })
    expect(await ledgerMismatches(hub, a.m.merchantId)).toEqual([])
  })
})
