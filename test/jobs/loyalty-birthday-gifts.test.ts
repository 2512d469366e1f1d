import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { runLoyaltyDay, loyaltyDaily } from '../../src/jobs/members.ts'

let phones = 0
const phone = () => `1394${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

// 10:00 on 20 May 2026 in Asia/Shanghai: a day of the birthday month of members born in May.
const AT = new Date('2026-05-20T02:00:00Z')

describe('birthday gift settings', () => {
  const hub = useTestHub()

  it('refuses a coupon template of another merchant, or one that does not exist, with 422 unknown_coupon_template', async () => {
    const m = await seedMerchant(hub)
    const other = await seedMerchant(hub)
    const theirs = (await createApi(hub).as(other.adminToken).post('/api/v1/coupon-templates', { validDays: 30, name: 'theirs', kind: 'amount_off', amount: 500 })).body
    const admin = createApi(hub).as(m.adminToken)
    for (const templateId of [theirs.id, '00000000-0000-4000-8000-000000000000']) {
      const r = await admin.patch('/api/v1/merchant/settings', { loyalty: { birthdayGift: { kind: 'coupon', templateId } } })
      expect([r.status, r.body.error?.code], JSON.stringify(r.body)).toEqual([422, 'unknown_coupon_template'])
      expect(r.body.error.message).toContain(templateId)
    }
    expect((await admin.get('/api/v1/merchant/settings')).body.loyalty.birthdayGift).toBeNull()
  })

  it('accepts a coupon template of the merchant', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const tpl = (await admin.post('/api/v1/coupon-templates', { validDays: 30, name: 'ours', kind: 'amount_off', amount: 500 })).body
    const r = await admin.patch('/api/v1/merchant/settings', { loyalty: { birthdayGift: { kind: 'coupon', templateId: tpl.id } } })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.loyalty.birthdayGift).toEqual({ kind: 'coupon', templateId: tpl.id })
  })
})

describe('loyalty day with a birthday coupon that cannot be issued', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))

  /** A merchant giving a birthday coupon of its own template, with one member born in May. */
  async function couponMerchant(template: Record<string, unknown> = {}) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: 'bday', kind: 'amount_off', amount: 1000, validDays: 30, ...template })).body
    expect(tpl.id, JSON.stringify(tpl)).toBeDefined()
    expect((await admin.patch('/api/v1/merchant/settings', { loyalty: { birthdayGift: { kind: 'coupon', templateId: tpl.id } } })).status).toBe(200)
    const member = (await admin.post('/api/v1/members', { phone: phone(), birthday: { month: 5, day: 20 } })).body
    return { m, admin, tpl, member }
  }

  /** A merchant giving 66 birthday points, with one member born in May. */
  async function pointsMerchant() {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    expect((await admin.patch('/api/v1/merchant/settings', { loyalty: { birthdayGift: { kind: 'points', points: 66 } } })).status).toBe(200)
    const member = (await admin.post('/api/v1/members', { phone: phone(), birthday: { month: 5, day: 20 } })).body
    return { admin, member }
  }

  const warnings = (merchantId: string) =>
    hub.logs.lines.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.level === 'warn' && l.merchantId === merchantId)

  it('skips the gift of a template that has ended, reports why, and still gives the other merchants theirs', async () => {
    const a = await couponMerchant({ validTo: '2026-05-10T16:00:00Z' })
    const b = await pointsMerchant()
    hub.setNow(AT)
    await loyaltyDaily.run({}, { hub } as any)
    expect((await b.admin.get(`/api/v1/members/${b.member.id}`)).body.points.balance).toBe(66)
    expect((await a.admin.get(`/api/v1/members/${a.member.id}/coupons`)).body.items).toEqual([])
    const warned = warnings(a.m.merchantId)
    expect(warned.length, JSON.stringify(warned)).toBeGreaterThan(0)
    expect(warned[0]).toMatchObject({ templateId: a.tpl.id, reason: 'template_expired' })
  })

  it('skips the gift of a template that is switched off, and the tier reviews of the day still run', async () => {
    const a = await couponMerchant()
    expect((await a.admin.patch(`/api/v1/coupon-templates/${a.tpl.id}`, { active: false })).status).toBe(200)
    await a.admin.post('/api/v1/tiers', { code: 'base', name: 'Base', rank: 0, minSpend: 0 })
    const gold = (await a.admin.post('/api/v1/tiers', { code: 'gold', name: 'Gold', rank: 1, minSpend: 10_000 })).body
    // A gold member with no spend in the window: the daily review lowers them.
    await hub.database.db.execute(sql`update members set tier_id = ${gold.id} where id = ${a.member.id}`)
    const day = await runLoyaltyDay(hub, a.m.merchantId, AT)
    expect(day).toMatchObject({ birthdayGifts: 0, tiersReviewed: 1 })
    expect((await a.admin.get(`/api/v1/members/${a.member.id}`)).body.tier.code).toBe('base')
    expect(warnings(a.m.merchantId).map((l) => l.reason)).toContain('template_inactive')
  })

  it('skips the gift of a template the merchant does not have', async () => {
    const a = await couponMerchant()
    // Saved before settings checked the template (the API refuses it now).
    const missing = '00000000-0000-4000-8000-000000000001'
    await hub.database.db.execute(sql`update merchants set settings = jsonb_set(settings, '{loyalty,birthdayGift,templateId}', to_jsonb(${missing}::text)) where id = ${a.m.merchantId}`)
    const day = await runLoyaltyDay(hub, a.m.merchantId, AT)
    expect(day.birthdayGifts).toBe(0)
    expect(warnings(a.m.merchantId).filter((l) => l.templateId === missing).map((l) => l.reason)).toContain('coupon_template_not_found')
  })

  it('gives the skipped gift once the template is fixed, later the same day', async () => {
    const a = await couponMerchant({ validTo: '2026-05-10T16:00:00Z' })
    expect((await runLoyaltyDay(hub, a.m.merchantId, AT)).birthdayGifts).toBe(0)
    expect((await a.admin.patch(`/api/v1/coupon-templates/${a.tpl.id}`, { validTo: '2026-12-31T16:00:00Z' })).status).toBe(200)
    const later = new Date(AT.getTime() + 3600_000)
    expect((await runLoyaltyDay(hub, a.m.merchantId, later)).birthdayGifts).toBe(1)
    const held = (await a.admin.get(`/api/v1/members/${a.member.id}/coupons`)).body.items
    expect(held).toHaveLength(1)
    expect(held[0]).toMatchObject({ templateId: a.tpl.id, source: 'birthday', status: 'issued' })
    // Given once: the next run gives nothing more.
    expect((await runLoyaltyDay(hub, a.m.merchantId, new Date(later.getTime() + 3600_000))).birthdayGifts).toBe(0)
  })
})

describe('loyalty day with a birthday coupon of a template with a per-member limit', () => {
  const hub = useTestHub()

  async function limitedTemplate() {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    const tpl = (await admin.post('/api/v1/coupon-templates', { name: 'bday', kind: 'amount_off', amount: 1000, validDays: 30, perMemberLimit: 1 })).body
    expect(tpl.id, JSON.stringify(tpl)).toBeDefined()
    expect((await admin.patch('/api/v1/merchant/settings', { loyalty: { birthdayGift: { kind: 'coupon', templateId: tpl.id } } })).status).toBe(200)
    const member = (await admin.post('/api/v1/members', { phone: phone(), birthday: { month: 5, day: 20 } })).body
    return { m, admin, tpl, member }
  }

  const giftRows = async (memberId: string) =>
    (await hub.database.db.execute<{ year: number; coupon_id: string | null }>(sql`select year, coupon_id from birthday_gifts where member_id = ${memberId} order by year`)).rows

  it("gives the next year's coupon although last year's (expired since) counts toward the limit", async () => {
    const a = await limitedTemplate()
    expect((await runLoyaltyDay(hub, a.m.merchantId, AT)).birthdayGifts).toBe(1)
    const nextYear = new Date('2027-05-20T02:00:00Z')
    expect(await runLoyaltyDay(hub, a.m.merchantId, nextYear)).toMatchObject({ birthdayGifts: 1, birthdayGiftsSkipped: 0 })
    const held = (await a.admin.get(`/api/v1/members/${a.member.id}/coupons`)).body.items
    expect(held).toHaveLength(2)
    const gifts = await giftRows(a.member.id)
    expect(gifts.map((g) => g.year)).toEqual([2026, 2027])
    expect(gifts.every((g) => g.coupon_id !== null)).toBe(true)
  })

  it('gives the coupon to a member who already holds one of the template', async () => {
    const a = await limitedTemplate()
    expect((await a.admin.post('/api/v1/coupons/issue', { templateId: a.tpl.id, memberIds: [a.member.id] })).status).toBeLessThan(300)
    expect(await runLoyaltyDay(hub, a.m.merchantId, AT)).toMatchObject({ birthdayGifts: 1, birthdayGiftsSkipped: 0 })
    const held = (await a.admin.get(`/api/v1/members/${a.member.id}/coupons`)).body.items
    expect(held).toHaveLength(2)
    const birthday = held.filter((c: { source: string }) => c.source === 'birthday')
    expect(birthday).toHaveLength(1)
    expect((await giftRows(a.member.id)).map((g) => g.coupon_id)).toEqual([birthday[0].id])
  })
})

describe('loyalty.daily over all merchants', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))

  it('a merchant whose loyalty day fails does not stop the others, and the failure is logged with the merchant', async () => {
    const broken = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    // Settings that no longer read: every step of this merchant's day fails.
    await hub.database.db.execute(sql`update merchants set settings = '{"loyalty":{"spendPerPoint":"many"}}'::jsonb where id = ${broken.merchantId}`)
    const ok = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(ok.adminToken)
    expect((await admin.patch('/api/v1/merchant/settings', { loyalty: { birthdayGift: { kind: 'points', points: 66 } } })).status).toBe(200)
    const member = (await admin.post('/api/v1/members', { phone: phone(), birthday: { month: 5, day: 20 } })).body
    hub.setNow(AT)
    // Like the other hourly all-merchant jobs, the run goes on past a failing merchant (the next hour tries again).
    await expect(loyaltyDaily.run({}, { hub } as any)).resolves.toBeUndefined()
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.points.balance).toBe(66)
    const logged = hub.logs.lines.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.merchantId === broken.merchantId && l.level === 'warn')
    expect(logged.length).toBeGreaterThan(0)
  })
})

describe('a loyalty day missed at the end of a month', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))
  const at = (iso: string) => new Date(iso)
  const runAt = async (when: Date) => {
    hub.setNow(when)
    try {
      await loyaltyDaily.run({}, { hub, signal: new AbortController().signal } as never)
    } finally {
      hub.setNow(undefined)
    }
  }

  it("gives the month's birthday gifts on the next run when the month's last run was missed, and only to members of that month", async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    expect((await admin.patch('/api/v1/merchant/settings', { loyalty: { birthdayGift: { kind: 'points', points: 100 } } })).status).toBe(200)
    await runAt(at('2026-11-30T14:07:00Z')) // 22:07 on 30 November in Shanghai
    // A member born in November joins at 22:30; the 23:07 run is missed (the hub is down until after midnight).
    hub.setNow(at('2026-11-30T14:30:00Z'))
    const november = (await admin.post('/api/v1/members', { phone: phone(), birthday: { month: 11, day: 15 } })).body
    // One born in November who joins on 1 December, before the first run of the month: November had passed.
    hub.setNow(at('2026-11-30T16:03:00Z'))
    const late = (await admin.post('/api/v1/members', { phone: phone(), birthday: { month: 11, day: 2 } })).body
    hub.setNow(undefined)
    await runAt(at('2026-11-30T16:07:00Z')) // 00:07 on 1 December
    await runAt(at('2026-11-30T17:07:00Z'))
    const balance = async (id: string) => (await admin.get(`/api/v1/members/${id}/points`)).body.balance
    expect([await balance(november.id), await balance(late.id)]).toEqual([100, 0])
  })

  it('gives the gifts of every month a hub down for months missed, each to the members of its month, once', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    expect((await admin.patch('/api/v1/merchant/settings', { loyalty: { birthdayGift: { kind: 'points', points: 50 } } })).status).toBe(200)
    hub.setNow(at('2026-07-10T02:00:00Z'))
    const born = async (month: number) => (await admin.post('/api/v1/members', { phone: phone(), birthday: { month, day: 1 } })).body.id as string
    const [july, august, september, october, november] = [await born(7), await born(8), await born(9), await born(10), await born(11)]
    hub.setNow(undefined)
    // Runs on 10 July (July's gift given), then the hub is down from 11 July until 12 November.
    await runAt(at('2026-07-10T02:07:00Z'))
    await runAt(at('2026-11-12T02:07:00Z'))
    await runAt(at('2026-11-12T03:07:00Z'))
    const balance = async (id: string) => (await admin.get(`/api/v1/members/${id}/points`)).body.balance
    expect([await balance(july), await balance(august), await balance(september), await balance(october), await balance(november)]).toEqual([50, 50, 50, 50, 50])
  })
})
