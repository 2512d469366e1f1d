// How much of our stock a channel is offered: the rules of the multichannel tools (Sellbrite, Linnworks,
// Sellercloud) applied to available stock, in a fixed, documented order. Pure, so every rule is tested alone.

export interface ChannelRule {
  /** Percentage of available offered, rounded down (100 = all). */
  percent: number
  /** Units kept back from the channel before the percentage. */
  buffer: number
  /** Never more than this. */
  maximum: number | null
  /** Zero when available is at or below this (the last units stay in the store). */
  zeroAtOrBelow: number | null
  /** A fixed allocation: this many, never more than available; the other rules do not apply. */
  fixed: number | null
}

export const DEFAULT_RULE: ChannelRule = { percent: 100, buffer: 0, maximum: null, zeroAtOrBelow: null, fixed: null }

/**
 * The channel quantity for `available` (on-hand − reservations of all channels, summed over the locations that
 * feed the channel). Order: nothing below zero; "zero at or below N" first (on available itself); a fixed
 * allocation capped by available; otherwise (available − buffer) × percent / 100 rounded down, then the maximum.
 */
export function channelQuantity(available: number, rule: ChannelRule): number {
  if (!Number.isSafeInteger(available)) throw new RangeError(`available must be an integer, got ${available}`)
  const stock = Math.max(0, available)
  if (rule.zeroAtOrBelow !== null && stock <= rule.zeroAtOrBelow) return 0
  if (rule.fixed !== null) return Math.min(rule.fixed, stock)
  const offered = Math.floor((Math.max(0, stock - rule.buffer) * rule.percent) / 100)
  return rule.maximum !== null ? Math.min(offered, rule.maximum) : offered
}
