import { describe, expect, it } from 'vitest'
import iconv from 'iconv-lite'
import { unionpay } from '../../src/connectors/payment/unionpay/index.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { StatementFormatError } from '../../src/core/reconciliation/types.ts'
import { contentInMemory } from '../../src/core/reconciliation/file.ts'
import { collectLines as collect, rejection } from '../helpers/connections.ts'
import { failingAfter, streamedFromDisk } from '../helpers/content.ts'
import { zipStore } from '../../src/sandboxes/vendors/alipay.ts'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { at, openShop, refund, sell } from '../core/reconciliation/helpers.ts'

/**
 * The INN record as UnionPay's file-interface spec lays it out (name, width in bytes), written out here rather than
 * taken from the parser so that the fixtures check its offsets. Fields are joined by one space.
 */
const WIDTHS: [string, number][] = [
  ['交易代码', 3], ['代理机构标识码', 11], ['发送机构标识码', 11], ['系统跟踪号', 6], ['交易传输时间', 10], ['账号', 19],
  ['交易金额', 12], ['商户类别', 4], ['终端类型', 2], ['查询流水号', 21], ['支付方式（旧）', 2], ['商户订单号', 32],
  ['支付卡类型', 2], ['原始交易的系统跟踪号', 6], ['原始交易日期时间', 10], ['商户手续费', 13], ['结算金额', 13], ['支付方式', 4],
  ['集团商户代码', 15], ['交易类型', 2], ['交易子类', 2], ['业务类型', 6], ['账号类型', 2], ['账单类型', 4], ['账单号码', 32],
  ['交互方式', 1], ['原交易查询流水号', 21], ['商户代码', 15],
  // The later additions, up to 终端号.
  ['分账入账方式', 1], ['二级商户代码', 15], ['二级商户简称', 32], ['二级商户分账入账金额', 13], ['清算净额', 13], ['终端号', 8],
]
const REQUIRED = 28
const MER_ID = '777290058110048'

interface Txn {
  code?: string
  txnType?: string
  trace: string
  time: string
  amount: number
  queryId: string
  orderId: string
  fee: string
  settle: string
  origQueryId?: string
  merId?: string
  terminal?: string
  subMerName?: string
}

/** One record in GBK bytes; `upTo` fields (default all listed above). Numbers are zero-padded, text space-padded. */
function record(t: Txn, upTo = WIDTHS.length): Buffer {
  const values: Record<string, string> = {
    交易代码: t.code ?? 'S22',
    代理机构标识码: '00049992900',
    发送机构标识码: '00049992900',
    系统跟踪号: t.trace,
    交易传输时间: t.time,
    账号: '6216261000000000018',
    交易金额: String(t.amount).padStart(12, '0'),
    商户类别: '5411',
    终端类型: '07',
    查询流水号: t.queryId,
    '支付方式（旧）': '01',
    商户订单号: t.orderId,
    支付卡类型: '01',
    原始交易的系统跟踪号: t.origQueryId ? '000457' : '000000',
    原始交易日期时间: t.origQueryId ? '0314101532' : '0000000000',
    商户手续费: t.fee,
    结算金额: t.settle,
    支付方式: '0001',
    集团商户代码: '',
    交易类型: t.txnType ?? (t.code === 'S30' ? '04' : t.code === 'S31' ? '31' : '01'),
    交易子类: '01',
    业务类型: '000201',
    账号类型: '01',
    账单类型: '',
    账单号码: '',
    交互方式: '0',
    原交易查询流水号: t.origQueryId ?? '',
    商户代码: t.merId ?? MER_ID,
    分账入账方式: '0',
    二级商户代码: '',
    二级商户简称: t.subMerName ?? '',
    二级商户分账入账金额: '+000000000000',
    清算净额: t.settle,
    终端号: t.terminal ?? '',
  }
  const parts = WIDTHS.slice(0, upTo).map(([name, width]) => {
    const bytes = iconv.encode(values[name]!, 'gbk')
    if (bytes.length > width) throw new Error(`${name} "${values[name]}" is wider than ${width}`)
    return Buffer.concat([bytes, Buffer.alloc(width - bytes.length, 0x20)])
  })
  return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from(' '), p])))
}

const file = (records: Buffer[], eol = '\r\n') => Buffer.concat(records.flatMap((r) => [r, Buffer.from(eol)]))

const SALE: Txn = { trace: '000457', time: '0314101532', amount: 8800, queryId: '512603141015320004571', orderId: 'TB260314101532ABCDEFGH', fee: 'D000000000053', settle: 'C000000008747', terminal: 'T0000003' }
const SALE_2: Txn = { trace: '000458', time: '0314235958', amount: 125_000, queryId: '512603142359580004581', orderId: 'TB260314235958QRSTUVWX', fee: '+000000000750', settle: '+000000124250' }
const RETURN: Txn = { code: 'S30', trace: '000463', time: '0314160210', amount: 3000, queryId: '512603141602100004631', orderId: 'RF260314160210ABCDEFGH', fee: 'C000000000018', settle: 'D000000002982', origQueryId: SALE.queryId }
const CANCEL: Txn = { code: 'S31', trace: '000470', time: '0314170000', amount: 1200, queryId: '512603141700000004701', orderId: 'RV260314170000JKLMNOPQ', fee: '-000000000007', settle: '-000000001193', origQueryId: '512603140900000004401', subMerName: '上海一店' }
const FIXTURE = file([record(SALE), record(RETURN), record(SALE_2, REQUIRED), record(CANCEL)])

const parser = (bytes: Buffer, cfg: Record<string, unknown> = {}, businessDate: string | undefined = '2026-03-15', format = 'unionpay_inn') =>
  unionpay.capabilities.parseStatement!({ format, content: contentInMemory(bytes), businessDate }, unionpay.config.parse(cfg))
const parse = async (bytes: Buffer, cfg: Record<string, unknown> = {}, businessDate?: string) => collect(parser(bytes, cfg, businessDate))
const refusal = (p: Promise<unknown>) => rejection(p, StatementFormatError, 'expected the file to be refused')

/** FIXTURE with one field of one record (0-based) replaced by raw text of any width. */
function withField(index: number, name: string, value: string): Buffer {
  const recs = [record(SALE), record(RETURN), record(SALE_2, REQUIRED), record(CANCEL)]
  let start = 0
  for (const [n, w] of WIDTHS) {
    if (n === name) break
    start += w + 1
  }
  const width = WIDTHS.find(([n]) => n === name)![1]
  const r = recs[index]!
  recs[index] = Buffer.concat([r.subarray(0, start), Buffer.from(value, 'latin1'), r.subarray(start + width)])
  return file(recs)
}

describe('UnionPay 全渠道 INN flow file', () => {
  it('is registered as an upload-only payment connector', () => {
    expect(connectorRegistry.get('unionpay')).toBe(unionpay)
    expect(unionpay.family).toBe('payment')
    expect(unionpay.capabilities.fetchStatement).toBeUndefined()
    expect(unionpay.config.safeParse({ merId: '7772900' }).success).toBe(false)
  })

  it('reads payments, a return and a cancellation with amounts in fen, signed fees, the keys and Beijing time', async () => {
    const p = parser(FIXTURE)
    const lines = await collect(p)
    expect(lines).toHaveLength(4)
    const [sale, ret, late, cancel] = lines
    expect(sale).toMatchObject({
      lineNo: 1,
      kind: 'payment',
      ourRef: 'TB260314101532ABCDEFGH',
      ourPaymentRef: null,
      channelTxnId: '512603141015320004571',
      channelRefundId: null,
      currency: 'CNY',
      amount: 8800,
      feeMilli: 53_000,
      status: 'SUCCESS',
      terminalRef: 'T0000003',
      voucherNo: '000457',
      rrn: null,
    })
    expect(sale!.occurredAt.toISOString()).toBe('2026-03-14T02:15:32.000Z')
    // A return is its own gateway request: its own order number and 查询流水号, the payment's 查询流水号 as the link.
    expect(ret).toMatchObject({
      lineNo: 2,
      kind: 'refund',
      status: 'REFUND',
      ourRef: 'RF260314160210ABCDEFGH',
      channelTxnId: SALE.queryId,
      channelRefundId: '512603141602100004631',
      amount: 3000,
      feeMilli: -18_000,
      voucherNo: '000463',
      terminalRef: null,
    })
    // A record that stops after 商户代码, with +/- signs: no 终端号.
    expect(late).toMatchObject({ kind: 'payment', amount: 125_000, feeMilli: 750_000, terminalRef: null })
    expect(late!.occurredAt.toISOString()).toBe('2026-03-14T15:59:58.000Z')
    // 二级商户简称 in GBK takes 8 of its 32 bytes for 4 characters: the fields after it are still found.
    expect(cancel).toMatchObject({ kind: 'refund', status: 'REVOKED', amount: 1200, feeMilli: -7000, channelTxnId: '512603140900000004401', terminalRef: null })

    expect(p.controlTotals()).toEqual({ count: 4, paymentCount: 2, refundCount: 2, paymentAmount: 133_800, refundAmount: 4200, feeMilli: 53_000 + 750_000 - 18_000 - 7000 })
  })

  it('dates a December transaction in a file settled in January in the previous year', async () => {
    const newYear = file([
      record({ ...SALE, time: '1231235958' }),
      record({ ...SALE_2, time: '0101000102' }),
    ])
    const [dec, jan] = await parse(newYear, {}, '2027-01-01')
    expect(dec!.occurredAt.toISOString()).toBe('2026-12-31T15:59:58.000Z')
    expect(jan!.occurredAt.toISOString()).toBe('2026-12-31T16:01:02.000Z')
    // And the other way round, a file for the last day of a year holding a record dated the next morning.
    const [early] = await parse(file([record({ ...SALE, time: '0101000500' })]), {}, '2026-12-31')
    expect(early!.occurredAt.toISOString()).toBe('2026-12-31T16:05:00.000Z')
    // 29 February exists only in a leap year's file.
    const leap = file([record({ ...SALE, time: '0229120000' })])
    expect((await parse(leap, {}, '2028-03-01'))[0]!.occurredAt.toISOString()).toBe('2028-02-29T04:00:00.000Z')
    expect((await refusal(parse(leap, {}, '2027-03-01'))).message).toMatch(/line 1: 交易传输时间 "0229120000" is not a valid time/)
  })

  it('refuses a record of the wrong length, a malformed amount or sign and an impossible time, naming the line and field', async () => {
    const cut = file([record(SALE), record(RETURN).subarray(0, 300)])
    const short = await refusal(parse(cut))
    expect(short.lineNo).toBe(2)
    expect(short.message).toMatch(/line 2: the record is 300 bytes, shorter than the 308 up to 商户代码: it ends inside 商户代码/)
    expect((await refusal(parse(file([record(SALE).subarray(0, 130)])))).message).toMatch(/line 1: .*ends inside 商户订单号/)
    const midway = file([record(SALE), record(RETURN), record(SALE_2, REQUIRED + 2).subarray(0, -3)])
    expect((await refusal(parse(midway))).message).toMatch(/line 3: .*ends inside 二级商户代码/)

    expect((await refusal(parse(withField(1, '交易金额', '00000000300A')))).message).toMatch(/line 2: 交易金额 "00000000300A"/)
    expect((await refusal(parse(withField(0, '商户手续费', '0000000000053')))).message).toMatch(/line 1: 商户手续费 "0000000000053" is not a sign/)
    expect((await refusal(parse(withField(3, '结算金额', 'X000000001193')))).lineNo).toBe(4)
    expect((await refusal(parse(withField(0, '交易传输时间', '1332101532')))).message).toMatch(/line 1: 交易传输时间 "1332101532"/)
    expect((await refusal(parse(withField(2, '交易传输时间', '0314251532')))).lineNo).toBe(3)
    // A field one byte too wide pushes the rest out of place.
    expect((await refusal(parse(withField(0, '系统跟踪号', '0004570')))).message).toMatch(/line 1: no space before 交易传输时间/)
  })

  it('reads an unknown 交易代码 by its 交易类型 and refuses one that moves no money', async () => {
    const [completion] = await parse(file([record({ ...SALE, code: 'S32', txnType: '03' })]))
    expect(completion).toMatchObject({ kind: 'payment', amount: 8800 })
    expect((await refusal(parse(file([record({ ...SALE, code: 'S10', txnType: '02' })])))).message).toMatch(/line 1: .*pre-authorisation/)
    expect((await refusal(parse(file([record({ ...SALE, code: 'S99', txnType: '99' })])))).message).toMatch(/line 1: 交易代码 "S99"/)
  })

  it('refuses a file of another merchant code when the connection names its merId', async () => {
    expect(await parse(FIXTURE, { merId: MER_ID })).toHaveLength(4)
    const other = file([record(SALE), record({ ...RETURN, merId: '777290058119999' })])
    const e = await refusal(parse(other, { merId: MER_ID }))
    expect(e.lineNo).toBe(2)
    expect(e.message).toMatch(/line 2: 商户代码 777290058119999 is not this connection's merId 777290058110048/)
  })

  it('needs the business date and reads no other format', async () => {
    expect((await refusal(parse(FIXTURE, {}, '' as string))).message).toMatch(/without a year/)
    expect(() => unionpay.capabilities.parseStatement!({ format: 'unionpay_inn', content: contentInMemory(FIXTURE) }, unionpay.config.parse({}))).toThrow(/business date/)
    expect(() => parser(FIXTURE, {}, '2026-03-15', 'allinpay')).toThrow(StatementFormatError)
  })

  it('reads the flow file inside the settlement zip the gateway hands out, from disk, and refuses a zip without one', async () => {
    const fromDisk = streamedFromDisk()
    const gbk = (name: string) => iconv.encode(name, 'gbk')
    const modified = new Date('2026-03-15T02:00:00Z')
    const settlement = zipStore(
      [
        { name: gbk('RD1503_777290058110048'), content: Buffer.from('other records of the day\n') },
        { name: gbk('INN26031501ZM_777290058110048'), content: FIXTURE },
        { name: gbk('说明.txt'), content: iconv.encode('对账文件说明', 'gbk') },
      ],
      modified,
    )
    const fromZip = await collect(unionpay.capabilities.parseStatement!({ format: 'unionpay_inn', content: fromDisk(settlement, 'settlement.zip'), businessDate: '2026-03-15' }, unionpay.config.parse({})))
    expect(fromZip).toEqual(await parse(FIXTURE))
    const without = zipStore([{ name: gbk('说明.txt'), content: Buffer.from('x') }], modified)
    expect((await refusal(parse(without))).message).toMatch(/should hold one INN…ZM flow file, it holds 0 \(说明\.txt\)/)
    const broken = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), FIXTURE])
    expect((await refusal(parse(broken))).message).toMatch(/not a readable zip/)
  })

  it('reads a file of thousands of records from disk as a stream, in many chunks', async () => {
    const fromDisk = streamedFromDisk()
    const n = 6000
    const recs = Array.from({ length: n }, (_, i) =>
      record({ ...SALE, trace: String(i).padStart(6, '0'), queryId: `5126031410153${String(i).padStart(8, '0')}`, orderId: `TB26031410${String(i).padStart(12, '0')}`, subMerName: i % 3 === 0 ? '上海一店' : '' }),
    )
    const bytes = file(recs, '\n')
    expect(bytes.length).toBeGreaterThan(10 * 64 * 1024)
    const p = unionpay.capabilities.parseStatement!({ format: 'unionpay_inn', content: fromDisk(bytes), businessDate: '2026-03-15' }, unionpay.config.parse({ merId: MER_ID }))
    const lines = await collect(p)
    expect(lines).toHaveLength(n)
    expect(lines.map((l) => l.lineNo)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    expect(new Set(lines.map((l) => l.channelTxnId)).size).toBe(n)
    expect(lines.every((l) => l.kind === 'payment' && l.amount === 8800 && l.feeMilli === 53_000 && l.terminalRef === 'T0000003')).toBe(true)
    expect(p.controlTotals()).toMatchObject({ count: n, paymentAmount: n * 8800 })
    const broken = unionpay.capabilities.parseStatement!({ format: 'unionpay_inn', content: failingAfter(bytes, 70_000), businessDate: '2026-03-15' }, unionpay.config.parse({}))
    await expect(collect(broken)).rejects.toThrow(/^EIO: the disk failed$/)
  })

  it('computes the contracted fee in thousandths of a fen, capped, given back on refunds', () => {
    const fee = unionpay.capabilities.expectedFeeMilli!
    const cfg = unionpay.config.parse({ feeRateBp: 60, feeCapFen: 2000 })
    expect(fee({ kind: 'payment', amount: 8800 }, cfg)).toBe(52_800)
    expect(fee({ kind: 'payment', amount: 1_000_000 }, cfg)).toBe(2_000_000)
    expect(fee({ kind: 'refund', amount: 3000 }, cfg)).toBe(-18_000)
    expect(fee({ kind: 'payment', amount: 8800 }, unionpay.config.parse({}))).toBeNull()
  })
})

describe('UnionPay flow file through the API', () => {
  const { hub } = useTestHubWithDataDir('unionpay')

  it('uploads a day’s flow file, reconciles it and shows what matched and what the till does not know', async () => {
    const shop = await openShop(hub)
    const conn = await shop.api.post('/api/v1/connections', { connectorId: 'unionpay', name: 'UnionPay gateway', config: { merId: MER_ID } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const connectionId = conn.body.id as string
    const finance = createApi(hub).as((await shop.m.staff('finance')).token)

    const s1 = await sell(hub, shop, at('2026-11-20 10:15:32'), [{ kind: 'unionpay_qr', amount: 8800 }])
    const s2 = await sell(hub, shop, at('2026-11-20 22:59:58'), [{ kind: 'unionpay_qr', amount: 1250 }])
    const back = await refund(hub, shop, at('2026-11-20 16:02:10'), s1, 3000)
    const pay1 = s1.tenders[0]!
    const pay2 = s2.tenders[0]!
    const returned = back.tenders[0]!
    const bytes = file([
      record({ ...SALE, time: '1120101535', amount: 8800, orderId: pay1.paymentNo!, fee: 'D000000000000', settle: 'C000000008800' }),
      record({ ...SALE_2, time: '1120225959', amount: 1250, orderId: pay2.paymentNo!, fee: 'D000000000000', settle: 'C000000001250' }),
      record({ ...RETURN, time: '1120160212', amount: 3000, orderId: returned.refundNo!, fee: 'C000000000000', settle: 'D000000003000' }),
      // Paid at the gateway, unknown to the till.
      record({ ...SALE, trace: '000999', time: '1120180000', amount: 500, queryId: '512612311800000009991', orderId: 'WEB20261231180000000999', fee: 'D000000000000', settle: 'C000000000500' }),
    ])
    const up = await finance.request('POST', `/api/v1/reconciliation/statements?connectionId=${connectionId}&date=2026-11-20&fileName=INN26112088ZM_777290058110048`, undefined, {
      raw: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    expect(up.body).toMatchObject({ result: 'imported', statement: { format: 'unionpay_inn', lineCount: 4, businessDate: '2026-11-20' } })

    const run = await finance.post('/api/v1/reconciliation/runs', { connectionId, date: '2026-11-20' })
    expect(run.status, JSON.stringify(run.body)).toBe(200)
    // Two payments and the return by their order numbers; the gateway's own web order is not the till's.
    expect(run.body).toMatchObject({ status: 'exceptions', counts: { matched: 3, unknown_merchant_ref: 1, missing_in_pos: 0, missing_in_channel: 0, amount_diff: 0 }, totals: { channel_payments: 10_550, channel_refunds: 3000, pos_net: 7050 } })
    const open = await finance.get(`/api/v1/reconciliation/exceptions?connectionId=${connectionId}`)
    expect(open.body.items, JSON.stringify(open.body)).toEqual([expect.objectContaining({ outcome: 'unknown_merchant_ref' })])

    // A file of another merchant is refused with the line that shows it.
    const other = file([record({ ...SALE, merId: '777290058119999' })])
    const refused = await finance.request('POST', `/api/v1/reconciliation/statements?connectionId=${connectionId}&date=2026-11-21`, undefined, { raw: other, headers: { 'content-type': 'application/octet-stream' } })
    expect(refused.status).toBe(422)
    expect(refused.body.error.details).toMatchObject({ code: 'format_error', lineNo: 1 })
  })
})
