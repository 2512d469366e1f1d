import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { useTestHub } from '../../helpers/db.ts'
import { seedMerchant } from '../../helpers/api.ts'
import { seedProduct, seedStore } from '../../helpers/pos.ts'
import { completeSale } from '../../../src/core/sales/checkout.ts'

describe("a sale's query plans", () => {
  const hub = useTestHub()
  const planMode = async (tx: Pick<typeof hub.database.db, 'execute'>) => (await tx.execute<{ mode: string }>(sql`select current_setting('plan_cache_mode') as mode`)).rows[0]!.mode

  it('runs on generic plans for its own transaction, and leaves the connection as it was', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 500, stock: 5 })
    // One connection, so what the sale sets is seen on the connection it ran on.
    const client = await hub.database.pool.connect()
    try {
      const db = drizzle({ client })
      expect(await planMode(db)).toBe('auto')
      const sale = await db.transaction(async (tx) => {
        const s = await completeSale(tx, store.actor, { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 1000 }] })
        expect(await planMode(tx)).toBe('force_generic_plan')
        return s
      })
      expect(sale).toMatchObject({ status: 'completed', total: 1000 })
      expect(await planMode(db)).toBe('auto')
    } finally {
      client.release()
    }
  })
})
