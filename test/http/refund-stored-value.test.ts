// What a stored-value tender paid always goes back to stored value: a refund never pays it out as cash or to a card
// (its bonus was never money; its principal leaves only by a refund of the top-up).
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore } from '../helpers/pos.ts'

let phones = 0
const phone = () => `1393${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

describe('refunds of a sale paid with stored value', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  // Every member's stored value equals its ledger.
  afterEach(async () => {
    const r = await hub.database.db.execute(sql`
      select m.id, m.stored_principal, m.stored_bonus,
             coalesce((select sum(principal_delta) from stored_value_ledger s where s.member_id = m.id), 0)::bigint as sp,
             coalesce((select sum(bonus_delta) from stored_value_ledger s where s.member_id = m.id), 0)::bigint as sb
        from members m`)
    expect((r.rows as any[]).filter((x) => Number(x.sp) !== Number(x.stored_principal) || Number(x.sb) !== Number(x.stored_bonus))).toEqual([])
  })

  async function setup(price: number) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const mgr = createApi(hub).as((await m.staff('manager')).token)
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    await admin.post('/api/v1/topup-bonus-rules', { threshold: 10_000, bonus: 1000 })
    expect((await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 10_000, tenders: [{ kind: 'cash', amount: 10_000 }] })).status).toBe(201)
    const item = await seedProduct(hub, store, { price, stock: 10 })
    const sv = async () => (await admin.get(`/api/v1/members/${member.id}`)).body.storedValue
    const refundCash = async () => Number((await hub.database.db.execute(sql`select coalesce(-sum(amount), 0)::bigint as n from cash_movements where kind = 'refund' and merchant_id = ${m.merchantId}`)).rows[0]!.n)
    return { m, store, admin, mgr, member, item, sv, refundCash }
  }

  it('a sale paid wholly with stored value is not refunded as cash, not even its principal: it goes back to stored value', async () => {
    const { store, mgr, member, item, sv, refundCash } = await setup(11_000)
    const sale = (await mgr.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'stored_value', amount: 11_000 }] })).body
    expect(sale.tenders[0]).toMatchObject({ storedPrincipal: 10_000, storedBonus: 1000 })
    expect(await sv()).toMatchObject({ principal: 0, bonus: 0 })
    const line = [{ saleLineId: sale.lines[0].id, quantity: 1 }]
    for (const tenders of [[{ kind: 'cash', amount: 11_000 }], [{ kind: 'cash', amount: 10_000 }, { kind: 'stored_value', amount: 1000 }], [{ kind: 'card', amount: 11_000 }]]) {
      const r = await mgr.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: line, tenders })
      expect([r.status, r.body.error?.code, r.body.error?.details]).toEqual([422, 'refund_to_stored_value', { storedValue: 11_000 }])
    }
    expect([await sv(), await refundCash()]).toEqual([{ principal: 0, bonus: 0, total: 0 }, 0])
    // Named as the stored-value tender, or the default way: back to stored value, principal and bonus apart.
    const r = await mgr.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: line, tenders: [{ kind: 'stored_value', amount: 11_000 }] })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body.sale.refunds[0].tenders).toMatchObject([{ kind: 'stored_value', amount: 11_000, storedPrincipal: 10_000, storedBonus: 1000 }])
    expect([await sv(), await refundCash()]).toEqual([{ principal: 10_000, bonus: 1000, total: 11_000 }, 0])
  })

  it('a sale paid with stored value and a card: money back never adds up to more than the card paid, whatever tenders are named', async () => {
    const { store, mgr, member, item, sv, refundCash } = await setup(5500)
    const sale = (await mgr.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'stored_value', amount: 5500 }, { kind: 'card', amount: 5500 }] })).body
    expect(sale.tenders[0]).toMatchObject({ kind: 'stored_value', storedPrincipal: 5000, storedBonus: 500 })
    const line = [{ saleLineId: sale.lines[0].id, quantity: 1 }]
    // One unit back, 2000 to stored value and 3500 as cash instead of the card: money out 3500 of the 5500 paid.
    const r = await mgr.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: line, tenders: [{ kind: 'stored_value', amount: 2000 }, { kind: 'cash', amount: 3500 }] })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body.sale.refunds[0].tenders).toMatchObject([
      { kind: 'stored_value', amount: 2000, storedPrincipal: 1818, storedBonus: 182 },
      { kind: 'cash', amount: 3500 },
    ])
    expect([await sv(), await refundCash()]).toEqual([{ principal: 6818, bonus: 682, total: 7500 }, 3500])
    // The other unit: 2000 more money at most. All as cash, or all to the card, is refused.
    for (const tenders of [[{ kind: 'cash', amount: 5500 }], [{ kind: 'card', amount: 5500 }], [{ kind: 'stored_value', amount: 3000 }, { kind: 'cash', amount: 2500 }]]) {
      const refused = await mgr.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: line, tenders })
      expect([refused.status, refused.body.error?.code, refused.body.error?.details]).toEqual([422, 'refund_to_stored_value', { storedValue: 3500 }])
    }
    // The default way (the card still looks open, the cash having been given instead of it): 3500 to stored value.
    const r2 = await mgr.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: line })
    expect(r2.status, JSON.stringify(r2.body)).toBe(201)
    expect(r2.body.sale.refunds[1].tenders).toMatchObject([
      { kind: 'stored_value', amount: 3500, storedPrincipal: 3182, storedBonus: 318 },
      { kind: 'card', amount: 2000 },
    ])
    expect([await sv(), await refundCash()]).toEqual([{ principal: 10_000, bonus: 1000, total: 11_000 }, 3500])
  })
})
