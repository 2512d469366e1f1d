// Loyalty set-up: tiers, top-up bonus rules, coupon templates; issuing, looking up and voiding coupons.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { Instant, uuid } from '../schemas.ts'
import { and, asc, eq } from 'drizzle-orm'
import { createTier, listTiers, updateTier, type Tier } from '../../core/members/tiers.ts'
import { couponTerms, createTemplate, findCouponByCode, issueCoupons, listTemplates, updateTemplate, voidCoupon, type Coupon, type CouponTemplate } from '../../core/members/coupons.ts'
import { topupBonusRules } from '../../core/members/schema.ts'
import { recordAudit } from '../../core/staff/audit.ts'
import { newId } from '../../lib/ids.ts'
import { notFound } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'
import { changesOf, defineRoute, IdParam, json, jsonBody } from '../route.ts'

const minor = z.number().int()

const TierSchema = z
  .object({ id: uuid(), code: z.string(), name: z.string(), rank: z.number().int(), minSpend: minor, discountBp: z.number().int(), pointsMultiplierBp: z.number().int() })
  .openapi('Tier')
const TierBody = z
  .object({
    code: z.string().min(1).max(32),
    name: z.string().min(1).max(100),
    rank: z.number().int().min(0).max(1000),
    minSpend: z.number().int().min(0).openapi({ description: 'Rolling spend (minor units, net of refunds) that qualifies' }),
    discountBp: z.number().int().min(0).max(10_000).default(0),
    pointsMultiplierBp: z.number().int().min(0).max(100_000).default(10_000),
  })
  .strict()
const tierOut = (t: Tier) => ({ id: t.id, code: t.code, name: t.name, rank: t.rank, minSpend: t.minSpend, discountBp: t.discountBp, pointsMultiplierBp: t.pointsMultiplierBp })

const RuleSchema = z.object({ id: uuid(), threshold: minor, bonus: minor, active: z.boolean() }).openapi('TopupBonusRule')

/** What a coupon gives and where: a template's terms, and a coupon's as it was issued (a template changed since changes no coupon out). */
export const CouponTermsSchema = z.object({
  kind: z.enum(['amount_off', 'percent_off', 'free_item']),
  amount: minor.nullable(),
  percentBp: z.number().int().nullable(),
  freeVariantId: uuid().nullable(),
  freeQuantity: z.number().int().nullable(),
  minSpend: minor,
  productIds: z.array(z.string()),
  variantIds: z.array(z.string()),
  categoryIds: z.array(z.string()),
})
const TemplateSchema = z
  .object({ id: uuid(), name: z.string() })
  .extend(CouponTermsSchema.shape)
  .extend({
    validFrom: z.string().nullable(),
    validTo: z.string().nullable(),
    validDays: z.number().int().nullable(),
    perMemberLimit: z.number().int().nullable(),
    restoreOnRefund: z.boolean(),
    active: z.boolean(),
  })
  .openapi('CouponTemplate')
const TemplateBody = z
  .object({
    name: z.string().min(1).max(200),
    kind: z.enum(['amount_off', 'percent_off', 'free_item']),
    amount: z.number().int().min(1).nullable().optional(),
    percentBp: z.number().int().min(1).max(10_000).nullable().optional(),
    freeVariantId: uuid().nullable().optional(),
    freeQuantity: z.number().int().min(1).nullable().optional(),
    minSpend: z.number().int().min(0).default(0),
    productIds: z.array(uuid()).max(1000).default([]),
    variantIds: z.array(uuid()).max(1000).default([]),
    categoryIds: z.array(uuid()).max(1000).default([]),
    validFrom: Instant().nullable().optional(),
    validTo: Instant().nullable().optional(),
    validDays: z.number().int().min(1).max(3650).nullable().optional().openapi({ description: 'Each coupon is valid to the end of the day (merchant time zone) this many days after it is issued, or after validFrom if later; never past validTo' }),
    perMemberLimit: z.number().int().min(1).nullable().optional(),
    restoreOnRefund: z.boolean().default(true),
    active: z.boolean().default(true),
  })
  .strict()
const toDate = (v: string | null | undefined): Date | null | undefined => (v === undefined ? undefined : v === null ? null : new Date(v))
const dates = <T extends { validFrom?: string | null; validTo?: string | null }>(b: T) => ({ ...b, validFrom: toDate(b.validFrom), validTo: toDate(b.validTo) })
const templateOut = (t: CouponTemplate): z.infer<typeof TemplateSchema> => ({
  id: t.id,
  name: t.name,
  ...couponTerms(t),
  validFrom: t.validFrom?.toISOString() ?? null,
  validTo: t.validTo?.toISOString() ?? null,
  validDays: t.validDays,
  perMemberLimit: t.perMemberLimit,
  restoreOnRefund: t.restoreOnRefund,
  active: t.active,
})
const CouponSchema = z
  .object({ id: uuid(), code: z.string(), templateId: uuid(), memberId: uuid().nullable(), status: z.string(), validFrom: z.string(), validTo: z.string().nullable(), source: z.string(), redeemedSaleId: uuid().nullable() })
  .extend(CouponTermsSchema.shape)
  .openapi('Coupon')
const couponOut = (c: Coupon) => ({
  id: c.id,
  code: c.code,
  templateId: c.templateId,
  memberId: c.memberId,
  status: c.status,
  validFrom: c.validFrom.toISOString(),
  validTo: c.validTo?.toISOString() ?? null,
  source: c.source,
  redeemedSaleId: c.redeemedSaleId,
  ...couponTerms(c),
})

const t = (tag: string) => [tag]
const routes = {
  listTiers: defineRoute({ method: 'get', path: '/api/v1/tiers', tags: t('Loyalty'), summary: 'Member tiers, lowest first', access: 'members.read', responses: { 200: json(z.object({ items: z.array(TierSchema) })) } }),
  createTier: defineRoute({ method: 'post', path: '/api/v1/tiers', tags: t('Loyalty'), summary: 'Create a tier', access: 'loyalty.manage', request: { body: jsonBody(TierBody) }, responses: { 201: json(TierSchema, 'Created') } }),
  patchTier: defineRoute({ method: 'patch', path: '/api/v1/tiers/{id}', tags: t('Loyalty'), summary: 'Change a tier', access: 'loyalty.manage', request: { params: IdParam, body: jsonBody(changesOf(TierBody)) }, responses: { 200: json(TierSchema) } }),
  listRules: defineRoute({ method: 'get', path: '/api/v1/topup-bonus-rules', tags: t('Loyalty'), summary: 'Top-up bonus rules', access: 'members.read', responses: { 200: json(z.object({ items: z.array(RuleSchema) })) } }),
  createRule: defineRoute({
    method: 'post',
    path: '/api/v1/topup-bonus-rules',
    tags: t('Loyalty'),
    summary: 'Add a top-up bonus rule (top up ≥ threshold, get bonus)',
    access: 'loyalty.manage',
    request: { body: jsonBody(z.object({ threshold: z.number().int().min(1), bonus: z.number().int().min(0), active: z.boolean().default(true) }).strict()) },
    responses: { 201: json(RuleSchema, 'Created') },
  }),
  patchRule: defineRoute({
    method: 'patch',
    path: '/api/v1/topup-bonus-rules/{id}',
    tags: t('Loyalty'),
    summary: 'Change or switch off a top-up bonus rule',
    access: 'loyalty.manage',
    request: { params: IdParam, body: jsonBody(z.object({ threshold: z.number().int().min(1), bonus: z.number().int().min(0), active: z.boolean() }).partial().strict()) },
    responses: { 200: json(RuleSchema) },
  }),
  listTemplates: defineRoute({ method: 'get', path: '/api/v1/coupon-templates', tags: t('Coupons'), summary: 'Coupon templates', access: 'members.read', responses: { 200: json(z.object({ items: z.array(TemplateSchema) })) } }),
  createTemplate: defineRoute({ method: 'post', path: '/api/v1/coupon-templates', tags: t('Coupons'), summary: 'Create a coupon template', access: 'loyalty.manage', request: { body: jsonBody(TemplateBody) }, responses: { 201: json(TemplateSchema, 'Created') } }),
  patchTemplate: defineRoute({
    method: 'patch',
    path: '/api/v1/coupon-templates/{id}',
    tags: t('Coupons'),
    summary: 'Change a coupon template',
    description: 'A change is for the coupons issued after it: a coupon already issued keeps the value, minimum spend, scope and validity it was issued with.',
    access: 'loyalty.manage',
    request: { params: IdParam, body: jsonBody(changesOf(TemplateBody)) },
    responses: { 200: json(TemplateSchema) },
  }),
  issue: defineRoute({
    method: 'post',
    path: '/api/v1/coupons/issue',
    tags: t('Coupons'),
    summary: 'Issue coupons of a template to members (or anonymous codes)',
    description: 'Members at the template\'s per-member limit are skipped and listed.',
    access: 'coupons.issue',
    request: { body: jsonBody(z.object({ templateId: uuid(), memberIds: z.array(uuid()).min(1).max(10_000).optional(), count: z.number().int().min(1).max(10_000).optional() }).strict()) },
    responses: { 201: json(z.object({ issued: z.array(CouponSchema), skipped: z.array(z.object({ memberId: uuid(), reason: z.string() })) }), 'Issued') },
  }),
  byCode: defineRoute({
    method: 'get',
    path: '/api/v1/coupons/{code}',
    tags: t('Coupons'),
    summary: 'A coupon by its code',
    description: 'The coupon with the terms it was issued with (what it is worth now), and its template as it is now.',
    access: 'members.read',
    request: { params: z.object({ code: z.string().min(4).max(40).openapi({ param: { name: 'code', in: 'path' } }) }) },
    responses: { 200: json(CouponSchema.extend({ template: TemplateSchema })) },
  }),
  void: defineRoute({
    method: 'post',
    path: '/api/v1/coupons/{id}/void',
    tags: t('Coupons'),
    summary: 'Void an unused coupon',
    access: 'coupons.issue',
    request: { params: IdParam, body: jsonBody(z.object({ reason: z.string().min(1).max(500) }).strict()) },
    responses: { 200: json(CouponSchema) },
  }),
}

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(routes.listTiers, async (c) => c.json({ items: (await listTiers(c.var.db, c.var.principal.merchantId)).map(tierOut) }, 200))
  app.openapi(routes.createTier, async (c) => c.json(tierOut(await createTier(c.var.db, c.var.principal, c.req.valid('json'))), 201))
  app.openapi(routes.patchTier, async (c) => c.json(tierOut(await updateTier(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'))), 200))
  app.openapi(routes.listRules, async (c) => {
    const rows = await c.var.db.select().from(topupBonusRules).where(eq(topupBonusRules.merchantId, c.var.principal.merchantId)).orderBy(asc(topupBonusRules.threshold))
    return c.json({ items: rows.map((r) => ({ id: r.id, threshold: r.threshold, bonus: r.bonus, active: r.active })) }, 200)
  })
  app.openapi(routes.createRule, async (c) => {
    const [r] = await c.var.db.insert(topupBonusRules).values({ id: newId(), merchantId: c.var.principal.merchantId, ...c.req.valid('json') }).returning()
    await recordAudit(c.var.db, c.var.principal, { action: 'topup_bonus_rule.created', entityType: 'topup_bonus_rule', entityId: r!.id, details: c.req.valid('json') })
    return c.json({ id: r!.id, threshold: r!.threshold, bonus: r!.bonus, active: r!.active }, 201)
  })
  app.openapi(routes.patchRule, async (c) => {
    const id = c.req.valid('param').id
    const patch = c.req.valid('json')
    const thisRule = and(eq(topupBonusRules.merchantId, c.var.principal.merchantId), eq(topupBonusRules.id, id))
    // An empty patch changes nothing: the rule as it is.
    const [r] = Object.keys(patch).length ? await c.var.db.update(topupBonusRules).set(patch).where(thisRule).returning() : await c.var.db.select().from(topupBonusRules).where(thisRule)
    if (!r) throw notFound('topup_bonus_rule', id)
    if (Object.keys(patch).length) await recordAudit(c.var.db, c.var.principal, { action: 'topup_bonus_rule.updated', entityType: 'topup_bonus_rule', entityId: id, details: c.req.valid('json') })
    return c.json({ id: r.id, threshold: r.threshold, bonus: r.bonus, active: r.active }, 200)
  })
  app.openapi(routes.listTemplates, async (c) => c.json({ items: (await listTemplates(c.var.db, c.var.principal.merchantId)).map(templateOut) }, 200))
  app.openapi(routes.createTemplate, async (c) => c.json(templateOut(await createTemplate(c.var.db, c.var.principal, dates(c.req.valid('json')))), 201))
  app.openapi(routes.patchTemplate, async (c) => c.json(templateOut(await updateTemplate(c.var.db, c.var.principal, c.req.valid('param').id, dates(c.req.valid('json')))), 200))
  app.openapi(routes.issue, async (c) => {
    const b = c.req.valid('json')
    const r = await issueCoupons(c.var.db, c.var.principal, { templateId: b.templateId, memberIds: b.memberIds, count: b.memberIds ? undefined : (b.count ?? 1), source: b.memberIds ? (b.memberIds.length > 1 ? 'bulk' : 'manual') : 'manual', at: c.var.hub.clock() })
    return c.json({ issued: r.issued.map(couponOut), skipped: r.skipped }, 201)
  })
  app.openapi(routes.byCode, async (c) => {
    const code = c.req.valid('param').code
    const cp = await findCouponByCode(c.var.db, c.var.principal.merchantId, code)
    if (!cp) throw notFound('coupon', code)
    return c.json({ ...couponOut(cp), template: templateOut(cp.template) }, 200)
  })
  app.openapi(routes.void, async (c) => c.json(couponOut(await voidCoupon(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json').reason)), 200))
}
