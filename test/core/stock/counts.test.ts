import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { seedMerchant } from '../../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore, type SeededStore } from '../../helpers/pos.ts'
import { applyMovements } from '../../../src/core/stock/ledger.ts'
import { addCountEntries, countVariance, openCount, postCount } from '../../../src/core/stock/counts.ts'

describe('the count snapshot rule', () => {
  const hub = useTestHub()
  const db = () => hub.database.db
  const T0 = new Date('2026-11-20T02:00:00Z')
  const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000)

  async function setup(stock: number) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, store, { price: 1000, cost: 600, stock })
    return { m, store, item }
  }

  const move = (store: SeededStore, variantId: string, quantity: number, occurredAt: Date, kind: 'sale' | 'receipt' = 'sale') =>
    db().transaction((tx) =>
      applyMovements(tx, store.actor, [{ variantId, locationId: store.locationId, quantity, kind, causeType: kind === 'sale' ? 'sale_line' : 'receipt', occurredAt }], { policy: 'allow' }),
    )

  const onHand = async (variantId: string, locationId: string) =>
    Number((await db().execute(sql`select on_hand from stock_levels where variant_id = ${variantId} and location_id = ${locationId}`)).rows[0]?.on_hand ?? 0)

  it('stores on-hand and the last movement id of each level at the moment the count opens', async () => {
    const { m, store, item } = await setup(10)
    await move(store, item.variantId, -2, at(-10))
    const count = await db().transaction((tx) => openCount(tx, store.actor, { locationId: store.locationId, at: T0 }))
    const line = (await db().execute<{ snapshot_on_hand: number; snapshot_movement_id: number; unit_cost: number }>(sql`select * from stock_count_lines where count_id = ${count.id}`)).rows
    const last = (await db().execute<{ id: number }>(sql`select max(id) as id from stock_movements where variant_id = ${item.variantId}`)).rows[0]!.id
    expect(line).toEqual([expect.objectContaining({ snapshot_on_hand: 8, snapshot_movement_id: Number(last), unit_cost: 600 })])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a sale made offline before the shelf was counted, but uploaded after the entry, is still counted against it', async () => {
    const { m, store, item } = await setup(10)
    const count = await db().transaction((tx) => openCount(tx, store.actor, { locationId: store.locationId, at: T0 }))
    // The till was offline: it sold one at T0+1 min, the counter counted 9 at T0+2 min, the till uploaded at T0+5 min.
    await db().transaction((tx) => addCountEntries(tx, store.actor, count.id, { lines: [{ variantId: item.variantId, quantity: 9 }], at: at(2) }))
    await move(store, item.variantId, -1, at(1))
    // Another offline sale after the entry: the counter saw that unit on the shelf.
    await move(store, item.variantId, -1, at(3))
    const v = await db().transaction((tx) => countVariance(tx, m.merchantId, count.id))
    expect(v.lines).toEqual([expect.objectContaining({ snapshotOnHand: 10, movedSinceSnapshot: -1, expected: 9, counted: 9, variance: 0 })])
    await db().transaction((tx) => postCount(tx, store.actor, count.id, { at: at(6) }))
    expect(await onHand(item.variantId, store.locationId)).toBe(8)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('the last entry of a variant is the moment its count is compared at', async () => {
    const { m, store, item } = await setup(20)
    const count = await db().transaction((tx) => openCount(tx, store.actor, { locationId: store.locationId, at: T0 }))
    await db().transaction((tx) => addCountEntries(tx, store.actor, count.id, { lines: [{ variantId: item.variantId, quantity: 6 }], at: at(1) }))
    await move(store, item.variantId, -4, at(2))
    await db().transaction((tx) => addCountEntries(tx, store.actor, count.id, { lines: [{ variantId: item.variantId, quantity: 10 }], at: at(3) }))
    await move(store, item.variantId, -5, at(4))
    const v = await db().transaction((tx) => countVariance(tx, m.merchantId, count.id))
    // 20 − 4 sold before the last entry; 16 counted; the 5 sold afterwards are not compared
    expect(v.lines[0]).toMatchObject({ expected: 16, counted: 16, variance: 0 })
    await db().transaction((tx) => postCount(tx, store.actor, count.id, { at: at(5) }))
    expect(await onHand(item.variantId, store.locationId)).toBe(11)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a variant never stocked at the location can be counted, expecting what arrived during the count', async () => {
    const { m, store } = await setup(0)
    const fresh = await seedProduct(hub, store, { price: 300, cost: 100 })
    const count = await db().transaction((tx) => openCount(tx, store.actor, { locationId: store.locationId, variantIds: [fresh.variantId], at: T0 }))
    expect(count.lineCount).toBe(1)
    await move(store, fresh.variantId, 12, at(1), 'receipt')
    await db().transaction((tx) => addCountEntries(tx, store.actor, count.id, { lines: [{ sku: fresh.sku, quantity: 11 }], at: at(2) }))
    const v = await db().transaction((tx) => countVariance(tx, m.merchantId, count.id))
    expect(v.lines[0]).toMatchObject({ snapshotOnHand: 0, movedSinceSnapshot: 12, expected: 12, variance: -1, value: -100 })
    await db().transaction((tx) => postCount(tx, store.actor, count.id, { at: at(3) }))
    expect(await onHand(fresh.variantId, store.locationId)).toBe(11)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })
})
