import { describe, expect, it } from 'vitest'
import { allocate, formatDecimal, formatMoney, MoneyError, mulDivRound, parseMoney, taxFromInclusive, taxOnExclusive } from '../../src/lib/money.ts'
import { addDays, businessDate, businessDayRange, localInstant, localIso, startOfBusinessDay } from '../../src/lib/time.ts'

describe('money arithmetic', () => {
  it('rounds half up exactly, also for amounts too large for float products', () => {
    expect(mulDivRound(1, 1, 2)).toBe(1)
    expect(mulDivRound(-1, 1, 2)).toBe(-1)
    expect(mulDivRound(3980, 250, 1000)).toBe(995) // ¥39.80/kg × 250 g
    expect(mulDivRound(3980, 333, 1000)).toBe(1325) // 1325.34 → 1325
    expect(mulDivRound(900_719_925_474_099, 1300, 11300)).toBe(103_622_646_293_480) // the product is beyond 2^53
  })

  it('allocates by largest remainder so the parts always sum to the whole', () => {
    expect(allocate(1000, [3333, 3333, 3334])).toEqual([333, 333, 334])
    expect(allocate(1000, [1, 1, 1])).toEqual([334, 333, 333])
    expect(allocate(-1000, [1, 1, 1])).toEqual([-334, -333, -333])
    expect(allocate(5, [0, 0])).toEqual([3, 2])
    expect(allocate(1, [1, 999_999])).toEqual([0, 1])
    for (let t = 0; t < 200; t++) {
      const weights = Array.from({ length: 1 + (t % 7) }, (_, i) => ((t * 7919 + i * 104729) % 10007) + 1)
      const total = (t * 1237) % 50001
      const parts = allocate(total, weights)
      expect(parts.reduce((a, b) => a + b, 0)).toBe(total)
      expect(parts.every((p) => p >= 0)).toBe(true)
    }
  })

  it('splits tax out of inclusive prices and adds it to exclusive ones', () => {
    expect(taxFromInclusive(11300, 1300)).toBe(1300)
    expect(taxFromInclusive(1, 1300)).toBe(0) // ¥0.01 at 13 %: net rounds to 1 fen, tax 0
    expect(taxFromInclusive(10900, 900)).toBe(900)
    expect(taxFromInclusive(999, 600)).toBe(57) // 999/1.06 = 942.45 → 942, tax 57
    expect(taxOnExclusive(10000, 1300)).toBe(1300)
    expect(taxOnExclusive(1, 1300)).toBe(0)
    expect(taxOnExclusive(4, 1300)).toBe(1) // 0.52 → 1
  })

  it('parses and formats decimal text exactly, refusing what is not money', () => {
    expect(parseMoney('12.34')).toBe(1234)
    expect(parseMoney('¥1,234.5')).toBe(123450)
    expect(parseMoney('-0.01')).toBe(-1)
    expect(parseMoney('7', 'JPY')).toBe(7)
    expect(parseMoney('12.340')).toBe(1234)
    expect(() => parseMoney('12.345')).toThrow(MoneyError)
    expect(() => parseMoney('1e3')).toThrow(MoneyError)
    expect(() => parseMoney('abc')).toThrow(MoneyError)
    // A comma is a thousands separator only in groups of three: "12,50" is not twelve hundred and fifty.
    expect(parseMoney('1,234,567.89')).toBe(123456789)
    expect(() => parseMoney('12,50')).toThrow(MoneyError)
    expect(() => parseMoney('1,5')).toThrow(MoneyError)
    expect(() => parseMoney('1,23,4')).toThrow(MoneyError)
    // Where the comma is the decimal mark (a semicolon-separated file from European Excel).
    expect(parseMoney('12,50', 'CNY', ',')).toBe(1250)
    expect(parseMoney('1,5', 'CNY', ',')).toBe(150)
    expect(parseMoney('1.234,5', 'CNY', ',')).toBe(123450)
    expect(parseMoney('2.50', 'CNY', ',')).toBe(250)
    expect(parseMoney('-0,01', 'CNY', ',')).toBe(-1)
    expect(() => parseMoney('1.250', 'CNY', ',')).toThrow(/1250 or 1\.250/)
    expect(() => parseMoney('1,234.5', 'CNY', ',')).toThrow(MoneyError)
    expect(formatDecimal(1234)).toBe('12.34')
    expect(formatDecimal(-5)).toBe('-0.05')
    expect(formatDecimal(7, 'JPY')).toBe('7')
    expect(formatMoney(123456, 'CNY', 'zh-CN')).toBe('¥1,234.56')
    expect(formatMoney(123456, 'USD', 'en')).toBe('$1,234.56')
  })
})

describe('business days', () => {
  it('writes an instant as the merchant\'s wall clock with its offset', () => {
    expect(localIso(new Date('2026-11-21T01:02:03.900Z'), 'Asia/Shanghai')).toBe('2026-11-21T09:02:03+08:00')
    expect(localIso(new Date('2026-03-08T07:30:00Z'), 'America/New_York')).toBe('2026-03-08T03:30:00-04:00')
    expect(localIso(new Date('2026-03-08T06:30:00Z'), 'America/New_York')).toBe('2026-03-08T01:30:00-05:00')
    expect(localIso(new Date('2026-06-01T00:00:00Z'), 'Asia/Kolkata')).toBe('2026-06-01T05:30:00+05:30')
    expect(localIso(new Date('2026-06-01T00:00:00Z'), 'UTC')).toBe('2026-06-01T00:00:00+00:00')
  })

  it('puts an instant on the calendar day of the merchant, not of the server', () => {
    expect(businessDate(new Date('2026-03-01T15:59:59Z'), 'Asia/Shanghai')).toBe('2026-03-01')
    expect(businessDate(new Date('2026-03-01T16:00:00Z'), 'Asia/Shanghai')).toBe('2026-03-02')
    expect(businessDate(new Date('2026-03-01T16:00:00Z'), 'America/New_York')).toBe('2026-03-01')
  })

  it('finds the start and end of a business day, across DST changes', () => {
    expect(startOfBusinessDay('2026-03-02', 'Asia/Shanghai').toISOString()).toBe('2026-03-01T16:00:00.000Z')
    const dst = businessDayRange('2026-03-08', 'America/New_York') // 23-hour day
    expect(dst.start.toISOString()).toBe('2026-03-08T05:00:00.000Z')
    expect(dst.end.toISOString()).toBe('2026-03-09T04:00:00.000Z')
    expect(addDays('2026-02-28', 1)).toBe('2026-03-01')
  })

  it('finds the instant a local time of day happens: on 23- and 25-hour days, a skipped time when the clocks jump, a repeated one the first time', () => {
    const at = (date: string, time: string, zone: string) => localInstant(date, time, zone).toISOString()
    expect(at('2026-11-21', '10:30', 'Asia/Shanghai')).toBe('2026-11-21T02:30:00.000Z')
    // New York: 8 March has 23 hours (02:00 EST becomes 03:00 EDT), 1 November 25 (02:00 EDT becomes 01:00 EST).
    expect(at('2026-03-08', '10:30', 'America/New_York')).toBe('2026-03-08T14:30:00.000Z')
    expect(at('2026-11-01', '10:30', 'America/New_York')).toBe('2026-11-01T15:30:00.000Z')
    expect(at('2026-03-08', '02:00', 'America/New_York')).toBe('2026-03-08T07:00:00.000Z')
    expect(at('2026-03-08', '02:30', 'America/New_York')).toBe('2026-03-08T07:00:00.000Z')
    expect(at('2026-11-01', '01:30', 'America/New_York')).toBe('2026-11-01T05:30:00.000Z')
    // Sydney: 5 April 03:00 AEDT becomes 02:00 AEST; 02:00 happens first at 15:00Z.
    expect(at('2026-04-05', '02:00', 'Australia/Sydney')).toBe('2026-04-04T15:00:00.000Z')
    expect(at('2026-04-05', '00:00', 'Australia/Sydney')).toBe(startOfBusinessDay('2026-04-05', 'Australia/Sydney').toISOString())
    expect(() => localInstant('2026-04-05', '24:00', 'Australia/Sydney')).toThrow(RangeError)
  })

  it('starts a business day whose local midnight never happens (clocks jump at midnight) when the clocks jump', () => {
    // Santiago: 2026-09-06 00:00 −04 becomes 01:00 −03; Havana: 2026-03-08 00:00 −05 becomes 01:00 −04.
    for (const [zone, day, start] of [
      ['America/Santiago', '2026-09-06', '2026-09-06T04:00:00.000Z'],
      ['America/Havana', '2026-03-08', '2026-03-08T05:00:00.000Z'],
    ] as const) {
      const s = startOfBusinessDay(day, zone)
      expect(s.toISOString()).toBe(start)
      expect(businessDate(s, zone)).toBe(day)
      expect(businessDate(new Date(s.getTime() - 1), zone)).toBe(addDays(day, -1))
      expect(businessDayRange(addDays(day, -1), zone).end.toISOString()).toBe(start)
    }
  })
})
