import { createHash, createPrivateKey, createVerify, generateKeyPairSync, randomUUID, X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { deflateSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { eq, sql } from 'drizzle-orm'
import iconv from 'iconv-lite'
import { unionpay } from '../../src/connectors/payment/unionpay/index.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { StatementFormatError } from '../../src/core/reconciliation/types.ts'
import { contentInMemory } from '../../src/core/reconciliation/file.ts'
import { collectLines as collect, rejection } from '../helpers/connections.ts'
import { failingAfter, streamedFromDisk } from '../helpers/content.ts'
import { zipStore } from '../../src/sandboxes/vendors/alipay.ts'
import { INN_REQUIRED, INN_WIDTHS, innFile, innRecord, SANDBOX_MER_ID, unionpaySandbox, unionpaySettlementZip, type InnTxn } from '../../src/sandboxes/vendors/unionpay.ts'
import { signingString } from '../../src/connectors/payment/unionpay/signing.ts'
import { discardFetched, secretFields } from '../../src/connectors/framework/define.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { fetchSettlement, scheduleFetches } from '../../src/jobs/reconciliation.ts'
import { seedMerchant } from '../helpers/api.ts'
import { connectWith, useVendorServer } from '../helpers/connections.ts'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { at, openShop, refund, sell } from '../core/reconciliation/helpers.ts'

// The record builder lives with the sandbox (the simulated gateway serves the same files); its widths are written out
// there from UnionPay's spec, not taken from the parser, so these fixtures check the parser's offsets.
const WIDTHS = INN_WIDTHS
const REQUIRED = INN_REQUIRED
const MER_ID = SANDBOX_MER_ID
type Txn = InnTxn
const record = innRecord
const file = innFile

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
  it('is registered as a payment connector that fetches and reads uploads', () => {
    expect(connectorRegistry.get('unionpay')).toBe(unionpay)
    expect(unionpay.family).toBe('payment')
    expect(typeof unionpay.capabilities.fetchStatement).toBe('function')
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

const pem = (k: { export(o: object): string | Buffer }, type: string) => k.export({ type, format: 'pem' }) as string
const merchantKeys = generateKeyPairSync('rsa', { modulusLength: 2048 })
const unionpayKeys = generateKeyPairSync('rsa', { modulusLength: 2048 })
const strangerKeys = generateKeyPairSync('rsa', { modulusLength: 2048 })
const MERCHANT_PRIVATE = pem(merchantKeys.privateKey, 'pkcs8')
const UNIONPAY_PUBLIC = pem(unionpayKeys.publicKey, 'spki')
const STRANGER_PRIVATE = pem(strangerKeys.privateKey, 'pkcs8')
const CERT_ID = '69629715588'
const keyBody = (p: string) => p.split('\n').filter((l) => l && !l.startsWith('-----'))
const beijing = (t: string) => new Date(`${t.replace(' ', 'T')}+08:00`)
const DAY = '2026-03-14'
const DAY_RECORDS = [record(SALE), record(RETURN), record(SALE_2, REQUIRED), record(CANCEL)]

describe('the UnionPay connector fetching the settlement file', () => {
  const { hub, dataDir, files } = useTestHubWithDataDir('unionpay-fetch')
  const downloads = () => files('downloads')
  const sandbox = unionpaySandbox({ merId: MER_ID, certId: CERT_ID, merchantPublicKey: merchantKeys.publicKey, unionpayPrivateKey: unionpayKeys.privateKey, clock: () => hub.clock() })
  const vendor = useVendorServer(hub, ...sandbox.handlers)
  afterEach(() => {
    sandbox.state.tamper = undefined
    sandbox.state.down = false
    sandbox.state.files.clear()
    hub.setNow(undefined)
    fs.rmSync(path.join(dataDir, 'downloads'), { recursive: true, force: true })
  })
  const CONFIG = { merId: MER_ID, certId: CERT_ID, privateKey: MERCHANT_PRIVATE, unionpayPublicKey: UNIONPAY_PUBLIC }
  const connect = connectWith(hub, vendor, 'unionpay', { name: () => `UnionPay ${randomUUID()}`, config: CONFIG })
  const fetch = (ctx: Awaited<ReturnType<typeof connect>>['ctx'], businessDate = DAY) => unionpay.capabilities.fetchStatement!(ctx, { businessDate })
  const connectorError = (p: Promise<unknown>) => rejection(p, ConnectorError, 'expected a ConnectorError')

  it('posts the signed txnType 76 form, inflates the zip to the downloads and parses the day from it', async () => {
    const zip = unionpaySettlementZip({ merId: MER_ID, date: DAY, records: DAY_RECORDS })
    sandbox.publish(DAY, zip)
    hub.setNow(beijing('2026-03-15 10:00:05'))
    const { ctx } = await connect()
    const got = await fetch(ctx)
    expect(got.status).toBe('ready')
    if (got.status !== 'ready') return

    const req = sandbox.state.requests.at(-1)!
    expect(req.fields).toEqual({
      version: '5.1.0',
      encoding: 'UTF-8',
      txnType: '76',
      txnSubType: '01',
      bizType: '000000',
      accessType: '0',
      signMethod: '01',
      merId: MER_ID,
      settleDate: '0314',
      txnTime: '20260315100005',
      fileType: '00',
      certId: CERT_ID,
      signature: expect.any(String),
    })
    // Recomputed here: the fields but signature sorted, the SHA-256 hex of that text, RSA-SHA256 over the hex text.
    const sorted = Object.keys(req.fields).filter((k) => k !== 'signature').sort().map((k) => `${k}=${req.fields[k]}`).join('&')
    expect(sorted).toBe(`accessType=0&bizType=000000&certId=${CERT_ID}&encoding=UTF-8&fileType=00&merId=${MER_ID}&settleDate=0314&signMethod=01&txnSubType=01&txnTime=20260315100005&txnType=76&version=5.1.0`)
    expect(signingString(req.fields)).toBe(sorted)
    const hex = createHash('sha256').update(sorted, 'utf8').digest('hex')
    expect(createVerify('RSA-SHA256').update(hex, 'utf8').verify(merchantKeys.publicKey, req.fields.signature!, 'base64')).toBe(true)
    expect(createVerify('RSA-SHA256').update(sorted, 'utf8').verify(merchantKeys.publicKey, req.fields.signature!, 'base64')).toBe(false)
    expect(req.signatureOk).toBe(true)

    const f = got.files[0]!
    expect(f).toMatchObject({ format: 'unionpay_inn', name: `${MER_ID}_20260314.zip`, contentType: 'application/zip' })
    expect(f.content.path).toBe(path.join(dataDir, 'downloads', downloads()[0]!))
    expect(f.content.bytes().equals(zip)).toBe(true)
    const fromFetch = await collect(unionpay.capabilities.parseStatement!({ format: f.format, content: f.content, businessDate: DAY }, ctx.config))
    expect(fromFetch.map((l) => [l.kind, l.amount, l.ourRef])).toEqual([
      ['payment', 8800, SALE.orderId],
      ['refund', 3000, RETURN.orderId],
      ['payment', 125_000, SALE_2.orderId],
      ['refund', 1200, CANCEL.orderId],
    ])
    await discardFetched(got)
    expect(downloads()).toEqual([])
  })

  it('fetches a busy day whose answer is longer than the client reads first, hashing and decoding fileContent from disk', async () => {
    const n = 8000
    const records = Array.from({ length: n }, (_, i) =>
      record({ ...SALE, trace: String(i).padStart(6, '0'), queryId: `5126031410${String(i * 7919).padStart(11, '0')}`, orderId: `TB26031410${String(i * 104_729).padStart(12, '0')}`, amount: 100 + ((i * 7919) % 90_000) }),
    )
    const zip = unionpaySettlementZip({ merId: MER_ID, date: DAY, records })
    // The answer is far longer than the head the client hands its classifier, and (fields in name order) its
    // fileContent comes before respCode: the answer can only be read whole from the file it was downloaded to.
    expect(deflateSync(zip).toString('base64').length).toBeGreaterThan(2 * 64 * 1024)
    sandbox.publish(DAY, zip)
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const { ctx } = await connect()
    const got = await fetch(ctx)
    expect(got.status).toBe('ready')
    if (got.status !== 'ready') return
    // Only the inflated zip is left in the downloads: the answer it came in is gone.
    expect(downloads()).toHaveLength(1)
    expect(got.files[0]!.content.bytes().equals(zip)).toBe(true)
    const lines = await collect(unionpay.capabilities.parseStatement!({ format: 'unionpay_inn', content: got.files[0]!.content, businessDate: DAY }, ctx.config))
    expect(lines).toHaveLength(n)
    expect(lines.reduce((sum, l) => sum + l.amount, 0)).toBe(records.reduce((sum, _, i) => sum + 100 + ((i * 7919) % 90_000), 0))
    await discardFetched(got)

    // One character of the long fileContent changed after UnionPay signed: refused, and nothing is left behind.
    sandbox.state.tamper = { kind: 'content' }
    const altered = await connectorError(fetch(ctx))
    expect([altered.kind, altered.vendorCode]).toEqual(['auth_failed', 'signature'])
    expect(downloads()).toEqual([])
    // Signed, but the zip as it is rather than DEFLATE-compressed: it does not inflate, and nothing is left behind.
    sandbox.state.tamper = { kind: 'not-deflated' }
    const raw = await connectorError(fetch(ctx))
    expect(raw.kind).toBe('permanent')
    expect(raw.message).toMatch(/does not inflate/)
    expect(downloads()).toEqual([])
  })

  it("verifies an answer by the signing certificate it carries once its chain, validity and owner show it is UnionPay's", async () => {
    // Test certificates made for these tests (test/fixtures/unionpay-certs): a root, a middle, UnionPay-named signing
    // certificates under them, one of another owner, one of another chain; valid from 2026-12-03.
    const pem = (name: string) => fs.readFileSync(new URL(`../fixtures/unionpay-certs/${name}`, import.meta.url), 'utf8')
    const signer = (name: string) => ({ key: createPrivateKey(pem(`${name}.key`)), cert: pem(`${name}.pem`) })
    const chain = { unionpayRootCert: pem('root.pem'), unionpayMiddleCert: pem('middle.pem') }
    expect(unionpay.config.safeParse({ unionpayRootCert: pem('sign.pem') }).success).toBe(false)
    const { ctx } = await connect({ unionpayPublicKey: undefined, ...chain })
    const day = '2027-03-14'
    sandbox.publish(day, unionpaySettlementZip({ merId: MER_ID, date: day, records: DAY_RECORDS }))
    hub.setNow(beijing('2027-03-15 10:00:00'))
    const refusal = async (message: RegExp) => {
      const e = await connectorError(fetch(ctx, day))
      expect([e.kind, e.message]).toEqual(['auth_failed', expect.stringMatching(message)])
      expect(downloads()).toEqual([])
      return e
    }
    try {
      sandbox.state.signer = signer('sign')
      const ok = await fetch(ctx, day)
      expect(ok.status).toBe('ready')
      await discardFetched(ok)
      // Signed by UnionPay's key, changed on the way: the certificate is good, the signature is not.
      sandbox.state.tamper = { kind: 'content' }
      expect((await refusal(/does not verify with the key of the signing certificate it carries/)).vendorCode).toBe('signature')
      sandbox.state.tamper = undefined

      // A certificate of UnionPay's chain that has expired; one of another owner; one of another chain; none.
      sandbox.state.signer = signer('short')
      expect((await refusal(/signing certificate is valid from .* to .*, not at 2027-03-15T02:00:00\.000Z/)).vendorCode).toBe('certificate')
      sandbox.state.signer = signer('othername')
      await refusal(/belongs to 某某商户有限公司, not 中国银联股份有限公司/)
      sandbox.state.signer = signer('stranger')
      await refusal(/not issued by the configured middle certificate/)
      sandbox.state.signer = undefined
      await refusal(/signPubKeyCert\) is not a readable certificate/)

      // UnionPay renewed its certificate (the short-lived one, while valid): the connection follows without a change.
      const renewedDay = '2026-12-03'
      sandbox.publish(renewedDay, unionpaySettlementZip({ merId: MER_ID, date: renewedDay, records: DAY_RECORDS }))
      hub.setNow(beijing('2026-12-04 10:00:00'))
      sandbox.state.signer = signer('short')
      const renewed = await fetch(ctx, renewedDay)
      expect(renewed.status).toBe('ready')
      await discardFetched(renewed)
    } finally {
      sandbox.state.signer = undefined
    }
    // Without UnionPay's key or both certificates, the connection is upload-only.
    const half = await connect({ unionpayPublicKey: undefined, unionpayRootCert: chain.unionpayRootCert })
    expect((await connectorError(fetch(half.ctx, day))).message).toMatch(/credentials missing \(unionpayPublicKey \(or unionpayRootCert and unionpayMiddleCert\)\)/)
  })

  it('answers respCode 98 before the file is published, read as not ready', async () => {
    hub.setNow(beijing('2026-03-15 06:00:00'))
    const { ctx } = await connect()
    const got = await fetch(ctx)
    expect(got).toMatchObject({ status: 'not_ready', message: expect.stringMatching(/2026-03-14.*98 文件不存在/) })
    expect(downloads()).toEqual([])
    sandbox.publish(DAY, unionpaySettlementZip({ merId: MER_ID, date: DAY, records: DAY_RECORDS }))
    const later = await fetch(ctx)
    expect(later.status).toBe('ready')
    await discardFetched(later)
  })

  it('refuses an answer whose signature does not verify with the UnionPay public key, writing nothing', async () => {
    sandbox.publish(DAY, unionpaySettlementZip({ merId: MER_ID, date: DAY, records: DAY_RECORDS }))
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const { ctx } = await connect()
    sandbox.state.tamper = { kind: 'altered' }
    const altered = await connectorError(fetch(ctx))
    expect(altered.kind).toBe('auth_failed')
    expect(altered.message).toMatch(/signature does not verify/)
    sandbox.state.tamper = { kind: 'other-key', key: strangerKeys.privateKey }
    expect((await connectorError(fetch(ctx))).kind).toBe('auth_failed')
    // The same when the connection holds another public key than UnionPay's.
    sandbox.state.tamper = undefined
    const wrong = await connect({ unionpayPublicKey: pem(strangerKeys.publicKey, 'spki') })
    expect((await connectorError(fetch(wrong.ctx))).kind).toBe('auth_failed')
    expect(downloads()).toEqual([])
    const ok = await fetch(ctx)
    expect(ok.status).toBe('ready')
    await discardFetched(ok)
  })

  it("surfaces the gateway's refusal of a request signed with a key it does not know, with its respMsg", async () => {
    sandbox.publish(DAY, unionpaySettlementZip({ merId: MER_ID, date: DAY, records: DAY_RECORDS }))
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const { ctx, loaded } = await connect({ privateKey: STRANGER_PRIVATE })
    const e = await connectorError(fetch(ctx))
    expect(e.kind).toBe('auth_failed')
    expect(e.vendorCode).toBe('11')
    expect(e.message).toMatch(/验证签名失败/)
    expect(sandbox.state.requests.at(-1)!.signatureOk).toBe(false)
    const verdict = await runCheck(hub, loaded)
    expect(verdict.ok).toBe(false)
    expect(verdict.message).toMatch(/验证签名失败/)
    // Another merchant code: 31 商户状态不正确.
    const other = await connect({ merId: '777290058119999' })
    const e31 = await connectorError(fetch(other.ctx))
    expect([e31.vendorCode, e31.kind]).toEqual(['31', 'auth_failed'])
    expect(e31.message).toMatch(/商户状态不正确/)
  })

  it('retries an outage and then gives up with a retryable error', async () => {
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const { ctx } = await connect()
    sandbox.state.down = true
    const e = await connectorError(fetch(ctx))
    expect(e.kind).toBe('retryable')
    expect(e.status).toBe(503)
  })

  it('keeps uploads working without keys, says fetching is not configured, and keeps the key secret', async () => {
    expect(secretFields(unionpay.config)).toEqual(['privateKey'])
    expect(unionpay.config.safeParse({ ...CONFIG, privateKey: 'not a key' }).success).toBe(false)
    expect(unionpay.config.parse({}).baseURL).toBe('https://filedownload.95516.com/')
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const before = sandbox.state.requests.length
    const bare = await connect({ certId: undefined, privateKey: undefined, unionpayPublicKey: undefined })
    const e = await connectorError(fetch(bare.ctx))
    expect(e.kind).toBe('permanent')
    expect(e.message).toMatch(/not configured: credentials missing \(certId \(or merchantCert\), privateKey, unionpayPublicKey \(or unionpayRootCert and unionpayMiddleCert\)\)/)
    expect(sandbox.state.requests.length).toBe(before)
    expect(await runCheck(hub, bare.loaded)).toMatchObject({ ok: true, message: expect.stringMatching(/uploaded.*needs certId/) })

    sandbox.publish(DAY, unionpaySettlementZip({ merId: MER_ID, date: DAY, records: DAY_RECORDS }))
    const good = await connect()
    expect(await runCheck(hub, good.loaded)).toMatchObject({ ok: true, message: expect.stringMatching(/signatures verified both ways/) })
    await discardFetched(await fetch(good.ctx))
    const rows = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, good.connectionId))
    const logged = JSON.stringify(rows) + hub.logs.text
    for (const line of keyBody(MERCHANT_PRIVATE)) expect(logged).not.toContain(line)
    const signature = sandbox.state.requests.at(-1)!.fields.signature!
    expect(logged).not.toContain(signature)
    expect(logged).not.toContain(encodeURIComponent(signature))
  })

  it('imports the fetched day through the settlement fetch job', async () => {
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const m = await seedMerchant(hub)
    const row = await createConnection(hub.database.db, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'unionpay', name: 'UnionPay job', config: CONFIG }, new Date())
    const job = { job: { attempts: 1, maxAttempts: 8 } as never, signal: undefined as never }
    const waiting = await fetchSettlement(hub, { merchantId: m.merchantId, connectionId: row.id, businessDate: DAY }, job)
    expect(waiting.status).toBe('waiting')
    sandbox.publish(DAY, unionpaySettlementZip({ merId: MER_ID, date: DAY, records: DAY_RECORDS }))
    const r = await fetchSettlement(hub, { merchantId: m.merchantId, connectionId: row.id, businessDate: DAY }, job)
    expect(r.status, JSON.stringify(r)).toBe('imported')
    const statements = await hub.database.db.execute(sql`select format, line_count from settlement_statements where connection_id = ${row.id}`)
    expect(statements.rows).toEqual([{ format: 'unionpay_inn', line_count: 4 }])
    expect(downloads()).toEqual([])
  })

  it('schedules the daily fetch for a connection with keys only: one without is upload-only and left alone', async () => {
    const m = await seedMerchant(hub)
    const keyed = await createConnection(hub.database.db, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'unionpay', name: 'UnionPay keyed', config: CONFIG }, new Date())
    const bare = await createConnection(hub.database.db, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'unionpay', name: 'UnionPay upload', config: { merId: MER_ID } }, new Date())
    const { queued } = await scheduleFetches(hub, { now: beijing('2026-03-15 11:00:00') })
    const ours = queued.filter((q) => q.merchantId === m.merchantId).map((q) => q.connectionId)
    expect(ours).toEqual([keyed.id])
    const job = { job: { attempts: 1, maxAttempts: 8 } as never, signal: undefined as never }
    expect(await fetchSettlement(hub, { merchantId: m.merchantId, connectionId: bare.id, businessDate: DAY }, job)).toEqual({ status: 'skipped', reason: 'the connection is set up for uploads only' })
    const verdicts = await hub.database.db.execute(sql`select status from recon_runs where connection_id = ${bare.id}`)
    expect(verdicts.rows).toEqual([])
  })
})

describe('the UnionPay connector given the merchant signing certificate', () => {
  const { hub } = useTestHubWithDataDir('unionpay-merchant-cert')
  // A test certificate and its key (test/fixtures/unionpay-certs/othername: a merchant's name in its CN), serial
  // 69042905379, which UnionPay's gateway knows as the merchant's certId.
  const fixture = (name: string) => fs.readFileSync(new URL(`../fixtures/unionpay-certs/${name}`, import.meta.url), 'utf8')
  const merchantCert = fixture('othername.pem')
  const sandbox = unionpaySandbox({ merId: MER_ID, certId: '69042905379', merchantPublicKey: new X509Certificate(merchantCert).publicKey, unionpayPrivateKey: unionpayKeys.privateKey, clock: () => hub.clock() })
  const vendor = useVendorServer(hub, ...sandbox.handlers)
  const connect = connectWith(hub, vendor, 'unionpay', { name: () => `UnionPay ${randomUUID()}`, config: { merId: MER_ID, privateKey: fixture('othername.key'), merchantCert, unionpayPublicKey: UNIONPAY_PUBLIC } })
  afterEach(() => hub.setNow(undefined))

  it('reads certId from the certificate, and refuses a certificate that is not the key’s or a certId that is not its serial', async () => {
    sandbox.publish(DAY, unionpaySettlementZip({ merId: MER_ID, date: DAY, records: DAY_RECORDS }))
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const { ctx } = await connect()
    const got = await unionpay.capabilities.fetchStatement!(ctx, { businessDate: DAY })
    expect(got.status).toBe('ready')
    await discardFetched(got)
    expect(sandbox.state.requests.at(-1)).toMatchObject({ fields: { certId: '69042905379' }, signatureOk: true })

    await expect(connect({ privateKey: MERCHANT_PRIVATE })).rejects.toMatchObject({ code: 'invalid_config', message: expect.stringMatching(/config\.merchantCert: the merchant certificate is not the certificate of privateKey/) })
    await expect(connect({ certId: '69629715588' })).rejects.toMatchObject({ code: 'invalid_config', message: expect.stringMatching(/config\.certId: certId is not the serial number of merchantCert/) })
    await expect(connect({ merchantCert: 'not a certificate' })).rejects.toMatchObject({ code: 'invalid_config' })
    // The same serial given as well is accepted.
    expect((await connect({ certId: '69042905379' })).connectionId).toEqual(expect.any(String))
  })
})
