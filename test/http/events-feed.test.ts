// The event feed, read by a poller that follows its cursor: every committed event reaches it once, also one written
// by a transaction that commits after a later-numbered one (two tills ringing at once), and old id cursors still work.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

describe('the event feed', () => {
  const hub = useTestHub()

  it('an event of a sale that commits after a later-numbered one is read after it, never skipped', async () => {
    const m = await seedMerchant(hub)
    const storeA = await seedStore(hub, m.merchantId, { code: 'A1' })
    const storeB = await seedStore(hub, m.merchantId, { code: 'B1' })
    const itemA = await seedProduct(hub, storeA, { price: 1000, stock: 10 })
    const itemB = await seedProduct(hub, storeB, { price: 1000, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    const sell = (s: typeof storeA, sku: string) => admin.post('/api/v1/sales', { registerId: s.registerId, lines: [{ sku, quantity: 1 }], tenders: [{ kind: 'card', amount: 1000 }] })
    expect((await sell(storeA, itemA.sku)).status).toBe(201)

    // The poller: reads on from its cursor, keeping the cursor of the last event it got.
    const seen: any[] = []
    let cursor: string | undefined
    const poll = async () => {
      for (;;) {
        const page = await admin.get(`/api/v1/events?limit=2${cursor ? `&after=${cursor}` : ''}`)
        expect(page.status, JSON.stringify(page.body)).toBe(200)
        seen.push(...page.body.items)
        if (page.body.items.length) cursor = page.body.items.at(-1).cursor
        if (!page.body.nextCursor) return
        expect(page.body.nextCursor).toBe(cursor)
      }
    }
    await poll()
    const before = seen.length

    // Another connection holds register A's receipt counter (as a sale of that till in flight would): the next sale
    // at A writes its stock event, then waits; a sale at B commits meanwhile with later event ids.
    const client = await hub.database.pool.connect()
    try {
      await client.query('begin')
      await client.query('select * from receipt_sequences where register_id = $1 for update', [storeA.registerId])
      const slowA = sell(storeA, itemA.sku)
      await new Promise((r) => setTimeout(r, 300))
      expect((await sell(storeB, itemB.sku)).status).toBe(201)
      await poll()
      await client.query('commit')
      expect((await slowA).status).toBe(201)
    } finally {
      client.release()
    }
    await poll()

    // Every event of the feed reached the poller exactly once.
    const everything = (await admin.get('/api/v1/events?limit=500')).body.items
    expect(seen.map((e) => e.id).sort((a, b) => a - b)).toEqual(everything.map((e: any) => e.id).sort((a: number, b: number) => a - b))
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length)
    const types = seen.slice(before).map((e) => `${e.type}:${e.data.registerId ?? e.data.variantId}`)
    expect(types).toEqual(expect.arrayContaining([`sale.completed:${storeA.registerId}`, `stock.changed:${itemA.variantId}`, `sale.completed:${storeB.registerId}`, `stock.changed:${itemB.variantId}`]))

    // A cursor that is an event id, as the feed's cursors once were, reads on from that event.
    const fromId = (await admin.get(`/api/v1/events?limit=500&after=${everything[0].id}`)).body.items
    expect(fromId.map((e: any) => e.id)).toEqual(everything.slice(1).map((e: any) => e.id))
    expect((await admin.get('/api/v1/events?after=12-x')).status).toBe(400)
  })
})
