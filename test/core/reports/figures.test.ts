import { parse } from 'csv-parse/sync'
import { describe, expect, it } from 'vitest'
import { averageOf, decimalRatio, decimalText, periodDays } from '../../../src/core/reports/period.ts'
import { turnoverDays } from '../../../src/core/reports/stock-valuation.ts'
import { bpCell, csvFile, moneyCell } from '../../../src/core/reports/csv.ts'
import { DomainError } from '../../../src/lib/errors.ts'

const failure = (f: () => unknown) => {
  try {
    f()
  } catch (e) {
    if (e instanceof DomainError) return { kind: e.kind, code: e.code }
    throw e
  }
  throw new Error('expected a DomainError')
}

describe('report periods', () => {
  it('lists the business dates of a period, across a month end and a leap day', () => {
    expect(periodDays({ from: '2028-02-27', to: '2028-03-01' })).toEqual(['2028-02-27', '2028-02-28', '2028-02-29', '2028-03-01'])
    expect(periodDays({ from: '2026-03-14', to: '2026-03-14' })).toEqual(['2026-03-14'])
  })

  it('refuses a date that does not exist as a bad request, and a backwards or too long period as a broken rule', () => {
    expect(failure(() => periodDays({ from: '2026-02-30', to: '2026-03-01' }))).toEqual({ kind: 'bad_request', code: 'invalid_date' })
    expect(failure(() => periodDays({ from: '2026-03-01', to: 'yesterday' }))).toEqual({ kind: 'bad_request', code: 'invalid_date' })
    expect(failure(() => periodDays({ from: '2026-03-02', to: '2026-03-01' }))).toEqual({ kind: 'invalid', code: 'invalid_period' })
    expect(periodDays({ from: '2026-01-01', to: '2027-01-01' })).toHaveLength(366)
    expect(failure(() => periodDays({ from: '2026-01-01', to: '2027-01-02' }))).toEqual({ kind: 'invalid', code: 'period_too_long' })
  })
})

describe('report arithmetic', () => {
  it('averages round half up to whole minor units, and there is no average of nothing', () => {
    expect(averageOf(1001, 2)).toBe(501)
    expect(averageOf(1000, 3)).toBe(333)
    expect(averageOf(1001, 3)).toBe(334)
    expect(averageOf(-1001, 2)).toBe(-501)
    expect(averageOf(0, 0)).toBeNull()
  })

  it('decimal ratios round half up on integers before they become numbers or text', () => {
    expect(decimalRatio(5, 2, 2)).toBe(2.5)
    expect(decimalRatio(2, 3, 2)).toBe(0.67)
    expect(decimalRatio(1, 8, 2)).toBe(0.13)
    expect(decimalRatio(1, 0, 2)).toBeNull()
    expect(decimalText(1, 8, 3)).toBe('0.125')
    expect(decimalText(1, 16, 3)).toBe('0.063')
    expect(decimalText(-1, 16, 3)).toBe('-0.063')
    expect(decimalText(45, 30, 3)).toBe('1.500')
    expect(decimalText(7, 1, 0)).toBe('7')
  })

  it('turnover days: on hand over the daily pace, one decimal; null when nothing sold, 0 when nothing is left', () => {
    expect(turnoverDays(45, 30, 30)).toBe(45)
    expect(turnoverDays(10, 3, 30)).toBe(100)
    expect(turnoverDays(7, 3, 2)).toBe(4.7) // 7 × 2 ÷ 3 = 4.666…
    expect(turnoverDays(3, 0, 30)).toBeNull()
    expect(turnoverDays(3, -2, 30)).toBeNull()
    expect(turnoverDays(0, 5, 30)).toBe(0)
    expect(turnoverDays(-4, 5, 30)).toBe(0)
  })

  it('percentages from basis points keep two decimals and their sign', () => {
    expect(bpCell(3500)).toBe('35.00')
    expect(bpCell(5)).toBe('0.05')
    expect(bpCell(-405)).toBe('-4.05')
    expect(bpCell(null)).toBeNull()
  })
})

describe('report CSV files', () => {
  it('start with a BOM, end lines with CRLF, quote what needs quoting and leave no value empty', () => {
    const money = moneyCell('CNY')
    const f = csvFile('x.csv', { header: ['name', 'amount', 'note'], rows: [['龙井, 特级', money(123_456), null], ['say "hi"', money(-5), 'ok']] })
    expect([...f.bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    const text = new TextDecoder().decode(f.bytes.slice(3))
    expect(text).toBe('name,amount,note\r\n"龙井, 特级",1234.56,\r\n"say ""hi""",-0.05,ok\r\n')
    expect(parse(text, { columns: true })).toEqual([
      { name: '龙井, 特级', amount: '1234.56', note: '' },
      { name: 'say "hi"', amount: '-0.05', note: 'ok' },
    ])
  })

  it('writes money in the currency’s own decimals', () => {
    expect(moneyCell('JPY')(1234)).toBe('1234')
    expect(moneyCell('KWD')(1234)).toBe('1.234')
    expect(moneyCell('CNY')(null)).toBeNull()
  })
})
