import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { createApi, seedMerchant } from '../../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../../helpers/pos.ts'
import { createShopifyConnection, createWooConnection, SHOP_LOCATION, stockLevel } from '../../helpers/channels.ts'
import { applyChannelOrder, getChannelOrder, type ChannelOrderInput } from '../../../src/core/channel-stock/orders.ts'
import { systemActor } from '../../../src/core/staff/actor.ts'

describe('online orders hold store stock', () => {
  const hub = useTestHub({ poolSize: 30 })

  async function setup(stock: number) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1990, stock })
    const shopify = await createShopifyConnection(hub, m.merchantId, { locations: [{ remote: SHOP_LOCATION, ours: [store.locationId] }] })
    const woo = await createWooConnection(hub, m.merchantId, { locationIds: [store.locationId] })
    const cashier = await m.staff('cashier')
    return { m, store, item, shopify, woo, till: createApi(hub).as(cashier.token) }
  }

  const order = (id: string, sku: string, quantity: number, over: Partial<ChannelOrderInput> = {}): ChannelOrderInput => ({
    id,
    name: `#${id}`,
    status: 'open',
    updatedAt: '2026-12-01T10:00:00Z',
    locationId: null,
    pickupLocationId: null,
    lines: [{ id: `${id}-1`, sku, externalId: null, quantity }],
    ...over,
  })

  const apply = (merchantId: string, connectionId: string, input: ChannelOrderInput) =>
    hub.database.db.transaction((tx) => applyChannelOrder(tx, systemActor(merchantId, 'test'), { merchantId, connectionId }, input, new Date()))

  it('a till and two online channels selling the last two units at once never oversell: exactly two win, the loser is refused or flagged', async () => {
    for (let round = 0; round < 5; round++) {
      const { m, store, item, shopify, woo, till } = await setup(2)
      const [sale, a, b] = await Promise.all([
        till.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'cash', amount: 2000 }] }),
        apply(m.merchantId, shopify, order(`S${round}`, item.sku, 1, { locationId: SHOP_LOCATION })),
        apply(m.merchantId, woo, order(`W${round}`, item.sku, 1)),
      ])
      const sold = sale.status === 201 ? 1 : 0
      if (sale.status !== 201) expect(sale.body.error.code).toBe('insufficient_stock')
      const held = [a, b].filter((r) => r.order.flag === null).length
      const flagged = [a, b].filter((r) => r.order.flag === 'insufficient_stock').length
      expect(sold + held).toBe(2)
      expect(held + flagged).toBe(2)
      const level = await stockLevel(hub, item.variantId, store.locationId)
      expect(level).toEqual({ onHand: 2 - sold, reserved: held })
      expect(level.onHand - level.reserved).toBe(0)
      expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
    }
  })

  it('the same order delivered three times reserves once', async () => {
    const { m, store, item, shopify } = await setup(5)
    const o = order('1001', item.sku, 2, { locationId: SHOP_LOCATION })
    await Promise.all([apply(m.merchantId, shopify, o), apply(m.merchantId, shopify, o), apply(m.merchantId, shopify, o)])
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 5, reserved: 2 })
    const r = await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from stock_reservations where merchant_id = ${m.merchantId} and status = 'active'`)
    expect(r.rows[0]!.n).toBe(1)
  })

  it('cancellation gives the stock back; an older state arriving late changes nothing', async () => {
    const { m, store, item, woo } = await setup(5)
    await apply(m.merchantId, woo, order('77', item.sku, 3))
    await apply(m.merchantId, woo, order('77', item.sku, 3, { status: 'cancelled', updatedAt: '2026-12-01T10:05:00Z' }))
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 5, reserved: 0 })
    const late = await apply(m.merchantId, woo, order('77', item.sku, 3, { updatedAt: '2026-12-01T10:01:00Z' }))
    expect(late.applied).toBe(false)
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 5, reserved: 0 })
  })

  it('fulfilment consumes the hold into one movement; a partial refund before it shrinks the hold', async () => {
    const { m, store, item, shopify } = await setup(10)
    await apply(m.merchantId, shopify, order('88', item.sku, 4, { locationId: SHOP_LOCATION }))
    await apply(m.merchantId, shopify, order('88', item.sku, 3, { locationId: SHOP_LOCATION, updatedAt: '2026-12-01T10:02:00Z' }))
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 10, reserved: 3 })
    await apply(m.merchantId, shopify, order('88', item.sku, 3, { locationId: SHOP_LOCATION, status: 'fulfilled', updatedAt: '2026-12-01T11:00:00Z' }))
    await apply(m.merchantId, shopify, order('88', item.sku, 3, { locationId: SHOP_LOCATION, status: 'fulfilled', updatedAt: '2026-12-01T11:00:00Z' }))
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 7, reserved: 0 })
    const moves = await hub.database.db.execute<{ kind: string; quantity: string }>(sql`
      select kind, quantity::text from stock_movements where variant_id = ${item.variantId} and kind <> 'receipt' order by id`)
    expect(moves.rows).toEqual([{ kind: 'reservation_consumed', quantity: '-3' }])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a line no single store can cover is held in parts across the stores that feed the location, and each part leaves or comes back', async () => {
    const m = await seedMerchant(hub)
    const [north, south] = [await seedStore(hub, m.merchantId, { code: `N${Date.now() % 100000}` }), await seedStore(hub, m.merchantId, { code: `S${Date.now() % 100000}` })]
    const item = await seedProduct(hub, north, { price: 1990, stock: 2 })
    const manager = createApi(hub).as((await m.staff('manager')).token)
    expect((await manager.post('/api/v1/stock/receipts', { locationId: south.locationId, lines: [{ sku: item.sku, quantity: 1 }] })).status).toBe(201)
    const shopify = await createShopifyConnection(hub, m.merchantId, { locations: [{ remote: SHOP_LOCATION, ours: [north.locationId, south.locationId] }] })
    const levels = async () => [await stockLevel(hub, item.variantId, north.locationId), await stockLevel(hub, item.variantId, south.locationId)]

    // 3 wanted, 2 + 1 on hand: held 2 in the north and 1 in the south.
    const held = await apply(m.merchantId, shopify, order('SPLIT', item.sku, 3, { locationId: SHOP_LOCATION }))
    expect(held.order.flag).toBeNull()
    expect(await levels()).toEqual([{ onHand: 2, reserved: 2 }, { onHand: 1, reserved: 1 }])
    // Delivered again: held once. One unit fewer: the last part made gives it back.
    await apply(m.merchantId, shopify, order('SPLIT', item.sku, 3, { locationId: SHOP_LOCATION }))
    await apply(m.merchantId, shopify, order('SPLIT', item.sku, 2, { locationId: SHOP_LOCATION, updatedAt: '2026-12-01T10:01:00Z' }))
    expect(await levels()).toEqual([{ onHand: 2, reserved: 2 }, { onHand: 1, reserved: 0 }])
    // Shipped: the goods left the north.
    await apply(m.merchantId, shopify, order('SPLIT', item.sku, 2, { locationId: SHOP_LOCATION, status: 'fulfilled', updatedAt: '2026-12-01T11:00:00Z' }))
    expect(await levels()).toEqual([{ onHand: 0, reserved: 0 }, { onHand: 1, reserved: 0 }])

    // Another order of 1 + one of 2 across both again, then cancelled: both parts come back.
    expect((await manager.post('/api/v1/stock/receipts', { locationId: north.locationId, lines: [{ sku: item.sku, quantity: 1 }] })).status).toBe(201)
    await apply(m.merchantId, shopify, order('PARTS', item.sku, 2, { locationId: SHOP_LOCATION }))
    expect(await levels()).toEqual([{ onHand: 1, reserved: 1 }, { onHand: 1, reserved: 1 }])
    // More than both have together: nothing is held, the order is flagged.
    const short = await apply(m.merchantId, shopify, order('SHORT', item.sku, 1, { locationId: SHOP_LOCATION }))
    expect(short.order.flag).toBe('insufficient_stock')
    await apply(m.merchantId, shopify, order('PARTS', item.sku, 2, { locationId: SHOP_LOCATION, status: 'cancelled', updatedAt: '2026-12-01T12:00:00Z' }))
    expect(await levels()).toEqual([{ onHand: 1, reserved: 0 }, { onHand: 1, reserved: 0 }])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('an order first seen fulfilled (after an outage) takes its units once', async () => {
    const { m, store, item, woo } = await setup(4)
    const o = order('99', item.sku, 2, { status: 'fulfilled' })
    await apply(m.merchantId, woo, o)
    await apply(m.merchantId, woo, o)
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 2, reserved: 0 })
  })

  it('lines with unknown SKUs flag the order and hold nothing for them', async () => {
    const { m, store, item, woo } = await setup(4)
    const r = await apply(m.merchantId, woo, { ...order('5', item.sku, 1), lines: [{ id: 'a', sku: item.sku, externalId: null, quantity: 1 }, { id: 'b', sku: 'NOPE', externalId: null, quantity: 1 }] })
    expect(r.order.flag).toBe('unmapped_lines')
    const full = await getChannelOrder(hub.database.db, m.merchantId, r.order.id)
    expect(full.lines.map((l) => [l.lineId, l.state])).toEqual([
      ['a', 'held'],
      ['b', 'unmapped'],
    ])
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 4, reserved: 1 })
  })

  it('a pickup order holds the pickup store’s stock and is collected at the till once, decremented once', async () => {
    const { m, store, item, shopify } = await setup(3)
    const r = await apply(m.merchantId, shopify, order('P1', item.sku, 2, { pickupLocationId: SHOP_LOCATION }))
    expect(r.order.pickup).toBe(true)
    expect(r.order.locationId).toBe(store.locationId)
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 3, reserved: 2 })
    const cashier = createApi(hub).as((await m.staff('cashier')).token)
    const first = await cashier.post(`/api/v1/channel-orders/${r.order.id}/collect`, {})
    expect(first.status).toBe(200)
    expect(first.body.status).toBe('collected')
    const again = await cashier.post(`/api/v1/channel-orders/${r.order.id}/collect`, {})
    expect(again.status).toBe(200)
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 1, reserved: 0 })
    // The marketplace reporting the order fulfilled afterwards takes nothing more.
    await apply(m.merchantId, shopify, order('P1', item.sku, 2, { pickupLocationId: SHOP_LOCATION, status: 'fulfilled', updatedAt: '2026-12-01T12:00:00Z' }))
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 1, reserved: 0 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('orders shipped in part: units that left and come off the order again flag it returned and stay flagged; a grown line is flagged at once', async () => {
    const { m, store, item, shopify } = await setup(10)
    const line = (quantity: number, shipped: number) => [{ id: 'R1-1', sku: item.sku, externalId: null, quantity, shipped }]
    const state = (quantity: number, shipped: number, at: string, status: ChannelOrderInput['status'] = 'open') => order('R1', item.sku, quantity, { locationId: SHOP_LOCATION, status, updatedAt: at, lines: line(quantity, shipped) })
    await apply(m.merchantId, shopify, state(3, 0, '2026-12-01T10:00:00Z'))
    expect((await apply(m.merchantId, shopify, state(3, 2, '2026-12-01T10:01:00Z'))).order.flag).toBeNull()
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 8, reserved: 1 })
    // Two refunded after they shipped: a person's call whether they come back; the one unshipped unit stays held.
    const refunded = await apply(m.merchantId, shopify, state(1, 2, '2026-12-01T10:02:00Z'))
    expect(refunded.order.flag).toBe('returned')
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    // The same state read again, and then the cancellation of the rest, keep the flag.
    expect((await apply(m.merchantId, shopify, state(1, 2, '2026-12-01T10:03:00Z'))).order.flag).toBe('returned')
    expect((await apply(m.merchantId, shopify, state(1, 2, '2026-12-01T10:04:00Z', 'cancelled'))).order.flag).toBe('returned')
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 8, reserved: 0 })

    // Part shipped, then the order cancelled: the shipped units came off it too.
    await apply(m.merchantId, shopify, order('C1', item.sku, 3, { locationId: SHOP_LOCATION, lines: [{ id: 'C1-1', sku: item.sku, externalId: null, quantity: 3, shipped: 0 }] }))
    await apply(m.merchantId, shopify, order('C1', item.sku, 3, { locationId: SHOP_LOCATION, updatedAt: '2026-12-01T10:01:00Z', lines: [{ id: 'C1-1', sku: item.sku, externalId: null, quantity: 3, shipped: 1 }] }))
    const cancelled = await apply(m.merchantId, shopify, order('C1', item.sku, 3, { locationId: SHOP_LOCATION, status: 'cancelled', updatedAt: '2026-12-01T10:02:00Z', lines: [{ id: 'C1-1', sku: item.sku, externalId: null, quantity: 3, shipped: 1 }] }))
    expect(cancelled.order.flag).toBe('returned')
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 7, reserved: 0 })

    // A line edited from 2 to 4 in the same state that ships one: flagged at once, and the same state again agrees.
    await apply(m.merchantId, shopify, order('G1', item.sku, 2, { locationId: SHOP_LOCATION, lines: [{ id: 'G1-1', sku: item.sku, externalId: null, quantity: 2, shipped: 0 }] }))
    const grown = order('G1', item.sku, 4, { locationId: SHOP_LOCATION, updatedAt: '2026-12-01T10:01:00Z', lines: [{ id: 'G1-1', sku: item.sku, externalId: null, quantity: 4, shipped: 1 }] })
    expect((await apply(m.merchantId, shopify, grown)).order.flag).toBe('quantity_increased')
    expect((await apply(m.merchantId, shopify, { ...grown, updatedAt: '2026-12-01T10:02:00Z' })).order.flag).toBe('quantity_increased')
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 6, reserved: 1 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a pickup order stays one when a later state does not say where it is collected (a Shopify webhook), and is collected at the till', async () => {
    const { m, store, item, shopify } = await setup(5)
    const first = await apply(m.merchantId, shopify, order('K1', item.sku, 3, { pickupLocationId: SHOP_LOCATION }))
    expect(first.order.pickup).toBe(true)
    // One handed over on Shopify, learned from a webhook that names no location.
    const part = await apply(m.merchantId, shopify, order('K1', item.sku, 3, { updatedAt: '2026-12-01T10:01:00Z', lines: [{ id: 'K1-1', sku: item.sku, externalId: null, quantity: 3, shipped: 1 }] }))
    expect([part.order.pickup, part.order.locationId]).toEqual([true, store.locationId])
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 4, reserved: 2 })
    const collected = await createApi(hub).as((await m.staff('cashier')).token).post(`/api/v1/channel-orders/${part.order.id}/collect`, {})
    expect([collected.status, collected.body.status]).toEqual([200, 'collected'])
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 2, reserved: 0 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('collecting an order that is not a pickup is refused with a clear code', async () => {
    const { m, item, woo } = await setup(3)
    const r = await apply(m.merchantId, woo, order('D1', item.sku, 1))
    const res = await createApi(hub).as(m.adminToken).post(`/api/v1/channel-orders/${r.order.id}/collect`, {})
    expect(res.status).toBe(409)
    expect(res.body.error.code).toBe('not_a_pickup_order')
  })

  it('an order whose goods left before a stock count, fulfilled after the post, leaves the count standing, held or not', async () => {
    const { m, store, item: held, shopify } = await setup(10)
    const other = await seedProduct(hub, store, { price: 1990, stock: 10 })
    const api = createApi(hub).as((await m.staff('manager')).token)
    const at = { locationId: SHOP_LOCATION, updatedAt: new Date(Date.now() - 60 * 60_000).toISOString() }
    await apply(m.merchantId, shopify, order('H1', held.sku, 2, at))
    expect(await stockLevel(hub, held.variantId, store.locationId)).toEqual({ onHand: 10, reserved: 2 })

    const open = await api.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [held.variantId, other.variantId] })
    const shipped = new Date()
    await new Promise((r) => setTimeout(r, 5))
    // Both orders' 2 units left the shelf at `shipped`; the counter finds 8 of each.
    await api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: held.sku, quantity: 8 }, { sku: other.sku, quantity: 8 }] })
    expect((await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})).status).toBe(200)
    expect(await stockLevel(hub, held.variantId, store.locationId)).toEqual({ onHand: 8, reserved: 2 })

    // The fulfilments arrive now, dated when the goods left.
    const fulfilled = { locationId: SHOP_LOCATION, status: 'fulfilled' as const, updatedAt: shipped.toISOString() }
    await apply(m.merchantId, shopify, order('H1', held.sku, 2, fulfilled))
    await apply(m.merchantId, shopify, order('N2', other.sku, 2, fulfilled))
    expect(await stockLevel(hub, held.variantId, store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    expect(await stockLevel(hub, other.variantId, store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    const holds = await hub.database.db.execute(sql`select status from stock_reservations where variant_id = ${held.variantId}`)
    expect(holds.rows.map((r) => r.status)).toEqual(['consumed'])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a fulfilment stamped ahead of our clock (the marketplace’s runs fast) is dated now, so a count entered after it sees it gone', async () => {
    const { m, store, item, woo } = await setup(10)
    const api = createApi(hub).as((await m.staff('manager')).token)
    await apply(m.merchantId, woo, order('F1', item.sku, 2, { updatedAt: new Date(Date.now() - 60_000).toISOString() }))
    const open = await api.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    await new Promise((r) => setTimeout(r, 5))
    await apply(m.merchantId, woo, order('F1', item.sku, 2, { status: 'fulfilled', updatedAt: new Date(Date.now() + 3_000).toISOString() }))
    const dated = await hub.database.db.execute(sql`select occurred_at <= now() as past from stock_movements where variant_id = ${item.variantId} and kind = 'reservation_consumed'`)
    expect(dated.rows).toEqual([{ past: true }])
    await new Promise((r) => setTimeout(r, 5))
    // The counter finds the 8 left after the goods went.
    await api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 8 }] })
    const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect(posted.body.variance.lines[0].variance).toBe(0)
    expect(await stockLevel(hub, item.variantId, store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })
})
