// Coupons issued to a member while it is being merged into another: issued before the merge and moved with it, or
// after it and skipped as merged, never left on the merged member where no one can use them.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'

let phones = 0
const phone = () => `1392${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

describe('a member merged while coupons are issued to it', () => {
  const hub = useTestHub({ poolSize: 8 })

  it('coupons issued to the source while it is merged are never left on the merged member', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: 'five off', kind: 'amount_off', amount: 500, validDays: 30 })).body
        for (let round = 0; round < 15; round++) {
      const a = (await admin.post('/api/v1/members', { phone: phone() })).body
      const b = (await admin.post('/api/v1/members', { phone: phone() })).body
      // some points so the merge has work to do
      await admin.post(`/api/v1/members/${b.id}/points/adjust`, { delta: 100, reason: 'seed' })
      const merge = admin.post(`/api/v1/members/${a.id}/merge`, { sourceId: b.id })
      await new Promise((r) => setTimeout(r, round % 5))
      const issue = admin.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [b.id] })
      const [mr, ir] = await Promise.all([merge, issue])
      expect(mr.status).toBe(200)
      // Issued before the merge (and moved with it), or after it and skipped: never left on the merged member.
      expect(ir.status).toBe(201)
    }
    const stranded = await hub.database.db.execute(sql`
      select c.id, c.code, c.member_id, m.merged_into from coupons c join members m on m.id = c.member_id where m.merchant_id = ${m.merchantId} and m.status = 'merged'`)
    expect(stranded.rows).toEqual([])
  })
})
