import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { streamOnly } from '../helpers/content.ts'
import { setupServer } from 'msw/node'
import { sql } from 'drizzle-orm'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { wechatBill, wechatBillStream, wechatFundFlowBill, wechatPaySandbox, type WechatBillRow } from '../../src/sandboxes/vendors/wechatpay.ts'
import { wechatPay } from '../../src/connectors/payment/wechatpay/index.ts'
import { v2Sign } from '../../src/connectors/payment/wechatpay/v2.ts'
import { parseCstTime, parseYuan } from '../../src/connectors/payment/wechatpay/bill-text.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { loadConnection } from '../../src/connectors/framework/connections.ts'
import { connectorContext } from '../../src/connectors/framework/context.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { discardFetched, type FetchedStatement, type StatementFile } from '../../src/connectors/framework/define.ts'
import { StatementFormatError, type ControlTotals, type StatementLine } from '../../src/core/reconciliation/types.ts'
import { contentInMemory, contentOnDisk } from '../../src/core/reconciliation/file.ts'
import { collectLines, rejection } from '../helpers/connections.ts'

const FIXTURES = path.resolve('test/fixtures/wechatpay')
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name))
const caps = wechatPay.capabilities
const CONFIG = wechatPay.config.parse({ apiVersion: 'v2', mchId: '1900000109', appId: 'wx8888888888888888', apiKey: 'a'.repeat(32), feeRateBp: 60 })

async function parse(bytes: Buffer, format = 'wechat_trade', config = CONFIG): Promise<{ lines: StatementLine[]; totals: ControlTotals | null }> {
  const parsed = caps.parseStatement!({ format, content: contentInMemory(bytes) }, config)
  const lines = await collectLines(parsed)
  return { lines, totals: parsed.controlTotals() }
}

const formatError = (bytes: Buffer, format = 'wechat_trade') => rejection(parse(bytes, format), StatementFormatError, 'expected the file to be refused')

const connectorError = (p: Promise<unknown>) => rejection(p, ConnectorError)

/** Replaces the first occurrence of `from` on line `lineNo` (1-based) of a bill. */
function editLine(bytes: Buffer, lineNo: number, from: string, to: string): Buffer {
  const lines = bytes.toString('utf8').split('\n')
  expect(lines[lineNo - 1]).toContain(from)
  lines[lineNo - 1] = lines[lineNo - 1]!.replace(from, to)
  return Buffer.from(lines.join('\n'))
}

const sumOf = (lines: StatementLine[], kind: string, field: 'amount' | 'feeMilli') => lines.filter((l) => l.kind === kind).reduce((a, l) => a + l[field], 0)

describe('WeChat Pay trade bill parsing', () => {
  it('reads the ALL bill: payments, a refund as its own row, fees to the thousandth of a fen, CST times and the summary', async () => {
    const { lines, totals } = await parse(fixture('trade-all-20260314.csv'))
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatchObject({
      lineNo: 2,
      kind: 'payment',
      ourRef: 'SH01T03-20260314-000812',
      channelTxnId: '4200002026031412345678901234',
      channelRefundId: null,
      currency: 'CNY',
      amount: 5800,
      feeMilli: 34_800,
      status: 'SUCCESS',
      terminalRef: 'SH01-T03',
    })
    expect(lines[0]!.occurredAt.toISOString()).toBe('2026-03-14T01:12:05.000Z')
    expect(lines[1]).toMatchObject({
      lineNo: 3,
      kind: 'refund',
      ourRef: 'RF-SH01T03-000812-1',
      ourPaymentRef: 'SH01T03-20260314-000812',
      channelTxnId: '4200002026031412345678901234',
      channelRefundId: '50300002026031400000000001',
      amount: 2000,
      feeMilli: -12_000,
      status: 'SUCCESS',
    })
    expect(lines[1]!.occurredAt.toISOString()).toBe('2026-03-14T07:40:22.000Z')
    // 应结订单金额 (45.00) is what settles, not 订单金额 (50.00 with a 5.00 coupon); 23:59:58 CST is still the 14th.
    expect(lines[2]).toMatchObject({ kind: 'payment', amount: 4500, feeMilli: 27_000 })
    expect(lines[2]!.occurredAt.toISOString()).toBe('2026-03-14T15:59:58.000Z')
    expect(totals).toEqual({ count: 3, paymentAmount: 10_300, refundAmount: 2000, feeMilli: 49_800 })
    expect(sumOf(lines, 'payment', 'amount')).toBe(totals!.paymentAmount)
    expect(lines.reduce((a, l) => a + l.feeMilli, 0)).toBe(totals!.feeMilli)
  })

  it('reads the same bill gzipped, line for line', async () => {
    const plain = await parse(fixture('trade-all-20260314.csv'))
    const zipped = await parse(gzipSync(fixture('trade-all-20260314.csv')))
    expect(zipped).toEqual(plain)
  })

  it('maps columns by header name through header drift (总金额, 子商户号, 微信支付订单号), with a BOM, CRLF and a comma inside a value', async () => {
    // A service provider's bill (商户号 10000100) of its sub-merchant 10000201: the sub-merchant's own connection reads it.
    const { lines, totals } = await parse(fixture('trade-all-legacy-20170801.csv'), 'wechat_trade', { ...CONFIG, mchId: '10000100', subMchId: '10000201' })
    expect(lines.map((l) => [l.lineNo, l.kind, l.ourRef, l.amount, l.feeMilli, l.status])).toEqual([
      [2, 'payment', 'TB20170801100200001', 1250, 7500, 'SUCCESS'],
      [3, 'payment', 'TB20170801113000002', 800, 0, 'REVOKED'],
      [4, 'refund', 'TR20170801100200001-1', 500, -3000, 'PROCESSING'],
    ])
    expect(lines[0]!.channelTxnId).toBe('4006752001201708010421000000')
    // Its 商品名称 is "咖啡,大杯": split on bare commas, the row would have a value too many and be refused.
    expect(lines[2]).toMatchObject({ ourPaymentRef: 'TB20170801100200001', channelRefundId: '50000304052017080101234567890' })
    expect(totals).toEqual({ count: 3, paymentAmount: 2050, refundAmount: 500, feeMilli: 4500 })
  })

  it('refuses a bill of another merchant number: 商户号 for a merchant, 特约商户号 for a service provider’s sub-merchant', async () => {
    const legacy = fixture('trade-all-legacy-20170801.csv')
    expect((await formatError(legacy)).message).toMatch(/line 2: the bill belongs to WeChat Pay merchant 10000100 \(商户号\), not to this connection's 1900000109/)
    const otherSub = await rejection(parse(legacy, 'wechat_trade', { ...CONFIG, mchId: '10000100', subMchId: '10000999' }), StatementFormatError)
    expect(otherSub.message).toMatch(/merchant 10000201 \(子商户号\), not to this connection's 10000999/)
    // A merchant's own bill whose 特约商户号 is empty ("0") is its own.
    expect((await parse(fixture('trade-all-20260314.csv'))).lines.length).toBeGreaterThan(0)
  })

  it('reads the REFUND bill: several partial refunds of one payment, dated by when each was accepted', async () => {
    const { lines, totals } = await parse(fixture('trade-refund-20260314.csv'))
    expect(lines.map((l) => [l.kind, l.ourRef, l.ourPaymentRef, l.amount, l.feeMilli, l.status, l.channelRefundId])).toEqual([
      ['refund', 'RF-000101-1', 'SH02T01-20260310-000101', 3000, -18_000, 'SUCCESS', '50300002026031400000000011'],
      ['refund', 'RF-000101-2', 'SH02T01-20260310-000101', 1234, -7404, 'PROCESSING', '50300002026031400000000012'],
    ])
    // 交易时间 of a REFUND-bill row is the payment's; the refund counts on 退款申请时间.
    expect(lines.map((l) => l.occurredAt.toISOString())).toEqual(['2026-03-14T02:15:00.000Z', '2026-03-14T10:20:00.000Z'])
    expect(totals).toEqual({ count: 2, paymentAmount: 0, refundAmount: 4234, feeMilli: -25_404 })
  })

  it('reads what the bill generator writes, for every variant and both header generations', async () => {
    const rows: WechatBillRow[] = [
      { kind: 'payment', at: '2026-03-14 08:00:00', outTradeNo: 'P1', amount: 1, deviceInfo: 'T1' },
      { kind: 'payment', at: new Date('2026-03-14T02:30:00Z'), outTradeNo: 'P2', amount: 123_456_789, couponAmount: 1000 },
      { kind: 'payment', at: '2026-03-14 12:00:00', outTradeNo: 'P3', amount: 999, status: 'REVOKED', feeMilli: 0 },
      { kind: 'refund', at: '2026-03-14 13:00:00', outTradeNo: 'P2', outRefundNo: 'R2-1', amount: 100 },
      { kind: 'refund', at: '2026-03-14 14:00:00', outTradeNo: 'P2', outRefundNo: 'R2-2', amount: 33, refundStatus: 'PROCESSING' },
    ]
    for (const headers of ['current', 'legacy'] as const) {
      const all = await parse(wechatBill({ rows, variant: 'ALL', headers }))
      expect(all.lines.map((l) => [l.kind, l.ourRef, l.ourPaymentRef ?? null, l.amount, l.feeMilli, l.status])).toEqual([
        ['payment', 'P1', null, 1, 6, 'SUCCESS'],
        ['payment', 'P2', null, 123_456_789, 740_740_734, 'SUCCESS'],
        ['payment', 'P3', null, 999, 0, 'REVOKED'],
        ['refund', 'R2-1', 'P2', 100, -600, 'SUCCESS'],
        ['refund', 'R2-2', 'P2', 33, -198, 'PROCESSING'],
      ])
      expect(all.lines[1]!.occurredAt.toISOString()).toBe('2026-03-14T02:30:00.000Z')
      expect(all.totals).toEqual({ count: 5, paymentAmount: 123_457_789, refundAmount: 133, feeMilli: 740_740_734 + 6 - 600 - 198 })
      const success = await parse(wechatBill({ rows, variant: 'SUCCESS', headers }))
      expect(success.lines.map((l) => l.ourRef)).toEqual(['P1', 'P2'])
      const refunds = await parse(wechatBill({ rows, variant: 'REFUND', headers }))
      expect(refunds.lines.map((l) => [l.kind, l.ourRef, l.amount])).toEqual([
        ['refund', 'R2-1', 100],
        ['refund', 'R2-2', 33],
      ])
    }
  })

  it('parses yuan exactly, where floating point would lose a fen', () => {
    expect(parseYuan('0.29', 2, 'x', 1)).toBe(29)
    expect(parseYuan('4.35', 2, 'x', 1)).toBe(435)
    expect(parseYuan('1.13', 2, 'x', 1)).toBe(113)
    expect(parseYuan('90071992547409.91', 2, 'x', 1)).toBe(9_007_199_254_740_991)
    expect(parseYuan('0.34800', 5, 'x', 1)).toBe(34_800)
    expect(parseYuan('-0.05940', 5, 'x', 1)).toBe(-5940)
    expect(parseYuan('0.00001', 5, 'x', 1)).toBe(1)
    expect(parseYuan('12', 2, 'x', 1)).toBe(1200)
    expect(() => parseYuan('90071992547409.92', 2, 'x', 1)).toThrow(/too large/)
    expect(parseYuan('+1.5', 2, 'x', 1)).toBe(150)
    expect(parseYuan('-0', 2, 'x', 1)).toBe(-0)
    expect(parseYuan('0012.30', 2, 'x', 1)).toBe(1230)
    for (const bad of ['', '-', '+', '.5', '5.', '1.2.3', '1e3', ' 1.00', '1.00 ', '１.00', '1,00', '--1', '+-1', '12345678901234567', '0x10', '1.234']) {
      expect(() => parseYuan(bad, 2, '金额', 7), bad).toThrow(`line 7: 金额 "${bad}" is not an amount in yuan with at most 2 decimals`)
    }
  })

  it('reads China Standard Time stamps exactly and refuses any other shape or a day that does not exist', () => {
    expect(parseCstTime('2026-03-14 15:40:22', 't', 1).toISOString()).toBe('2026-03-14T07:40:22.000Z')
    expect(parseCstTime('2026-03-15 00:00:00', 't', 1).toISOString()).toBe('2026-03-14T16:00:00.000Z')
    expect(parseCstTime('2024-02-29 23:59:59', 't', 1).toISOString()).toBe('2024-02-29T15:59:59.000Z')
    expect(parseCstTime('2000-02-29 08:00:00', 't', 1).toISOString()).toBe('2000-02-29T00:00:00.000Z')
    const bad = ['2026-02-29 12:00:00', '1900-02-29 12:00:00', '2026-04-31 12:00:00', '2026-13-01 00:00:00', '2026-00-10 00:00:00', '2026-03-00 00:00:00',
      '2026-03-14 24:00:00', '2026-03-14 23:60:00', '2026-03-14 23:59:60', '2026-3-14 15:40:22', '2026-03-14T15:40:22', '2026-03-14 15:40:22 ',
      ' 2026-03-14 15:40:22', '2026-03-14 15:40', '2026/03/14 15:40:22', '２026-03-14 15:40:22', '2026-03-14 15:4a:22', '']
    for (const text of bad) expect(() => parseCstTime(text, '交易时间', 3), text).toThrow(`line 3: 交易时间 "${text}" is not a time as yyyy-MM-dd HH:mm:ss`)
  })

  it('refuses a malformed amount, fee or time with its line number', async () => {
    const bill = fixture('trade-all-20260314.csv')
    const amount = await formatError(editLine(bill, 4, '`45.00', '`45.0O'))
    expect(amount.lineNo).toBe(4)
    expect(amount.message).toBe('line 4: 应结订单金额 "45.0O" is not an amount in yuan with at most 2 decimals')
    expect((await formatError(editLine(bill, 2, '`58.00', '`58.001'))).lineNo).toBe(2)
    expect((await formatError(editLine(bill, 2, '`58.00', '`5,800.00'))).lineNo).toBe(2)
    expect((await formatError(editLine(bill, 3, '`20.00', '`二十'))).message).toContain('退款金额')
    const fee = await formatError(editLine(bill, 2, '`0.34800', '`0.348001'))
    expect(fee.message).toBe('line 2: 手续费 "0.348001" is not an amount in yuan with at most 5 decimals')
    const time = await formatError(editLine(bill, 3, '2026-03-14 15:40:22', '2026-02-30 15:40:22'))
    expect(time.message).toBe('line 3: 交易时间 "2026-02-30 15:40:22" is not a time as yyyy-MM-dd HH:mm:ss')
    // A summary that cannot be read is as bad as a row.
    expect((await formatError(editLine(bill, 6, '`0.49800', '`0.4980O'))).lineNo).toBe(6)
  })

  it('refuses a row with a value too many or too few, a row without its backtick, and a payment without our order number', async () => {
    const bill = fixture('trade-all-20260314.csv')
    const extra = await formatError(editLine(bill, 3, ',`门店消费', ',`门店消费,`额外'))
    expect(extra).toMatchObject({ lineNo: 3 })
    expect(extra.message).toContain('28 values for 27 columns')
    expect((await formatError(editLine(bill, 2, '`2026-03-14 09:12:05', '2026-03-14 09:12:05'))).lineNo).toBe(2)
    expect((await formatError(editLine(bill, 4, '`SH01T01-20260314-001377', '`'))).message).toBe('line 4: a payment row has no 商户订单号')
  })

  it('refuses files that are not a complete trade bill: another layout, no summary, an error reply, damaged gzip, nothing', async () => {
    const unknown = await formatError(Buffer.from('支付宝交易号,商户订单号,业务类型\n`1,`2,`交易\n'))
    expect(unknown).toMatchObject({ lineNo: 1 })
    expect(unknown.message).toContain('not a WeChat Pay trade bill layout')
    expect((await formatError(fixture('fundflow-20260314.csv'))).message).toContain('应结订单金额/总金额')
    const lines = fixture('trade-all-20260314.csv').toString('utf8').trimEnd().split('\n')
    const truncated = await formatError(Buffer.from(lines.slice(0, 3).join('\n')))
    expect(truncated.message).toContain('without its summary')
    expect(truncated.lineNo).toBe(3)
    expect((await formatError(Buffer.from(`${lines.join('\n')}\n\`2026-03-15 00:00:01,\`x\n`))).message).toContain('after the summary row')
    const xml = '<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[No Bill Exist]]></return_msg></xml>'
    expect((await formatError(Buffer.from(xml))).message).toContain('error reply')
    const gz = gzipSync(fixture('trade-all-20260314.csv'))
    expect((await formatError(gz.subarray(0, gz.length - 12))).message).toContain('gzip')
    expect((await formatError(Buffer.alloc(0))).message).toBe('the file is empty')
    expect((await formatError(fixture('trade-all-20260314.csv'), 'alipay_trade')).message).toContain('not "alipay_trade"')
  })

  it('streams: lines come out before the end of the file is read', async () => {
    const rows = function* () {
      for (let i = 0; i < 50_000; i++) yield { kind: 'payment' as const, at: '2026-03-14 10:00:00', outTradeNo: `S${i}`, amount: 100 + (i % 7) }
    }
    const gz = gzipSync(wechatBill({ rows: rows() }))
    // The end of the gzip is cut off: everything before it is still read, line by line, before the damage shows.
    const parsed = caps.parseStatement!({ format: 'wechat_trade', content: contentInMemory(gz.subarray(0, Math.floor(gz.length * 0.6))) }, CONFIG)
    let seen = 0
    await expect(
      (async () => {
        for await (const _ of parsed.lines) seen++
      })(),
    ).rejects.toThrow(StatementFormatError)
    expect(seen).toBeGreaterThan(20_000)
    expect(seen).toBeLessThan(50_000)
    expect(() => parsed.controlTotals()).toThrow(/every line/)
  })

  it('parses a 200,000-row gzipped bill from disk as a stream, never whole, its sums agreeing with its summary', async () => {
    const N = 200_000
    const rows = function* (): Generator<WechatBillRow> {
      for (let i = 0; i < N; i++) {
        if (i % 10 === 9) yield { kind: 'refund', at: '2026-03-14 20:00:00', outTradeNo: `P${i - 1}`, outRefundNo: `R${i}`, amount: 50 }
        else yield { kind: 'payment', at: '2026-03-14 10:00:00', outTradeNo: `P${i}`, amount: 1000 + (i % 997), attach: 'store=SH01' }
      }
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-wechat-'))
    try {
      const file = path.join(dir, 'bill.csv.gz')
      await pipeline(wechatBillStream({ rows: rows(), gzip: true }), fs.createWriteStream(file))
      const onDisk = contentOnDisk(file)
      const content = streamOnly(onDisk)
      const parsed = caps.parseStatement!({ format: 'wechat_trade', content }, CONFIG)
      let count = 0
      let pay = 0
      let refund = 0
      let fee = 0
      for await (const l of parsed.lines) {
        count++
        if (l.kind === 'payment') pay += l.amount
        else refund += l.amount
        fee += l.feeMilli
      }
      expect(parsed.controlTotals()).toEqual({ count: N, paymentAmount: pay, refundAmount: refund, feeMilli: fee })
      expect(refund).toBe((N / 10) * 50)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('WeChat Pay fund-flow bill parsing', () => {
  it('reads income, the fee deducted and the summary of the fund-flow bill', async () => {
    const { lines, totals } = await parse(fixture('fundflow-20260314.csv'), 'wechat_fundflow')
    expect(lines.map((l) => [l.lineNo, l.kind, l.ourRef, l.channelTxnId, l.amount, l.feeMilli, l.status])).toEqual([
      [2, 'payment', 'SH01T03-20260314-000812', '4200002026031412345678901234', 5800, 0, 'CREDIT'],
      [3, 'fee', 'SH01T03-20260314-000812', '4200002026031412345678901234', 35, 35_000, 'DEBIT'],
    ])
    expect(lines[0]!.occurredAt.toISOString()).toBe('2026-03-14T01:12:06.000Z')
    expect(totals).toEqual({ count: 2, creditCount: 1, creditAmount: 5800, debitCount: 1, debitAmount: 35 })
  })

  it('reads refunds, returned fees and a withdrawal, with full-width parentheses in the header', async () => {
    const rows: WechatBillRow[] = [
      { kind: 'payment', at: '2026-03-14 09:00:00', outTradeNo: 'P1', amount: 5800 },
      { kind: 'refund', at: '2026-03-14 10:00:00', outTradeNo: 'P1', outRefundNo: 'R1', amount: 2000, refundId: '50300000000000000000000001' },
    ]
    let text = wechatFundFlowBill({ rows }).toString('utf8').replace('收支金额(元)', '收支金额（元）')
    const summaryAt = text.indexOf('资金流水总笔数')
    text = `${text.slice(0, summaryAt)}\`2026-03-14 18:00:00,\`1900000109202603140000009999,\`1900000109202603140000009999,\`提现,\`提现,\`支出,\`50.00,\`1.00,\`system,\`,\`\n${text.slice(summaryAt)}`
    const { lines } = await parse(gzipSync(Buffer.from(text)), 'wechat_fundflow')
    expect(lines.map((l) => [l.kind, l.ourRef, l.amount, l.feeMilli, l.status])).toEqual([
      ['payment', 'P1', 5800, 0, 'CREDIT'],
      ['fee', 'P1', 35, 35_000, 'DEBIT'],
      ['refund', 'R1', 2000, 0, 'DEBIT'],
      ['fee', 'R1', 12, -12_000, 'CREDIT'],
      ['payout', null, 5000, 0, 'DEBIT'],
    ])
    expect(lines[2]).toMatchObject({ channelTxnId: null, channelRefundId: '50300000000000000000000001' })
  })

  it('refuses a malformed fund-flow row with its line number', async () => {
    const bill = fixture('fundflow-20260314.csv')
    const e = await formatError(editLine(bill, 3, '`0.35', '`0.35.1'), 'wechat_fundflow')
    expect(e.message).toBe('line 3: 收支金额(元) "0.35.1" is not an amount in yuan with at most 2 decimals')
    expect((await formatError(editLine(bill, 2, '`收入', '`进账'), 'wechat_fundflow')).lineNo).toBe(2)
    expect((await formatError(fixture('trade-all-20260314.csv'), 'wechat_fundflow')).message).toContain('not a WeChat Pay fund-flow bill layout')
  })
})

describe('WeChat Pay fees and signatures', () => {
  it('computes the contracted fee in thousandths of a fen, negative on a refund', () => {
    const fee = caps.expectedFeeMilli!
    expect(fee({ kind: 'payment', amount: 5800 }, CONFIG)).toBe(34_800)
    expect(fee({ kind: 'refund', amount: 2000 }, CONFIG)).toBe(-12_000)
    expect(fee({ kind: 'payment', amount: 1 }, CONFIG)).toBe(6)
    // 0.38 % of 1 fen is 3.8 thousandths: rounded half up to what WeChat's 5 decimals can print.
    expect(fee({ kind: 'payment', amount: 1 }, { ...CONFIG, feeRateBp: 38 })).toBe(4)
    expect(fee({ kind: 'payment', amount: 123_456_789 }, CONFIG)).toBe(740_740_734)
    expect(fee({ kind: 'fee', amount: 35 }, CONFIG)).toBe(0)
  })

  it('agrees with every fee the reference bill prints', async () => {
    const { lines } = await parse(fixture('trade-all-20260314.csv'))
    for (const l of lines) expect(caps.expectedFeeMilli!(l, CONFIG)).toBe(l.feeMilli)
  })

  it('signs v2 requests as WeChat documents (MD5 and HMAC-SHA256 test vector)', () => {
    const params = { appid: 'wxd930ea5d5a258f4f', mch_id: '10000100', device_info: '1000', body: 'test', nonce_str: 'ibuaiVcKdpRxkhJA' }
    expect(v2Sign(params, '192006250b4c09247ec02edce69f6a2d', 'MD5')).toBe('9A0A8659F005D6984697E2CA0A9CF3B7')
    expect(v2Sign(params, '192006250b4c09247ec02edce69f6a2d', 'HMAC-SHA256')).toBe('6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6')
  })
})

// ---- fetching through connections -----------------------------------------------------------------------

const MCH = '1900000109'
const APPID = 'wx8888888888888888'
const API_KEY = 'Zk3pQ9wX7mT2vB5nL8cR4yH6jD1sF0gA'
const SERIAL = '3775B6A45ACD588826D15E583A95F5DD2A5FFDA4'
const PLATFORM_SERIAL = 'PUB_KEY_ID_0119000001092026031600000000000001'
/** 11:00 in Shanghai on 2026-03-16: the 14th's and 15th's bills exist, the 16th's is being made. */
const NOW = new Date('2026-03-16T03:00:00Z')

const pemPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string }
}

const DAY_ROWS: WechatBillRow[] = [
  { kind: 'payment', at: '2026-03-14 09:12:05', outTradeNo: 'SH01T03-20260314-000812', amount: 5800, deviceInfo: 'SH01-T03' },
  { kind: 'payment', at: '2026-03-14 10:00:00', outTradeNo: 'SH01T03-20260314-000813', amount: 12_345, couponAmount: 500 },
  { kind: 'payment', at: '2026-03-14 11:11:11', outTradeNo: 'SH01T01-20260314-000900', amount: 800, status: 'REVOKED', feeMilli: 0 },
  { kind: 'refund', at: '2026-03-14 15:40:22', outTradeNo: 'SH01T03-20260314-000812', outRefundNo: 'RF-000812-1', amount: 2000 },
  { kind: 'refund', at: '2026-03-14 16:00:00', outTradeNo: 'SH01T03-20260314-000812', outRefundNo: 'RF-000812-2', amount: 1000, refundStatus: 'PROCESSING' },
]

describe('WeChat Pay connections fetching bills from the simulator', () => {
  // A data dir of its own, where the bills are downloaded to.
  const { hub, dataDir, files } = useTestHubWithDataDir('wechatpay')
  const merchantKeys = pemPair()
  const platformKeys = pemPair()
  let now = NOW
  const sandbox = wechatPaySandbox({
    mchId: MCH,
    appId: APPID,
    apiKey: API_KEY,
    merchant: { publicKey: merchantKeys.publicKey, serialNo: SERIAL },
    platform: { privateKey: platformKeys.privateKey, serial: PLATFORM_SERIAL },
    clock: () => now,
  })
  sandbox.state.days.set('2026-03-14', { rows: DAY_ROWS })
  sandbox.state.days.set('2026-03-15', { rows: [{ kind: 'payment', at: '2026-03-15 08:00:00', outTradeNo: 'SH01-0315-1', amount: 100 }] })
  const server = setupServer(...sandbox.handlers)
  let merchant: Awaited<ReturnType<typeof seedMerchant>>

  beforeAll(async () => {
    server.listen({ onUnhandledFrame: 'error' })
    hub.setNow(NOW)
    merchant = await seedMerchant(hub)
  })
  afterEach(() => {
    now = NOW
    hub.setNow(NOW)
    sandbox.state.tamper = false
    sandbox.state.failNext = 0
  })
  afterAll(() => server.close())

  async function connect(name: string, config: Record<string, unknown>) {
    const api = createApi(hub).as(merchant.adminToken)
    const created = await api.post('/api/v1/connections', { connectorId: 'wechatpay', name, config: { mchId: MCH, ...config } })
    expect(created.status).toBe(201)
    const loaded = await loadConnection(hub.database.db, connectorRegistry, hub.secrets, created.body.id, merchant.merchantId)
    const ctx = connectorContext(hub, loaded)
    return {
      id: created.body.id as string,
      body: created.body,
      api,
      fetch: (businessDate: string) => caps.fetchStatement!(ctx, { businessDate }) as Promise<FetchedStatement>,
      /** Parses a fetched file as the import does (from disk, as a stream), then removes the download. */
      parse: async (file: StatementFile) => {
        try {
          const parsed = caps.parseStatement!({ format: file.format, content: file.content }, CONFIG)
          const lines = await collectLines(parsed)
          return { lines, totals: parsed.controlTotals() }
        } finally {
          await file.discard?.()
        }
      },
      calls: async () => (await hub.database.db.execute(sql`select * from connector_calls where connection_id = ${created.body.id} order by id`)).rows as Record<string, unknown>[],
    }
  }

  const v2Config = { apiVersion: 'v2', appId: APPID, apiKey: API_KEY }
  /** Bills downloaded and not yet imported or discarded. */
  const downloadDir = path.join(dataDir, 'downloads')
  const downloads = () => files('downloads')
  const v3Config = { apiVersion: 'v3', merchantSerialNo: SERIAL, privateKey: merchantKeys.privateKey, platformPublicKey: platformKeys.publicKey, platformSerial: PLATFORM_SERIAL }

  it('lists the connector with its secret fields and refuses configs that do not fit, without echoing them', async () => {
    const api = createApi(hub).as(merchant.adminToken)
    const listed = (await api.get('/api/v1/connectors?family=payment')).body.items.find((c: any) => c.id === 'wechatpay')
    expect(listed).toMatchObject({ title: 'WeChat Pay', secretFields: ['apiKey', 'privateKey'] })
    expect(listed.configSchema.properties.privateKey).toMatchObject({ 'x-secret': true })
    const noKey = await api.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'x', config: { mchId: MCH, apiVersion: 'v2', appId: APPID } })
    expect(noKey.status).toBe(400)
    expect(noKey.body.error.message).toContain('config.apiKey')
    const badPem = await api.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'y', config: { mchId: MCH, ...v3Config, privateKey: 'not-a-key-SECRETVALUE' } })
    expect(badPem.status).toBe(400)
    expect(badPem.body.error.message).toContain('config.privateKey')
    expect(JSON.stringify(badPem.body)).not.toContain('SECRETVALUE')
  })

  it('v2: downloads the gzipped ALL bill with an MD5-signed request the simulator verifies, and parses it', async () => {
    const c = await connect('WeChat v2 MD5', { ...v2Config, signType: 'MD5' })
    expect(c.body.secrets).toEqual({ apiKey: 'set', privateKey: 'unset' })
    const res = await c.fetch('2026-03-14')
    expect(res.status).toBe('ready')
    const file = (res as Extract<FetchedStatement, { status: 'ready' }>).files[0]!
    expect(file).toMatchObject({ format: 'wechat_trade', contentType: 'application/gzip', name: 'wechatpay-1900000109-2026-03-14-trade-ALL.csv.gz' })
    expect(file.vendorHash).toBeUndefined()
    expect(sandbox.state.requests.at(-1)).toMatchObject({ api: 'v2', signed: true, signType: 'MD5' })
    expect(sandbox.state.requests.at(-1)!.body).toContain('<bill_date>20260314</bill_date>')
    expect(sandbox.state.requests.at(-1)!.body).toContain('<tar_type>GZIP</tar_type>')
    // Downloaded to a file under the hub's data dir, read from there, and gone once discarded.
    expect(downloads()).toHaveLength(1)
    expect(file.content.size).toBe(fs.statSync(path.join(downloadDir, downloads()[0]!)).size)
    const { lines, totals } = await c.parse(file)
    expect(downloads()).toEqual([])
    expect(lines.map((l) => [l.kind, l.ourRef, l.ourPaymentRef ?? null, l.amount, l.feeMilli, l.status])).toEqual([
      ['payment', 'SH01T03-20260314-000812', null, 5800, 34_800, 'SUCCESS'],
      ['payment', 'SH01T03-20260314-000813', null, 12_345, 74_070, 'SUCCESS'],
      ['payment', 'SH01T01-20260314-000900', null, 800, 0, 'REVOKED'],
      ['refund', 'RF-000812-1', 'SH01T03-20260314-000812', 2000, -12_000, 'SUCCESS'],
      ['refund', 'RF-000812-2', 'SH01T03-20260314-000812', 1000, -6000, 'PROCESSING'],
    ])
    expect(totals).toEqual({ count: 5, paymentAmount: 18_945, refundAmount: 3000, feeMilli: 34_800 + 74_070 - 12_000 - 6000 })
  })

  it('v2: signs with HMAC-SHA256, tells an empty day from one not generated yet, and refuses a future date', async () => {
    const c = await connect('WeChat v2 HMAC', v2Config)
    const ready = await c.fetch('2026-03-15')
    expect(ready.status).toBe('ready')
    await discardFetched(ready)
    expect(sandbox.state.requests.at(-1)).toMatchObject({ signed: true, signType: 'HMAC-SHA256' })
    expect(await c.fetch('2026-03-13')).toEqual({ status: 'empty', message: 'WeChat Pay: No Bill Exist' })
    expect(await c.fetch('2026-03-16')).toEqual({ status: 'not_ready', message: 'WeChat Pay: Bill Creating' })
    now = new Date('2026-03-16T00:30:00Z') // 08:30 in Shanghai: yesterday's bill is not out yet
    hub.setNow(now)
    expect((await c.fetch('2026-03-15')).status).toBe('not_ready')
    const future = await connectorError(c.fetch('2026-03-20'))
    expect(future).toMatchObject({ kind: 'permanent', vendorCode: '20001' })
    expect(future.message).toContain('invalid bill_date')
    expect((await c.calls()).map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok', 'ok', 'permanent'])
    // WeChat's XML replies came as downloads too: none is left on disk.
    expect(downloads()).toEqual([])
  })

  it('v2: a wrong API key is a refused signature (auth_failed), and the connection test says so', async () => {
    const c = await connect('WeChat v2 wrong key', { ...v2Config, apiKey: 'WRONGkey0000000000000000000000ab' })
    const e = await connectorError(c.fetch('2026-03-14'))
    expect(e).toMatchObject({ kind: 'auth_failed', vendorCode: '20001' })
    expect(e.message).toContain('SIGN ERROR')
    expect(sandbox.state.requests.at(-1)).toMatchObject({ api: 'v2', signed: false })
    const tested = await c.api.post(`/api/v1/connections/${c.id}/test`)
    expect(tested.body).toMatchObject({ ok: false })
    expect(tested.body.message).toContain('check the API key')
    expect(JSON.stringify(tested.body)).not.toContain('WRONGkey')
    const good = await connect('WeChat v2 good key', v2Config)
    expect((await good.api.post(`/api/v1/connections/${good.id}/test`)).body).toMatchObject({ ok: true })
    // The connection test downloads a bill to prove the key, and removes it.
    expect(downloads()).toEqual([])
  })

  it('v2: retries a WeChat system error (the download is safe to repeat)', async () => {
    const c = await connect('WeChat v2 retry', v2Config)
    sandbox.state.failNext = 1
    const got = await c.fetch('2026-03-14')
    expect(got.status).toBe('ready')
    expect((await c.calls()).map((r) => [r.attempt, r.outcome])).toEqual([
      [1, 'retryable'],
      [2, 'ok'],
    ])
    // The failed attempt's answer was removed; the bill stays until it is discarded.
    expect(downloads()).toHaveLength(1)
    await discardFetched(got)
    expect(downloads()).toEqual([])
  })

  it('v2: neither the API key nor the request signature reaches the call log or the logs', async () => {
    const c = await connect('WeChat v2 secrets', v2Config)
    await discardFetched(await c.fetch('2026-03-14'))
    await discardFetched(await c.fetch('2026-03-13'))
    const sign = /<sign>([^<]+)<\/sign>/.exec(sandbox.state.requests.at(-1)!.body!)![1]!
    const rows = await c.calls()
    expect(rows).toHaveLength(2)
    const logged = JSON.stringify(rows)
    expect(logged).toContain('<sign>[REDACTED]</sign>')
    for (const secret of [API_KEY, sign]) {
      expect(logged).not.toContain(secret)
      expect(hub.logs.text).not.toContain(secret)
    }
  })

  it('v3: fetches the trade and fund-flow bills with signed requests, checks WeChat’s answer signature and each SHA-1 over the decompressed file', async () => {
    const c = await connect('WeChat v3', v3Config)
    expect(c.body.secrets).toEqual({ apiKey: 'unset', privateKey: 'set' })
    const before = sandbox.state.requests.length
    const res = await c.fetch('2026-03-14')
    expect(res.status).toBe('ready')
    const files = (res as Extract<FetchedStatement, { status: 'ready' }>).files
    expect(files.map((f) => [f.format, f.name, f.contentType])).toEqual([
      ['wechat_trade', 'wechatpay-1900000109-2026-03-14-trade-ALL.csv.gz', 'application/gzip'],
      ['wechat_fundflow', 'wechatpay-1900000109-2026-03-14-fundflow-BASIC.csv.gz', 'application/gzip'],
    ])
    for (const f of files) {
      expect(f.vendorHash).toEqual({ algorithm: 'sha1', over: 'decompressed', value: createHash('sha1').update(gunzipSync(f.content.bytes())).digest('hex') })
      // The hash is of the bill, not of the gzip WeChat sends.
      expect(f.vendorHash!.value).not.toBe(createHash('sha1').update(f.content.bytes()).digest('hex'))
    }
    const made = sandbox.state.requests.slice(before)
    expect(made.map((r) => [r.path, r.signed])).toEqual([
      ['/v3/bill/tradebill', true],
      ['/v3/billdownload/file', true],
      ['/v3/bill/fundflowbill', true],
      ['/v3/billdownload/file', true],
    ])
    expect(made[0]!.authorization).toMatch(new RegExp(`^WECHATPAY2-SHA256-RSA2048 mchid="${MCH}",nonce_str="[0-9A-F]{32}",signature="[A-Za-z0-9+/=]+",timestamp="${NOW.getTime() / 1000}",serial_no="${SERIAL}"$`))
    const trade = await c.parse(files[0]!)
    expect(trade.lines.map((l) => [l.kind, l.ourRef, l.amount, l.feeMilli])).toEqual([
      ['payment', 'SH01T03-20260314-000812', 5800, 34_800],
      ['payment', 'SH01T03-20260314-000813', 12_345, 74_070],
      ['payment', 'SH01T01-20260314-000900', 800, 0],
      ['refund', 'RF-000812-1', 2000, -12_000],
      ['refund', 'RF-000812-2', 1000, -6000],
    ])
    const fund = await c.parse(files[1]!)
    expect(fund.lines.map((l) => [l.kind, l.ourRef, l.amount, l.feeMilli])).toEqual([
      ['payment', 'SH01T03-20260314-000812', 5800, 0],
      ['fee', 'SH01T03-20260314-000812', 35, 35_000],
      ['payment', 'SH01T03-20260314-000813', 12_345, 0],
      ['fee', 'SH01T03-20260314-000813', 74, 74_000],
      ['refund', 'RF-000812-1', 2000, 0],
      ['fee', 'RF-000812-1', 12, -12_000],
      ['refund', 'RF-000812-2', 1000, 0],
      ['fee', 'RF-000812-2', 6, -6000],
    ])
    expect(fund.totals).toMatchObject({ count: 8, creditCount: 4, creditAmount: 5800 + 12_345 + 12 + 6, debitCount: 4, debitAmount: 35 + 74 + 2000 + 1000 })
  })

  it('v3: an empty day, a day not generated yet, and a connection without the fund-flow bill', async () => {
    const c = await connect('WeChat v3 days', v3Config)
    expect(await c.fetch('2026-03-13')).toEqual({ status: 'empty', message: 'WeChat Pay: 账单文件不存在' })
    expect(await c.fetch('2026-03-16')).toEqual({ status: 'not_ready', message: 'WeChat Pay: 账单生成中' })
    const tradeOnly = await connect('WeChat v3 trade only', { ...v3Config, fundFlow: false })
    const res = await tradeOnly.fetch('2026-03-15')
    expect(res.status === 'ready' && res.files.map((f) => f.format)).toEqual(['wechat_trade'])
    await discardFetched(res)
    expect(downloads()).toEqual([])
    expect((await tradeOnly.calls()).map((r) => [r.status_code, r.outcome])).toEqual([
      [200, 'ok'],
      [200, 'ok'],
    ])
    // "No statement" (trade, then fund flow) and "being made" (trade) are answers, not failures, in the call log too.
    expect((await c.calls()).map((r) => [String(r.url).split('?')[0], r.status_code, r.outcome])).toEqual([
      ['https://api.mch.weixin.qq.com/v3/bill/tradebill', 400, 'ok'],
      ['https://api.mch.weixin.qq.com/v3/bill/fundflowbill', 400, 'ok'],
      ['https://api.mch.weixin.qq.com/v3/bill/tradebill', 400, 'ok'],
    ])
  })

  it('v3: refuses a downloaded bill whose SHA-1 does not match', async () => {
    const c = await connect('WeChat v3 tampered', v3Config)
    sandbox.state.tamper = true
    const e = await connectorError(c.fetch('2026-03-14'))
    expect(e).toMatchObject({ kind: 'retryable', vendorCode: 'HASH_MISMATCH' })
    expect(e.message).toContain('does not match its SHA-1')
    expect(downloads()).toEqual([])
  })

  it('v3: a wrong private key is refused by WeChat (SIGN_ERROR), a wrong platform key refuses WeChat’s answer', async () => {
    const other = pemPair()
    const wrongKey = await connect('WeChat v3 wrong key', { ...v3Config, privateKey: other.privateKey })
    const refused = await connectorError(wrongKey.fetch('2026-03-14'))
    expect(refused).toMatchObject({ kind: 'auth_failed', status: 401, vendorCode: 'SIGN_ERROR' })
    expect(sandbox.state.requests.at(-1)).toMatchObject({ path: '/v3/bill/tradebill', signed: false })
    const tested = await wrongKey.api.post(`/api/v1/connections/${wrongKey.id}/test`)
    expect(tested.body.ok).toBe(false)
    expect(tested.body.message).toContain('check the private key')

    const wrongPlatform = await connect('WeChat v3 wrong platform key', { ...v3Config, platformPublicKey: other.publicKey })
    expect(await connectorError(wrongPlatform.fetch('2026-03-14'))).toMatchObject({ kind: 'auth_failed', vendorCode: 'RESPONSE_SIGNATURE_INVALID' })
    const wrongSerial = await connect('WeChat v3 wrong serial', { ...v3Config, platformSerial: 'PUB_KEY_ID_OTHER' })
    expect(await connectorError(wrongSerial.fetch('2026-03-14'))).toMatchObject({ kind: 'auth_failed', vendorCode: 'RESPONSE_SIGNATURE_INVALID' })

    const good = await connect('WeChat v3 good', v3Config)
    expect((await good.api.post(`/api/v1/connections/${good.id}/test`)).body).toMatchObject({ ok: true })
  })

  it('v3: neither the private key, the request signature nor the download token reaches the call log or the logs', async () => {
    const c = await connect('WeChat v3 secrets', v3Config)
    const before = sandbox.state.requests.length
    await discardFetched(await c.fetch('2026-03-14'))
    const rows = await c.calls()
    expect(rows).toHaveLength(4)
    const logged = JSON.stringify(rows)
    const signatures = sandbox.state.requests.slice(before).map((r) => /signature="([^"]+)"/.exec(r.authorization!)![1]!)
    const tokens = [...sandbox.state.downloads.keys()]
    const keyLines = merchantKeys.privateKey.split('\n').slice(1, 4)
    expect(rows.filter((r) => String(r.url).includes('/v3/billdownload/file')).map((r) => r.url)).toEqual([
      'https://api.mch.weixin.qq.com/v3/billdownload/file?token=[REDACTED]',
      'https://api.mch.weixin.qq.com/v3/billdownload/file?token=[REDACTED]',
    ])
    for (const secret of [...keyLines, 'WECHATPAY2-SHA256-RSA2048', ...signatures, ...tokens]) {
      expect(logged).not.toContain(secret)
      expect(hub.logs.text).not.toContain(secret)
    }
  })
})
