import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { seedMerchant } from '../../helpers/api.ts'
import { seedProduct, seedStore } from '../../helpers/pos.ts'
import { applyMovements } from '../../../src/core/stock/ledger.ts'

describe('the stock ledger with a large catalogue', () => {
  const hub = useTestHub()
  const db = () => hub.database.db

  /** Sequential scans of stock_levels so far, every backend's flushed. */
  const seqScans = async () => Number((await db().execute<{ n: number }>(sql`select seq_scan as n from pg_stat_user_tables where relname = 'stock_levels'`)).rows[0]!.n)

  it('a sale reads and changes only its own levels, however many levels the merchant has', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const a = await seedProduct(hub, store, { price: 1000, cost: 600, stock: 100 })
    const b = await seedProduct(hub, store, { price: 500, cost: 200, stock: 50 })
    // The levels of a catalogue of 5,000 more variants at this location (keys only: constraints are off while seeding).
    await db().transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`)
      await tx.execute(sql`
        insert into stock_levels (merchant_id, variant_id, location_id, on_hand, reserved)
        select ${m.merchantId}, gen_random_uuid(), ${store.locationId}, 1, 0 from generate_series(1, 5000)`)
    })
    await db().execute(sql`analyze stock_levels`)
    const before = await seqScans()

    // More sales than PostgreSQL plans afresh before it keeps one generic plan of a statement.
    for (let i = 0; i < 8; i++) {
      await db().transaction(async (tx) => {
        await applyMovements(
          tx,
          store.actor,
          [
            { variantId: a.variantId, locationId: store.locationId, quantity: -2, kind: 'sale', causeType: 'sale_line' },
            { variantId: b.variantId, locationId: store.locationId, quantity: -1, kind: 'sale', causeType: 'sale_line' },
          ],
          { policy: 'block' },
        )
        // This backend's counters reach the statistics when the transaction ends, not up to seconds later.
        await tx.execute(sql`select pg_stat_force_next_flush()`)
      })
    }

    expect(await seqScans()).toBe(before)
    const levels = await db().execute<{ variant_id: string; on_hand: number }>(sql`
      select variant_id, on_hand from stock_levels where variant_id in (${a.variantId}, ${b.variantId}) order by on_hand desc`)
    expect(levels.rows.map((r) => [r.variant_id, Number(r.on_hand)])).toEqual([
      [a.variantId, 84],
      [b.variantId, 42],
    ])
    const moved = await db().execute<{ n: number; total: number }>(sql`
      select count(*)::int as n, sum(quantity)::int as total from stock_movements where variant_id in (${a.variantId}, ${b.variantId}) and kind = 'sale'`)
    expect(moved.rows[0]).toEqual({ n: 16, total: -24 })
  })
})
