// The daily tier review against a sale committing at the same moment: the review waits for the member the sale has
// locked and then judges the spend with that sale in it, never a downgrade computed before the sale committed.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { completeSale } from '../../src/core/sales/checkout.ts'
import { runLoyaltyDay } from '../../src/jobs/members.ts'

let phones = 0
const phone = () => `1397${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

describe('daily tier review racing a sale', () => {
  const hub = useTestHub()

  /** Waits until a session of this database waits for a lock held by another. */
  async function someoneWaitsForALock() {
    for (let i = 0; i < 500; i++) {
      const r = await hub.database.db.execute<{ n: number }>(
        sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
      )
      if (r.rows[0]!.n > 0) return
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    throw new Error('nobody waited for a lock')
  }

  it('a lapsed gold member whose qualifying sale commits while the review waits for them stays gold', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/tiers', { code: 'base', name: 'Base', rank: 0, minSpend: 0 })
    const gold = (await admin.post('/api/v1/tiers', { code: 'gold', name: 'Gold', rank: 1, minSpend: 10_000 })).body
    const item = await seedProduct(hub, store, { price: 10_000, stock: 10 })
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    // Gold with nothing spent in the window: a review on its own would lower them.
    await hub.database.db.execute(sql`update members set tier_id = ${gold.id} where id = ${member.id}`)

    let review: ReturnType<typeof runLoyaltyDay> | undefined
    await hub.database.db.transaction(async (tx) => {
      // The sale locks the member first and holds the lock until it commits, as the till does.
      await completeSale(tx, store.actor, { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 10_000 }] })
      review = runLoyaltyDay(hub, m.merchantId, new Date())
      await someoneWaitsForALock()
    })
    expect(await review).toMatchObject({ tiersReviewed: 1 })

    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier.code).toBe('gold')
    const changes = await hub.database.db.execute(sql`select reason from tier_history where member_id = ${member.id}`)
    expect(changes.rows).toEqual([])
  })
})
