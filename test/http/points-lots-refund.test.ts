// Points lots and refunds over time: a refund takes back the lot its own sale earned, gives spent points back valid no
// longer than the lots they were taken from, and a merge pays a debt only with points still valid.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { runLoyaltyDay } from '../../src/jobs/members.ts'

let phones = 0
const phone = () => `1392${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

describe('points lots and refunds over time', () => {
  const hub = useTestHub()

  // Every member's ledger, lots and balance agree.
  afterEach(async () => {
    hub.setNow(undefined)
    const r = await hub.database.db.execute(sql`
      select m.id, m.points_balance,
             coalesce((select sum(delta) from points_ledger l where l.member_id = m.id), 0)::bigint as ledger,
             coalesce((select sum(remaining) from points_lots l where l.member_id = m.id), 0)::bigint as lots
        from members m`)
    expect((r.rows as any[]).filter((x) => Number(x.ledger) !== Number(x.points_balance) || Number(x.lots) !== Number(x.points_balance))).toEqual([])
  })

  async function setup(loyalty: Record<string, unknown>) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId)
    expect((await createApi(hub).as(m.adminToken).patch('/api/v1/merchant/settings', { loyalty })).status).toBe(200)
    const member = (await createApi(hub).as(m.adminToken).post('/api/v1/members', { phone: phone() })).body
    const item = await seedProduct(hub, store, { price: 10_000, stock: 100 })
    const at = async (iso: string) => {
      hub.setNow(new Date(iso))
      return createApi(hub).as(await m.adminTokenNow())
    }
    const pts = async (api: any, id = member.id) => (await api.get(`/api/v1/members/${id}/points`)).body
    return { m, store, member, item, at, pts }
  }

  it('a refunded sale takes back the lot it earned, not older points about to expire', async () => {
    const { m, store, member, item, at, pts } = await setup({ expiry: { days: 30 } })
    let api = await at('2031-03-01T04:00:00Z')
    expect((await api.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 100, reason: 'old' })).status).toBe(200)
    api = await at('2031-03-25T04:00:00Z')
    const sale = (await api.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 20_000 }] })).body
    expect(sale.pointsEarned).toBe(200)
    // Half of it back: 100 of the sale's own lot, the old 100 still valid to 31 March.
    let r = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(r.status).toBe(201)
    expect((await pts(api)).lots).toEqual([
      { remaining: 100, expiresAt: '2031-03-31' },
      { remaining: 100, expiresAt: '2031-04-24' },
    ])
    // 150 of the sale's points spent (the 100 old ones first, then 50 of its lot): the rest of the refund takes the 50
    // left of its own lot and owes the other 50.
    expect((await api.post(`/api/v1/members/${member.id}/points/adjust`, { delta: -150, reason: 'spent' })).status).toBe(200)
    r = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(r.status).toBe(201)
    expect(await pts(api)).toMatchObject({ balance: 0, owed: 50, lots: [] })
    void m
  })

  it('a refund takes back only the lot its sale earned while it lasts, and leaves the lots expiring first alone', async () => {
    const other = await setup({ expiry: { days: 30 } })
    let api = await other.at('2031-03-01T04:00:00Z')
    expect((await api.post(`/api/v1/members/${other.member.id}/points/adjust`, { delta: 100, reason: 'old' })).status).toBe(200)
    api = await other.at('2031-03-10T04:00:00Z')
    expect((await api.post(`/api/v1/members/${other.member.id}/points/adjust`, { delta: 100, reason: 'newer' })).status).toBe(200)
    api = await other.at('2031-03-25T04:00:00Z')
    const s2 = (await api.post('/api/v1/sales', { registerId: other.store.registerId, memberId: other.member.id, lines: [{ sku: other.item.sku }], tenders: [{ kind: 'card', amount: 10_000 }] })).body
    expect(s2.pointsEarned).toBe(100)
    // 160 spent: the old 100 and 60 of the newer lot; the sale's lot untouched. Its refund takes its own 100 and nothing else.
    expect((await api.post(`/api/v1/members/${other.member.id}/points/adjust`, { delta: -160, reason: 'spent' })).status).toBe(200)
    expect((await other.pts(api)).lots).toEqual([
      { remaining: 40, expiresAt: '2031-04-09' },
      { remaining: 100, expiresAt: '2031-04-24' },
    ])
    expect((await api.post(`/api/v1/sales/${s2.id}/refunds`, { registerId: other.store.registerId, lines: [{ saleLineId: s2.lines[0].id, quantity: 1 }] })).status).toBe(201)
    expect(await other.pts(api)).toMatchObject({ balance: 40, owed: 0, lots: [{ remaining: 40, expiresAt: '2031-04-09' }] })
  })

  it('points a refunded sale spent come back valid as long as the lots they were taken from, in the order they were taken', async () => {
    const { store, member, item, at, pts } = await setup({ expiry: { days: 30 }, maxRedeemBp: 10_000 })
    let api = await at('2031-03-01T04:00:00Z')
    expect((await api.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 6000, reason: 'old' })).status).toBe(200)
    api = await at('2031-03-20T04:00:00Z')
    expect((await api.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 14_000, reason: 'newer' })).status).toBe(200)
    api = await at('2031-03-25T04:00:00Z')
    const sale = await api.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, redeemPoints: 10_000, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 10_000 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    expect((await pts(api)).lots).toEqual([
      { remaining: 10_000, expiresAt: '2031-04-19' },
      { remaining: 100, expiresAt: '2031-04-24' },
    ])
    api = await at('2031-03-26T04:00:00Z')
    // Half refunded: 5000 of the points come back, all from the lot valid to 31 March (taken first).
    expect((await api.post(`/api/v1/sales/${sale.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.body.lines[0].id, quantity: 1 }] })).status).toBe(201)
    expect((await pts(api)).lots).toEqual([
      { remaining: 5000, expiresAt: '2031-03-31' },
      { remaining: 10_000, expiresAt: '2031-04-19' },
      { remaining: 50, expiresAt: '2031-04-24' },
    ])
    // The rest: 1000 more valid to 31 March, 4000 valid to 19 April; none valid to late April.
    expect((await api.post(`/api/v1/sales/${sale.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.body.lines[0].id, quantity: 1 }] })).status).toBe(201)
    const p = await pts(api)
    expect(p.balance).toBe(20_000)
    expect(p.lots).toEqual([
      { remaining: 5000, expiresAt: '2031-03-31' },
      { remaining: 1000, expiresAt: '2031-03-31' },
      { remaining: 10_000, expiresAt: '2031-04-19' },
      { remaining: 4000, expiresAt: '2031-04-19' },
    ])
  })

  it('points spent on a sale and given back after their last valid day expire at once, and pay no debt', async () => {
    const { m, store, member, item, at, pts } = await setup({ expiry: { days: 30 }, maxRedeemBp: 10_000 })
    let api = await at('2031-03-01T04:00:00Z')
    expect((await api.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 10_000, reason: 'old' })).status).toBe(200)
    api = await at('2031-03-30T04:00:00Z')
    const sale = await api.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, redeemPoints: 10_000, lines: [{ sku: item.sku }] })
    expect([sale.status, sale.body.total]).toEqual([201, 0])
    // A points debt of 100 from another sale, earned, spent and refunded.
    const earning = (await api.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 10_000 }] })).body
    expect((await api.post(`/api/v1/members/${member.id}/points/adjust`, { delta: -100, reason: 'spent' })).status).toBe(200)
    expect((await api.post(`/api/v1/sales/${earning.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: earning.lines[0].id, quantity: 1 }] })).status).toBe(201)
    expect((await pts(api)).owed).toBe(100)
    await runLoyaltyDay(hub, m.merchantId, new Date('2031-04-05T04:00:00Z'))
    api = await at('2031-04-05T05:00:00Z')
    const r = await api.post(`/api/v1/sales/${sale.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.body.lines[0].id, quantity: 1 }] })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    const p = await pts(api)
    expect([p.balance, p.owed, p.lots]).toEqual([0, 100, []])
    // In the ledger: given back, then expired.
    expect(p.ledger.slice(0, 2).map((l: any) => [l.kind, l.delta])).toEqual([
      ['expire', -10_000],
      ['refund_restore', 10_000],
    ])
  })

  it('a void gives spent points back with the expiry of the lots they were taken from', async () => {
    const { store, member, item, at, pts } = await setup({ expiry: { days: 30 }, maxRedeemBp: 10_000 })
    let api = await at('2031-03-01T04:00:00Z')
    expect((await api.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 10_000, reason: 'old' })).status).toBe(200)
    api = await at('2031-03-30T04:00:00Z')
    const sale = await api.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, redeemPoints: 10_000, lines: [{ sku: item.sku }] })
    expect(sale.status).toBe(201)
    expect((await api.post(`/api/v1/sales/${sale.body.id}/void`, { reason: 'oops' })).status).toBe(200)
    expect((await pts(api)).lots).toEqual([{ remaining: 10_000, expiresAt: '2031-03-31' }])
  })

  it('a merge does not pay a points debt with points past their last valid day', async () => {
    const { store, member: b, item, at, pts } = await setup({ expiry: { days: 1 } })
    let api = await at('2031-03-01T04:00:00Z')
    const a = (await api.post('/api/v1/members', { phone: phone() })).body
    const sale = (await api.post('/api/v1/sales', { registerId: store.registerId, memberId: b.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 10_000 }] })).body
    expect((await api.post(`/api/v1/members/${b.id}/points/adjust`, { delta: -100, reason: 'spent' })).status).toBe(200)
    expect((await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })).status).toBe(201)
    expect((await pts(api, b.id)).owed).toBe(100)
    // A has 100 valid to 2 March, and 30 more valid to 6 March.
    expect((await api.post(`/api/v1/members/${a.id}/points/adjust`, { delta: 100, reason: 'gift' })).status).toBe(200)
    api = await at('2031-03-05T04:00:00Z')
    expect((await api.post(`/api/v1/members/${a.id}/points/adjust`, { delta: 30, reason: 'gift' })).status).toBe(200)
    // The daily job has not run: the 100 are dead all the same, and only the 30 pay.
    const merged = await api.post(`/api/v1/members/${a.id}/merge`, { sourceId: b.id })
    expect(merged.status, JSON.stringify(merged.body)).toBe(200)
    const p = await pts(api, a.id)
    expect([p.balance, p.owed]).toEqual([0, 70])
    expect(p.ledger.map((l: any) => [l.kind, l.delta]).slice(0, 2)).toEqual([
      ['debt_settled', -30],
      ['expire', -100],
    ])
  })
})
