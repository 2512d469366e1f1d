// Promotions: what they give (kind + params), to which lines (scope), where and when, in which order (priority)
// and whether they stack (exclusive). The pricing engine (pricing.ts) applies them; this module stores them.
import { z } from 'zod'
import { and, asc, eq, gt, isNull, lte, or, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { promotions, type PromotionKind } from './schema.ts'
import { assertScopeIds } from '../catalog/scope.ts'

const minor = z.number().int().min(0)
const bp = z.number().int().min(1).max(10_000)
/** An id as the rest of the API reads it: any case, kept in lower case (the route lower-cases the top-level scope ids). */
const id = z.uuid().overwrite((s) => s.toLowerCase())

/** One schema per kind: what `params` must hold. */
export const PromotionParams = {
  /** Percent off each eligible line (item) or off the eligible lines together (order). */
  percent_off: z.object({ percentBp: bp, minSpend: minor.optional() }).strict(),
  /** Item level: `amount` off each unit (per line for weighed goods). Order level: `amount` off the eligible total. */
  amount_off: z.object({ amount: minor.min(1), minSpend: minor.optional() }).strict(),
  /** Eligible items sell at `price` per `pricePer` base units (default: the variant's own pricePer). */
  fixed_price: z.object({ price: minor, pricePer: z.number().int().min(1).optional() }).strict(),
  /** For every `buy` + `get` units, the `get` cheapest units are `getPercentBp` off (default 100 %: free). */
  buy_x_get_y: z.object({ buy: z.number().int().min(1), get: z.number().int().min(1), getPercentBp: bp.default(10_000) }).strict(),
  /** 满减: the highest tier whose threshold the eligible total reaches; with `repeat`, "every threshold, amount off". */
  spend_threshold: z
    .object({ tiers: z.array(z.object({ threshold: minor.min(1), amount: minor.min(1) })).min(1), repeat: z.boolean().default(false) })
    .strict()
    .refine((p) => !p.repeat || p.tiers.length === 1, 'a repeating threshold has exactly one tier'),
  /** A set of components sold together at `price`. Each component is a scope and a quantity. */
  bundle: z
    .object({
      price: minor,
      components: z
        .array(
          z.object({
            quantity: z.number().int().min(1),
            productIds: z.array(id).default([]),
            variantIds: z.array(id).default([]),
            categoryIds: z.array(id).default([]),
          }),
        )
        .min(2),
    })
    .strict(),
} satisfies Record<PromotionKind, z.ZodType>

export type Promotion = typeof promotions.$inferSelect

export interface PromotionInput {
  name: string
  kind: PromotionKind
  level: 'item' | 'order'
  params: Record<string, unknown>
  productIds?: string[]
  variantIds?: string[]
  categoryIds?: string[]
  storeIds?: string[]
  startsAt?: Date | null
  endsAt?: Date | null
  priority?: number
  exclusive?: boolean
  active?: boolean
}

const ITEM_ONLY: PromotionKind[] = ['fixed_price', 'buy_x_get_y', 'bundle']
const ORDER_ONLY: PromotionKind[] = ['spend_threshold']

function validate(input: Pick<PromotionInput, 'kind' | 'level' | 'params' | 'startsAt' | 'endsAt'>) {
  const schema = PromotionParams[input.kind]
  if (!schema) throw invalid('invalid_promotion_kind', `unknown promotion kind ${input.kind}`)
  const parsed = schema.safeParse(input.params)
  if (!parsed.success) {
    throw invalid('invalid_promotion_params', `params of a ${input.kind} promotion: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(params)'} ${i.message}`).join('; ')}`)
  }
  if (ITEM_ONLY.includes(input.kind) && input.level !== 'item') throw invalid('invalid_promotion_level', `${input.kind} promotions are item level`)
  if (ORDER_ONLY.includes(input.kind) && input.level !== 'order') throw invalid('invalid_promotion_level', `${input.kind} promotions are order level`)
  if (input.startsAt && input.endsAt && input.endsAt <= input.startsAt) throw invalid('invalid_promotion_window', 'endsAt must be after startsAt')
  return parsed.data as Record<string, unknown>
}

/** The ids a promotion names (its scope, and its bundle's components) are the merchant's own. */
async function assertOwnScope(tx: Tx, merchantId: string, p: Partial<PromotionInput>, params: Record<string, unknown>) {
  const components = (params.components as { productIds?: string[]; variantIds?: string[]; categoryIds?: string[] }[] | undefined) ?? []
  await assertScopeIds(tx, merchantId, {
    productIds: [...(p.productIds ?? []), ...components.flatMap((c) => c.productIds ?? [])],
    variantIds: [...(p.variantIds ?? []), ...components.flatMap((c) => c.variantIds ?? [])],
    categoryIds: [...(p.categoryIds ?? []), ...components.flatMap((c) => c.categoryIds ?? [])],
    storeIds: p.storeIds,
  })
}

export async function createPromotion(tx: Tx, actor: Actor, input: PromotionInput): Promise<Promotion> {
  const params = validate(input)
  await assertOwnScope(tx, actor.merchantId, input, params)
  const [row] = await tx
    .insert(promotions)
    .values({
      id: newId(),
      merchantId: actor.merchantId,
      name: input.name,
      kind: input.kind,
      level: input.level,
      params,
      productIds: input.productIds ?? [],
      variantIds: input.variantIds ?? [],
      categoryIds: input.categoryIds ?? [],
      storeIds: input.storeIds ?? [],
      startsAt: input.startsAt ?? null,
      endsAt: input.endsAt ?? null,
      priority: input.priority ?? 100,
      exclusive: input.exclusive ?? false,
      active: input.active ?? true,
    })
    .returning()
  await recordAudit(tx, actor, { action: 'promotion.created', entityType: 'promotion', entityId: row!.id, details: { name: input.name, kind: input.kind, params } })
  return row!
}

export async function getPromotion(tx: Tx, merchantId: string, id: string): Promise<Promotion> {
  const [row] = await tx.select().from(promotions).where(and(eq(promotions.merchantId, merchantId), eq(promotions.id, id)))
  if (!row) throw notFound('promotion', id)
  return row
}

export async function updatePromotion(tx: Tx, actor: Actor, id: string, changes: Partial<PromotionInput>): Promise<Promotion> {
  const before = await getPromotion(tx, actor.merchantId, id)
  const merged = {
    kind: changes.kind ?? before.kind,
    level: changes.level ?? before.level,
    params: changes.params ?? before.params,
    startsAt: changes.startsAt === undefined ? before.startsAt : changes.startsAt,
    endsAt: changes.endsAt === undefined ? before.endsAt : changes.endsAt,
  }
  const params = validate(merged)
  await assertOwnScope(tx, actor.merchantId, changes, changes.params ? params : {})
  const [row] = await tx
    .update(promotions)
    .set({ ...changes, params, updatedAt: new Date() })
    .where(eq(promotions.id, id))
    .returning()
  await recordAudit(tx, actor, { action: 'promotion.updated', entityType: 'promotion', entityId: id, details: { changes } })
  return row!
}

export const listPromotions = (tx: Tx, merchantId: string, opts: { active?: boolean } = {}) =>
  tx
    .select()
    .from(promotions)
    .where(and(eq(promotions.merchantId, merchantId), opts.active === undefined ? undefined : eq(promotions.active, opts.active)))
    .orderBy(asc(promotions.priority), asc(promotions.id))

/** Promotions that apply at a store at an instant. */
export async function activePromotions(tx: Tx, merchantId: string, storeId: string, at: Date): Promise<Promotion[]> {
  return tx
    .select()
    .from(promotions)
    .where(
      and(
        eq(promotions.merchantId, merchantId),
        eq(promotions.active, true),
        or(isNull(promotions.startsAt), lte(promotions.startsAt, at)),
        or(isNull(promotions.endsAt), gt(promotions.endsAt, at)),
        sql`(${promotions.storeIds} = '[]'::jsonb or ${promotions.storeIds} ? ${storeId})`,
      ),
    )
    .orderBy(asc(promotions.priority), asc(promotions.id))
}

/** Whether a promotion's scope names categories (then lines need their category ancestry to be matched). */
export function promotionUsesCategories(p: Pick<Promotion, 'kind' | 'categoryIds' | 'params'>): boolean {
  if (p.categoryIds.length > 0) return true
  if (p.kind !== 'bundle') return false
  const comps = (p.params as { components?: { categoryIds?: string[] }[] }).components ?? []
  return comps.some((c) => (c.categoryIds?.length ?? 0) > 0)
}
