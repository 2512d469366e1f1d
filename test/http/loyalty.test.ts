import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { runLoyaltyDay } from '../../src/jobs/members.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { MAX_PAYMENT_AMOUNT } from '../../src/lib/money.ts'

let phones = 0
const phone = () => `1370000${String(++phones).padStart(4, '0')}`

describe('stored value', () => {
  const hub = useTestHub()

  async function setup() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    return { m, store, admin, member }
  }

  it('a top-up of ¥100 with a "top up ¥100, get ¥10" rule adds principal and bonus apart, paid like a sale', async () => {
    const { store, admin, member } = await setup()
    const rule = (await admin.post('/api/v1/topup-bonus-rules', { threshold: 10000, bonus: 1000 })).body
    await admin.post('/api/v1/topup-bonus-rules', { threshold: 50000, bonus: 8000 })
    // An empty patch changes nothing; another merchant's rule, or none, is 404.
    const same = await admin.patch(`/api/v1/topup-bonus-rules/${rule.id}`, {})
    expect([same.status, same.body]).toEqual([200, { id: rule.id, threshold: 10000, bonus: 1000, active: true }])
    const other = createApi(hub).as((await seedMerchant(hub)).adminToken)
    for (const body of [{}, { bonus: 5 }]) {
      const theirs = await other.patch(`/api/v1/topup-bonus-rules/${rule.id}`, body)
      expect([theirs.status, theirs.body.error?.code]).toEqual([404, 'topup_bonus_rule_not_found'])
    }
    const r = await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 10000, tenders: [{ kind: 'wechat', amount: 6000 }, { kind: 'cash', amount: 5000 }] })
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ principal: 10000, bonus: 1000, change: 1000, balance: { principal: 10000, bonus: 1000 } })
    expect(r.body.receiptNo).toMatch(/-T0001$/)
    expect(r.body.tenders.find((t: any) => t.kind === 'wechat').paymentNo).toMatch(/^TB/)
    const ledger = (await admin.get(`/api/v1/members/${member.id}/stored-value`)).body
    expect(ledger.ledger[0]).toMatchObject({ kind: 'topup', principalDelta: 10000, bonusDelta: 1000, principalAfter: 10000, bonusAfter: 1000 })
  })

  it('spends principal and bonus in proportion and a refund gives back the same split', async () => {
    const { store, admin, member } = await setup()
    await admin.post('/api/v1/topup-bonus-rules', { threshold: 10000, bonus: 1000 })
    await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 10000, tenders: [{ kind: 'card', amount: 10000 }] })
    const item = await seedProduct(hub, store, { price: 2200, stock: 10 })
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'stored_value', amount: 2200 }] })).body
    const sv = sale.tenders[0]
    // 10000 : 1000 of 2200 → 2000 principal, 200 bonus.
    expect(sv).toMatchObject({ kind: 'stored_value', storedPrincipal: 2000, storedBonus: 200 })
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.storedValue).toEqual({ principal: 8000, bonus: 800, total: 8800 })
    const refund = await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(refund.body.sale.refunds[0].tenders[0]).toMatchObject({ kind: 'stored_value', amount: 2200, storedPrincipal: 2000, storedBonus: 200 })
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.storedValue).toEqual({ principal: 10000, bonus: 1000, total: 11000 })
  })

  it('never goes below zero, even with many tills spending the same balance at once', async () => {
    const { store, admin, member, m } = await setup()
    await admin.post(`/api/v1/members/${member.id}/stored-value/adjust`, { principal: 5000, bonus: 0, reason: 'balance' })
    const item = await seedProduct(hub, store, { price: 1000, stock: 100 })
    const regs: string[] = []
    for (let i = 0; i < 4; i++) regs.push((await admin.post(`/api/v1/stores/${store.storeId}/registers`, { code: `C${i}`, name: `Till ${i}` })).body.id)
    for (const r of regs) await admin.post('/api/v1/cash-sessions', { registerId: r, openingFloat: 0 })
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        admin.post('/api/v1/sales', { registerId: regs[i % regs.length], memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'stored_value', amount: 1000 }] }),
      ),
    )
    expect(results.filter((r) => r.status === 201)).toHaveLength(5)
    expect(results.filter((r) => r.status !== 201).every((r) => ['insufficient_stored_value'].includes(r.body.error.code))).toBe(true)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.storedValue.total).toBe(0)
    const sums = await hub.database.db.execute(sql`select sum(principal_delta)::bigint as p, sum(bonus_delta)::bigint as b from stored_value_ledger where member_id = ${member.id}`)
    expect(sums.rows[0]).toEqual({ p: 0, b: 0 })
    expect(m).toBeTruthy()
  })

  it('refuses a top-up beyond what a payment may be, or one that takes the balance past what a member may hold, writing nothing', async () => {
    const { store, admin, member } = await setup()
    const topUp = (amount: number) => admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount, tenders: [{ kind: 'cash', amount }] })
    expect((await topUp(10_000)).status).toBe(201)
    for (const amount of [MAX_PAYMENT_AMOUNT + 1, Number.MAX_SAFE_INTEGER]) {
      const r = await topUp(amount)
      expect([r.status, r.body.error?.code]).toEqual([422, 'amount_out_of_range'])
    }
    // Each on its own a payment, together more than a balance may hold.
    const past = await topUp(MAX_PAYMENT_AMOUNT)
    expect([past.status, past.body.error?.code]).toEqual([422, 'amount_out_of_range'])
    const read = await admin.get(`/api/v1/members/${member.id}`)
    expect([read.status, read.body.storedValue.total]).toEqual([200, 10_000])
    expect((await admin.get('/api/v1/members')).status).toBe(200)
    expect((await admin.get(`/api/v1/members/${member.id}/stored-value`)).body.ledger).toHaveLength(1)
  })

  it('refunds a top-up only while the member still holds it', async () => {
    const { store, admin, member } = await setup()
    const t = (await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 3000, tenders: [{ kind: 'alipay', amount: 3000 }] })).body
    const item = await seedProduct(hub, store, { price: 100, stock: 10 })
    await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'stored_value', amount: 100 }] })
    const refused = await admin.post(`/api/v1/topups/${t.id}/refund`, { registerId: store.registerId, reason: 'changed mind' })
    expect(refused.body.error.code).toBe('stored_value_used')
    const t2 = (await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 2000, tenders: [{ kind: 'alipay', amount: 2000 }] })).body
    const ok = await admin.post(`/api/v1/topups/${t2.id}/refund`, { registerId: store.registerId, reason: 'changed mind' })
    expect(ok.body).toMatchObject({ status: 'refunded', principal: 2000 })
    expect(ok.body.tenders[0].refundNo).toMatch(/^TR/)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.storedValue.total).toBe(2900)
  })
})

describe('coupons', () => {
  const hub = useTestHub()

  async function setup() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    const item = await seedProduct(hub, store, { price: 6000, stock: 100 })
    return { m, store, admin, member, item }
  }

  it('dates of coupon templates and promotions fall between 1900 and 9998, and end after they start', async () => {
    const { admin } = await setup()
    for (const [path, body] of [
      ['/api/v1/coupon-templates', { name: 'old', kind: 'amount_off', amount: 100, validFrom: '1899-12-31T00:00:00Z', validTo: '2030-01-01T00:00:00Z' }],
      ['/api/v1/coupon-templates', { name: 'far', kind: 'amount_off', amount: 100, validTo: '9999-06-01T00:00:00Z' }],
      ['/api/v1/promotions', { name: 'old', kind: 'percent_off', level: 'item', params: { percentBp: 1000 }, startsAt: '1899-01-01T00:00:00Z' }],
    ] as const) {
      const r = await admin.post(path, body)
      expect([r.status, r.body.error?.code], `${path} ${JSON.stringify(body)}`).toEqual([400, 'validation_failed'])
    }
    const backwards = await admin.post('/api/v1/coupon-templates', { name: 'backwards', kind: 'amount_off', amount: 100, validFrom: '2030-01-01T00:00:00Z', validTo: '2029-01-01T00:00:00Z' })
    expect([backwards.status, backwards.body.error?.code]).toEqual([422, 'invalid_coupon'])
  })

  it('a coupon is used once, even when two tills race with its code', async () => {
    const { store, admin, member, item } = await setup()
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: '¥10 off', kind: 'amount_off', amount: 1000, validDays: 30 })).body
    const { issued } = (await admin.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [member.id] })).body
    const code = issued[0].code
    const reg2 = (await admin.post(`/api/v1/stores/${store.storeId}/registers`, { code: 'R2', name: 'Till 2' })).body.id
    await admin.post('/api/v1/cash-sessions', { registerId: reg2, openingFloat: 0 })
    const [a, b] = await Promise.all(
      [store.registerId, reg2].map((registerId) => admin.post('/api/v1/sales', { registerId, memberId: member.id, couponCodes: [code], lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 5000 }] })),
    )
    expect([a!.status, b!.status].sort()).toEqual([201, 409])
    const used = (await admin.get(`/api/v1/coupons/${code}`)).body
    expect(used.status).toBe('redeemed')
    const again = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, memberId: member.id, couponCodes: [code], lines: [{ sku: item.sku }] })
    expect(again.body.error.code).toBe('coupon_unusable')
  })

  it('a member named twice in one issue is held to the per-member limit', async () => {
    const { admin, member } = await setup()
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: '¥5 off', kind: 'amount_off', amount: 500, validDays: 30, perMemberLimit: 1 })).body
    const r = await admin.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [member.id, member.id] })
    expect(r.status).toBe(201)
    expect(r.body.issued).toHaveLength(1)
    expect(r.body.skipped).toEqual([{ memberId: member.id, reason: 'already holds 1 of this coupon' }])
    expect((await admin.get(`/api/v1/members/${member.id}/coupons`)).body.items.filter((c: any) => c.templateId === tpl.id)).toHaveLength(1)
  })

  it('issues of one template at the same time hold a member to the per-member limit', async () => {
    const { m, admin, member } = await setup()
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: '¥5 off', kind: 'amount_off', amount: 500, validDays: 30, perMemberLimit: 1 })).body
    // Six managers at once (one person's requests wait for each other at sign-in).
    const managers = await Promise.all(Array.from({ length: 6 }, async () => createApi(hub).as((await m.staff('manager')).token)))
    const rs = await Promise.all(managers.map((api) => api.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [member.id] })))
    expect(rs.map((r) => r.status)).toEqual(rs.map(() => 201))
    expect(rs.map((r) => r.body.issued.length).sort()).toEqual([0, 0, 0, 0, 0, 1])
    expect((await admin.get(`/api/v1/members/${member.id}/coupons`)).body.items.filter((c: any) => c.templateId === tpl.id)).toHaveLength(1)
  })

  it("another merchant's coupon, or none, is 404 to look up by code and to void", async () => {
    const { admin, member } = await setup()
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: '¥10 off', kind: 'amount_off', amount: 1000, validDays: 30 })).body
    const coupon = (await admin.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [member.id] })).body.issued[0]
    const other = createApi(hub).as((await seedMerchant(hub)).adminToken)
    for (const r of [
      await other.post(`/api/v1/coupons/${coupon.id}/void`, { reason: 'not theirs' }),
      await admin.post(`/api/v1/coupons/${crypto.randomUUID()}/void`, { reason: 'no such coupon' }),
      await other.get(`/api/v1/coupons/${coupon.code}`),
      await admin.get('/api/v1/coupons/NOPE1234'),
    ]) {
      expect([r.status, r.body.error?.code]).toEqual([404, 'coupon_not_found'])
    }
    expect((await admin.get(`/api/v1/coupons/${coupon.code}`)).body.status).toBe('issued')
    const voided = await admin.post(`/api/v1/coupons/${coupon.id}/void`, { reason: 'mistake' })
    expect(voided.status).toBe(200)
    const again = await admin.post(`/api/v1/coupons/${coupon.id}/void`, { reason: 'mistake' })
    expect([again.status, again.body.error?.code]).toEqual([409, 'coupon_not_voidable'])
  })

  it('validDays runs to the end of a day in the merchant’s time zone, never past the template’s own end', async () => {
    const { admin, member } = await setup()
    // 21:00 in Shanghai on 1 March: a one-day coupon lasts to the end of 2 March there (not 21:00 on 2 March).
    hub.setNow(new Date('2026-03-01T13:00:00Z'))
    const day = (await admin.post('/api/v1/coupon-templates', { name: 'one day', kind: 'amount_off', amount: 100, validDays: 1 })).body
    const [one] = (await admin.post('/api/v1/coupons/issue', { templateId: day.id, memberIds: [member.id] })).body.issued
    expect([one.validFrom, one.validTo]).toEqual(['2026-03-01T13:00:00.000Z', '2026-03-02T16:00:00.000Z'])
    // A template that ends on 20 March: a 30-day coupon issued from it ends then too.
    const capped = (await admin.post('/api/v1/coupon-templates', { name: 'spring', kind: 'amount_off', amount: 100, validDays: 30, validTo: '2026-03-20T16:00:00Z' })).body
    const [two] = (await admin.post('/api/v1/coupons/issue', { templateId: capped.id, memberIds: [member.id] })).body.issued
    expect(two.validTo).toBe('2026-03-20T16:00:00.000Z')
    // Starting later: the days count from the template's first day (10:00 on 1 April there: to the end of 3 April).
    const later = (await admin.post('/api/v1/coupon-templates', { name: 'april', kind: 'amount_off', amount: 100, validDays: 2, validFrom: '2026-04-01T02:00:00Z' })).body
    const [three] = (await admin.post('/api/v1/coupons/issue', { templateId: later.id, memberIds: [member.id] })).body.issued
    expect([three.validFrom, three.validTo]).toEqual(['2026-04-01T02:00:00.000Z', '2026-04-03T16:00:00.000Z'])
  })

  it('validDays never gives less than days × 24 hours, also across a night the clocks go forward', async () => {
    const { admin, member, m } = await setup()
    await hub.database.db.execute(sql`update merchants set time_zone = 'America/New_York' where id = ${m.merchantId}`)
    // 23:30 on Saturday 7 March in New York; on Sunday the clocks jump from 02:00 to 03:00 (a 23-hour day). The end
    // of 8 March is 23.5 hours away: the coupon runs to the end of 9 March.
    hub.setNow(new Date('2026-03-08T04:30:00Z'))
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: 'one day', kind: 'amount_off', amount: 100, validDays: 1 })).body
    const [coupon] = (await admin.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [member.id] })).body.issued
    expect(coupon.validTo).toBe('2026-03-10T04:00:00.000Z')
  })

  it('checks minimum spend, scope, owner and validity, and comes back when the sale is refunded in full', async () => {
    const { store, admin, member, item } = await setup()
    const other = await seedProduct(hub, store, { price: 500, stock: 10 })
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: '9折 on item', kind: 'percent_off', percentBp: 1000, minSpend: 10000, productIds: [item.productId], validDays: 7 })).body
    const code = (await admin.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [member.id] })).body.issued[0].code
    const q = (lines: any[], memberId: string | undefined = member.id) => admin.post('/api/v1/sales/quote', { registerId: store.registerId, memberId, couponCodes: [code], lines })
    expect((await q([{ sku: item.sku }, { sku: other.sku, quantity: 10 }])).body.error.code).toBe('coupon_min_spend')
    const stranger = (await admin.post('/api/v1/members', { phone: phone() })).body
    expect((await q([{ sku: item.sku, quantity: 2 }], stranger.id)).body.error.code).toBe('coupon_unusable')
    const ok = await q([{ sku: item.sku, quantity: 2 }, { sku: other.sku }])
    expect(ok.body.lines.map((l: any) => l.discountTotal)).toEqual([1200, 0])
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, couponCodes: [code], lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 10800 }] })).body
    await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect((await admin.get(`/api/v1/coupons/${code}`)).body.status).toBe('redeemed')
    await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect((await admin.get(`/api/v1/coupons/${code}`)).body.status).toBe('issued')
  })

  it('issues in bulk up to the per-member limit and gives a free item', async () => {
    const { store, admin, member, item } = await setup()
    const m2 = (await admin.post('/api/v1/members', { phone: phone() })).body
    const gift = await seedProduct(hub, store, { price: 800, stock: 10 })
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: 'Free drink', kind: 'free_item', freeVariantId: gift.variantId, freeQuantity: 1, validDays: 30, perMemberLimit: 1 })).body
    const first = (await admin.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [member.id, m2.id] })).body
    expect(first.issued).toHaveLength(2)
    const second = (await admin.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [member.id] })).body
    expect(second.issued).toHaveLength(0)
    expect(second.skipped).toEqual([{ memberId: member.id, reason: 'already holds 1 of this coupon' }])
    const code = first.issued.find((c: any) => c.memberId === member.id).code
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, memberId: member.id, couponCodes: [code], lines: [{ sku: item.sku }, { sku: gift.sku }] })
    expect(q.body.total).toBe(6000)
  })
})

describe('tiers', () => {
  const hub = useTestHub()

  it("a change to a tier keeps its discount and points multiplier when it does not name them", async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const gold = await admin.post('/api/v1/tiers', { code: 'gold', name: '金卡', rank: 2, minSpend: 45000, discountBp: 500, pointsMultiplierBp: 20000 })
    expect(gold.status).toBe(201)
    const renamed = await admin.patch(`/api/v1/tiers/${gold.body.id}`, { name: '黄金卡' })
    expect(renamed.status).toBe(200)
    expect(renamed.body).toMatchObject({ name: '黄金卡', discountBp: 500, pointsMultiplierBp: 20000, minSpend: 45000 })
  })

  it('the tier discount applies with item percentages, before order discounts, and spend moves members up', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/tiers', { code: 'normal', name: '普通', rank: 0, minSpend: 0 })
    await admin.post('/api/v1/tiers', { code: 'gold', name: '金卡', rank: 2, minSpend: 45000, discountBp: 500, pointsMultiplierBp: 20000 })
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    expect(member.tier.code).toBe('normal')
    const item = await seedProduct(hub, store, { price: 60000, stock: 10 })
    await admin.post('/api/v1/promotions', { name: '满500减50', kind: 'spend_threshold', level: 'order', params: { tiers: [{ threshold: 50000, amount: 5000 }] } })
    await admin.post('/api/v1/promotions', { name: '10% off', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } })
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 49000 }] })).body
    // normal tier: 600 −10 % = 540 − 50 = 490.00
    expect(sale.total).toBe(49000)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier.code).toBe('gold')
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }] })
    // gold: 600 −10 % (promotion) = 540 −5 % (tier) = 513 − 50 = 463.00, and points earn double.
    expect(q.body.applied.map((a: any) => [a.source, a.amount])).toEqual([
      ['promotion', 6000],
      ['tier', 2700],
      ['promotion', 5000],
    ])
    expect(q.body.total).toBe(46300)
    expect(q.body.member.pointsToEarn).toBe(926) // 463 × 2
    const withStoredValue = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'on_account', amount: 46300 }], customerName: 'x' })
    expect(withStoredValue.body.member.pointsToEarn).toBe(0)
    // A full refund of the qualifying sale brings the member back down.
    await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier.code).toBe('normal')
  })

  it('a refund of a sale from before the tier window takes nothing off the spend in it', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, store, { price: 10_000, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/tiers', { code: 'base', name: 'Base', rank: 0, minSpend: 0 })
    await admin.post('/api/v1/tiers', { code: 'gold', name: 'Gold', rank: 1, minSpend: 10_000 })
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    const sell = async (at: Date, quantity: number) => {
      hub.setNow(at)
      try {
        const api = createApi(hub).as(await m.adminTokenNow())
        await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
        const r = await api.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku, quantity }], tenders: [{ kind: 'card', amount: 10_000 * quantity }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body
      } finally {
        hub.setNow(undefined)
      }
    }
    // ¥200 400 days ago (outside the 365-day window), ¥100 now: gold on this year's ¥100.
    const old = await sell(new Date(Date.now() - 400 * 86_400_000), 2)
    await sell(new Date(), 1)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier.code).toBe('gold')
    // The old sale refunded today: this year's spend is still ¥100.
    const refund = await admin.post(`/api/v1/sales/${old.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: old.lines[0].id, quantity: 2 }] })
    expect(refund.status, JSON.stringify(refund.body)).toBe(201)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier.code).toBe('gold')
    const history = await hub.database.db.execute<{ spend: number }>(sql`select rolling_spend::int as spend from tier_history where member_id = ${member.id} order by created_at`)
    expect(history.rows.every((r) => r.spend >= 0)).toBe(true)
  })
})

describe('merging members', () => {
  const hub = useTestHub()

  it('keeps every total: points (with lots and debt), stored value, coupons and purchase history', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const item = await seedProduct(hub, store, { price: 3000, stock: 10 })
    const a = (await admin.post('/api/v1/members', { phone: phone(), name: 'A', consents: [{ channel: 'sms', granted: true, source: 'till' }] })).body
    const b = (await admin.post('/api/v1/members', { phone: phone(), email: 'b@example.com', tags: ['wechat-import'] })).body
    await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: a.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 3000 }] })
    const saleB = (await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: b.id, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 6000 }] })).body
    await admin.post(`/api/v1/members/${b.id}/stored-value/adjust`, { principal: 1200, bonus: 300, reason: 'x' })
    await admin.patch(`/api/v1/members/${b.id}`, { consents: [{ channel: 'sms', granted: false, source: 'sms_reply' }] })
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: 'c', kind: 'amount_off', amount: 100, validDays: 5 })).body
    await admin.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [b.id] })
    const merged = await admin.post(`/api/v1/members/${a.id}/merge`, { sourceId: b.id })
    expect(merged.status).toBe(200)
    expect(merged.body).toMatchObject({ points: { balance: 30 + 60, owed: 0 }, storedValue: { principal: 1200, bonus: 300, total: 1500 }, email: 'b@example.com', tags: ['wechat-import'] })
    // The withdrawal of sms consent on B was the latest word: it stands.
    expect(merged.body.consents.sms).toBe(false)
    expect((await admin.get(`/api/v1/members/${b.id}`)).body).toMatchObject({ status: 'merged', mergedInto: a.id })
    expect((await admin.get(`/api/v1/members/${a.id}/coupons`)).body.items).toHaveLength(1)
    expect((await admin.get(`/api/v1/sales/${saleB.id}`)).body.memberId).toBe(a.id)
    const sums = await hub.database.db.execute(sql`
      select (select sum(delta) from points_ledger where member_id = ${a.id})::bigint as pa,
             (select sum(delta) from points_ledger where member_id = ${b.id})::bigint as pb,
             (select sum(remaining) from points_lots where member_id = ${a.id})::bigint as lots`)
    expect(sums.rows[0]).toEqual({ pa: 90, pb: 0, lots: 90 })
    // A refund of B's old sale now takes the points back from A.
    await admin.post(`/api/v1/sales/${saleB.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: saleB.lines[0].id, quantity: 2 }] })
    expect((await admin.get(`/api/v1/members/${a.id}`)).body.points.balance).toBe(30)
    expect((await admin.post(`/api/v1/members/${a.id}/merge`, { sourceId: b.id })).body.error.code).toBe('member_merged')
  })
})

describe('merged members', () => {
  const hub = useTestHub()

  it('a member merged through a long chain of merges resolves to the one that remains, for a sale and a top-up refund', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    const ids: string[] = []
    for (let i = 0; i < 8; i++) ids.push((await admin.post('/api/v1/members', { phone: phone() })).body.id)
    const topup = (await admin.post(`/api/v1/members/${ids[0]}/topups`, { registerId: store.registerId, amount: 1000, tenders: [{ kind: 'card', amount: 1000 }] })).body
    for (let i = 1; i < ids.length; i++) expect((await admin.post(`/api/v1/members/${ids[i]}/merge`, { sourceId: ids[i - 1] })).status).toBe(200)
    const last = ids.at(-1)!
    expect((await admin.get(`/api/v1/members/${last}`)).body.storedValue.total).toBe(1000)
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: ids[0], lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1000 }] })
    expect([sale.status, sale.body.memberId]).toEqual([201, last])
    const refunded = await admin.post(`/api/v1/topups/${topup.id}/refund`, { registerId: store.registerId, reason: 'changed mind' })
    expect(refunded.status, JSON.stringify(refunded.body)).toBe(200)
    expect((await admin.get(`/api/v1/members/${last}`)).body.storedValue.total).toBe(0)
  })

  it('a top-up of a member merged into another is refunded from the member who holds it now; a merged member’s balances cannot be adjusted', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const a = (await admin.post('/api/v1/members', { phone: phone() })).body
    const b = (await admin.post('/api/v1/members', { phone: phone() })).body
    const topup = (await admin.post(`/api/v1/members/${b.id}/topups`, { registerId: store.registerId, amount: 10_000, tenders: [{ kind: 'card', amount: 10_000 }] })).body
    expect((await admin.post(`/api/v1/members/${a.id}/merge`, { sourceId: b.id })).status).toBe(200)
    const refunded = await admin.post(`/api/v1/topups/${topup.id}/refund`, { registerId: store.registerId, reason: 'changed mind' })
    expect(refunded.status, JSON.stringify(refunded.body)).toBe(200)
    expect((await admin.get(`/api/v1/members/${a.id}`)).body.storedValue).toMatchObject({ principal: 0, bonus: 0, total: 0 })
    const held = await hub.database.db.execute(sql`select member_id, sum(principal_delta)::int as p from stored_value_ledger where member_id in (${a.id}, ${b.id}) group by 1 order by 1`)
    expect(held.rows.map((r: any) => r.p)).toEqual([0, 0])
    // A coupon for the merged member is skipped: its coupons are the survivor's, under the survivor's limit.
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: 'one each', kind: 'amount_off', amount: 100, validDays: 5, perMemberLimit: 1 })).body
    const issued = (await admin.post('/api/v1/coupons/issue', { templateId: tpl.id, memberIds: [b.id, a.id] })).body
    expect(issued.issued.map((c: any) => c.memberId)).toEqual([a.id])
    expect(issued.skipped).toEqual([{ memberId: b.id, reason: `merged into member ${a.id}` }])
    // The merged member holds nothing and takes nothing by hand.
    for (const [path, body] of [['points/adjust', { delta: 100, reason: 'x' }], ['stored-value/adjust', { principal: 500, bonus: 0, reason: 'x' }]] as const) {
      const r = await admin.post(`/api/v1/members/${b.id}/${path}`, body)
      expect([r.status, r.body.error?.code], path).toEqual([409, 'member_merged'])
    }
  })

  it('points added by hand expire counted from the hub’s day, and are recorded at its time', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    expect((await admin.patch('/api/v1/merchant/settings', { loyalty: { expiry: { days: 30 } } })).status).toBe(200)
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    hub.setNow(new Date('2031-06-15T04:00:00Z'))
    try {
      const later = createApi(hub).as(await m.adminTokenNow())
      expect((await later.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 100, reason: 'goodwill' })).status).toBe(200)
    } finally {
      hub.setNow(undefined)
    }
    const row = await hub.database.db.execute(sql`select expires_at::text as expires, created_at = '2031-06-15T04:00:00Z'::timestamptz as at_hub_time from points_ledger where member_id = ${member.id}`)
    expect(row.rows).toEqual([{ expires: '2031-07-15', at_hub_time: true }])
  })
})

describe('points that expired', () => {
  const hub = useTestHub()

  it('are not taken back again when their sale is refunded: only the points the member spent are owed', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 10_000, stock: 20 })
    expect((await createApi(hub).as(m.adminToken).patch('/api/v1/merchant/settings', { loyalty: { expiry: { days: 30 } } })).status).toBe(200)
    const member = (await createApi(hub).as(m.adminToken).post('/api/v1/members', { phone: phone() })).body
    try {
      hub.setNow(new Date('2031-03-01T04:00:00Z'))
      let admin = createApi(hub).as(await m.adminTokenNow())
      const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 20_000 }] })).body
      expect(sale.pointsEarned).toBe(200)
      expect((await admin.post(`/api/v1/members/${member.id}/points/adjust`, { delta: -50, reason: 'gift' })).status).toBe(200)
      // The other 150 expire after 30 days.
      expect((await runLoyaltyDay(hub, m.merchantId, new Date('2031-04-05T04:00:00Z'))).pointsExpired).toBe(150)
      hub.setNow(new Date('2031-04-05T05:00:00Z'))
      admin = createApi(hub).as(await m.adminTokenNow())
      const refund = () => admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
      expect((await refund()).status).toBe(201)
      // Half the sale's points (100) were among those that expired: nothing to take back, nothing owed.
      expect((await admin.get(`/api/v1/members/${member.id}/points`)).body).toMatchObject({ balance: 0, owed: 0 })
      expect((await refund()).status).toBe(201)
      // The other 100: 50 expired, 50 the member spent, which are owed.
      expect((await admin.get(`/api/v1/members/${member.id}/points`)).body).toMatchObject({ balance: 0, owed: 50 })
    } finally {
      hub.setNow(undefined)
    }
  })
})

describe('points past their last valid day, before the daily expiry has run', () => {
  const hub = useTestHub()

  it('are not spent, quoted, or taken back in place of valid ones; the expiry job then finds them gone', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 20 })
    expect((await createApi(hub).as(m.adminToken).patch('/api/v1/merchant/settings', { loyalty: { expiry: { days: 1 }, maxRedeemBp: 10_000 } })).status).toBe(200)
    const member = (await createApi(hub).as(m.adminToken).post('/api/v1/members', { phone: phone() })).body
    try {
      // 200 points on 10 March, valid to 11 March.
      hub.setNow(new Date('2031-03-10T02:00:00Z'))
      let admin = createApi(hub).as(await m.adminTokenNow())
      expect((await admin.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 200, reason: 'old' })).status).toBe(200)
      // 00:30 on 12 March, Shanghai: they expired half an hour ago; the daily job has not run yet. 100 new points.
      hub.setNow(new Date('2031-03-11T16:30:00Z'))
      admin = createApi(hub).as(await m.adminTokenNow())
      expect((await admin.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 100, reason: 'new' })).status).toBe(200)
      const body = (redeemPoints: number) => ({ registerId: store.registerId, memberId: member.id, redeemPoints, lines: [{ sku: item.sku }] })
      const quote = await admin.post('/api/v1/sales/quote', body(100))
      expect(quote.status, JSON.stringify(quote.body)).toBe(200)
      expect(quote.body.member).toMatchObject({ pointsBalance: 100, pointsRedeemed: 100 })
      const tooMany = await admin.post('/api/v1/sales', { ...body(200), tenders: [{ kind: 'card', amount: 800 }] })
      expect([tooMany.status, tooMany.body.error?.code, tooMany.body.error?.details?.balance]).toEqual([422, 'insufficient_points', 100])
      const sale = await admin.post('/api/v1/sales', { ...body(100), tenders: [{ kind: 'card', amount: 900 }] })
      expect(sale.status, JSON.stringify(sale.body)).toBe(201)
      // The valid 100 paid; the expired 200 are gone, not spent; the sale earned 9.
      const points = (await admin.get(`/api/v1/members/${member.id}/points`)).body
      expect([points.balance, points.lots]).toEqual([9, [{ remaining: 9, expiresAt: '2031-03-13' }]])
      // The sale refunded at once: its 9 points come back out of its own lot, and the 100 it spent are given back.
      expect((await admin.post(`/api/v1/sales/${sale.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.body.lines[0].id, quantity: 1 }] })).status).toBe(201)
      const after = (await admin.get(`/api/v1/members/${member.id}/points`)).body
      expect([after.balance, after.owed]).toEqual([100, 0])
      expect((await runLoyaltyDay(hub, m.merchantId, new Date('2031-03-11T17:07:00Z'))).pointsExpired).toBe(0)
      const ledger = await hub.database.db.execute<{ kind: string; delta: number }>(sql`select kind, delta::int from points_ledger where member_id = ${member.id} order by id`)
      expect(ledger.rows.filter((r) => r.kind === 'expire')).toEqual([{ kind: 'expire', delta: -200 }])
    } finally {
      hub.setNow(undefined)
    }
  })
})

describe('birthday gifts', () => {
  const hub = useTestHub()

  it('gives each member born this month one gift a year, however often the job runs', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const now = new Date()
    const month = Number(new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', month: '2-digit' }).format(now))
    const born = (await admin.post('/api/v1/members', { phone: phone(), birthday: { month, day: 1 } })).body
    await admin.post('/api/v1/members', { phone: phone(), birthday: { month: (month % 12) + 1, day: 1 } })
    await admin.patch('/api/v1/merchant/settings', { loyalty: { birthdayGift: { kind: 'points', points: 188 } } })
    const { runLoyaltyDay } = await import('../../src/jobs/members.ts')
    const first = await runLoyaltyDay(hub, m.merchantId, now)
    const second = await runLoyaltyDay(hub, m.merchantId, now)
    expect(first.birthdayGifts).toBe(1)
    expect(second.birthdayGifts).toBe(0)
    expect((await admin.get(`/api/v1/members/${born.id}`)).body.points.balance).toBe(188)
  })

  it('the same person registered twice and merged after one got the year’s gift gets no second one', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    expect((await admin.patch('/api/v1/merchant/settings', { loyalty: { birthdayGift: { kind: 'points', points: 88 } } })).status).toBe(200)
    const target = (await admin.post('/api/v1/members', { phone: phone() })).body
    const source = (await admin.post('/api/v1/members', { phone: phone(), birthday: { month: 5, day: 3 } })).body
    expect((await runLoyaltyDay(hub, m.merchantId, new Date('2026-05-02T02:00:00Z'))).birthdayGifts).toBe(1)
    const merged = await admin.post(`/api/v1/members/${target.id}/merge`, { sourceId: source.id })
    expect(merged.status, JSON.stringify(merged.body)).toBe(200)
    expect([merged.body.birthday?.month, merged.body.points.balance]).toEqual([5, 88])
    // The next day's run: the remaining member has the birthday now, and this year's gift already.
    expect((await runLoyaltyDay(hub, m.merchantId, new Date('2026-05-03T02:00:00Z'))).birthdayGifts).toBe(0)
    expect((await admin.get(`/api/v1/members/${target.id}`)).body.points.balance).toBe(88)
    // Next year it comes again, once.
    expect((await runLoyaltyDay(hub, m.merchantId, new Date('2027-05-02T02:00:00Z'))).birthdayGifts).toBe(1)
  })
})
