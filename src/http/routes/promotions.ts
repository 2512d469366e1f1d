// Promotions: percent or amount off, fixed price, buy X get Y, spend thresholds (满减) and bundles.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { createPromotion, getPromotion, listPromotions, updatePromotion, type Promotion } from '../../core/sales/promotions.ts'
import type { AppEnv } from '../env.ts'
import { changesOf, defineRoute, IdParam, json, jsonBody } from '../route.ts'
import { Instant, serialize, uuid } from '../schemas.ts'

const tags = ['Promotions']
const Kind = z.enum(['percent_off', 'amount_off', 'fixed_price', 'buy_x_get_y', 'spend_threshold', 'bundle'])

const PromotionSchema = z
  .object({
    id: uuid(),
    name: z.string(),
    kind: Kind,
    level: z.enum(['item', 'order']),
    params: z.record(z.string(), z.unknown()),
    productIds: z.array(z.string()),
    variantIds: z.array(z.string()),
    categoryIds: z.array(z.string()),
    storeIds: z.array(z.string()),
    startsAt: z.string().nullable(),
    endsAt: z.string().nullable(),
    priority: z.number().int(),
    exclusive: z.boolean(),
    active: z.boolean(),
  })
  .openapi('Promotion')

const Body = z
  .object({
    name: z.string().min(1).max(200),
    kind: Kind,
    level: z.enum(['item', 'order']),
    params: z.record(z.string(), z.unknown()).openapi({
      description:
        'percent_off {percentBp, minSpend?}; amount_off {amount, minSpend?}; fixed_price {price, pricePer?}; buy_x_get_y {buy, get, getPercentBp?}; spend_threshold {tiers:[{threshold, amount}], repeat?}; bundle {price, components:[{quantity, productIds|variantIds|categoryIds}]}',
    }),
    productIds: z.array(uuid()).max(1000).default([]),
    variantIds: z.array(uuid()).max(1000).default([]),
    categoryIds: z.array(uuid()).max(1000).default([]),
    storeIds: z.array(uuid()).max(1000).default([]),
    startsAt: Instant().nullable().optional(),
    endsAt: Instant().nullable().optional(),
    priority: z.number().int().min(0).max(1_000_000).default(100),
    exclusive: z.boolean().default(false),
    active: z.boolean().default(true),
  })
  .strict()

const toDates = <T extends { startsAt?: string | null; endsAt?: string | null }>(b: T) => ({
  ...b,
  startsAt: b.startsAt === undefined ? undefined : b.startsAt === null ? null : new Date(b.startsAt),
  endsAt: b.endsAt === undefined ? undefined : b.endsAt === null ? null : new Date(b.endsAt),
})
const out = (p: Promotion) => serialize(p) as unknown as z.infer<typeof PromotionSchema>

const create = defineRoute({ method: 'post', path: '/api/v1/promotions', tags, summary: 'Create a promotion', access: 'promotions.manage', request: { body: jsonBody(Body) }, responses: { 201: json(PromotionSchema, 'Created') } })
const list = defineRoute({
  method: 'get',
  path: '/api/v1/promotions',
  tags,
  summary: 'List promotions in the order they apply',
  access: 'catalog.read',
  request: { query: z.object({ active: z.enum(['true', 'false']).optional() }) },
  responses: { 200: json(z.object({ items: z.array(PromotionSchema) })) },
})
const get = defineRoute({ method: 'get', path: '/api/v1/promotions/{id}', tags, summary: 'One promotion', access: 'catalog.read', request: { params: IdParam }, responses: { 200: json(PromotionSchema) } })
const patch = defineRoute({
  method: 'patch',
  path: '/api/v1/promotions/{id}',
  tags,
  summary: 'Change or deactivate a promotion',
  access: 'promotions.manage',
  request: { params: IdParam, body: jsonBody(changesOf(Body)) },
  responses: { 200: json(PromotionSchema) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => c.json(out(await createPromotion(c.var.db, c.var.principal, toDates(c.req.valid('json')))), 201))
  app.openapi(list, async (c) => {
    const a = c.req.valid('query').active
    return c.json({ items: (await listPromotions(c.var.db, c.var.principal.merchantId, { active: a === undefined ? undefined : a === 'true' })).map(out) }, 200)
  })
  app.openapi(get, async (c) => c.json(out(await getPromotion(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(patch, async (c) => c.json(out(await updatePromotion(c.var.db, c.var.principal, c.req.valid('param').id, toDates(c.req.valid('json')))), 200))
}
