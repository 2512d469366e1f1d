import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, ledgerMismatches, seedProduct, seedStore, type SeededStore } from '../helpers/pos.ts'
import { applyMovements } from '../../src/core/stock/ledger.ts'

const tick = () => new Promise((r) => setTimeout(r, 5))

describe('stock under concurrent requests', () => {
  const hub = useTestHub({ poolSize: 40 })
  checkLedgerAfterEach(hub)

  async function shop(stock: number) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, store, { price: 1990, cost: 1000, stock })
    const manager = await m.staff('manager')
    return { m, store, item, api: createApi(hub).as(manager.token), admin: createApi(hub).as(m.adminToken) }
  }

  const level = async (variantId: string, locationId: string) => {
    const r = await hub.database.db.execute<{ on_hand: number; reserved: number }>(sql`select on_hand, reserved from stock_levels where variant_id = ${variantId} and location_id = ${locationId}`)
    return { onHand: Number(r.rows[0]!.on_hand), reserved: Number(r.rows[0]!.reserved) }
  }

  const lowestOnHand = async (variantId: string) =>
    Number((await hub.database.db.execute(sql`select min(on_hand_after)::bigint as low from stock_movements where variant_id = ${variantId}`)).rows[0]!.low)

  const sell = (store: SeededStore, lines: { variantId: string; quantity: number }[]) =>
    hub.database.db.transaction((tx) =>
      applyMovements(
        tx,
        store.actor,
        lines.map((l) => ({ variantId: l.variantId, locationId: store.locationId, quantity: -l.quantity, kind: 'sale' as const, causeType: 'sale_line' as const })),
        { policy: 'allow' },
      ),
    )

  it('ten concurrent adjustments of −1 against 5 available under the block policy: exactly 5 succeed and on-hand ends at 0, never below', async () => {
    const { m, store, item, api } = await shop(5)
    const results = await Promise.all(
      Array.from({ length: 10 }, () => api.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: -1, reason: 'damaged' }] })),
    )
    expect(results.filter((r) => r.status === 201)).toHaveLength(5)
    const refused = results.filter((r) => r.status === 409)
    expect(refused).toHaveLength(5)
    expect(refused.every((r) => r.body.error.code === 'insufficient_stock')).toBe(true)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 0, reserved: 0 })
    expect(await lowestOnHand(item.variantId)).toBe(0)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('ten concurrent transfer sends of 1 against 5 available: exactly 5 leave the source and 5 transfers are in transit', async () => {
    const { m, store, item, api, admin } = await shop(5)
    const to = (await admin.post(`/api/v1/stores/${store.storeId}/locations`, { name: 'Warehouse', kind: 'warehouse' })).body.id
    const results = await Promise.all(
      Array.from({ length: 10 }, () => api.post('/api/v1/stock/transfers', { fromLocationId: store.locationId, toLocationId: to, lines: [{ sku: item.sku, quantity: 1 }] })),
    )
    expect(results.filter((r) => r.status === 201)).toHaveLength(5)
    expect(results.filter((r) => r.status === 409)).toHaveLength(5)
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 0, reserved: 0 })
    expect(await lowestOnHand(item.variantId)).toBe(0)
    expect((await api.get('/api/v1/stock/transfers?status=in_transit')).body.items).toHaveLength(5)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('reservations and adjustments racing for the same 6 units never commit more than 6 between them', async () => {
    const { m, store, item, api } = await shop(6)
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        i % 2 === 0
          ? api.post('/api/v1/stock/reservations', { sku: item.sku, locationId: store.locationId, quantity: 1, sourceId: `order-${i}` })
          : api.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: -1, reason: 'lost' }] }),
      ),
    )
    const ok = results.filter((r) => r.status === 201)
    expect(ok).toHaveLength(6)
    expect(results.filter((r) => r.status === 409)).toHaveLength(10)
    const l = await level(item.variantId, store.locationId)
    const adjusted = ok.filter((r) => 'adjustmentId' in r.body).length
    expect(l).toEqual({ onHand: 6 - adjusted, reserved: 6 - adjusted })
    expect(l.onHand - l.reserved).toBe(0)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a count opened while sales race with it takes a consistent snapshot: a shelf that matches shows no variance', async () => {
    const { m, store, api } = await shop(0)
    for (let round = 0; round < 4; round++) {
      const item = await seedProduct(hub, store, { price: 100, stock: 20 })
      const [open] = await Promise.all([
        api.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] }),
        ...Array.from({ length: 10 }, () => sell(store, [{ variantId: item.variantId, quantity: 1 }])),
      ])
      expect(open.status).toBe(201)
      await tick()
      await api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 10 }] })
      const v = await api.get(`/api/v1/stock/counts/${open.body.id}/variance`)
      expect(v.body.lines[0]).toMatchObject({ expected: 10, counted: 10, variance: 0 })
      const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
      expect(posted.body.movementIds).toEqual([])
      expect((await level(item.variantId, store.locationId)).onHand).toBe(10)
    }
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('counts opened and posted while multi-line sales run never deadlock and leave the ledger whole', async () => {
    const { m, store, item, api } = await shop(1000)
    const b = await seedProduct(hub, store, { price: 100, stock: 1000 })
    const c = await seedProduct(hub, store, { price: 100, stock: 1000 })
    const ids = [item.variantId, b.variantId, c.variantId]
    const sales = Array.from({ length: 24 }, (_, i) =>
      sell(
        store,
        [ids[i % 3]!, ids[(i + 1) % 3]!, ids[(i + 2) % 3]!].map((variantId) => ({ variantId, quantity: 1 })),
      ),
    )
    const counting = (async () => {
      for (let i = 0; i < 3; i++) {
        const open = await api.post('/api/v1/stock/counts', { locationId: store.locationId })
        expect(open.status).toBe(201)
        await api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 500 }] })
        const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
        expect(posted.status).toBe(200)
      }
    })()
    await Promise.all([...sales, counting])
    expect((await level(b.variantId, store.locationId)).onHand).toBe(1000 - 24)
    expect((await level(item.variantId, store.locationId)).onHand).toBeLessThanOrEqual(500)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })
})
