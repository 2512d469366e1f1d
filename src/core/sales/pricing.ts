// The pricing engine: a pure function from a cart to a priced cart, so quotes and sales price the same way and the
// rules can be tested exhaustively. All amounts are integer minor units.
//
// Order of application (each step works on what the earlier ones left of a line, and never takes a line below 0):
//   0. Base:  gross = label amount of a scale label, else round(unitPrice × quantity / pricePer) (half up).
//   1. Item percentages:  percent_off (item) promotions, the member tier discount, manual percent discounts.
//   2. Order percentages: percent_off (order) promotions and percent coupons; one rounding per promotion, spread
//                         over its lines by largest remainder.
//   3. Item amounts:      amount_off (item), fixed_price, buy_x_get_y, bundle promotions, manual amount discounts.
//   4. Order amounts:     amount_off (order), spend_threshold (满减), amount coupons, points redemption; spread
//                         over the eligible lines by largest remainder of what is left of each.
//   Ties never follow the scan order: an odd fen of a spread, and an amount taken from lines in turn, go to the higher
//   tax rate first, then by variant; units of one price go by variant, the cashier's own discount (a unit given away
//   is one that had none), then the smaller line (tieOrder).
//   Within a step: promotions by priority (lower first), then id; then tier, manual, coupon and points discounts.
//   Stacking: an exclusive promotion that applies to a line (its scope, the lines whose units make a bundle's
//   sets, or a buy-X-get-Y's piece lines, and its condition met on the cart before discounts) keeps every other
//   promotion off that line; manual, tier, coupon and points discounts still apply. One that would give nothing
//   (a bundle dearer than its parts) keeps nothing off; one priced per line (fixed price, item percent or amount)
//   leaves the lines it gives nothing (an item already below the fixed price) to the others. Its spend (minimum spend, 满减
//   thresholds) is the one on the cart before discounts; an order percentage still takes its percent of what the
//   earlier steps left.
//   Between exclusive promotions the higher priority one wins the line.
//   Which units: a buy-X-get-Y discounts the cheapest of its units; a bundle makes its sets of the dearest units that
//   fit each component (the best set for the customer); a unit's price counts its tax where prices exclude tax, and
//   units of one price go by variant. Either way a cart prices the same in any order it was scanned.
// Tax, per line on what is left after discounts (see MerchantSettings.taxRounding):
//   tax-inclusive prices: ex-tax = round(net × 10000 / (10000 + rate)); tax = net − ex-tax; the line total is net.
//   tax-exclusive prices: tax = round(net × rate / 10000); the line total is net + tax.
//   'per_order_rate_bucket' rounds once per rate over the cart and spreads the tax back by largest remainder.
// In every mode Σ line tax = cart tax and Σ line totals = cart total, to the fen.
import { allocate, assertMinor, mulDivRound, sum, taxFromInclusive, taxOnExclusive } from '../../lib/money.ts'
import type { AdjustmentSource } from './schema.ts'
import type { PromotionKind } from './schema.ts'

export interface CartLine {
  /** Stable key of the line in its cart (its index as text is fine). */
  key: string
  variantId: string
  productId: string
  categoryChain: string[]
  unit: 'piece' | 'g' | 'ml' | 'cm'
  quantity: number
  unitPrice: number
  pricePer: number
  taxRateBp: number
  /** The amount printed on a price-embedded scale label: it is the line's gross. */
  labelAmount?: number
  manualDiscount?: { percentBp: number } | { amount: number }
}

export interface PromotionRule {
  id: string
  name: string
  kind: PromotionKind
  level: 'item' | 'order'
  params: Record<string, any>
  productIds: string[]
  variantIds: string[]
  categoryIds: string[]
  priority: number
  exclusive: boolean
}

/** Discounts that do not come from promotions (member tier, coupons, points): plugged in by membership. */
export interface ExtraDiscount {
  source: Exclude<AdjustmentSource, 'promotion' | 'manual'>
  sourceId: string
  label: string
  step: 1 | 2 | 3 | 4
  /** Which lines it may touch (default all). */
  scope?: { productIds?: string[]; variantIds?: string[]; categoryIds?: string[] }
  percentBp?: number
  /** In all: at the item steps taken from the lines in turn, at the order step spread over them. */
  amount?: number
  /**
   * Units (in the line's quantity) given free, at what they are left at this step, taken from the lines in turn: a
   * free-item coupon frees that many units whatever promotions or tier prices came before it, never more.
   */
  freeUnits?: number
}

export interface PricingOptions {
  taxInclusive: boolean
  taxRounding: 'per_line' | 'per_order_rate_bucket'
}

export interface LineAdjustment {
  source: AdjustmentSource
  sourceId: string | null
  label: string
  amount: number
}

export interface PricedLine extends CartLine {
  gross: number
  adjustments: LineAdjustment[]
  discountTotal: number
  /** gross − discounts, in the price's own tax mode. */
  net: number
  netExTax: number
  taxAmount: number
  /** What the customer pays for the line. */
  total: number
}

export interface PricedCart {
  lines: PricedLine[]
  grossTotal: number
  discountTotal: number
  netExTaxTotal: number
  taxTotal: number
  total: number
  taxByRate: { rateBp: number; netExTax: number; tax: number }[]
  /** Each discount that applied, with its total over the lines. */
  applied: { source: AdjustmentSource; sourceId: string | null; label: string; amount: number }[]
}

interface Working {
  line: CartLine
  gross: number
  remaining: number
  adjustments: LineAdjustment[]
  /** Units a promotion gave away whole (a buy-X-get-Y's free ones): what is left of the line is the other units'. */
  free: number
}

type Scope = { productIds?: string[]; variantIds?: string[]; categoryIds?: string[] }

const inScope = (line: CartLine, s: Scope) => {
  const any = (s.productIds?.length ?? 0) + (s.variantIds?.length ?? 0) + (s.categoryIds?.length ?? 0) > 0
  if (!any) return true
  return (
    (s.productIds ?? []).includes(line.productId) ||
    (s.variantIds ?? []).includes(line.variantId) ||
    line.categoryChain.some((c) => (s.categoryIds ?? []).includes(c))
  )
}

function lineGross(l: CartLine): number {
  if (!Number.isSafeInteger(l.quantity) || l.quantity <= 0) throw new RangeError(`line ${l.key}: quantity must be a positive integer`)
  if (l.labelAmount !== undefined) return assertMinor(l.labelAmount)
  return mulDivRound(assertMinor(l.unitPrice), l.quantity, l.pricePer)
}

const STEP_OF: Record<PromotionKind, (level: 'item' | 'order') => 1 | 2 | 3 | 4> = {
  percent_off: (lv) => (lv === 'item' ? 1 : 2),
  amount_off: (lv) => (lv === 'item' ? 3 : 4),
  fixed_price: () => 3,
  buy_x_get_y: () => 3,
  bundle: () => 3,
  spend_threshold: () => 4,
}

/** Amount of each line a discount takes, given the lines it may touch; never more than a line has left. */
type Compute = (lines: Working[]) => Map<Working, number>

function give(w: Working, amount: number, adj: Omit<LineAdjustment, 'amount'>) {
  const a = Math.min(Math.max(0, amount), w.remaining)
  if (a === 0) return
  w.remaining -= a
  const existing = w.adjustments.find((x) => x.source === adj.source && x.sourceId === adj.sourceId)
  if (existing) existing.amount += a
  else w.adjustments.push({ ...adj, amount: a })
}

const percentEach = (bpv: number): Compute => (ls) => new Map(ls.map((w) => [w, mulDivRound(w.remaining, bpv, 10_000)]))

/**
 * An amount off items in all (a free-item coupon: one coffee free, however many lines carry coffee), taken from the
 * lines in turn, each giving at most what it has left.
 */
/**
 * Lines that tie (one price, one rate) in an order that is not the scan order: by variant, then the cashier's own
 * discount per unit (none first: a unit given away is the one that had none to lose), then the smaller line, then
 * the line's key (lines alike in all of these price the same whichever goes first).
 */
const tieOrder = (a: Working, b: Working): number => {
  if (a.line.variantId !== b.line.variantId) return a.line.variantId < b.line.variantId ? -1 : 1
  const manual = (w: Working) => {
    const m = w.line.manualDiscount
    return m === undefined ? 0n : 'amount' in m ? BigInt(m.amount) * 10_000n : BigInt(m.percentBp) * BigInt(w.gross)
  }
  const x = manual(a) * BigInt(b.line.quantity)
  const y = manual(b) * BigInt(a.line.quantity)
  if (x !== y) return x < y ? -1 : 1
  if (a.line.quantity !== b.line.quantity) return a.line.quantity - b.line.quantity
  return a.line.key < b.line.key ? -1 : a.line.key > b.line.key ? 1 : 0
}

/** Lines in the order an amount or the odd fen of a spread goes to them: the higher tax rate first, then tieOrder. */
const byRateThenTie = (ls: Working[]) => [...ls].sort((a, b) => b.line.taxRateBp - a.line.taxRateBp || tieOrder(a, b))

const inTurn = (ls: Working[], total: number) => {
  let left = total
  return new Map(
    byRateThenTie(ls).map((w) => {
      const take = Math.min(left, w.remaining)
      left -= take
      return [w, take]
    }),
  )
}

/**
 * `units` of the lines' units still paid for (not given away whole), dearest first (ties by tieOrder), each at its
 * share of what its line has left: the same units whatever way the cart's units are split over lines.
 */
const unitsInTurn = (ls: Working[], units: number) => {
  let left = units
  const paid = (w: Working) => w.line.quantity - w.free
  const dearestFirst = ls.filter((w) => paid(w) > 0).sort((a, b) => b.remaining * paid(a) - a.remaining * paid(b) || tieOrder(a, b))
  return new Map(
    dearestFirst.map((w) => {
      const take = Math.min(left, paid(w))
      left -= take
      return [w, take === paid(w) ? w.remaining : mulDivRound(w.remaining, take, paid(w))]
    }),
  )
}

/** One rounded amount for the lines together, spread by largest remainder of what each has left. */
const spread = (ls: Working[], total: number) => {
  const base = sum(ls.map((w) => w.remaining))
  const t = Math.min(total, base)
  // Equal remainders take the odd fen in byRateThenTie's order, never the scan order.
  const ordered = byRateThenTie(ls)
  const parts = allocate(t, ordered.map((w) => w.remaining))
  return new Map(ordered.map((w, i) => [w, parts[i]!]))
}

/**
 * How a promotion works on the lines it may touch. An exclusive promotion judges its spend (minimum spend, thresholds)
 * on the cart before discounts, where it claimed its lines: a manual discount taken off a claimed line later does not
 * undo it. `covers` are the lines it acts on, which it claims when exclusive (a bundle: its components' lines).
 */
/**
 * The order units are taken in: by what a unit costs the customer now (what is left of the line per unit, with its
 * tax where prices exclude tax), cheapest or dearest first. Ties go by tieOrder, the same way either way: never by the
 * order lines were scanned in. Compared by cross
 * multiplication in bigints, never by division.
 */
function unitOrder(opts: Pick<PricingOptions, 'taxInclusive'>) {
  const weight = (w: Working) => BigInt(w.remaining) * (opts.taxInclusive ? 1n : 10_000n + BigInt(w.line.taxRateBp))
  const byPrice = (a: Working, b: Working): number => {
    const x = weight(a) * BigInt(b.line.quantity)
    const y = weight(b) * BigInt(a.line.quantity)
    return x === y ? 0 : x < y ? -1 : 1
  }
  return { cheapest: (a: Working, b: Working) => byPrice(a, b) || tieOrder(a, b), dearest: (a: Working, b: Working) => byPrice(b, a) || tieOrder(a, b) }
}
type UnitOrder = ReturnType<typeof unitOrder>

function promotionCompute(p: PromotionRule, order: UnitOrder): { compute: Compute; eligible: (ls: Working[]) => boolean; covers?: (ls: Working[]) => Working[] } {
  const par = p.params
  const base = (ls: Working[]) => sum(ls.map((w) => (p.exclusive ? w.gross : w.remaining)))
  const minSpendOk = (ls: Working[]) => par.minSpend === undefined || base(ls) >= par.minSpend
  switch (p.kind) {
    case 'percent_off':
      // The spend decides whether it applies; the percent is of what the earlier steps left, exclusive or not.
      return p.level === 'item'
        ? { eligible: minSpendOk, compute: percentEach(par.percentBp) }
        : { eligible: minSpendOk, compute: (ls) => spread(ls, mulDivRound(sum(ls.map((w) => w.remaining)), par.percentBp, 10_000)) }
    case 'amount_off':
      return p.level === 'item'
        ? { eligible: minSpendOk, compute: (ls) => new Map(ls.map((w) => [w, w.line.unit === 'piece' ? par.amount * w.line.quantity : par.amount])) }
        : { eligible: minSpendOk, compute: (ls) => spread(ls, par.amount) }
    case 'fixed_price':
      return {
        eligible: (ls) => ls.length > 0,
        compute: (ls) => new Map(ls.map((w) => [w, w.remaining - mulDivRound(par.price, w.line.quantity, par.pricePer ?? w.line.pricePer)])),
      }
    case 'spend_threshold': {
      const tiers = [...(par.tiers as { threshold: number; amount: number }[])].sort((a, b) => b.threshold - a.threshold)
      const amountFor = (b: number) => {
        if (par.repeat) return Math.floor(b / tiers[0]!.threshold) * tiers[0]!.amount
        return tiers.find((t) => b >= t.threshold)?.amount ?? 0
      }
      return { eligible: (ls) => amountFor(base(ls)) > 0, compute: (ls) => spread(ls, amountFor(base(ls))) }
    }
    case 'buy_x_get_y': {
      const pieces = (ls: Working[]) => ls.filter((w) => w.line.unit === 'piece')
      return {
        eligible: (ls) => sum(pieces(ls).map((w) => w.line.quantity)) >= par.buy + par.get,
        // It counts pieces only: an exclusive one leaves weighed lines to the other promotions.
        covers: pieces,
        compute: (ls) => {
          const units = pieces(ls)
          const total = sum(units.map((w) => w.line.quantity))
          let free = Math.floor(total / (par.buy + par.get)) * par.get
          const byUnitPrice = [...units].sort(order.cheapest)
          const out = new Map<Working, number>()
          for (const w of byUnitPrice) {
            if (free === 0) break
            const k = Math.min(free, w.line.quantity)
            free -= k
            out.set(w, mulDivRound(w.remaining, k * par.getPercentBp, w.line.quantity * 10_000))
            // Units given away whole are no longer the line's to discount per unit (a free-item coupon after it).
            if (par.getPercentBp === 10_000) w.free += k
          }
          return out
        },
      }
    }
    case 'bundle': {
      const comps = par.components as { quantity: number; productIds: string[]; variantIds: string[]; categoryIds: string[] }[]
      const assign = (ls: Working[]) => {
        // Each line counts toward the first component it matches; a piece line only.
        const pools = comps.map(() => [] as Working[])
        for (const w of ls) {
          if (w.line.unit !== 'piece') continue
          const i = comps.findIndex((c) => inScope(w.line, c))
          if (i >= 0) pools[i]!.push(w)
        }
        // The dearest units first (what is left of each unit's price by now), the best set for the customer, whatever
        // order the lines were scanned in.
        for (const pool of pools) pool.sort(order.dearest)
        const sets = Math.min(...comps.map((c, i) => Math.floor(sum(pools[i]!.map((w) => w.line.quantity)) / c.quantity)))
        // The units each line puts into the sets, dearest first: only those lines are the bundle's.
        const units = new Map<Working, number>()
        comps.forEach((c, i) => {
          let need = c.quantity * sets
          for (const w of pools[i]!) {
            if (need === 0) break
            const k = Math.min(need, w.line.quantity)
            need -= k
            units.set(w, (units.get(w) ?? 0) + k)
          }
        })
        return { sets, units }
      }
      return {
        eligible: (ls) => assign(ls).sets > 0,
        // A line none of whose units goes into a set is not the bundle's: an exclusive bundle leaves it to others.
        covers: (ls) => [...assign(ls).units.keys()],
        compute: (ls) => {
          const { sets, units } = assign(ls)
          const taken = new Map<Working, number>() // value of the units each line puts into the bundles
          for (const [w, k] of units) taken.set(w, mulDivRound(w.remaining, k, w.line.quantity))
          const value = sum([...taken.values()])
          const discount = Math.max(0, value - sets * par.price)
          const ws = [...taken.keys()]
          const parts = allocate(Math.min(discount, value), ws.map((w) => taken.get(w)!))
          return new Map(ws.map((w, i) => [w, parts[i]!]))
        },
      }
    }
  }
}

interface Step {
  step: 1 | 2 | 3 | 4
  order: [number, number, string]
  lines: (all: Working[]) => Working[]
  eligible: (ls: Working[]) => boolean
  compute: Compute
  adj: Omit<LineAdjustment, 'amount'>
}

const SOURCE_ORDER: Record<AdjustmentSource, number> = { promotion: 0, tier: 1, manual: 2, coupon: 3, points: 4 }

export function priceCart(cart: CartLine[], promos: PromotionRule[], opts: PricingOptions, extras: ExtraDiscount[] = []): PricedCart {
  const work: Working[] = cart.map((line) => {
    const gross = lineGross(line)
    return { line, gross, remaining: gross, adjustments: [], free: 0 }
  })

  const order = unitOrder(opts)
  // Exclusive promotions claim their lines first (on the cart before discounts), by priority: the lines they would
  // give something. One that would give nothing (a bundle dearer than its parts) claims none; one priced per line (a
  // fixed price, an item percent or amount) leaves the lines it gives nothing (an item below the fixed price).
  const claimedBy = new Map<Working, string>()
  for (const p of [...promos].filter((x) => x.exclusive).sort((a, b) => a.priority - b.priority || (a.id < b.id ? -1 : 1))) {
    const scope = work.filter((w) => inScope(w.line, p) && !claimedBy.has(w))
    const rule = promotionCompute(p, order)
    if (scope.length === 0 || !rule.eligible(scope)) continue
    const covers = rule.covers?.(scope) ?? scope
    // On copies: computing marks the units a promotion gives away.
    const copies = covers.map((w) => ({ ...w, adjustments: [], free: 0 }))
    const gives = rule.compute(copies)
    const amounts = copies.map((c) => Math.max(0, gives.get(c) ?? 0))
    if (sum(amounts) === 0) continue
    const perLine = p.kind === 'fixed_price' || (p.level === 'item' && (p.kind === 'percent_off' || p.kind === 'amount_off'))
    covers.forEach((w, i) => {
      if (!perLine || amounts[i]! > 0) claimedBy.set(w, p.id)
    })
  }

  const steps: Step[] = []
  for (const p of promos) {
    const { compute, eligible } = promotionCompute(p, order)
    steps.push({
      step: STEP_OF[p.kind](p.level),
      order: [p.priority, SOURCE_ORDER.promotion, p.id],
      // An exclusive promotion acts on the lines it claimed, its condition judged when it claimed them.
      lines: (all) => (p.exclusive ? all.filter((w) => claimedBy.get(w) === p.id) : all.filter((w) => inScope(w.line, p) && !claimedBy.has(w))),
      eligible: p.exclusive ? (ls) => ls.length > 0 : eligible,
      compute,
      adj: { source: 'promotion', sourceId: p.id, label: p.name },
    })
  }
  for (const w of work) {
    const m = w.line.manualDiscount
    if (!m) continue
    const isPercent = 'percentBp' in m
    steps.push({
      step: isPercent ? 1 : 3,
      order: [Number.MAX_SAFE_INTEGER, SOURCE_ORDER.manual, w.line.key],
      lines: () => [w],
      eligible: () => true,
      compute: isPercent ? percentEach(m.percentBp) : () => new Map([[w, m.amount]]),
      adj: { source: 'manual', sourceId: null, label: isPercent ? `${m.percentBp / 100}% off` : 'discount' },
    })
  }
  for (const x of extras) {
    const item = x.step === 1 || x.step === 3
    steps.push({
      step: x.step,
      order: [Number.MAX_SAFE_INTEGER, SOURCE_ORDER[x.source], x.sourceId],
      lines: (all) => all.filter((w) => inScope(w.line, x.scope ?? {})),
      eligible: (ls) => ls.length > 0,
      compute:
        x.percentBp !== undefined
          ? item
            ? percentEach(x.percentBp)
            : (ls) => spread(ls, mulDivRound(sum(ls.map((w) => w.remaining)), x.percentBp!, 10_000))
          : x.freeUnits !== undefined
            ? (ls) => unitsInTurn(ls, x.freeUnits!)
            : item
              ? (ls) => inTurn(ls, x.amount ?? 0)
              : (ls) => spread(ls, x.amount ?? 0),
      adj: { source: x.source, sourceId: x.sourceId, label: x.label },
    })
  }
  steps.sort((a, b) => a.step - b.step || a.order[0] - b.order[0] || a.order[1] - b.order[1] || (a.order[2] < b.order[2] ? -1 : a.order[2] > b.order[2] ? 1 : 0))

  for (const s of steps) {
    const ls = s.lines(work)
    if (ls.length === 0 || !s.eligible(ls)) continue
    for (const [w, amount] of s.compute(ls)) give(w, amount, s.adj)
  }

  // Tax.
  const taxes = new Map<Working, number>()
  if (opts.taxRounding === 'per_line') {
    for (const w of work) taxes.set(w, opts.taxInclusive ? taxFromInclusive(w.remaining, w.line.taxRateBp) : taxOnExclusive(w.remaining, w.line.taxRateBp))
  } else {
    const buckets = new Map<number, Working[]>()
    for (const w of work) buckets.set(w.line.taxRateBp, [...(buckets.get(w.line.taxRateBp) ?? []), w])
    for (const [rate, ws] of buckets) {
      const base = sum(ws.map((w) => w.remaining))
      const tax = opts.taxInclusive ? taxFromInclusive(base, rate) : taxOnExclusive(base, rate)
      const parts = allocate(tax, ws.map((w) => w.remaining))
      ws.forEach((w, i) => taxes.set(w, parts[i]!))
    }
  }

  const lines: PricedLine[] = work.map((w) => {
    const tax = taxes.get(w)!
    const net = w.remaining
    return {
      ...w.line,
      gross: w.gross,
      adjustments: w.adjustments,
      discountTotal: w.gross - net,
      net,
      netExTax: opts.taxInclusive ? net - tax : net,
      taxAmount: tax,
      total: opts.taxInclusive ? net : net + tax,
    }
  })

  const taxByRate = new Map<number, { rateBp: number; netExTax: number; tax: number }>()
  for (const l of lines) {
    const b = taxByRate.get(l.taxRateBp) ?? { rateBp: l.taxRateBp, netExTax: 0, tax: 0 }
    b.netExTax += l.netExTax
    b.tax += l.taxAmount
    taxByRate.set(l.taxRateBp, b)
  }
  const applied = new Map<string, PricedCart['applied'][number]>()
  for (const l of lines) {
    for (const a of l.adjustments) {
      const k = `${a.source}:${a.sourceId ?? l.key}`
      const cur = applied.get(k) ?? { source: a.source, sourceId: a.sourceId, label: a.label, amount: 0 }
      cur.amount += a.amount
      applied.set(k, cur)
    }
  }
  return {
    lines,
    grossTotal: sum(lines.map((l) => l.gross)),
    discountTotal: sum(lines.map((l) => l.discountTotal)),
    netExTaxTotal: sum(lines.map((l) => l.netExTax)),
    taxTotal: sum(lines.map((l) => l.taxAmount)),
    total: sum(lines.map((l) => l.total)),
    taxByRate: [...taxByRate.values()].sort((a, b) => b.rateBp - a.rateBp),
    applied: [...applied.values()],
  }
}

/** Cash rounding (抹零) of an amount due to a multiple of `unit`: the adjustment to add (≤ 0 with mode 'down'). */
export function cashRoundingAdjustment(amount: number, rule: { unit: number; mode: 'half_up' | 'down' }): number {
  if (rule.unit <= 1) return 0
  const r = amount % rule.unit
  if (r === 0) return 0
  if (rule.mode === 'down') return -r
  return r * 2 >= rule.unit ? rule.unit - r : -r
}
