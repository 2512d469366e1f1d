import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

let phones = 0
const phone = () => `1373${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

describe('members at the till: points, coupons and stored value, sold and given back', () => {
  const hub = useTestHub()

  // Every member's balances equal their ledgers, and none is below zero.
  afterEach(async () => {
    const r = await hub.database.db.execute(sql`
      select m.id, m.points_balance, m.stored_principal, m.stored_bonus,
             coalesce((select sum(delta) from points_ledger l where l.member_id = m.id), 0)::bigint as ledger,
             coalesce((select sum(principal_delta) from stored_value_ledger s where s.member_id = m.id), 0)::bigint as sp,
             coalesce((select sum(bonus_delta) from stored_value_ledger s where s.member_id = m.id), 0)::bigint as sb
        from members m`)
    const bad = (r.rows as any[]).filter(
      (x) => Number(x.ledger) !== Number(x.points_balance) || Number(x.sp) !== Number(x.stored_principal) || Number(x.sb) !== Number(x.stored_bonus) || Number(x.points_balance) < 0,
    )
    expect(bad).toEqual([])
  })

  async function setup(settings: Record<string, unknown> = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    if (Object.keys(settings).length) expect((await admin.patch('/api/v1/merchant/settings', settings)).status).toBe(200)
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    const points = async () => (await admin.get(`/api/v1/members/${member.id}`)).body.points.balance
    return { m, store, admin, member, points }
  }

  type Api = ReturnType<typeof createApi>
  /** A coupon template valid 30 days, and the code of a coupon of it issued to the members named (or anonymous). */
  const couponCode = async (admin: Api, template: Record<string, unknown>, issue: { memberIds: string[] } | { count: number }) => {
    const tpl = (await admin.post('/api/v1/coupon-templates', { validDays: 30, ...template })).body
    return (await admin.post('/api/v1/coupons/issue', { templateId: tpl.id, ...issue })).body.issued[0].code as string
  }
  /** The quote and the sale of the same cart come to `total`, paid with one tender of `kind`. */
  const quotedAndSold = async (admin: Api, body: Record<string, unknown>, kind: string, total: number) => {
    const q = await admin.post('/api/v1/sales/quote', body)
    expect(q.status).toBe(200)
    expect(q.body.total).toBe(total)
    const s = await admin.post('/api/v1/sales', { ...body, tenders: [{ kind, amount: total }] })
    expect(s.status, JSON.stringify(s.body)).toBe(201)
    expect(s.body.total).toBe(total)
  }

  it('sales for a member racing the merge of that member: each goes before the merge (and moves with it) or is refused, never left on the merged member', async () => {
    const { m, store, admin } = await setup()
    const item = await seedProduct(hub, store, { price: 10_000, stock: 500 })
    const registers: string[] = []
    for (let i = 0; i < 3; i++) {
      const id = (await admin.post(`/api/v1/stores/${store.storeId}/registers`, { code: `M${i}`, name: `Till ${i}` })).body.id
      expect((await admin.post('/api/v1/cash-sessions', { registerId: id, openingFloat: 0 })).status).toBe(201)
      registers.push(id)
    }
    const statuses: number[] = []
    let sold = 0
    for (let round = 0; round < 6; round++) {
      const [a, b] = [(await admin.post('/api/v1/members', { phone: phone() })).body, (await admin.post('/api/v1/members', { phone: phone() })).body]
      const rung = registers.map((registerId) => admin.post('/api/v1/sales', { registerId, memberId: b.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 10_000 }] }))
      const merged = admin.post(`/api/v1/members/${a.id}/merge`, { sourceId: b.id })
      const answers = await Promise.all([...rung, merged])
      for (const r of answers.slice(0, -1)) {
        expect([201, 409]).toContain(r.status)
        if (r.status === 409) expect(r.body.error.code).toBe('member_merged')
        else sold++
      }
      expect(answers.at(-1)!.status).toBe(200)
      statuses.push(...answers.map((r) => r.status))
      // What the sales made is the remaining member's: 100 points per sale that went through.
      const kept = (await admin.get(`/api/v1/members/${a.id}`)).body
      expect(kept.points.balance).toBe(100 * answers.slice(0, -1).filter((r) => r.status === 201).length)
    }
    const stranded = await hub.database.db.execute(sql`
      select m.id from members m
       where m.merchant_id = ${m.merchantId} and m.status = 'merged'
         and (m.points_balance <> 0 or exists (select 1 from sales s where s.member_id = m.id) or exists (select 1 from points_lots l where l.member_id = m.id and l.remaining > 0))`)
    expect(stranded.rows).toEqual([])
    expect(sold).toBeGreaterThan(0)
  })

  it('refunds and voids of a member sale racing the merge of that member both go through, in either order (no deadlock)', async () => {
    const { store, admin } = await setup()
    const item = await seedProduct(hub, store, { price: 1000, stock: 500 })
    for (let round = 0; round < 6; round++) {
      const [a, b] = [(await admin.post('/api/v1/members', { phone: phone() })).body, (await admin.post('/api/v1/members', { phone: phone() })).body]
      const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: b.id, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 2000 }] })).body
      const undo =
        round % 2 === 0
          ? admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
          : admin.post(`/api/v1/sales/${sale.id}/void`, { reason: 'wrong member' })
      const [undone, merged] = await Promise.all([undo, admin.post(`/api/v1/members/${a.id}/merge`, { sourceId: b.id })])
      expect([undone.status, merged.status], JSON.stringify([undone.body, merged.body])).toEqual([round % 2 === 0 ? 201 : 200, 200])
      // The sale's points, less what was given back, are the remaining member's.
      expect((await admin.get(`/api/v1/members/${a.id}`)).body.points.balance).toBe(round % 2 === 0 ? 10 : 0)
    }
  })

  it('a sale paid wholly with points gives them back when refunded, part by part, or voided', async () => {
    const { store, admin, member, points } = await setup({ loyalty: { maxRedeemBp: 10_000 } })
    const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
    await admin.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 3000, reason: 'welcome' })
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, redeemPoints: 2000, lines: [{ sku: item.sku, quantity: 2 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    expect(sale.body).toMatchObject({ total: 0, pointsRedeemed: 2000 })
    expect(await points()).toBe(1000)
    const line = { saleLineId: sale.body.lines[0].id, quantity: 1 }
    expect((await admin.post(`/api/v1/sales/${sale.body.id}/refunds`, { registerId: store.registerId, lines: [line] })).status).toBe(201)
    expect(await points()).toBe(2000)
    expect((await admin.post(`/api/v1/sales/${sale.body.id}/refunds`, { registerId: store.registerId, lines: [line] })).status).toBe(201)
    expect(await points()).toBe(3000)

    const again = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, redeemPoints: 1000, lines: [{ sku: item.sku }] })
    expect(again.body.total).toBe(0)
    expect((await admin.post(`/api/v1/sales/${again.body.id}/void`, { reason: 'rung by mistake' })).status).toBe(200)
    expect(await points()).toBe(3000)
  })

  it('with tax-exclusive prices, points never pay for more than the discount they give', async () => {
    const { store, admin, member, points } = await setup({ loyalty: { maxRedeemBp: 10_000 }, taxInclusive: false })
    const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
    await admin.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 2000, reason: 'welcome' })
    // ¥10.00 + 13 % tax = ¥11.30 due; points take off the price before tax, at most ¥10.00 of it.
    const body = { registerId: store.registerId, memberId: member.id, redeemPoints: 1100, lines: [{ sku: item.sku }] }
    const q = await admin.post('/api/v1/sales/quote', body)
    expect(q.status).toBe(422)
    expect(q.body.error).toMatchObject({ code: 'points_over_limit', details: { maxDiscount: 1000, maxPoints: 1000 } })
    expect((await admin.post('/api/v1/sales', body)).status).toBe(422)
    expect(await points()).toBe(2000)
    const fits = await admin.post('/api/v1/sales', { ...body, redeemPoints: 1000 })
    expect(fits.status, JSON.stringify(fits.body)).toBe(201)
    expect(fits.body).toMatchObject({ total: 0, pointsRedeemed: 1000 })
    expect(fits.body.lines[0].adjustments.find((a: any) => a.source === 'points').amount).toBe(1000)
  })

  it('a free-item coupon gives its quantity free once, however many lines carry the item', async () => {
    const { store, admin, member } = await setup()
    const item = await seedProduct(hub, store, { price: 800, stock: 10 })
    const code = await couponCode(admin, { name: 'free coffee', kind: 'free_item', freeVariantId: item.variantId, freeQuantity: 1 }, { memberIds: [member.id] })
    await quotedAndSold(admin, { registerId: store.registerId, memberId: member.id, couponCodes: [code], lines: [{ sku: item.sku }, { sku: item.sku }] }, 'cash', 800)
  })

  it('an anonymous coupon code given twice is one coupon: the quote and the sale agree', async () => {
    const { store, admin } = await setup()
    const item = await seedProduct(hub, store, { price: 6000, stock: 10 })
    const code = await couponCode(admin, { name: '¥10 off', kind: 'amount_off', amount: 1000 }, { count: 1 })
    await quotedAndSold(admin, { registerId: store.registerId, couponCodes: [code, ` ${code.toLowerCase()} `], lines: [{ sku: item.sku }] }, 'card', 5000)
  })

  it('stored-value tenders are checked together against the balance, in the quote as in the sale', async () => {
    const { store, admin, member } = await setup()
    await admin.post(`/api/v1/members/${member.id}/stored-value/adjust`, { principal: 1000, bonus: 0, reason: 'top-up' })
    const item = await seedProduct(hub, store, { price: 1600, stock: 10 })
    const body = { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'stored_value', amount: 800 }, { kind: 'stored_value', amount: 800 }] }
    const q = await admin.post('/api/v1/sales/quote', body)
    const s = await admin.post('/api/v1/sales', body)
    expect([q.status, s.status]).toEqual([422, 422])
    expect([q.body.error.code, s.body.error.code]).toEqual(['insufficient_stored_value', 'insufficient_stored_value'])
    expect(q.body.error.details).toMatchObject({ balance: 1000, requested: 1600 })
  })
})
