// A member's standing under a void and a merge: voiding the sale that lifted a member to a tier brings them back down
// at once (as a full refund does); points adjusted by hand while the member is merged away are refused or move with
// the merge, never left on the merged member.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

let phones = 0
const phone = () => `1376${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

describe('members under voids and merges', () => {
  const hub = useTestHub()

  /** Members whose balance is not what their ledger and lots say. */
  const unbalanced = async (merchantId: string) =>
    (
      await hub.database.db.execute(sql`
        select m.id from members m
         where m.merchant_id = ${merchantId}
           and (m.points_balance <> coalesce((select sum(delta) from points_ledger l where l.member_id = m.id), 0)
             or m.points_balance <> coalesce((select sum(remaining) from points_lots l where l.member_id = m.id), 0))`)
    ).rows

  it('a void of the sale that lifted a member to gold brings them back down at once, and the till stops giving its discount', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/tiers', { code: 'normal', name: 'Normal', rank: 0, minSpend: 0 })
    await admin.post('/api/v1/tiers', { code: 'gold', name: 'Gold', rank: 1, minSpend: 10_000, discountBp: 1000 })
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    const item = await seedProduct(hub, store, { price: 20_000, stock: 10 })
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 20_000 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier.code).toBe('gold')
    const v = await admin.post(`/api/v1/sales/${sale.body.id}/void`, { reason: 'rang up the wrong member' })
    expect([v.status, v.body.status]).toEqual([200, 'voided'])
    const after = (await admin.get(`/api/v1/members/${member.id}`)).body
    expect([after.points.balance, after.tier.code]).toEqual([0, 'normal'])
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }] })
    expect(q.body.total).toBe(20_000)
    expect(await unbalanced(m.merchantId)).toEqual([])
  })

  it('points adjusted by hand while the member is merged away are refused or move with the merge, never left on the merged member', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    for (let round = 0; round < 8; round++) {
      const a = (await admin.post('/api/v1/members', { phone: phone() })).body
      const b = (await admin.post('/api/v1/members', { phone: phone() })).body
      expect((await admin.post(`/api/v1/members/${b.id}/points/adjust`, { delta: 100, reason: 'seed' })).status).toBe(200)
      const [merge, ...adjusts] = await Promise.all([
        admin.post(`/api/v1/members/${a.id}/merge`, { sourceId: b.id }),
        admin.post(`/api/v1/members/${b.id}/points/adjust`, { delta: 50, reason: 'goodwill' }),
        admin.post(`/api/v1/members/${b.id}/points/adjust`, { delta: -30, reason: 'gift' }),
      ])
      expect(merge.status).toBe(200)
      for (const r of adjusts) {
        if (r.status !== 200) expect([r.status, r.body.error.code]).toEqual([409, 'member_merged'])
      }
      // What went in before the merge moved with it: the remaining member holds all of it.
      const moved = adjusts.reduce((n, r, i) => n + (r.status === 200 ? [50, -30][i]! : 0), 100)
      expect((await admin.get(`/api/v1/members/${a.id}`)).body.points.balance).toBe(moved)
    }
    const stranded = await hub.database.db.execute(sql`select id from members where merchant_id = ${m.merchantId} and status = 'merged' and points_balance <> 0`)
    expect(stranded.rows).toEqual([])
    expect(await unbalanced(m.merchantId)).toEqual([])
  })
})
