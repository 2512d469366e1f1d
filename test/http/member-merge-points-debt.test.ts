// A member owing points (a refund took back more than they had) merged into one with points: the debt is paid from
// the merged balance, as a refund after the merge would have taken it, so the order of events does not change the
// totals and no one spends points they owe.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

let phones = 0
const phone = () => `1391${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

describe('a member who owes points merged into one who has them', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))

  const unbalanced = async () =>
    (
      await hub.database.db.execute(sql`
      select m.id, m.status, m.points_balance, m.stored_principal, m.stored_bonus,
             coalesce((select sum(delta) from points_ledger l where l.member_id = m.id), 0)::bigint as ledger,
             coalesce((select sum(remaining) from points_lots l where l.member_id = m.id), 0)::bigint as lots,
             coalesce((select sum(principal_delta) from stored_value_ledger s where s.member_id = m.id), 0)::bigint as sp,
             coalesce((select sum(bonus_delta) from stored_value_ledger s where s.member_id = m.id), 0)::bigint as sb
        from members m`)
    ).rows.filter(
      (x: any) =>
        Number(x.ledger) !== Number(x.points_balance) ||
        Number(x.lots) !== Number(x.points_balance) ||
        Number(x.sp) !== Number(x.stored_principal) ||
        Number(x.sb) !== Number(x.stored_bonus),
    )

  it('pays the debt from the merged balance: the same totals whether the refund came before or after the merge', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const item = await seedProduct(hub, store, { price: 10_000, stock: 100 })
    const mk = async () => (await admin.post('/api/v1/members', { phone: phone() })).body
    // Scenario 1: refund before merge
    const a1 = await mk()
    const b1 = await mk()
    const s = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: a1.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 10_000 }] })
    expect((await admin.post(`/api/v1/members/${a1.id}/points/adjust`, { delta: -100, reason: 'spent' })).status).toBe(200)
    const r = await admin.post(`/api/v1/sales/${s.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: s.body.lines[0].id, quantity: 1 }] })
    expect(r.status).toBe(201)
    expect((await admin.get(`/api/v1/members/${a1.id}/points`)).body.owed).toBe(100)
    expect((await admin.post(`/api/v1/members/${b1.id}/points/adjust`, { delta: 300, reason: 'seed' })).status).toBe(200)
    expect((await admin.post(`/api/v1/members/${b1.id}/merge`, { sourceId: a1.id })).status).toBe(200)
    const p1 = (await admin.get(`/api/v1/members/${b1.id}/points`)).body

    // Scenario 2: same events, merge before refund
    const a2 = await mk()
    const b2 = await mk()
    const s2 = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: a2.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 10_000 }] })
    expect((await admin.post(`/api/v1/members/${a2.id}/points/adjust`, { delta: -100, reason: 'spent' })).status).toBe(200)
    expect((await admin.post(`/api/v1/members/${b2.id}/points/adjust`, { delta: 300, reason: 'seed' })).status).toBe(200)
    expect((await admin.post(`/api/v1/members/${b2.id}/merge`, { sourceId: a2.id })).status).toBe(200)
    const r2 = await admin.post(`/api/v1/sales/${s2.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: s2.body.lines[0].id, quantity: 1 }] })
    expect(r2.status).toBe(201)
    const p2 = (await admin.get(`/api/v1/members/${b2.id}/points`)).body
    expect(await unbalanced()).toEqual([])
    // same person, same events: same balance and debt whatever the order
    expect({ balance: p1.balance, owed: p1.owed }).toEqual({ balance: p2.balance, owed: p2.owed })
    expect({ balance: p1.balance, owed: p1.owed }).toEqual({ balance: 200, owed: 0 })
    const settled = await hub.database.db.execute(sql`select delta from points_ledger where member_id = ${b1.id} and kind = 'debt_settled'`)
    expect(settled.rows).toEqual([{ delta: -100 }])
  })
})
