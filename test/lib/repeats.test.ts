import { describe, expect, it } from 'vitest'
import { repeatFinder } from '../../src/lib/repeats.ts'

const ref = (i: number) => `TB260314120000${String(i).padStart(8, '0')}`

describe('repeatFinder', () => {
  it('reports every string that occurs more than once, once each, wherever the repeat falls', () => {
    const f = repeatFinder()
    const twice = new Set([0, 1, 77, 4_999, 50_000, 99_999])
    for (let i = 0; i < 100_000; i++) {
      f.add(ref(i))
      if (twice.has(i)) f.add(ref(i)) // at once
    }
    f.add(ref(0)) // a third time, much later
    f.add('MINIAPP-1')
    f.add('MINIAPP-1')
    f.add('退款单-1')
    f.add('退款单-1')
    expect(new Set(f.repeats())).toEqual(new Set([...[...twice].map(ref), 'MINIAPP-1', '退款单-1']))
  })

  it('reports nothing for strings that are all different, with the default size', () => {
    const f = repeatFinder()
    for (let i = 0; i < 200_000; i++) f.add(ref(i))
    expect(f.repeats()).toEqual([])
  })

  it('never misses a repeat when the filter is far too small: it reports more, never less', () => {
    const f = repeatFinder({ bits: 1 << 10, probes: 3 })
    for (let i = 0; i < 2_000; i++) f.add(ref(i))
    f.add(ref(1_234))
    const got = f.repeats()!
    expect(got).toContain(ref(1_234))
    expect(got.length).toBeGreaterThan(1) // an overfull filter takes strings seen once for repeats
    expect(new Set(got).size).toBe(got.length)
  })

  it('gives up (null) past its limit, so that memory stays bounded', () => {
    const f = repeatFinder({ limit: 3 })
    for (const s of ['a', 'a', 'b', 'b', 'c', 'c']) f.add(s)
    expect(f.repeats()).toEqual(['a', 'b', 'c'])
    f.add('d')
    f.add('d')
    expect(f.repeats()).toBeNull()
    f.add('e')
    expect(f.repeats()).toBeNull()
  })

  it('refuses a size that is not a power of two', () => {
    expect(() => repeatFinder({ bits: 1000 })).toThrow(/power of two/)
  })

  it('an empty stream has no repeats', () => {
    expect(repeatFinder().repeats()).toEqual([])
  })
})
