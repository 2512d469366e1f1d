import { describe, expect, it } from 'vitest'
import { channelQuantity, DEFAULT_RULE, type ChannelRule } from '../../../src/core/channel-stock/allocation.ts'

const rule = (r: Partial<ChannelRule>): ChannelRule => ({ ...DEFAULT_RULE, ...r })

describe('channel quantity', () => {
  it('offers all of available by default and never less than zero', () => {
    expect(channelQuantity(7, DEFAULT_RULE)).toBe(7)
    expect(channelQuantity(0, DEFAULT_RULE)).toBe(0)
    expect(channelQuantity(-3, DEFAULT_RULE)).toBe(0)
  })

  it('rounds a percentage down, so low stock reaches zero sooner', () => {
    expect(channelQuantity(1, rule({ percent: 90 }))).toBe(0)
    expect(channelQuantity(2, rule({ percent: 40 }))).toBe(0)
    expect(channelQuantity(10, rule({ percent: 55 }))).toBe(5)
    expect(channelQuantity(3, rule({ percent: 50 }))).toBe(1)
  })

  it('keeps the buffer back before the percentage', () => {
    expect(channelQuantity(10, rule({ buffer: 2 }))).toBe(8)
    expect(channelQuantity(10, rule({ buffer: 2, percent: 50 }))).toBe(4)
    expect(channelQuantity(2, rule({ buffer: 5 }))).toBe(0)
  })

  it('caps at the maximum', () => {
    expect(channelQuantity(100, rule({ maximum: 20 }))).toBe(20)
    expect(channelQuantity(5, rule({ maximum: 20 }))).toBe(5)
  })

  it('sends zero when available is at or below the threshold', () => {
    expect(channelQuantity(3, rule({ zeroAtOrBelow: 3 }))).toBe(0)
    expect(channelQuantity(4, rule({ zeroAtOrBelow: 3 }))).toBe(4)
    expect(channelQuantity(3, rule({ zeroAtOrBelow: 3, fixed: 2 }))).toBe(0)
  })

  it('gives a fixed allocation, never more than available', () => {
    expect(channelQuantity(100, rule({ fixed: 5, percent: 10, maximum: 1 }))).toBe(5)
    expect(channelQuantity(3, rule({ fixed: 5 }))).toBe(3)
  })

  it('refuses a fractional available', () => {
    expect(() => channelQuantity(1.5, DEFAULT_RULE)).toThrow(RangeError)
  })
})
