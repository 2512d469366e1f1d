import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import iconv from 'iconv-lite'
import { allinpay } from '../../src/connectors/payment/allinpay/index.ts'
import { ALLINPAY_COLUMNS } from '../../src/connectors/payment/allinpay/bill-parser.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { StatementFormatError } from '../../src/core/reconciliation/types.ts'
import { collectLines as collect, rejection } from '../helpers/connections.ts'
import { contentInMemory } from '../../src/core/reconciliation/file.ts'
import { failingAfter, streamedFromDisk } from '../helpers/content.ts'

const FIXTURE = readFileSync(new URL('../fixtures/allinpay/card-bill-2026-03-14.csv', import.meta.url), 'utf8')
const config = allinpay.config.parse({})

const parse = (text: string | Buffer, cfg: Record<string, unknown> = {}) =>
  collect(allinpay.capabilities.parseStatement!({ format: 'allinpay', content: contentInMemory(Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8')) }, allinpay.config.parse(cfg)))

const refusal = (p: Promise<unknown>) => rejection(p, StatementFormatError, 'expected the bill to be refused')

/** The fixture with one cell of one record (1-based record, by column name) replaced. */
function withCell(record: number, column: string, value: string): string {
  const lines = FIXTURE.trimEnd().split('\n')
  const header = lines[0]!.split(',')
  const i = header.indexOf(column)
  const cells = lines[record]!.split(',')
  cells[i] = value
  lines[record] = cells.join(',')
  return lines.join('\n') + '\n'
}

describe('Allinpay card-acquiring bill', () => {
  it('is registered as an upload-only payment connector', async () => {
    expect(connectorRegistry.get('allinpay')).toBe(allinpay)
    expect(allinpay.capabilities.fetchStatement).toBeUndefined()
    expect(allinpay.config.safeParse({ merchantNo: '5623' }).success).toBe(false)
  })

  it('reads sales, returns and voids with the slip references, yuan as fen and the split date and time in Shanghai time', async () => {
    const lines = await parse(FIXTURE)
    expect(lines).toHaveLength(4)
    const [sale, ret, late, voided] = lines
    expect(sale).toMatchObject({
      lineNo: 2,
      kind: 'payment',
      ourRef: 'SH01T03-20260314-000815',
      ourPaymentRef: null,
      channelTxnId: '260314000000000001',
      channelRefundId: null,
      currency: 'CNY',
      amount: 8800,
      feeMilli: 44_000,
      status: 'SUCCESS',
      storeRef: 'SH01',
      terminalRef: 'T0000003',
      rrn: '123456789012',
      voucherNo: '000457',
    })
    expect(sale!.occurredAt.toISOString()).toBe('2026-03-14T02:15:32.000Z')

    expect(ret).toMatchObject({
      kind: 'refund',
      ourRef: null,
      ourPaymentRef: 'SH01T03-20260314-000815',
      channelTxnId: '260314000000000001',
      channelRefundId: '260314000000000009',
      amount: 3000,
      feeMilli: -15_000,
      status: 'REFUND',
      rrn: '123456789077',
      voucherNo: '000463',
    })
    // A quoted amount with a thousands separator, two seconds before the day ends, with no order number.
    expect(late).toMatchObject({ kind: 'payment', ourRef: null, amount: 125_000, feeMilli: 750_000, terminalRef: 'T0000001' })
    expect(late!.occurredAt.toISOString()).toBe('2026-03-14T15:59:58.000Z')
    expect(voided).toMatchObject({ kind: 'refund', status: 'REVOKED', amount: 1200, feeMilli: -7000, channelTxnId: '260314000000000019' })
  })

  it('reads the same bill encoded in GBK, as the acquirer’s portal exports it', async () => {
    const gbk = iconv.encode(FIXTURE, 'gbk')
    expect(gbk.includes(Buffer.from('商户号', 'utf8'))).toBe(false)
    expect(await parse(gbk)).toEqual(await parse(FIXTURE))
    expect(await parse(gbk, { encoding: 'gbk' })).toEqual(await parse(FIXTURE))
  })

  it('reads a bill of many chunks from disk as a stream, telling UTF-8 from GBK over the whole file', async () => {
    const fromDisk = streamedFromDisk()
    const [header, sale] = FIXTURE.split('\n')
    const n = 5000
    const records = Array.from({ length: n }, (_, i) => sale!.replace('260314000000000001', `2603140001${String(i).padStart(8, '0')}`))
    const text = [header, ...records, ''].join('\n')
    const utf8 = Buffer.from(text, 'utf8')
    expect(utf8.length).toBeGreaterThan(10 * 64 * 1024)
    const read = (bytes: Buffer, cfg: Record<string, unknown> = {}) => collect(allinpay.capabilities.parseStatement!({ format: 'allinpay', content: fromDisk(bytes) }, allinpay.config.parse(cfg)))
    const lines = await read(utf8)
    expect(lines).toHaveLength(n)
    expect(new Set(lines.map((l) => l.channelTxnId)).size).toBe(n)
    expect(lines.every((l) => l.kind === 'payment' && l.amount === 8800 && l.storeRef === 'SH01')).toBe(true)
    expect(await read(iconv.encode(text, 'gbk'))).toEqual(lines)
    await expect(collect(allinpay.capabilities.parseStatement!({ format: 'allinpay', content: failingAfter(utf8, 70_000) }, config))).rejects.toThrow(/^EIO: the disk failed$/)
  })

  it('maps columns by header name whatever their order and printed units', async () => {
    const rows = FIXTURE.trimEnd().split('\n').map((l) => l.match(/("[^"]*"|[^,]*)(,|$)/g)!.map((c) => c.replace(/,$/, '')).slice(0, ALLINPAY_COLUMNS.length))
    const order = rows[0]!.map((_, i) => i).reverse()
    const renamed = rows[0]!.map((h) => (h === '交易金额' ? '交易金额(元)' : h === '交易时间' ? '交易时间（HH:mm:ss）' : h === '交易批次号' ? '批次号' : h))
    const shuffled = [order.map((i) => renamed[i]).join(','), ...rows.slice(1).map((r) => order.map((i) => r[i]).join(','))].join('\r\n')
    const a = await parse(shuffled)
    const b = await parse(FIXTURE)
    expect(a).toEqual(b)
  })

  it('reads a bill without a header line in the documented column order', async () => {
    const body = FIXTURE.split('\n').slice(1).join('\n')
    const lines = await parse(body)
    expect(lines.map((l) => [l.lineNo, l.kind, l.amount, l.rrn])).toEqual([
      [1, 'payment', 8800, '123456789012'],
      [2, 'refund', 3000, '123456789077'],
      [3, 'payment', 125_000, '123456789100'],
      [4, 'refund', 1200, '123456789101'],
    ])
  })

  it('skips blank lines and a totals line, and has no control totals of its own', async () => {
    const p = allinpay.capabilities.parseStatement!({ format: 'allinpay', content: contentInMemory(Buffer.from(FIXTURE + '\n合计,,,,,,,,,,,,1296.00,7.72\n')) }, config)
    expect(await collect(p)).toHaveLength(4)
    expect(p.controlTotals()).toBeNull()
  })

  it('refuses a malformed amount with its line number', async () => {
    const e = await refusal(parse(withCell(2, '交易金额', '-30.005')))
    expect(e.lineNo).toBe(3)
    expect(e.message).toMatch(/line 3: 交易金额 "-30.005"/)
    expect((await refusal(parse(withCell(1, '手续费', '0.4a')))).message).toMatch(/line 2: 手续费 "0.4a"/)
    expect((await refusal(parse(withCell(1, '交易金额', '')))).lineNo).toBe(2)
  })

  it('refuses an impossible date or time with its line number', async () => {
    expect((await refusal(parse(withCell(1, '交易时间', '25:15:32')))).message).toMatch(/line 2: .*25:15:32/)
    expect((await refusal(parse(withCell(3, '交易日期', '2026-02-30')))).message).toMatch(/line 4: .*2026-02-30/)
    expect((await refusal(parse(withCell(1, '交易日期', '14/03/2026')))).lineNo).toBe(2)
  })

  it('refuses a record whose columns have shifted', async () => {
    const lines = FIXTURE.split('\n')
    lines[2] = lines[2]!.replace('上海一店,', '')
    const e = await refusal(parse(lines.join('\n')))
    expect(e.lineNo).toBe(3)
    expect(e.message).toMatch(/expected 34 fields.*found 33/)
  })

  it('names the missing columns of a header', async () => {
    const noRef = FIXTURE.replace('参考号', '检索号').replace('凭证号', '流水号')
    const e = await refusal(parse(noRef))
    expect(e.lineNo).toBe(1)
    expect(e.message).toMatch(/no column "凭证号", "参考号"/)
  })

  it('refuses a bill of another merchant number when the connection names its own', async () => {
    expect(await parse(FIXTURE, { merchantNo: '562310058120001' })).toHaveLength(4)
    const e = await refusal(parse(FIXTURE, { merchantNo: '562310058129999' }))
    expect(e.message).toMatch(/line 2: 商户号 562310058120001 is not this connection's merchant number/)
  })

  it('refuses a pre-authorisation, which moves no money, and a file of another format', async () => {
    expect((await refusal(parse(withCell(1, '交易类型', '预授权')))).lineNo).toBe(2)
    expect(() => allinpay.capabilities.parseStatement!({ format: 'unionpay_inn', content: contentInMemory(Buffer.from(FIXTURE)) }, config)).toThrow(StatementFormatError)
  })

  it('computes the contracted fee in thousandths of a fen, capped, given back on returns', () => {
    const fee = allinpay.capabilities.expectedFeeMilli!
    const cfg = allinpay.config.parse({ feeRateBp: 50, feeCapFen: 2000 })
    expect(fee({ kind: 'payment', amount: 8800 }, cfg)).toBe(44_000)
    expect(fee({ kind: 'payment', amount: 1_000_000 }, cfg)).toBe(2_000_000)
    expect(fee({ kind: 'refund', amount: 3000 }, cfg)).toBe(-15_000)
    // No contracted rate: nothing is expected, and the connection's fees are not checked (not "expected to be 0").
    expect(fee({ kind: 'payment', amount: 8800 }, config)).toBeNull()
  })
})
