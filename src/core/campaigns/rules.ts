// Segment rules: a small tree of conditions over member data and purchase history, validated with zod and compiled
// to one SQL condition on `members m` (always scoped by merchant), so a segment of any size is counted and listed
// by the database. Windows and "this month" are computed in the merchant's time zone at evaluation time.
import { sql, type SQL } from 'drizzle-orm'
import { z } from 'zod'
import { invalid } from '../../lib/errors.ts'
import { netSpendSince } from '../members/tiers.ts'

const Days = z.number().int().min(1).max(3650)
const Band = z.tuple([z.number().int().min(1).max(5), z.number().int().min(1).max(5)]).refine(([low, high]) => low <= high, 'a band runs from its lower quintile to its higher one, like [4, 5]')
/** A range no member could fall in is a mistake, not a segment of nobody. */
const upright = (r: { min?: number; max?: number }) => r.min === undefined || r.max === undefined || r.min <= r.max
const UPRIGHT = 'min is more than max'

export type SegmentRule =
  | { all: SegmentRule[] }
  | { any: SegmentRule[] }
  | { not: SegmentRule }
  | { tier: string[] }
  | { tags: string[]; match?: 'any' | 'all' }
  | { store: string[] }
  | { birthdayMonth: 'current' | number }
  | { lastPurchase: { before?: number; after?: number; never?: boolean } }
  | { spend: { days: number; min?: number; max?: number } }
  | { frequency: { days: number; min?: number; max?: number } }
  | { rfm: { r?: [number, number]; f?: [number, number]; m?: [number, number] } }
  | { points: { min?: number; max?: number } }
  | { hasCoupon: boolean | { templateId: string } }

export const SegmentRuleSchema: z.ZodType<SegmentRule> = z.lazy(() =>
  z.union([
    z.object({ all: z.array(SegmentRuleSchema).min(1).max(50) }).strict(),
    z.object({ any: z.array(SegmentRuleSchema).min(1).max(50) }).strict(),
    z.object({ not: SegmentRuleSchema }).strict(),
    z.object({ tier: z.array(z.string().min(1)).min(1).max(20) }).strict(),
    z.object({ tags: z.array(z.string().min(1).max(40)).min(1).max(20), match: z.enum(['any', 'all']).optional() }).strict(),
    z.object({ store: z.array(z.uuid()).min(1).max(200) }).strict(),
    z.object({ birthdayMonth: z.union([z.literal('current'), z.number().int().min(1).max(12)]) }).strict(),
    z.object({
      lastPurchase: z
        .object({ before: Days.optional(), after: Days.optional(), never: z.boolean().optional() })
        .strict()
        .refine((p) => !(p.never && (p.before !== undefined || p.after !== undefined)), 'never purchased cannot also have a last purchase before or after')
        // before: longer ago than so many days; after: within so many days. Both hold only when after > before.
        .refine((p) => p.before === undefined || p.after === undefined || p.after > p.before, 'a last purchase before N days ago and within M days needs M more than N'),
    }).strict(),
    z.object({ spend: z.object({ days: Days, min: z.number().int().min(0).optional(), max: z.number().int().min(0).optional() }).strict().refine(upright, UPRIGHT) }).strict(),
    z.object({ frequency: z.object({ days: Days, min: z.number().int().min(0).optional(), max: z.number().int().min(0).optional() }).strict().refine(upright, UPRIGHT) }).strict(),
    z.object({ rfm: z.object({ r: Band.optional(), f: Band.optional(), m: Band.optional() }).strict() }).strict(),
    z.object({ points: z.object({ min: z.number().int().min(0).optional(), max: z.number().int().min(0).optional() }).strict().refine(upright, UPRIGHT) }).strict(),
    z.object({ hasCoupon: z.union([z.boolean(), z.object({ templateId: z.uuid() }).strict()]) }).strict(),
  ]),
)

/** How deep `all`/`any`/`not` may nest: far more than a person writes, and a bound on the SQL it compiles to. */
export const MAX_RULE_DEPTH = 10

/** The nesting of `all`/`any`/`not` in a rule as sent (any JSON), measured without recursion. */
function ruleDepth(raw: unknown): number {
  let deepest = 0
  const stack: [unknown, number][] = [[raw, 0]]
  while (stack.length) {
    const [node, depth] = stack.pop()!
    if (!node || typeof node !== 'object' || Array.isArray(node)) continue
    deepest = Math.max(deepest, depth)
    if (depth > MAX_RULE_DEPTH) break
    const o = node as Record<string, unknown>
    for (const key of ['all', 'any'] as const) if (Array.isArray(o[key])) for (const child of o[key] as unknown[]) stack.push([child, depth + 1])
    if ('not' in o) stack.push([o.not, depth + 1])
  }
  return deepest
}

/** A segment rule as sent, validated: 422 invalid_rule naming each problem. */
export function parseSegmentRule(raw: unknown): SegmentRule {
  if (ruleDepth(raw) > MAX_RULE_DEPTH) throw invalid('invalid_rule', `the segment rule is not valid: all/any/not nest at most ${MAX_RULE_DEPTH} deep`, { maxDepth: MAX_RULE_DEPTH })
  const rule = SegmentRuleSchema.safeParse(raw)
  if (!rule.success) throw invalid('invalid_rule', `the segment rule is not valid: ${rule.error.issues.map((i) => `${i.path.join('.') || 'rule'}: ${i.message}`).join('; ')}`)
  return rule.data
}

/** The tiers (code, or id in any case), stores and coupon templates a rule names, to check against the merchant's records. */
export function ruleReferences(rule: SegmentRule): { tiers: string[]; stores: string[]; templates: string[] } {
  const out = { tiers: new Set<string>(), stores: new Set<string>(), templates: new Set<string>() }
  const walk = (r: SegmentRule) => {
    if ('all' in r) r.all.forEach(walk)
    else if ('any' in r) r.any.forEach(walk)
    else if ('not' in r) walk(r.not)
    else if ('tier' in r) r.tier.forEach((t) => out.tiers.add(t))
    else if ('store' in r) r.store.forEach((id) => out.stores.add(id.toLowerCase()))
    else if ('hasCoupon' in r && typeof r.hasCoupon === 'object') out.templates.add(r.hasCoupon.templateId.toLowerCase())
  }
  walk(rule)
  return { tiers: [...out.tiers], stores: [...out.stores], templates: [...out.templates] }
}

export interface RuleContext {
  merchantId: string
  now: Date
  timeZone: string
}

const ago = (ctx: RuleContext, days: number) => new Date(ctx.now.getTime() - days * 86_400_000)

/** Visits of a member in the window: their completed sales (one refunded since is still a visit). */
const visits = (ctx: RuleContext, days: number) =>
  sql`(select count(*) as n from sales s
        where s.merchant_id = ${ctx.merchantId} and s.member_id = m.id and s.status = 'completed' and s.occurred_at >= ${ago(ctx, days)})`

/** Spend of a member in the window: net of refunds, with the cash rounding, as a tier's rolling spend. */
const spent = (ctx: RuleContext, days: number) => sql`(select ${netSpendSince(ctx.merchantId, sql`m.id`, ago(ctx, days))} as spend)`

const range = (value: SQL, min?: number, max?: number): SQL => {
  const parts = [min !== undefined ? sql`${value} >= ${min}` : undefined, max !== undefined ? sql`${value} <= ${max}` : undefined].filter((p): p is SQL => !!p)
  return parts.length ? sql.join(parts, sql` and `) : sql`true`
}

/**
 * RFM quintiles (5 = best) of the merchant's members over the last year, computed when a rule needs them: 'm' ranks
 * the spend as the spend rule counts it (netSpendSince: what the tenders took, less what was refunded of the sales).
 */
export const RFM_CTE = (ctx: RuleContext) => sql`rfm as (
  select s.member_id,
         ntile(5) over (order by max(s.occurred_at)) as r,
         ntile(5) over (order by count(*)) as f,
         ntile(5) over (order by sum(s.total + s.rounding_adjustment + s.tender_difference) - coalesce(sum(rf.refunded), 0)) as m
    from sales s
    left join lateral (select sum(r.total) as refunded from refunds r where r.sale_id = s.id) rf on true
   where s.merchant_id = ${ctx.merchantId} and s.status = 'completed' and s.member_id is not null and s.occurred_at >= ${ago(ctx, 365)}
   group by s.member_id)`

export function usesRfm(rule: SegmentRule): boolean {
  if ('all' in rule) return rule.all.some(usesRfm)
  if ('any' in rule) return rule.any.some(usesRfm)
  if ('not' in rule) return usesRfm(rule.not)
  return 'rfm' in rule
}

/** The rule as one SQL condition over `members m` (with `rfm` joined when usesRfm). */
export function compileRule(rule: SegmentRule, ctx: RuleContext): SQL {
  if ('all' in rule) return sql`(${sql.join(rule.all.map((r) => compileRule(r, ctx)), sql` and `)})`
  if ('any' in rule) return sql`(${sql.join(rule.any.map((r) => compileRule(r, ctx)), sql` or `)})`
  if ('not' in rule) return sql`not coalesce(${compileRule(rule.not, ctx)}, false)`
  if ('tier' in rule) return sql`m.tier_id in (select t.id from tiers t where t.merchant_id = ${ctx.merchantId} and (t.id::text = any(${sql.param(rule.tier.map((x) => x.toLowerCase()))}::text[]) or t.code = any(${sql.param(rule.tier)}::text[])))`
  if ('tags' in rule) return rule.match === 'all' ? sql`m.tags @> ${JSON.stringify(rule.tags)}::jsonb` : sql`m.tags ?| ${sql.param(rule.tags)}::text[]`
  if ('store' in rule) return sql`m.store_id = any(${sql.param(rule.store)}::uuid[])`
  if ('birthdayMonth' in rule) {
    const month = rule.birthdayMonth === 'current' ? Number(new Intl.DateTimeFormat('en', { timeZone: ctx.timeZone, month: 'numeric' }).format(ctx.now)) : rule.birthdayMonth
    return sql`m.birth_month = ${month}`
  }
  if ('lastPurchase' in rule) {
    const lp = rule.lastPurchase
    if (lp.never) return sql`m.last_purchase_at is null`
    return sql.join(
      [
        lp.before !== undefined ? sql`m.last_purchase_at < ${ago(ctx, lp.before)}` : undefined,
        lp.after !== undefined ? sql`m.last_purchase_at >= ${ago(ctx, lp.after)}` : undefined,
        sql`m.last_purchase_at is not null`,
      ].filter((p): p is SQL => !!p),
      sql` and `,
    )
  }
  if ('spend' in rule) return sql`(select ${range(sql`p.spend`, rule.spend.min, rule.spend.max)} from ${spent(ctx, rule.spend.days)} p)`
  if ('frequency' in rule) return sql`(select ${range(sql`p.n`, rule.frequency.min, rule.frequency.max)} from ${visits(ctx, rule.frequency.days)} p)`
  if ('rfm' in rule) {
    const parts = (['r', 'f', 'm'] as const)
      .filter((k) => rule.rfm[k])
      .map((k) => sql`coalesce(${sql.raw(`rfm.${k}`)}, 0) between ${rule.rfm[k]![0]} and ${rule.rfm[k]![1]}`)
    return parts.length ? sql`(${sql.join(parts, sql` and `)})` : sql`true`
  }
  if ('points' in rule) return range(sql`m.points_balance`, rule.points.min, rule.points.max)
  if ('hasCoupon' in rule) {
    const held = sql`exists (select 1 from coupons c where c.member_id = m.id and c.status = 'issued' and (c.valid_to is null or c.valid_to > ${ctx.now})${
      typeof rule.hasCoupon === 'object' ? sql` and c.template_id = ${rule.hasCoupon.templateId}` : sql``
    })`
    return rule.hasCoupon === false ? sql`not ${held}` : held
  }
  throw new Error(`unknown segment rule ${JSON.stringify(rule)}`)
}

/** `select … from members m` of the segment: active members of the merchant matching the rule. */
export function segmentQuery(rule: SegmentRule, ctx: RuleContext, columns: SQL, tail: SQL = sql``): SQL {
  const withRfm = usesRfm(rule)
  return sql`${withRfm ? sql`with ${RFM_CTE(ctx)} ` : sql``}select ${columns} from members m ${withRfm ? sql`left join rfm on rfm.member_id = m.id` : sql``}
    where m.merchant_id = ${ctx.merchantId} and m.status = 'active' and ${compileRule(rule, ctx)} ${tail}`
}
