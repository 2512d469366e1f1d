/**
 * Finds the strings of a stream that occur more than once, in memory fixed in advance: a Bloom filter says whether a
 * string may have been seen before, and only those it says so of are kept. Every string that does repeat is reported
 * (a Bloom filter has no false negatives); a string seen once is reported only by the filter's error, whose rate grows
 * with the number of strings (with the default 8 MB and 7 probes: about one in 10^7 at a million strings, one in 500 at
 * ten million). What is reported is a superset of the repeats, to be confirmed by whoever needs them exact.
 *
 * Should more than `limit` distinct strings be reported, the finder gives up (`repeats()` is null): the caller then
 * has to find repeats another way, and memory stays bounded.
 */
export interface RepeatFinder {
  add(s: string): void
  /** The strings that may occur more than once (each once), or null when there were more than the limit. */
  repeats(): string[] | null
}

export function repeatFinder(opts: { bits?: number; probes?: number; limit?: number } = {}): RepeatFinder {
  const bits = opts.bits ?? 1 << 26
  if (!Number.isInteger(Math.log2(bits)) || bits < 32) throw new Error(`bits must be a power of two of at least 32, not ${bits}`)
  const probes = opts.probes ?? 7
  const limit = opts.limit ?? 10_000
  const mask = bits - 1
  let words: Uint32Array | null = null
  let found: Set<string> | null = new Set()

  return {
    add(s) {
      words ??= new Uint32Array(bits >>> 5)
      // Two independent 32-bit hashes of the UTF-16 code units (FNV-1a, and a multiplicative one with another
      // seed), combined as h1 + i·h2 for the i-th probe (Kirsch and Mitzenmacher).
      let h1 = 0x811c9dc5
      let h2 = 0x9747b28c
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i)
        h1 = Math.imul(h1 ^ c, 0x01000193)
        h2 = Math.imul(h2 ^ c, 0x5bd1e995)
        h2 ^= h2 >>> 15
      }
      h2 |= 1 // odd, so the probes of one string never fall on one bit
      let seen = true
      for (let i = 0; i < probes; i++) {
        const bit = (h1 + Math.imul(i, h2)) & mask
        const word = bit >>> 5
        const flag = 1 << (bit & 31)
        const w = words[word]!
        if ((w & flag) === 0) {
          seen = false
          words[word] = w | flag
        }
      }
      if (seen && found) {
        found.add(s)
        if (found.size > limit) found = null
      }
    },
    repeats() {
      return found ? [...found] : null
    },
  }
}
