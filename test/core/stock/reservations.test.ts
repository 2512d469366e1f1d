import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { seedMerchant } from '../../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../../helpers/pos.ts'
import { createReservation, fulfilReservation } from '../../../src/core/stock/reservations.ts'
import { releaseExpired } from '../../../src/jobs/stock.ts'
import { allCron, allTasks } from '../../../src/jobs/index.ts'
import type { JobContext } from '../../../src/jobs/task.ts'

describe('the stock.release-expired task', () => {
  const hub = useTestHub()
  const db = () => hub.database.db

  const runTask = () => releaseExpired.run({}, { hub, job: { id: '1', attempts: 1, maxAttempts: 5, key: null }, helpers: {} as JobContext['helpers'], signal: new AbortController().signal })

  const level = async (variantId: string, locationId: string) => {
    const r = await db().execute<{ on_hand: number; reserved: number }>(sql`select on_hand, reserved from stock_levels where variant_id = ${variantId} and location_id = ${locationId}`)
    return { onHand: Number(r.rows[0]!.on_hand), reserved: Number(r.rows[0]!.reserved) }
  }

  it('runs every five minutes from the crontab', () => {
    expect(allTasks.map((t) => t.name)).toContain('stock.release-expired')
    expect(allCron).toContainEqual(expect.objectContaining({ task: 'stock.release-expired', match: '*/5 * * * *' }))
  })

  it('releases active holds whose expiry has passed, for every merchant, and leaves the others alone', async () => {
    const now = new Date()
    const hour = 3_600_000
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    const storeA = await seedStore(hub, a.merchantId, { openSession: false })
    const storeB = await seedStore(hub, b.merchantId, { openSession: false })
    const itemA = await seedProduct(hub, storeA, { price: 100, stock: 10 })
    const itemB = await seedProduct(hub, storeB, { price: 100, stock: 10 })
    const hold = (store: typeof storeA, variantId: string, sourceId: string, quantity: number, expiresAt: Date | null) =>
      db().transaction((tx) => createReservation(tx, store.actor, { item: { variantId }, locationId: store.locationId, quantity, sourceType: 'web', sourceId, expiresAt, at: now }))

    const soon = await hold(storeA, itemA.variantId, 'a-soon', 2, new Date(now.getTime() + hour))
    const later = await hold(storeA, itemA.variantId, 'a-later', 3, new Date(now.getTime() + 5 * hour))
    const never = await hold(storeA, itemA.variantId, 'a-never', 1, null)
    const fulfilled = await hold(storeA, itemA.variantId, 'a-fulfilled', 1, new Date(now.getTime() + hour))
    await db().transaction((tx) => fulfilReservation(tx, storeA.actor, fulfilled.reservation.id))
    const other = await hold(storeB, itemB.variantId, 'b-soon', 4, new Date(now.getTime() + hour))
    expect(await level(itemA.variantId, storeA.locationId)).toEqual({ onHand: 9, reserved: 6 })

    hub.setNow(new Date(now.getTime() + 2 * hour))
    try {
      await runTask()
    } finally {
      hub.setNow(undefined)
    }
    const status = async (id: string) => (await db().execute<{ status: string }>(sql`select status from stock_reservations where id = ${id}`)).rows[0]!.status
    expect(await status(soon.reservation.id)).toBe('released')
    expect(await status(other.reservation.id)).toBe('released')
    expect(await status(later.reservation.id)).toBe('active')
    expect(await status(never.reservation.id)).toBe('active')
    expect(await status(fulfilled.reservation.id)).toBe('consumed')
    expect(await level(itemA.variantId, storeA.locationId)).toEqual({ onHand: 9, reserved: 4 })
    expect(await level(itemB.variantId, storeB.locationId)).toEqual({ onHand: 10, reserved: 0 })

    // running again changes nothing
    hub.setNow(new Date(now.getTime() + 2 * hour))
    try {
      await runTask()
    } finally {
      hub.setNow(undefined)
    }
    expect(await level(itemA.variantId, storeA.locationId)).toEqual({ onHand: 9, reserved: 4 })
    expect(await ledgerMismatches(hub, a.merchantId)).toEqual([])
    expect(await ledgerMismatches(hub, b.merchantId)).toEqual([])
  })

  it('releases more holds than fit in one batch', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, store, { price: 100, stock: 500 })
    const now = new Date()
    for (let i = 0; i < 450; i += 50) {
      await db().transaction(async (tx) => {
        for (let j = i; j < i + 50; j++) {
          await createReservation(tx, store.actor, { item: { variantId: item.variantId }, locationId: store.locationId, quantity: 1, sourceId: `bulk-${j}`, expiresAt: new Date(now.getTime() + 1000), at: now })
        }
      })
    }
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 500, reserved: 450 })
    hub.setNow(new Date(now.getTime() + 60_000))
    try {
      await runTask()
    } finally {
      hub.setNow(undefined)
    }
    expect(await level(item.variantId, store.locationId)).toEqual({ onHand: 500, reserved: 0 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })
})
