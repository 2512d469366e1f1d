import { describe, expect, it } from 'vitest'
import { cashRoundingAdjustment, priceCart, type CartLine, type PromotionRule } from '../../../src/core/sales/pricing.ts'

let k = 0
const line = (p: Partial<CartLine> & { unitPrice: number }): CartLine => ({
  key: String(++k),
  variantId: p.variantId ?? `v${k}`,
  productId: p.productId ?? `p${k}`,
  categoryChain: p.categoryChain ?? [],
  unit: p.unit ?? 'piece',
  quantity: p.quantity ?? 1,
  pricePer: p.pricePer ?? 1,
  taxRateBp: p.taxRateBp ?? 1300,
  ...p,
})

const promo = (p: Partial<PromotionRule> & Pick<PromotionRule, 'kind' | 'level' | 'params'>): PromotionRule => ({
  id: p.id ?? `promo-${++k}`,
  name: p.name ?? p.kind,
  productIds: [],
  variantIds: [],
  categoryIds: [],
  priority: 100,
  exclusive: false,
  ...p,
})

const incl = { taxInclusive: true, taxRounding: 'per_line' as const }

function expectConsistent(c: ReturnType<typeof priceCart>) {
  expect(c.lines.reduce((a, l) => a + l.total, 0)).toBe(c.total)
  expect(c.lines.reduce((a, l) => a + l.taxAmount, 0)).toBe(c.taxTotal)
  expect(c.lines.reduce((a, l) => a + l.discountTotal, 0)).toBe(c.discountTotal)
  for (const l of c.lines) {
    expect(l.net).toBeGreaterThanOrEqual(0)
    expect(l.adjustments.reduce((a, x) => a + x.amount, 0)).toBe(l.discountTotal)
    expect(l.gross - l.discountTotal).toBe(l.net)
  }
}

describe('pricing: lines and tax', () => {
  it('three lines at ¥0.01 with 13 % tax: each line has tax 0 and the receipt tax is their sum', () => {
    const c = priceCart([line({ unitPrice: 1 }), line({ unitPrice: 1 }), line({ unitPrice: 1 })], [], incl)
    expect(c.lines.map((l) => l.taxAmount)).toEqual([0, 0, 0])
    expect(c.total).toBe(3)
    expect(c.taxTotal).toBe(0)
    const bucket = priceCart([line({ unitPrice: 1 }), line({ unitPrice: 1 }), line({ unitPrice: 1 })], [], { taxInclusive: true, taxRounding: 'per_order_rate_bucket' })
    expect(bucket.taxTotal).toBe(0) // 3 − round(3 / 1.13) = 3 − 3
    expectConsistent(bucket)
  })

  it('splits tax out of inclusive prices per line, half up', () => {
    const c = priceCart([line({ unitPrice: 11300 }), line({ unitPrice: 999, taxRateBp: 600 }), line({ unitPrice: 10900, taxRateBp: 900 })], [], incl)
    expect(c.lines.map((l) => l.taxAmount)).toEqual([1300, 57, 900])
    expect(c.lines.map((l) => l.netExTax)).toEqual([10000, 942, 10000])
    expect(c.taxByRate).toEqual([
      { rateBp: 1300, netExTax: 10000, tax: 1300 },
      { rateBp: 900, netExTax: 10000, tax: 900 },
      { rateBp: 600, netExTax: 942, tax: 57 },
    ])
    expect(c.total).toBe(11300 + 999 + 10900)
  })

  it('adds tax to exclusive prices and the total includes it', () => {
    const c = priceCart([line({ unitPrice: 10000 }), line({ unitPrice: 4 })], [], { taxInclusive: false, taxRounding: 'per_line' })
    expect(c.lines.map((l) => [l.taxAmount, l.total])).toEqual([
      [1300, 11300],
      [1, 5],
    ])
    expect(c.total).toBe(11305)
  })

  it('rate-bucket rounding rounds once per rate and spreads it back so lines add up', () => {
    const lines = Array.from({ length: 7 }, () => line({ unitPrice: 4 }))
    const perLine = priceCart(lines, [], { taxInclusive: false, taxRounding: 'per_line' })
    const bucket = priceCart(lines, [], { taxInclusive: false, taxRounding: 'per_order_rate_bucket' })
    expect(perLine.taxTotal).toBe(7) // each 0.52 → 1
    expect(bucket.taxTotal).toBe(4) // 28 × 13 % = 3.64 → 4
    expectConsistent(bucket)
  })

  it('prices weighed goods from their per-kilogram price and a scale label weight', () => {
    const c = priceCart([line({ unit: 'g', quantity: 250, unitPrice: 3980, pricePer: 1000 }), line({ unit: 'g', quantity: 333, unitPrice: 3980, pricePer: 1000 })], [], incl)
    expect(c.lines.map((l) => l.gross)).toEqual([995, 1325])
    const labelled = priceCart([line({ unit: 'g', quantity: 333, unitPrice: 3980, pricePer: 1000, labelAmount: 1326 })], [], incl)
    expect(labelled.total).toBe(1326)
  })
})

describe('pricing: promotions', () => {
  it('an order discount of ¥10 over three lines is spread by largest remainder and agrees to the fen', () => {
    const c = priceCart([line({ unitPrice: 3333 }), line({ unitPrice: 3333 }), line({ unitPrice: 3334 })], [promo({ kind: 'amount_off', level: 'order', params: { amount: 1000 } })], incl)
    expect(c.lines.map((l) => l.discountTotal)).toEqual([333, 333, 334])
    expect(c.discountTotal).toBe(1000)
    expect(c.total).toBe(9000)
    const even = priceCart([line({ unitPrice: 1000 }), line({ unitPrice: 1000 }), line({ unitPrice: 1000 })], [promo({ kind: 'amount_off', level: 'order', params: { amount: 1000 } })], incl)
    expect(even.lines.map((l) => l.discountTotal)).toEqual([334, 333, 333])
    expectConsistent(even)
  })

  it('applies item percentages, then order percentages, then item amounts, then order amounts', () => {
    const c = priceCart(
      [line({ unitPrice: 10000 })],
      [
        promo({ kind: 'amount_off', level: 'order', params: { amount: 1000 }, priority: 1 }),
        promo({ kind: 'amount_off', level: 'item', params: { amount: 500 }, priority: 1 }),
        promo({ kind: 'percent_off', level: 'order', params: { percentBp: 1000 }, priority: 1 }),
        promo({ kind: 'percent_off', level: 'item', params: { percentBp: 1000 }, priority: 99 }),
      ],
      incl,
    )
    // 10000 −10 % = 9000 −10 % = 8100 −5.00 = 7600 −10.00 = 6600
    expect(c.total).toBe(6600)
    expect(c.lines[0]!.adjustments.map((a) => a.amount)).toEqual([1000, 900, 500, 1000])
  })

  it('an exclusive promotion keeps other promotions off its lines, but not off the others', () => {
    const a = line({ unitPrice: 10000, productId: 'A' })
    const b = line({ unitPrice: 10000, productId: 'B' })
    const c = priceCart(
      [a, b],
      [
        promo({ id: 'half', kind: 'percent_off', level: 'item', params: { percentBp: 5000 }, productIds: ['A'], exclusive: true }),
        promo({ id: 'ten', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } }),
      ],
      incl,
    )
    expect(c.lines.map((l) => l.total)).toEqual([5000, 9000])
    expect(c.lines[0]!.adjustments.map((x) => x.sourceId)).toEqual(['half'])
  })

  it('an exclusive bundle keeps other promotions off the lines its sets use only: a component line left over gets them', () => {
    const c = priceCart(
      [line({ unitPrice: 1000, productId: 'A' }), line({ unitPrice: 1000, productId: 'B' }), line({ unitPrice: 1000, productId: 'A' })],
      [
        promo({ id: 'set', kind: 'bundle', level: 'item', params: { price: 1500, components: [{ quantity: 1, productIds: ['A'] }, { quantity: 1, productIds: ['B'] }] }, exclusive: true }),
        promo({ id: 'ten', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } }),
      ],
      incl,
    )
    expect(c.lines.map((l) => l.total)).toEqual([750, 750, 900])
    expect(c.lines.map((l) => l.adjustments.map((x) => x.sourceId))).toEqual([['set'], ['set'], ['ten']])
    expectConsistent(c)
  })

  it('an exclusive promotion that would give a line nothing does not claim it: a fixed price above the item, a bundle dearer than its parts', () => {
    const cheap = line({ unitPrice: 800, productId: 'A' })
    const dear = line({ unitPrice: 1500, productId: 'A' })
    const c = priceCart(
      [cheap, dear],
      [
        promo({ id: 'fixed', kind: 'fixed_price', level: 'item', params: { price: 1000 }, productIds: ['A'], exclusive: true }),
        promo({ id: 'ten', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } }),
      ],
      incl,
    )
    // 8.00 is below the fixed 10.00: the fixed price leaves it to the others (10 % off); 15.00 is the fixed price's.
    expect(c.lines.map((l) => [l.total, l.adjustments.map((x) => x.sourceId)])).toEqual([
      [720, ['ten']],
      [1000, ['fixed']],
    ])
    expectConsistent(c)
    const b = priceCart(
      [line({ unitPrice: 500, productId: 'A' }), line({ unitPrice: 500, productId: 'B' })],
      [
        promo({ id: 'set', kind: 'bundle', level: 'item', params: { price: 1200, components: [{ quantity: 1, productIds: ['A'] }, { quantity: 1, productIds: ['B'] }] }, exclusive: true }),
        promo({ id: 'ten', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } }),
      ],
      incl,
    )
    expect(b.lines.map((l) => [l.total, l.adjustments.map((x) => x.sourceId)])).toEqual([
      [450, ['ten']],
      [450, ['ten']],
    ])
    expectConsistent(b)
  })

  it('units of one price and different tax rates: a buy-X-get-Y and a bundle take the same units in any scan order, the cheapest (or dearest) with tax where prices exclude it', () => {
    const excl = { taxInclusive: false, taxRounding: 'per_line' as const }
    const a = () => line({ key: 'a', unitPrice: 1000, productId: 'A', variantId: 'va', taxRateBp: 1300 })
    const b = () => line({ key: 'b', unitPrice: 1000, productId: 'B', variantId: 'vb', taxRateBp: 900 })
    const c = () => line({ key: 'c', unitPrice: 500, productId: 'C', variantId: 'vc', taxRateBp: 1300 })
    const free = promo({ id: 'b1g1', kind: 'buy_x_get_y', level: 'item', params: { buy: 1, get: 1, getPercentBp: 10_000 }, productIds: ['A', 'B'] })
    const summary = (x: ReturnType<typeof priceCart>) => [x.total, x.taxTotal, Object.fromEntries(x.lines.map((l) => [l.variantId, l.total]))]
    for (const opts of [excl, incl]) {
      const one = priceCart([a(), b()], [free], opts)
      expect(summary(priceCart([b(), a()], [free], opts))).toEqual(summary(one))
      expectConsistent(one)
    }
    // Prices without tax: the unit that costs the customer least is the 9 % one (10.90 against 11.30).
    expect(summary(priceCart([a(), b()], [free], excl))).toEqual([1130, 130, { va: 1130, vb: 0 }])
    const set = promo({ id: 'set', kind: 'bundle', level: 'item', params: { price: 1200, components: [{ quantity: 1, productIds: ['A', 'B'] }, { quantity: 1, productIds: ['C'] }] }, exclusive: true, priority: 1 })
    const ten = promo({ id: 'ten', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } })
    for (const opts of [excl, incl]) {
      const one = priceCart([a(), b(), c()], [set, ten], opts)
      expect(summary(priceCart([b(), a(), c()], [set, ten], opts))).toEqual(summary(one))
      expect(summary(priceCart([c(), b(), a()], [set, ten], opts))).toEqual(summary(one))
      expectConsistent(one)
    }
  })

  it('ties between lines never follow the scan order: an order discount’s odd fen, a buy-X-get-Y beside a cashier’s discount, a free-item coupon over lines of one item', () => {
    const excl = { taxInclusive: false, taxRounding: 'per_line' as const }
    const same = (cart: () => CartLine[], promos: PromotionRule[], opts: typeof excl, extras: Parameters<typeof priceCart>[3] = []) => {
      const lines = cart()
      const one = priceCart(lines, promos, opts, extras)
      const other = priceCart([...lines].reverse(), promos, opts, extras)
      expectConsistent(one)
      expect([other.total, other.taxTotal]).toEqual([one.total, one.taxTotal])
      return one
    }
    // 满减 of 10.01 over two lines of 10.04, 13 % and 0 %: the odd fen goes to the same line either way.
    const threshold = promo({ id: 'mj', kind: 'spend_threshold', level: 'order', params: { tiers: [{ threshold: 2000, amount: 1001 }] } })
    same(() => [line({ key: 'a', unitPrice: 1004, variantId: 'va', taxRateBp: 1300 }), line({ key: 'b', unitPrice: 1004, variantId: 'vb', taxRateBp: 0 })], [threshold], excl)
    // Buy one get one over two units of one item, the cashier taking 0.07 off one: the other is the free one.
    const b1g1 = promo({ id: 'b1g1', kind: 'buy_x_get_y', level: 'item', params: { buy: 1, get: 1, getPercentBp: 10_000 }, productIds: ['P'] })
    const withManual = same(() => [line({ key: 'm', unitPrice: 1000, productId: 'P', variantId: 'vp', manualDiscount: { amount: 7 } }), line({ key: 'n', unitPrice: 1000, productId: 'P', variantId: 'vp' })], [b1g1], incl)
    expect(withManual.total).toBe(993)
    // A free-item coupon over a line of 1 and a line of 2 of one coffee (9 %, prices without tax).
    const coupon = { source: 'coupon' as const, sourceId: 'c1', label: 'free coffee', step: 3 as const, scope: { variantIds: ['vc'] }, freeUnits: 1 }
    same(() => [line({ key: 'x', unitPrice: 8763, variantId: 'vc', productId: 'C', taxRateBp: 900, quantity: 1 }), line({ key: 'y', unitPrice: 8763, variantId: 'vc', productId: 'C', taxRateBp: 900, quantity: 2 })], [], excl, [coupon])
  })

  it('between two exclusive promotions the higher priority wins the line; manual discounts still stack', () => {
    const c = priceCart(
      [line({ unitPrice: 10000, manualDiscount: { amount: 100 } })],
      [
        promo({ id: 'low', kind: 'percent_off', level: 'item', params: { percentBp: 5000 }, exclusive: true, priority: 200 }),
        promo({ id: 'high', kind: 'percent_off', level: 'item', params: { percentBp: 2000 }, exclusive: true, priority: 10 }),
      ],
      incl,
    )
    expect(c.lines[0]!.adjustments.map((x) => [x.source, x.sourceId, x.amount])).toEqual([
      ['promotion', 'high', 2000],
      ['manual', null, 100],
    ])
  })

  it('an exclusive order percentage takes its percent of what the item percentages left, as a non-exclusive one does', () => {
    // ¥10.00 with a manual 10% (step 1): 10% off the order takes 90 of the 900 left, not 100 of the gross.
    for (const exclusive of [false, true]) {
      const c = priceCart([line({ unitPrice: 1000, manualDiscount: { percentBp: 1000 } })], [promo({ kind: 'percent_off', level: 'order', params: { percentBp: 1000 }, exclusive })], incl)
      expect(c.total).toBe(810)
      expectConsistent(c)
    }
    // 60% manual off one of two ¥10.00 lines, 50% off the order: half of the 1400 left, spread by what each has left.
    const c = priceCart(
      [line({ unitPrice: 1000, manualDiscount: { percentBp: 6000 } }), line({ unitPrice: 1000 })],
      [promo({ id: 'half', kind: 'percent_off', level: 'order', params: { percentBp: 5000 }, exclusive: true })],
      incl,
    )
    expect(c.total).toBe(700)
    expect(c.lines.map((l) => l.adjustments.find((a) => a.sourceId === 'half')!.amount)).toEqual([200, 500])
  })

  it('spend-threshold 满减 takes the highest tier reached, or repeats per threshold', () => {
    const cart = [line({ unitPrice: 15000 }), line({ unitPrice: 9000 })]
    const tiers = promo({ kind: 'spend_threshold', level: 'order', params: { tiers: [{ threshold: 10000, amount: 1000 }, { threshold: 20000, amount: 3000 }], repeat: false } })
    expect(priceCart(cart, [tiers], incl).discountTotal).toBe(3000)
    const every = promo({ kind: 'spend_threshold', level: 'order', params: { tiers: [{ threshold: 10000, amount: 1000 }], repeat: true } })
    expect(priceCart(cart, [every], incl).discountTotal).toBe(2000)
    expect(priceCart([line({ unitPrice: 9999 })], [tiers], incl).discountTotal).toBe(0)
  })

  it('buy 2 get 1 free makes the cheapest unit free', () => {
    const c = priceCart(
      [line({ unitPrice: 3000, productId: 'X' }), line({ unitPrice: 2000, productId: 'X', quantity: 2 }), line({ unitPrice: 500, productId: 'Y' })],
      [promo({ kind: 'buy_x_get_y', level: 'item', params: { buy: 2, get: 1, getPercentBp: 10000 }, productIds: ['X'] })],
      incl,
    )
    expect(c.lines.map((l) => l.discountTotal)).toEqual([0, 2000, 0])
    const six = priceCart([line({ unitPrice: 1000, quantity: 7 })], [promo({ kind: 'buy_x_get_y', level: 'item', params: { buy: 2, get: 1, getPercentBp: 5000 } })], incl)
    expect(six.discountTotal).toBe(1000) // two sets of three: two units at half price
  })

  it('a bundle sells its components together at the bundle price, spread over the component lines', () => {
    const burger = line({ unitPrice: 2500, productId: 'burger' })
    const fries = line({ unitPrice: 1200, productId: 'fries', quantity: 2 })
    const drink = line({ unitPrice: 800, productId: 'drink' })
    const c = priceCart(
      [burger, fries, drink],
      [promo({ kind: 'bundle', level: 'item', params: { price: 3900, components: [{ quantity: 1, productIds: ['burger'] }, { quantity: 1, productIds: ['fries'] }, { quantity: 1, productIds: ['drink'] }] } })],
      incl,
    )
    // One set: 2500 + 1200 + 800 = 4500 → 3900 (600 off); the second fries is full price.
    expect(c.discountTotal).toBe(600)
    expect(c.total).toBe(2500 + 2400 + 800 - 600)
    expectConsistent(c)
  })

  it('a bundle takes the dearest units that fit a component, so a cart prices the same in any scanned order', () => {
    const bundle = promo({ kind: 'bundle', level: 'item', params: { price: 2200, components: [{ quantity: 1, productIds: ['burger'] }, { quantity: 1, categoryIds: ['drinks'] }] } })
    const cart = () => ({ burger: line({ unitPrice: 2000, productId: 'burger' }), cola: line({ unitPrice: 500, categoryChain: ['drinks'] }), juice: line({ unitPrice: 900, categoryChain: ['drinks'], quantity: 2 }) })
    const a = cart()
    const b = cart()
    const first = priceCart([a.burger, a.cola, a.juice], [bundle], incl)
    const second = priceCart([b.juice, b.burger, b.cola], [bundle], incl)
    // Burger and a juice: 2900 → 2200, 700 off (with the cola it would have been 300).
    expect([first.discountTotal, second.discountTotal]).toEqual([700, 700])
    expect(first.total).toBe(second.total)
    expect(first.lines.find((l) => l.key === a.cola.key)!.discountTotal).toBe(0)
    expectConsistent(first)
    expectConsistent(second)
  })

  it('a free-item coupon after a buy-2-get-1 frees a unit still paid for, however the units are split over lines', () => {
    const b2g1 = promo({ kind: 'buy_x_get_y', level: 'item', params: { buy: 2, get: 1, getPercentBp: 10000 }, productIds: ['coffee'] })
    const coupon = { source: 'coupon' as const, sourceId: 'c1', label: 'one coffee free', step: 3 as const, scope: { productIds: ['coffee'] }, freeUnits: 1 }
    const coffee = (quantity: number) => line({ unitPrice: 1000, productId: 'coffee', variantId: 'coffee-v', quantity })
    // Three coffees: one free by the promotion, one by the coupon, one paid.
    const one = priceCart([coffee(3)], [b2g1], incl, [coupon])
    const two = priceCart([coffee(2), coffee(1)], [b2g1], incl, [coupon])
    const three = priceCart([coffee(1), coffee(1), coffee(1)], [b2g1], incl, [coupon])
    expect([one.total, two.total, three.total]).toEqual([1000, 1000, 1000])
    for (const c of [one, two, three]) expectConsistent(c)
    // With a 50 % second unit nothing is whole: the coupon takes a unit at what is left of the line per unit.
    const half = priceCart([coffee(3)], [promo({ kind: 'buy_x_get_y', level: 'item', params: { buy: 2, get: 1, getPercentBp: 5000 }, productIds: ['coffee'] })], incl, [coupon])
    expect(half.total).toBe(2500 - 833)
  })

  it('a fixed price sells eligible items at that price, never raising a cheaper one', () => {
    const c = priceCart(
      [line({ unitPrice: 1500, quantity: 2, categoryChain: ['snacks', 'food'] }), line({ unitPrice: 500, categoryChain: ['snacks', 'food'] })],
      [promo({ kind: 'fixed_price', level: 'item', params: { price: 990 }, categoryIds: ['food'] })],
      incl,
    )
    expect(c.lines.map((l) => l.total)).toEqual([1980, 500])
  })

  it('an order percentage is rounded once and spread, a minimum spend gates it', () => {
    const ls = [line({ unitPrice: 333 }), line({ unitPrice: 333 }), line({ unitPrice: 334 })]
    const c = priceCart(ls, [promo({ kind: 'percent_off', level: 'order', params: { percentBp: 1500 } })], incl)
    expect(c.discountTotal).toBe(150)
    expect(priceCart(ls, [promo({ kind: 'percent_off', level: 'order', params: { percentBp: 1500, minSpend: 1001 } })], incl).discountTotal).toBe(0)
  })

  it('never discounts a line below zero', () => {
    const c = priceCart([line({ unitPrice: 500, manualDiscount: { amount: 400 } })], [promo({ kind: 'amount_off', level: 'order', params: { amount: 1000 } })], incl)
    expect(c.total).toBe(0)
    expect(c.discountTotal).toBe(500)
  })

  it('holds its invariants on many random carts', () => {
    let seed = 42
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    for (let i = 0; i < 300; i++) {
      const lines = Array.from({ length: 1 + rnd(6) }, () =>
        line({ unitPrice: rnd(20000), quantity: 1 + rnd(5), taxRateBp: [1300, 900, 600, 0][rnd(4)]!, productId: ['A', 'B', 'C'][rnd(3)]!, manualDiscount: rnd(4) === 0 ? { percentBp: rnd(3000) } : undefined }),
      )
      const promos = [
        promo({ kind: 'percent_off', level: 'order', params: { percentBp: 1 + rnd(5000) } }),
        promo({ kind: 'amount_off', level: 'order', params: { amount: 1 + rnd(5000) }, exclusive: rnd(2) === 0 }),
        promo({ kind: 'buy_x_get_y', level: 'item', params: { buy: 1 + rnd(2), get: 1, getPercentBp: 10000 }, productIds: ['A'] }),
        promo({ kind: 'spend_threshold', level: 'order', params: { tiers: [{ threshold: 1 + rnd(30000), amount: 1 + rnd(3000) }], repeat: false } }),
      ].filter(() => rnd(2) === 0)
      for (const opts of [incl, { taxInclusive: false, taxRounding: 'per_order_rate_bucket' as const }]) {
        const c = priceCart(lines, promos, opts)
        expectConsistent(c)
        expect(c.discountTotal).toBeLessThanOrEqual(c.grossTotal)
      }
    }
  })
})

describe('cash rounding', () => {
  it('rounds the amount due to the jiao, half up or down (抹零)', () => {
    expect(cashRoundingAdjustment(1234, { unit: 10, mode: 'half_up' })).toBe(-4)
    expect(cashRoundingAdjustment(1235, { unit: 10, mode: 'half_up' })).toBe(5)
    expect(cashRoundingAdjustment(1239, { unit: 10, mode: 'down' })).toBe(-9)
    expect(cashRoundingAdjustment(1239, { unit: 1, mode: 'down' })).toBe(0)
  })
})
