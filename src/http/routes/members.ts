// Members: register, look up (phone, card, QR), change, consent, merge; their points, stored value and coupons.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { RowCursor, uuid } from '../schemas.ts'
import { and, desc, eq } from 'drizzle-orm'
import { consentHistory, getMember, listMembers, lookupMember, memberQr, registerMember, updateMember, type Member } from '../../core/members/members.ts'
import { mergeMembers } from '../../core/members/merge.ts'
import { adjustPoints } from '../../core/members/points.ts'
import { adjustStoredValue, refundTopup, topUp } from '../../core/members/stored-value.ts'
import { coupons, pointsLedger, storedValueLedger, tiers } from '../../core/members/schema.ts'
import { getSettings } from '../../core/merchants/settings.ts'
import { ledgerPage, openLots } from '../../core/members/ledgers.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody, page } from '../route.ts'
import { CouponTermsSchema } from './loyalty.ts'
import { couponTerms } from '../../core/members/coupons.ts'

const tags = ['Members']
const minor = z.number().int()
const Channel = z.enum(['sms', 'email', 'wechat'])
const Consent = z.object({ channel: Channel, granted: z.boolean(), source: z.string().min(1).max(50).default('api'), evidence: z.string().max(500).optional() }).strict()
const Birthday = z.object({ month: z.number().int().min(1).max(12), day: z.number().int().min(1).max(31), year: z.number().int().optional() }).strict()

export const MemberSchema = z
  .object({
    id: uuid(),
    phone: z.string(),
    cardNo: z.string(),
    qr: z.string().openapi({ description: 'Text of the QR code on the member card' }),
    name: z.string().nullable(),
    email: z.string().nullable(),
    birthday: z.object({ month: z.number().int(), day: z.number().int(), year: z.number().int().nullable() }).nullable(),
    storeId: uuid().nullable(),
    tags: z.array(z.string()),
    tier: z.object({ id: uuid(), code: z.string(), name: z.string() }).nullable(),
    consents: z.object({ sms: z.boolean(), email: z.boolean(), wechat: z.boolean() }),
    points: z.object({ balance: z.number().int(), owed: z.number().int() }),
    storedValue: z.object({ principal: minor, bonus: minor, total: minor }),
    status: z.enum(['active', 'merged']),
    mergedInto: uuid().nullable(),
    lastPurchaseAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('Member')

type TierRef = { id: string; code: string; name: string } | null
const view = (m: Member, tier: TierRef): z.infer<typeof MemberSchema> => ({
  id: m.id,
  phone: m.phone,
  cardNo: m.cardNo,
  qr: memberQr(m.cardNo),
  name: m.name,
  email: m.email,
  birthday: m.birthMonth && m.birthDay ? { month: m.birthMonth, day: m.birthDay, year: m.birthYear } : null,
  storeId: m.storeId,
  tags: m.tags,
  tier,
  consents: { sms: m.consentSms, email: m.consentEmail, wechat: m.consentWechat },
  points: { balance: m.pointsBalance, owed: m.pointsDebt },
  storedValue: { principal: m.storedPrincipal, bonus: m.storedBonus, total: m.storedPrincipal + m.storedBonus },
  status: m.status,
  mergedInto: m.mergedInto,
  lastPurchaseAt: m.lastPurchaseAt?.toISOString() ?? null,
  createdAt: m.createdAt.toISOString(),
})

async function withTier(db: AppEnv['Variables']['db'], m: Member) {
  if (!m.tierId) return view(m, null)
  const [t] = await db.select({ id: tiers.id, code: tiers.code, name: tiers.name }).from(tiers).where(eq(tiers.id, m.tierId))
  return view(m, t ?? null)
}

const MemberBody = z
  .object({
    phone: z.string().min(3).max(32),
    name: z.string().max(100).optional(),
    email: z.string().max(320).optional(),
    birthday: Birthday.optional(),
    storeId: uuid().optional(),
    tags: z.array(z.string().min(1).max(50)).max(50).optional(),
    consents: z.array(Consent).max(3).optional(),
    wechatOpenId: z.string().max(100).optional(),
  })
  .strict()

const registerRoute = defineRoute({
  method: 'post',
  path: '/api/v1/members',
  tags,
  summary: 'Register a member',
  description: 'The phone is stored in E.164 and is unique per merchant; a card number is issued. Consent per channel is recorded with when and how it was given.',
  access: 'members.manage',
  request: { body: jsonBody(MemberBody) },
  responses: { 201: json(MemberSchema, 'Registered') },
})
const list = defineRoute({
  method: 'get',
  path: '/api/v1/members',
  tags,
  summary: 'Search members',
  access: 'members.read',
  request: {
    query: z.object({
      q: z.string().max(100).optional(),
      tierId: uuid().optional(),
      tag: z.string().max(50).optional(),
      storeId: uuid().optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: uuid().optional(),
    }),
  },
  responses: { 200: json(page(MemberSchema)) },
})
const lookup = defineRoute({
  method: 'get',
  path: '/api/v1/members/lookup',
  tags,
  summary: 'Find a member by phone, card number or the QR on the card',
  access: 'members.read',
  request: { query: z.object({ phone: z.string().max(32).optional(), cardNo: z.string().max(32).optional(), qr: z.string().max(100).optional() }) },
  responses: { 200: json(MemberSchema) },
})
const get = defineRoute({ method: 'get', path: '/api/v1/members/{id}', tags, summary: 'One member', access: 'members.read', request: { params: IdParam }, responses: { 200: json(MemberSchema) } })
const patch = defineRoute({
  method: 'patch',
  path: '/api/v1/members/{id}',
  tags,
  summary: 'Change a member, or record consent',
  access: 'members.manage',
  request: {
    params: IdParam,
    body: jsonBody(
      z
        .object({
          phone: z.string().min(3).max(32),
          name: z.string().max(100).nullable(),
          email: z.string().max(320).nullable(),
          birthday: Birthday.nullable(),
          storeId: uuid().nullable(),
          tags: z.array(z.string().min(1).max(50)).max(50),
          wechatOpenId: z.string().max(100).nullable(),
          consents: z.array(Consent).max(3),
        })
        .partial()
        .strict(),
    ),
  },
  responses: { 200: json(MemberSchema) },
})
const consents = defineRoute({
  method: 'get',
  path: '/api/v1/members/{id}/consents',
  tags,
  summary: 'Consent history',
  access: 'members.read',
  request: { params: IdParam },
  responses: { 200: json(z.object({ items: z.array(z.object({ channel: Channel, granted: z.boolean(), source: z.string(), evidence: z.string().nullable(), at: z.string() })) })) },
})
const merge = defineRoute({
  method: 'post',
  path: '/api/v1/members/{id}/merge',
  tags,
  summary: 'Merge another member into this one',
  description: 'Points (lots and debt), stored value, coupons, purchase history, tags and the latest consent per channel move here; the other member is marked merged.',
  access: 'members.manage',
  request: { params: IdParam, body: jsonBody(z.object({ sourceId: uuid() }).strict()) },
  responses: { 200: json(MemberSchema) },
})

/** A member's ledger, newest first, a page at a time. */
const LedgerPage = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), cursor: RowCursor() })
const LedgerPoints = z.object({ id: z.number().int(), kind: z.string(), delta: z.number().int(), balanceAfter: z.number().int(), saleId: uuid().nullable(), refundId: uuid().nullable(), expiresAt: z.string().nullable(), note: z.string().nullable(), at: z.string() })
const points = defineRoute({
  method: 'get',
  path: '/api/v1/members/{id}/points',
  tags,
  summary: 'Points ledger (newest first, a page at a time) and the lots left to spend',
  access: 'members.read',
  request: { params: IdParam, query: LedgerPage },
  responses: {
    200: json(
      z.object({
        balance: z.number().int(),
        owed: z.number().int(),
        lots: z.array(z.object({ remaining: z.number().int(), expiresAt: z.string().nullable() })),
        ledger: z.array(LedgerPoints),
        nextCursor: z.string().nullable().openapi({ description: 'Older entries: pass it as `cursor`; null on the last page' }),
      }),
    ),
  },
})
const adjust = defineRoute({
  method: 'post',
  path: '/api/v1/members/{id}/points/adjust',
  tags,
  summary: 'Add or remove points by hand',
  access: 'points.adjust',
  request: { params: IdParam, body: jsonBody(z.object({ delta: z.number().int(), reason: z.string().min(1).max(500) }).strict()) },
  responses: { 200: json(MemberSchema) },
})
const storedValue = defineRoute({
  method: 'get',
  path: '/api/v1/members/{id}/stored-value',
  tags,
  summary: 'Stored value ledger (principal and bonus apart), newest first, a page at a time',
  access: 'members.read',
  request: { params: IdParam, query: LedgerPage },
  responses: {
    200: json(
      z.object({
        principal: minor,
        bonus: minor,
        ledger: z.array(z.object({ id: z.number().int(), kind: z.string(), principalDelta: minor, bonusDelta: minor, principalAfter: minor, bonusAfter: minor, saleId: uuid().nullable(), refundId: uuid().nullable(), topupId: uuid().nullable(), note: z.string().nullable(), at: z.string() })),
        nextCursor: z.string().nullable().openapi({ description: 'Older entries: pass it as `cursor`; null on the last page' }),
      }),
    ),
  },
})
const Tender = z.object({ kind: z.enum(['cash', 'card', 'wechat', 'alipay', 'unionpay_qr']), amount: z.number().int().min(1), paymentNo: z.string().max(32).optional(), channelTxnId: z.string().max(64).optional(), reference: z.record(z.string(), z.string().max(200)).optional() }).strict()
const TopupSchema = z.object({
  id: uuid(),
  receiptNo: z.string(),
  principal: minor,
  bonus: minor,
  change: minor,
  balance: z.object({ principal: minor, bonus: minor }),
  tenders: z.array(z.object({ id: uuid(), kind: z.string(), amount: minor, received: minor.nullable(), paymentNo: z.string().nullable() })),
})
const topup = defineRoute({
  method: 'post',
  path: '/api/v1/members/{id}/topups',
  tags,
  summary: 'Top up stored value (储值) at a till',
  description: 'Paid by cash or electronic tenders (which get payment numbers); the top-up bonus rules add bonus, kept apart from principal.',
  access: 'stored_value.topup',
  request: { params: IdParam, body: jsonBody(z.object({ registerId: uuid(), amount: z.number().int().min(1), tenders: z.array(Tender).min(1).max(5) }).strict()) },
  responses: { 201: json(TopupSchema, 'Topped up') },
})
const topupRefund = defineRoute({
  method: 'post',
  path: '/api/v1/topups/{id}/refund',
  tags,
  summary: 'Refund a top-up the member has not spent',
  access: 'stored_value.adjust',
  request: { params: IdParam, body: jsonBody(z.object({ registerId: uuid(), reason: z.string().min(1).max(500) }).strict()) },
  responses: { 200: json(z.object({ id: uuid(), status: z.string(), principal: minor, bonus: minor, tenders: z.array(z.object({ kind: z.string(), amount: minor, refundNo: z.string().nullable() })) })) },
})
const svAdjust = defineRoute({
  method: 'post',
  path: '/api/v1/members/{id}/stored-value/adjust',
  tags,
  summary: 'Correct stored value by hand (never below zero)',
  description:
    "Booked in the daily voucher of a store, on the day it is made: the principal against `stored_value:adjustment`, the bonus against `stored_value:bonus_expense`. The store is the one named, else the member's own, else the merchant's only (open) store (422 `store_required` when none of these names one).",
  access: 'stored_value.adjust',
  request: { params: IdParam, body: jsonBody(z.object({ principal: z.number().int(), bonus: z.number().int(), reason: z.string().min(1).max(500), storeId: uuid().optional() }).strict()) },
  responses: { 200: json(z.object({ principal: minor, bonus: minor })) },
})
const memberCoupons = defineRoute({
  method: 'get',
  path: '/api/v1/members/{id}/coupons',
  tags,
  summary: "A member's coupons",
  access: 'members.read',
  request: { params: IdParam },
  responses: {
    200: json(z.object({ items: z.array(z.object({ id: uuid(), code: z.string(), templateId: uuid(), status: z.string(), validFrom: z.string(), validTo: z.string().nullable(), source: z.string() }).extend(CouponTermsSchema.shape)) })),
  },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(registerRoute, async (c) => {
    const b = c.req.valid('json')
    const m = await registerMember(c.var.db, c.var.principal, { ...b, consents: b.consents?.map((x) => ({ ...x, source: x.source ?? 'api' })) }, c.var.hub.clock())
    return c.json(await withTier(c.var.db, m), 201)
  })
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const r = await listMembers(c.var.db, c.var.principal.merchantId, { q: q.q, tierId: q.tierId, tag: q.tag, storeId: q.storeId, after: q.cursor, limit: q.limit })
    const items = []
    for (const m of r.items) items.push(await withTier(c.var.db, m))
    return c.json({ items, nextCursor: r.nextCursor }, 200)
  })
  app.openapi(lookup, async (c) => c.json(await withTier(c.var.db, await lookupMember(c.var.db, c.var.principal.merchantId, c.req.valid('query'))), 200))
  app.openapi(get, async (c) => c.json(await withTier(c.var.db, await getMember(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(patch, async (c) => {
    const b = c.req.valid('json')
    const m = await updateMember(c.var.db, c.var.principal, c.req.valid('param').id, { ...b, consents: b.consents?.map((x) => ({ ...x, source: x.source ?? 'api' })) })
    return c.json(await withTier(c.var.db, m), 200)
  })
  app.openapi(consents, async (c) => {
    // A member of the merchant's, merged or not (404 otherwise): its own history, as recorded.
    await getMember(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)
    const rows = await consentHistory(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)
    return c.json({ items: rows.map((r) => ({ channel: r.channel, granted: r.granted, source: r.source, evidence: r.evidence, at: r.at.toISOString() })) }, 200)
  })
  app.openapi(merge, async (c) => c.json(await withTier(c.var.db, await mergeMembers(c.var.db, c.var.principal, { targetId: c.req.valid('param').id, sourceId: c.req.valid('json').sourceId, now: c.var.hub.clock() })), 200))
  app.openapi(points, async (c) => {
    const id = c.req.valid('param').id
    const m = await getMember(c.var.db, c.var.principal.merchantId, id)
    const lots = await openLots(c.var.db, id)
    const { items: ledger, nextCursor } = await ledgerPage(c.var.db, pointsLedger, m, c.req.valid('query'))
    return c.json(
      {
        balance: m.pointsBalance,
        owed: m.pointsDebt,
        lots,
        nextCursor,
        ledger: ledger.map((l) => ({ id: l.id, kind: l.kind, delta: l.delta, balanceAfter: l.balanceAfter, saleId: l.saleId, refundId: l.refundId, expiresAt: l.expiresAt, note: l.note, at: l.at.toISOString() })),
      },
      200,
    )
  })
  app.openapi(adjust, async (c) => {
    const id = c.req.valid('param').id
    const { delta, reason } = c.req.valid('json')
    const { loyalty, timeZone } = await getSettings(c.var.db, c.var.principal.merchantId)
    await getMember(c.var.db, c.var.principal.merchantId, id)
    await adjustPoints(c.var.db, c.var.principal, id, delta, reason, loyalty, timeZone, c.var.hub.clock())
    return c.json(await withTier(c.var.db, await getMember(c.var.db, c.var.principal.merchantId, id)), 200)
  })
  app.openapi(storedValue, async (c) => {
    const m = await getMember(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)
    const { items: ledger, nextCursor } = await ledgerPage(c.var.db, storedValueLedger, m, c.req.valid('query'))
    return c.json(
      {
        principal: m.storedPrincipal,
        bonus: m.storedBonus,
        nextCursor,
        ledger: ledger.map((l) => ({
          id: l.id,
          kind: l.kind,
          principalDelta: l.principalDelta,
          bonusDelta: l.bonusDelta,
          principalAfter: l.principalAfter,
          bonusAfter: l.bonusAfter,
          saleId: l.saleId,
          refundId: l.refundId,
          topupId: l.topupId,
          note: l.note,
          at: l.at.toISOString(),
        })),
      },
      200,
    )
  })
  app.openapi(topup, async (c) => {
    const id = c.req.valid('param').id
    await getMember(c.var.db, c.var.principal.merchantId, id)
    const r = await topUp(c.var.db, c.var.principal, { memberId: id, ...c.req.valid('json') }, c.var.hub.clock())
    return c.json({ ...r, tenders: r.tenders.map((t) => ({ id: t.id, kind: t.kind, amount: t.amount, received: t.received, paymentNo: t.paymentNo })) }, 201)
  })
  app.openapi(topupRefund, async (c) => {
    const r = await refundTopup(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'), c.var.hub.clock())
    return c.json({ id: r.id, status: r.status, principal: r.principal, bonus: r.bonus, tenders: r.tenders.map((t) => ({ kind: t.kind, amount: t.amount, refundNo: t.refundNo })) }, 200)
  })
  app.openapi(svAdjust, async (c) => {
    const id = c.req.valid('param').id
    await getMember(c.var.db, c.var.principal.merchantId, id)
    return c.json(await adjustStoredValue(c.var.db, c.var.principal, id, c.req.valid('json'), c.var.hub.clock()), 200)
  })
  app.openapi(memberCoupons, async (c) => {
    await getMember(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)
    const rows = await c.var.db.select().from(coupons).where(and(eq(coupons.merchantId, c.var.principal.merchantId), eq(coupons.memberId, c.req.valid('param').id))).orderBy(desc(coupons.createdAt))
    return c.json({ items: rows.map((r) => ({ id: r.id, code: r.code, templateId: r.templateId, status: r.status, validFrom: r.validFrom.toISOString(), validTo: r.validTo?.toISOString() ?? null, source: r.source, ...couponTerms(r) })) }, 200)
  })
}

