// An offline sale uploaded after an online order held the same units: the till's sale stands (offline sales take
// stock whatever is left), but the hold it left without stock is reported on the sale's result and flags the order.
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore, setSettings } from '../helpers/pos.ts'
import { createShopifyConnection, SHOP_LOCATION, stockLevel } from '../helpers/channels.ts'
import { applyChannelOrder, type ChannelOrderInput } from '../../src/core/channel-stock/orders.ts'
import { systemActor } from '../../src/core/staff/actor.ts'

describe('offline sales taking stock online orders hold', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function setup(stock: number) {
    const m = await seedMerchant(hub)
    // Opened before the offline sales of the tests were made: they go to the open session.
    const store = await seedStore(hub, m.merchantId, { openedAt: new Date(Date.now() - 2 * 3600_000) })
    const item = await seedProduct(hub, store, { price: 1990, stock })
    const connectionId = await createShopifyConnection(hub, m.merchantId, { locations: [{ remote: SHOP_LOCATION, ours: [store.locationId] }] })
    const cashier = createApi(hub).as((await m.staff('cashier')).token)
    const admin = createApi(hub).as(m.adminToken)
    const placeOrder = (id: string, quantity: number, over: Partial<ChannelOrderInput> = {}) =>
      hub.database.db.transaction((tx) =>
        applyChannelOrder(
          tx,
          systemActor(m.merchantId, 'test'),
          { merchantId: m.merchantId, connectionId },
          { id, name: `#${id}`, status: 'open', updatedAt: '2026-12-01T10:00:00Z', locationId: SHOP_LOCATION, pickupLocationId: null, lines: [{ id: `${id}-1`, sku: item.sku, externalId: null, quantity }], ...over },
          new Date(),
        ),
      )
    const sellOffline = async (quantity: number) => {
      const r = await cashier.post('/api/v1/sales/batch', {
        sales: [
          {
            id: randomUUID(),
            occurredAt: new Date(Date.now() - 10 * 60_000).toISOString(),
            registerId: store.registerId,
            lines: [{ sku: item.sku, quantity, unitPrice: 1990 }],
            tenders: [{ kind: 'cash', amount: 1990 * quantity }],
          },
        ],
      })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body.results[0].status, JSON.stringify(r.body)).toBe('accepted')
      return r.body.results[0].warnings as { code: string; message: string; details?: unknown }[]
    }
    const flags = async () => {
      const r = await admin.get('/api/v1/channel-orders')
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return Object.fromEntries(r.body.items.map((o: { name: string; flag: string | null }) => [o.name, o.flag]))
    }
    const level = () => stockLevel(hub, item.variantId, store.locationId)
    return { m, store, item, admin, placeOrder, sellOffline, flags, level }
  }

  it('a sale of the unit an order holds is recorded with a reserved_stock_taken warning, and the order is flagged insufficient_stock', async () => {
    const { m, store, item, admin, placeOrder, sellOffline, flags, level } = await setup(1)
    expect((await placeOrder('5001', 1)).order.flag).toBeNull()
    expect(await level()).toEqual({ onHand: 1, reserved: 1 })

    const warnings = await sellOffline(1)
    expect(await level()).toEqual({ onHand: 0, reserved: 1 })
    expect(warnings).toEqual([
      {
        code: 'reserved_stock_taken',
        message: expect.stringContaining(item.variantId),
        details: { variantId: item.variantId, locationId: store.locationId, onHand: 0, reserved: 1, available: -1, taken: 1 },
      },
    ])
    expect(await flags()).toEqual({ '#5001': 'insufficient_stock' })
    const flagged = await admin.get('/api/v1/channel-orders?flagged=true')
    expect(flagged.body.items.map((o: { name: string }) => o.name)).toEqual(['#5001'])
    const events = await hub.database.db.execute<{ data: { flag: string; name: string } }>(
      sql`select data from events where merchant_id = ${m.merchantId} and type = 'channel_order.flagged'`,
    )
    expect(events.rows.map((e) => e.data)).toEqual([expect.objectContaining({ name: '#5001', flag: 'insufficient_stock' })])
  })

  it('the flag stays through later states of the order while its hold is not covered, and goes when stock covers it again', async () => {
    const { store, item, admin, placeOrder, sellOffline, flags } = await setup(1)
    await placeOrder('5002', 1)
    await sellOffline(1)
    expect(await flags()).toEqual({ '#5002': 'insufficient_stock' })

    expect((await placeOrder('5002', 1, { updatedAt: '2026-12-01T10:05:00Z' })).order.flag).toBe('insufficient_stock')
    expect(await flags()).toEqual({ '#5002': 'insufficient_stock' })

    const received = await admin.post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 1 }] })
    expect(received.status, JSON.stringify(received.body)).toBe(201)
    expect((await placeOrder('5002', 1, { updatedAt: '2026-12-01T10:10:00Z' })).order.flag).toBeNull()
    expect(await flags()).toEqual({ '#5002': null })
  })

  it('of two orders holding the units, the one that held last loses the cover the sale took', async () => {
    const { item, placeOrder, sellOffline, flags, level } = await setup(2)
    await placeOrder('6001', 1)
    await placeOrder('6002', 1)
    const warnings = await sellOffline(1)
    expect(await level()).toEqual({ onHand: 1, reserved: 2 })
    expect(warnings).toEqual([expect.objectContaining({ code: 'reserved_stock_taken', details: expect.objectContaining({ variantId: item.variantId, available: -1, taken: 1 }) })])
    expect(await flags()).toEqual({ '#6001': null, '#6002': 'insufficient_stock' })
  })

  it('a sale beyond both the holds and the shelf warns of the negative stock and of the reserved stock taken', async () => {
    const { item, placeOrder, sellOffline, flags, level } = await setup(1)
    await placeOrder('7001', 1)
    const warnings = await sellOffline(2)
    expect(await level()).toEqual({ onHand: -1, reserved: 1 })
    expect(warnings.map((w) => w.code).sort()).toEqual(['negative_stock', 'reserved_stock_taken'])
    expect(warnings.find((w) => w.code === 'reserved_stock_taken')!.details).toMatchObject({ variantId: item.variantId, onHand: -1, reserved: 1, available: -2, taken: 1 })
    expect(await flags()).toEqual({ '#7001': 'insufficient_stock' })
  })

  it('a sale that leaves what the orders hold in stock warns of nothing and flags no order', async () => {
    const { placeOrder, sellOffline, flags, level } = await setup(3)
    await placeOrder('8001', 2)
    expect(await sellOffline(1)).toEqual([])
    expect(await level()).toEqual({ onHand: 2, reserved: 2 })
    expect(await flags()).toEqual({ '#8001': null })
  })

  it('a posted stock count that finds fewer units than the orders hold flags the order', async () => {
    const { store, item, admin, placeOrder, flags, level } = await setup(2)
    await placeOrder('9001', 2)
    const count = await admin.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    expect(count.status, JSON.stringify(count.body)).toBe(201)
    expect((await admin.post(`/api/v1/stock/counts/${count.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 1 }] })).status).toBe(200)
    const posted = await admin.post(`/api/v1/stock/counts/${count.body.id}/post`, {})
    expect(posted.status, JSON.stringify(posted.body)).toBe(200)
    expect(await level()).toEqual({ onHand: 1, reserved: 2 })
    expect(await flags()).toEqual({ '#9001': 'insufficient_stock' })
  })

  it('a sale at the till under the allow policy that takes the unit an order holds says so on the sale and flags the order', async () => {
    const { m, store, item, placeOrder, flags } = await setup(1)
    await setSettings(hub, m.merchantId, { negativeStock: 'allow' })
    await placeOrder('5101', 1)
    const sale = await createApi(hub).as(m.adminToken).post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 1990 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    expect(sale.body.holdsTaken).toEqual([{ variantId: item.variantId, locationId: store.locationId, onHand: 0, reserved: 1, available: -1, taken: 1 }])
    expect(await flags()).toEqual({ '#5101': 'insufficient_stock' })
  })

  it('under the allow policy, a stock adjustment or a transfer that takes the units an order holds flags the order', async () => {
    const { m, store, item, admin, placeOrder, flags, level } = await setup(3)
    await setSettings(hub, m.merchantId, { negativeStock: 'allow' })
    await placeOrder('6101', 2)
    const lost = await admin.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: -2, reason: 'damaged' }] })
    expect(lost.status, JSON.stringify(lost.body)).toBe(201)
    expect(await level()).toEqual({ onHand: 1, reserved: 2 })
    expect(await flags()).toEqual({ '#6101': 'insufficient_stock' })

    const s2 = await setup(3)
    await setSettings(hub, s2.m.merchantId, { negativeStock: 'allow' })
    await s2.placeOrder('6201', 3)
    const backroom = (await s2.admin.post(`/api/v1/stores/${s2.store.storeId}/locations`, { name: 'Back room', kind: 'backroom' })).body
    const sent = await s2.admin.post('/api/v1/stock/transfers', { fromLocationId: s2.store.locationId, toLocationId: backroom.id, lines: [{ sku: s2.item.sku, quantity: 1 }] })
    expect(sent.status, JSON.stringify(sent.body)).toBe(201)
    expect(await s2.level()).toEqual({ onHand: 2, reserved: 3 })
    expect(await s2.flags()).toEqual({ '#6201': 'insufficient_stock' })
  })
})
