// A seeded pseudo-random source, so the demo's catalog, members and week of sales come out the same on every
// machine (mulberry32: small, fast, good enough for picking shopping baskets).
export interface Rng {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [min, max]. */
  int(min: number, max: number): number
  pick<T>(items: readonly T[]): T
  /** One of `items`, chosen in proportion to `weight(item)`. */
  weighted<T>(items: readonly T[], weight: (item: T) => number): T
  chance(p: number): boolean
}

export function rng(seed: number): Rng {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  return {
    next,
    int,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    weighted(items, weight) {
      const total = items.reduce((s, i) => s + weight(i), 0)
      let r = next() * total
      for (const i of items) {
        r -= weight(i)
        if (r < 0) return i
      }
      return items[items.length - 1]!
    },
    chance: (p) => next() < p,
  }
}
