import { describe, expect, it } from 'vitest'
import { compareUrgency, reorderFigures, type ReorderSuggestion } from '../../../src/core/stock/thresholds.ts'

describe('reorder arithmetic', () => {
  const figures = (unitsSold: number, available: number, safetyStock = 0, windowDays = 28, coverDays = 14) => reorderFigures({ unitsSold, windowDays, coverDays, available, safetyStock })

  it('suggests enough to cover the coming days at the window’s velocity, on top of the safety stock', () => {
    // 56 sold in 28 days = 2 a day; 14 days need 28; 10 on hand, 5 safety → 23
    expect(figures(56, 10, 5)).toEqual({ dailyVelocity: '2.000', daysOfCover: 5, suggestedQuantity: 23 })
  })

  it('rounds the needed quantity up, never down, even by the smallest fraction', () => {
    // 1 sold in 28 days, 14 days of cover: 0.5 → 1
    expect(figures(1, 0).suggestedQuantity).toBe(1)
    // 29 × 14 / 28 = 14.5 → 15
    expect(figures(29, 0).suggestedQuantity).toBe(15)
    // exactly 14 needs 14, not 15
    expect(figures(28, 0).suggestedQuantity).toBe(14)
    // 1 sold in 365 days, 1 day of cover: 1/365 → 1
    expect(figures(1, 0, 0, 365, 1).suggestedQuantity).toBe(1)
  })

  it('suggests nothing when available stock already covers the need', () => {
    expect(figures(28, 14).suggestedQuantity).toBe(0)
    expect(figures(28, 100, 5).suggestedQuantity).toBe(0)
  })

  it('counts a negative available as a shortfall to make up', () => {
    expect(figures(28, -3, 2)).toMatchObject({ daysOfCover: 0, suggestedQuantity: 14 + 2 + 3 })
  })

  it('without sales there is no days-of-cover figure and only the safety stock is topped up', () => {
    expect(figures(0, 2, 5)).toEqual({ dailyVelocity: '0.000', daysOfCover: null, suggestedQuantity: 3 })
    // more returns than sales in the window count as no sales
    expect(figures(-4, 2, 5)).toEqual({ dailyVelocity: '0.000', daysOfCover: null, suggestedQuantity: 3 })
  })

  it('shows the velocity with three decimals rounded half up, and whole days of cover rounded down', () => {
    expect(figures(30, 20)).toMatchObject({ dailyVelocity: '1.071', daysOfCover: 18 }) // 1.0714…; 18.67 days
    expect(figures(2, 0, 0, 3)).toMatchObject({ dailyVelocity: '0.667' }) // 0.6666…
    expect(figures(1, 0, 0, 8)).toMatchObject({ dailyVelocity: '0.125' })
    expect(figures(1, 0, 0, 16)).toMatchObject({ dailyVelocity: '0.063' }) // 0.0625 → half up
    expect(figures(7, 3)).toMatchObject({ dailyVelocity: '0.250', daysOfCover: 12 })
  })

  it('stays exact for quantities far beyond what floating point keeps (weighed goods in grams)', () => {
    const sold = 9_007_199_254_740_000 // near 2^53
    const r = figures(sold, 0, 0, 7, 3)
    // ⌈sold × 3 / 7⌉ computed exactly: sold × 3 = 27021597764220000, / 7 = 3860228252031428.57… → …429
    expect(r.suggestedQuantity).toBe(3_860_228_252_031_429)
    expect(r.dailyVelocity).toBe('1286742750677142.857')
  })

  it('refuses fractional inputs rather than computing on them', () => {
    expect(() => figures(1.5, 0)).toThrow(RangeError)
    expect(() => figures(1, 0, 0, 0)).toThrow(RangeError)
  })

  it('orders by fewest days of cover compared exactly, then by the larger suggestion, with unsold items last', () => {
    const s = (sku: string, unitsSold: number, available: number, suggestedQuantity = 0): ReorderSuggestion => ({
      sku,
      unitsSold,
      available,
      suggestedQuantity,
      variantId: sku,
      name: sku,
      onHand: available,
      reserved: 0,
      safetyStock: null,
      inTransit: 0,
      dailyVelocity: '',
      daysOfCover: null,
    })
    // 10/3 = 3.333 days vs 7/2 = 3.5 days: both round down to 3 whole days, but a is more urgent
    const list = [s('unsold', 0, 0, 9), s('b', 2, 7), s('a', 3, 10), s('c', 1, 0, 1), s('d', 1, 0, 4), s('empty', 5, -2)]
    expect(list.sort(compareUrgency).map((x) => x.sku)).toEqual(['empty', 'd', 'c', 'a', 'b', 'unsold'])
  })
})
