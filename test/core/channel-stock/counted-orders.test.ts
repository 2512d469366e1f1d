// Marketplace orders whose goods left the shelf before a stock count's entry, but whose fulfilment arrives after the
// count is posted: the count already took those units off, held (reserved) or not, so the fulfilment does not again.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { createApi, seedMerchant } from '../../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore } from '../../helpers/pos.ts'
import { createShopifyConnection, SHOP_LOCATION, stockLevel } from '../../helpers/channels.ts'
import { applyChannelOrder, type ChannelOrderInput } from '../../../src/core/channel-stock/orders.ts'
import { systemActor } from '../../../src/core/staff/actor.ts'

describe('channel orders fulfilled after a stock count that saw them leave', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  const order = (id: string, sku: string, quantity: number, over: Partial<ChannelOrderInput> = {}): ChannelOrderInput => ({
    id,
    name: `#${id}`,
    status: 'open',
    updatedAt: new Date(Date.now() - 60 * 60_000).toISOString(),
    locationId: SHOP_LOCATION,
    pickupLocationId: null,
    lines: [{ id: `${id}-1`, sku, externalId: null, quantity }],
    ...over,
  })
  const apply = (merchantId: string, connectionId: string, input: ChannelOrderInput) =>
    hub.database.db.transaction((tx) => applyChannelOrder(tx, systemActor(merchantId, 'test'), { merchantId, connectionId }, input, new Date()))

  it('a held order and one never held, both shipped before the entry and fulfilled after the post, leave the count standing', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const held = await seedProduct(hub, store, { price: 1990, stock: 10 })
    const other = await seedProduct(hub, store, { price: 1990, stock: 10 })
    const shopify = await createShopifyConnection(hub, m.merchantId, { locations: [{ remote: SHOP_LOCATION, ours: [store.locationId] }] })
    const api = createApi(hub).as((await m.staff('manager')).token)
    await apply(m.merchantId, shopify, order('H1', held.sku, 2))
    expect(await stockLevel(hub, held.variantId, store.locationId)).toEqual({ onHand: 10, reserved: 2 })

    const open = await api.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [held.variantId, other.variantId] })
    const shipped = new Date()
    await new Promise((r) => setTimeout(r, 5))
    // Both orders' 2 units left the shelf at `shipped`; the counter finds 8 of each.
    await api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: held.sku, quantity: 8 }, { sku: other.sku, quantity: 8 }] })
    expect((await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})).status).toBe(200)
    expect(await stockLevel(hub, held.variantId, store.locationId)).toEqual({ onHand: 8, reserved: 2 })

    // The fulfilments arrive now, dated when the goods left.
    await apply(m.merchantId, shopify, order('H1', held.sku, 2, { status: 'fulfilled', updatedAt: shipped.toISOString() }))
    await apply(m.merchantId, shopify, order('N2', other.sku, 2, { status: 'fulfilled', updatedAt: shipped.toISOString() }))
    expect(await stockLevel(hub, held.variantId, store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    expect(await stockLevel(hub, other.variantId, store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    const holds = await hub.database.db.execute(sql`select status from stock_reservations where variant_id = ${held.variantId}`)
    expect(holds.rows.map((r) => r.status)).toEqual(['consumed'])
  })
})
