import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore } from '../helpers/pos.ts'

let phones = 0
const phone = () => `1378${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

describe('rolling spend after refunding an offline sale that took more than was due', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)
  const base = () => {
    const shanghai = new Date(Date.now() + 8 * 3600_000)
    return Date.now() - (shanghai.getUTCHours() === 0 ? 3600_000 : 0)
  }

  it('counts what the tenders took, so a fully refunded one leaves the member’s spend at 0 and the tier follows the next sale', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openedAt: new Date(base() - 2 * 3600_000) })
    const item = await seedProduct(hub, store, { price: 1500, stock: 100 })
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/tiers', { code: 'normal', name: 'Normal', rank: 0, minSpend: 0 })
    await admin.post('/api/v1/tiers', { code: 'gold', name: 'Gold', rank: 1, minSpend: 1500 })
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    const s = { id: randomUUID(), occurredAt: new Date(base() - 5 * 60_000).toISOString(), registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku, quantity: 1, unitPrice: 1500 }], tenders: [{ kind: 'card', amount: 1600 }] }
    const b = await admin.post('/api/v1/sales/batch', { sales: [s] })
    expect(b.body.results[0].status, JSON.stringify(b.body)).toBe('accepted')
    const sale = (await admin.get(`/api/v1/sales/${s.id}`)).body
    expect(sale.tenderDifference).toBe(100)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier.code).toBe('gold')
    const r = await admin.post(`/api/v1/sales/${s.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body.sale.refunds[0].total).toBe(1600) // all the card took goes back
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier.code).toBe('normal')
    const hist = await hub.database.db.execute(sql`select rolling_spend from tier_history where member_id = ${member.id} order by id`)
    // The member paid 1600 and got 1600 back: their net spend is 0.
    expect((hist.rows as any[]).map((x) => Number(x.rolling_spend)).at(-1)).toBe(0)
    // A new online sale of 15.00 qualifies for gold (minSpend 15.00) again.
    const s2 = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1500 }] })
    expect(s2.status).toBe(201)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier.code).toBe('gold')
  })
})
