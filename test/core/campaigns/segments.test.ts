import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { createApi, seedMerchant } from '../../helpers/api.ts'
import { seedProduct, seedStore } from '../../helpers/pos.ts'
import { previewSegment } from '../../../src/core/campaigns/service.ts'
import type { SegmentRule } from '../../../src/core/campaigns/rules.ts'
import { nextSendTime } from '../../../src/core/campaigns/service.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const NOW = at('2026-11-20 12:00:00')

describe('segments', () => {
  const hub = useTestHub()

  /** Members with known histories: who matches each rule is decided by hand below. */
  async function population() {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const other = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, store, { price: 10000, stock: 1000 })
    const admin = createApi(hub).as(m.adminToken)
    const tiers = (await admin.get('/api/v1/tiers')).body.items ?? []
    const n = String(Date.now()).slice(-6)
    const mk = async (key: string, extra: Record<string, unknown>) => {
      const r = await admin.post('/api/v1/members', { phone: `+86139${n}${key}`, name: key, ...extra })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      return r.body.id as string
    }
    const ids = {
      ann: await mk('01', { birthday: { month: 11, day: 3 }, tags: ['vip', 'tea'], storeId: store.storeId }),
      bob: await mk('02', { birthday: { month: 5, day: 9 }, tags: ['tea'], storeId: other.storeId }),
      cai: await mk('03', { tags: [] }),
      dan: await mk('04', { birthday: { month: 11, day: 28 } }),
    }
    // Purchases: Ann spends 300.00 in 3 sales 10 days ago; Bob one sale of 100.00 100 days ago; Cai and Dan never.
    await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
    const buy = async (memberId: string, when: Date, qty = 1) => {
      hub.setNow(when)
      try {
        const r = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId, lines: [{ sku: item.sku, quantity: qty }], tenders: [{ kind: 'card', amount: 10000 * qty }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
      } finally {
        hub.setNow(undefined)
      }
    }
    for (let i = 0; i < 3; i++) await buy(ids.ann, at('2026-11-10 12:00:00'))
    await buy(ids.bob, at('2026-08-12 12:00:00'))
    await hub.database.db.execute(sql`update members set points_balance = 500 where id = ${ids.dan}`)
    return { m, ids, tiers, store }
  }

  const matches = async (merchantId: string, rule: SegmentRule) => {
    const p = await previewSegment(hub.database.db, merchantId, rule, NOW, 100)
    expect(p.sample).toHaveLength(p.count)
    return p.sample.map((s) => s.name).sort()
  }

  it('computes each rule kind, and combinations, in SQL', async () => {
    const { m, ids, store } = await population()
    const id = m.merchantId
    expect(await matches(id, { birthdayMonth: 'current' })).toEqual(['01', '04'])
    expect(await matches(id, { birthdayMonth: 5 })).toEqual(['02'])
    expect(await matches(id, { tags: ['tea'] })).toEqual(['01', '02'])
    expect(await matches(id, { tags: ['tea', 'vip'], match: 'all' })).toEqual(['01'])
    expect(await matches(id, { store: [store.storeId] })).toEqual(['01'])
    expect(await matches(id, { lastPurchase: { before: 60 } })).toEqual(['02'])
    expect(await matches(id, { lastPurchase: { after: 30 } })).toEqual(['01'])
    expect(await matches(id, { lastPurchase: { never: true } })).toEqual(['03', '04'])
    expect(await matches(id, { spend: { days: 30, min: 30000 } })).toEqual(['01'])
    expect(await matches(id, { frequency: { days: 365, min: 1, max: 1 } })).toEqual(['02'])
    expect(await matches(id, { points: { min: 400 } })).toEqual(['04'])
    expect(await matches(id, { rfm: { f: [2, 5] } })).toEqual(['01'])
    expect(await matches(id, { any: [{ birthdayMonth: 'current' }, { tags: ['tea'] }] })).toEqual(['01', '02', '04'])
    expect(await matches(id, { all: [{ birthdayMonth: 'current' }, { not: { lastPurchase: { never: true } } }] })).toEqual(['01'])
    expect(await matches(id, { hasCoupon: true })).toEqual([])
    expect(await matches(id, { hasCoupon: false })).toHaveLength(4)
    // "Gold members who have not visited for 60 days" in tier terms: Bob once his tier is set.
    const tier = (await createApi(hub).as(m.adminToken).post('/api/v1/tiers', { code: 'GOLD', name: 'Gold', rank: 1, minSpend: 100000, discountBp: 500 })).body
    await hub.database.db.execute(sql`update members set tier_id = ${tier.id} where id = ${ids.bob}`)
    expect(await matches(id, { all: [{ tier: ['GOLD'] }, { lastPurchase: { before: 60 } }] })).toEqual(['02'])
    // A tier named by its id, also in upper case (ids are case-insensitive on input), is the same tier.
    expect(await matches(id, { tier: [tier.id] })).toEqual(['02'])
    expect(await matches(id, { tier: [tier.id.toUpperCase()] })).toEqual(['02'])
  })

  it("ranks the RFM 'm' (monetary) quintile by spend net of refunds, as the spend rule counts it", async () => {
    const { m, store } = await population()
    // Ann spent 300.00 and was given it all back: below Bob's 100.00.
    const admin = createApi(hub).as(m.adminToken)
    const sales = (await hub.database.db.execute<{ id: string }>(sql`select s.id from sales s join members x on x.id = s.member_id where s.merchant_id = ${m.merchantId} and x.name = '01' order by s.id`)).rows
    for (const sale of sales) {
      const full = (await admin.get(`/api/v1/sales/${sale.id}`)).body
      hub.setNow(at('2026-11-11 12:00:00'))
      try {
        const r = await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: full.lines[0].id, quantity: 1 }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
      } finally {
        hub.setNow(undefined)
      }
    }
    expect(await matches(m.merchantId, { spend: { days: 365, min: 10000 } })).toEqual(['02'])
    expect(await matches(m.merchantId, { rfm: { m: [2, 5] } })).toEqual(['02'])
  })

  it('refuses a rule nested deeper than all/any/not allow, on save and on preview, and takes one at the limit', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const nest = (depth: number, kind: 'not' | 'all') => {
      let rule: unknown = { points: { min: 0 } }
      for (let i = 0; i < depth; i++) rule = kind === 'not' ? { not: rule } : { all: [rule] }
      return rule
    }
    for (const rule of [nest(3000, 'not'), nest(11, 'all')]) {
      const preview = await api.post('/api/v1/segments/preview', { rule })
      const save = await api.post('/api/v1/segments', { name: 'deep', rule })
      expect([preview.status, preview.body.error?.code, save.status, save.body.error?.code]).toEqual([422, 'invalid_rule', 422, 'invalid_rule'])
      expect(save.body.error.message).toContain('at most 10 deep')
    }
    expect((await api.get('/api/v1/segments')).body.items).toHaveLength(0)
    const atLimit = await api.post('/api/v1/segments', { name: 'ten', rule: nest(10, 'all') })
    expect(atLimit.status, JSON.stringify(atLimit.body)).toBe(201)
  })

  it('refuses a malformed rule with the path of the problem', async () => {
    const m = await seedMerchant(hub)
    const r = await createApi(hub).as(m.adminToken).post('/api/v1/segments', { name: 'x', rule: { all: [{ spend: { days: 0 } }] } })
    expect(r.status).toBe(422)
    expect(r.body.error.code).toBe('invalid_rule')
  })

  it('refuses a rule no member could ever match (a range upside down) or naming a tier, store or coupon template the merchant does not have', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const tier = (await api.post('/api/v1/tiers', { code: 'GOLD', name: 'Gold', rank: 1, minSpend: 100000, discountBp: 500 })).body
    const others = await seedStore(hub, (await seedMerchant(hub)).merchantId, { openSession: false })
    const cases: [unknown, string][] = [
      [{ points: { min: 10, max: 1 } }, 'points'],
      [{ spend: { days: 30, min: 5000, max: 100 } }, 'spend'],
      [{ frequency: { days: 30, min: 3, max: 2 } }, 'frequency'],
      [{ rfm: { r: [5, 1] } }, 'rfm.r'],
      [{ lastPurchase: { before: 30, after: 10 } }, 'lastPurchase'],
      [{ lastPurchase: { never: true, after: 10 } }, 'lastPurchase'],
      [{ all: [{ tier: ['GOLDD'] }] }, 'GOLDD'],
      [{ store: [others.storeId] }, others.storeId],
      [{ hasCoupon: { templateId: crypto.randomUUID() } }, 'coupon template'],
    ]
    for (const [rule, named] of cases) {
      const preview = await api.post('/api/v1/segments/preview', { rule })
      const save = await api.post('/api/v1/segments', { name: 'never', rule })
      expect([JSON.stringify(rule), preview.status, preview.body.error?.code, save.status, save.body.error?.code]).toEqual([JSON.stringify(rule), 422, 'invalid_rule', 422, 'invalid_rule'])
      expect(save.body.error.message).toContain(named)
    }
    expect((await api.get('/api/v1/segments')).body.items).toHaveLength(0)
    // The same rules the right way round, and references the merchant has (a tier by code or id), are taken.
    for (const rule of [{ points: { min: 1, max: 10 } }, { rfm: { r: [1, 5] } }, { lastPurchase: { before: 10, after: 30 } }, { tier: ['GOLD', tier.id] }, { tier: [tier.id.toUpperCase()] }, { store: [store.storeId.toUpperCase()] }]) {
      const r = await api.post('/api/v1/segments', { name: `ok ${JSON.stringify(rule)}`, rule })
      expect([JSON.stringify(rule), r.status]).toEqual([JSON.stringify(rule), 201])
    }
  })

  it('quiet hours that wrap midnight defer a send to their end, in the merchant’s time zone', () => {
    const tz = 'Asia/Shanghai'
    expect(nextSendTime(at('2026-11-20 23:30:00'), tz, '21:00', '09:00')).toEqual(at('2026-11-21 09:00:00'))
    expect(nextSendTime(at('2026-11-20 03:00:00'), tz, '21:00', '09:00')).toEqual(at('2026-11-20 09:00:00'))
    // New York's 23-hour day (8 March) and 25-hour day (1 November): quiet hours end at 09:00 local all the same.
    expect(nextSendTime(new Date('2026-03-08T04:00:00Z'), 'America/New_York', '21:00', '09:00').toISOString()).toBe('2026-03-08T13:00:00.000Z')
    expect(nextSendTime(new Date('2026-11-01T03:00:00Z'), 'America/New_York', '21:00', '09:00').toISOString()).toBe('2026-11-01T14:00:00.000Z')
    // An end the clocks show twice (01:30 on 1 November): after its first showing, its second is next.
    expect(nextSendTime(new Date('2026-11-01T06:10:00Z'), 'America/New_York', '23:00', '01:30').toISOString()).toBe('2026-11-01T06:30:00.000Z')
    expect(nextSendTime(at('2026-11-20 12:00:00'), tz, '21:00', '09:00')).toEqual(at('2026-11-20 12:00:00'))
    expect(nextSendTime(at('2026-11-20 13:15:00'), tz, '13:00', '14:00')).toEqual(at('2026-11-20 14:00:00'))
  })
})
