import { generateKeyPairSync, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { streamOnly } from '../helpers/content.ts'
import { eq } from 'drizzle-orm'
import iconv from 'iconv-lite'
import yauzl from 'yauzl'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { alipay } from '../../src/connectors/payment/alipay/index.ts'
import { openAnswer, privateKeyFrom, publicKeyFrom, ResponseSignatureError, rsa2Sign, rsa2Verify, shanghaiTimestamp, signContent } from '../../src/connectors/payment/alipay/sign.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { discardFetched, secretFields } from '../../src/connectors/framework/define.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { StatementFormatError } from '../../src/core/reconciliation/types.ts'
import { alipayBillEntryNames, alipayBillZip, alipayDetailLines, alipaySandbox, ALIPAY_TRADE_COLUMNS, type AlipayBillOptions, type AlipayBillRow } from '../../src/sandboxes/vendors/alipay.ts'
import { useVendorServer, connectWith, collectLines, rejection } from '../helpers/connections.ts'
import { contentInMemory, contentOnDisk } from '../../src/core/reconciliation/file.ts'

const pem = (k: { export(o: object): string | Buffer }, type: string) => k.export({ type, format: 'pem' }) as string
const appKeys = generateKeyPairSync('rsa', { modulusLength: 2048 })
const alipayKeys = generateKeyPairSync('rsa', { modulusLength: 2048 })
const strangerKeys = generateKeyPairSync('rsa', { modulusLength: 2048 })
const APP_PRIVATE = pem(appKeys.privateKey, 'pkcs8')
const ALIPAY_PUBLIC = pem(alipayKeys.publicKey, 'spki')
const STRANGER_PRIVATE = pem(strangerKeys.privateKey, 'pkcs8')
const STRANGER_PUBLIC = pem(strangerKeys.publicKey, 'spki')
/** A run of the private key's base64 body: if any part of the key leaked, this would too. */
const keyBody = (p: string) => p.split('\n').filter((l) => l && !l.startsWith('-----'))

const APP_ID = '2021004100000001'
const PID = '2088101122334455'
const DATE = '2026-03-14'
const config = alipay.config.parse({ appId: APP_ID, pid: PID, appPrivateKey: APP_PRIVATE, alipayPublicKey: ALIPAY_PUBLIC })

const PAY_1: AlipayBillRow = {
  type: 'payment',
  tradeNo: '2026031422001400000000000001',
  outTradeNo: 'SH01T03-20260314-000813',
  amount: 8800,
  fee: 53,
  createdAt: '2026-03-14 10:01:02',
  completedAt: '2026-03-14 10:01:05',
  storeId: 'SH01',
  storeName: '上海一店',
  operator: 'cashier07',
  terminalId: 'T03',
}
const REFUND_1: AlipayBillRow = { ...PAY_1, type: 'refund', amount: 3000, fee: 18, refundRequestNo: 'RF-SH01T03-000813-1', createdAt: '2026-03-14 16:20:00', completedAt: '2026-03-14 16:20:01' }
const PAY_2: AlipayBillRow = {
  type: 'payment',
  tradeNo: '2026031422001400000000000002',
  outTradeNo: 'BJ02T01-20260314-000001',
  amount: 1999,
  receipt: 1899,
  merchantDiscount: 100,
  fee: 11,
  completedAt: '2026-03-14 23:59:59',
  storeId: 'BJ02',
  storeName: '北京二店',
  terminalId: 'T01',
}
const DAY: AlipayBillOptions = { pid: PID, date: DATE, rows: [PAY_1, REFUND_1, PAY_2] }

async function parse(bytes: Buffer, pid = PID) {
  const parsed = alipay.capabilities.parseStatement!({ format: 'alipay_trade', content: contentInMemory(bytes) }, { ...config, pid })
  const lines = await collectLines(parsed)
  return { lines, totals: parsed.controlTotals() }
}

const parseError = (bytes: Buffer, pid = PID) => rejection(parse(bytes, pid), StatementFormatError, 'expected a StatementFormatError')

const connectorError = (p: Promise<unknown>) => rejection(p, ConnectorError, 'expected a ConnectorError')

const beijing = (t: string) => new Date(`${t.replace(' ', 'T')}+08:00`)

describe('Alipay RSA2 signing', () => {
  it('signs the parameters sorted by name, leaving out sign and empty values', () => {
    const params = { timestamp: '2026-03-15 10:00:00', app_id: APP_ID, sign: 'old', notify_url: '', biz_content: '{"bill_type":"trade"}', method: 'm' }
    const content = signContent(params)
    expect(content).toBe(`app_id=${APP_ID}&biz_content={"bill_type":"trade"}&method=m&timestamp=2026-03-15 10:00:00`)
    const sig = rsa2Sign(content, privateKeyFrom(APP_PRIVATE))
    expect(rsa2Verify(content, sig, appKeys.publicKey)).toBe(true)
    expect(rsa2Verify(`${content}&x=1`, sig, appKeys.publicKey)).toBe(false)
    // Alipay's key tool hands out bare base64 keys; they are the same keys.
    const bare = keyBody(APP_PRIVATE).join('')
    expect(rsa2Sign(content, privateKeyFrom(bare))).toBe(sig)
    expect(publicKeyFrom(keyBody(ALIPAY_PUBLIC).join('')).equals(alipayKeys.publicKey)).toBe(true)
  })

  it('writes the timestamp in Beijing time whatever the server zone', () => {
    expect(shanghaiTimestamp(new Date('2026-03-14T16:30:05Z'))).toBe('2026-03-15 00:30:05')
  })

  it('verifies an answer over its exact text, not a re-serialisation of it', () => {
    const key = publicKeyFrom(ALIPAY_PUBLIC)
    // An escaped slash and a value that mentions "sign": re-serialising would change the text, and a naive search
    // for "sign" would cut it in the wrong place.
    const content = '{"code":"10000","msg":"Success","bill_download_url":"https:\\/\\/dwbillcenter.alipay.com\\/x?a=1","note":"\\"sign\\":\\"x\\""}'
    const signature = rsa2Sign(content, alipayKeys.privateKey)
    const body = `{"alipay_data_dataservice_bill_downloadurl_query_response":${content},"sign":"${signature}"}`
    const opened = openAnswer(body, key, 'alipay.data.dataservice.bill.downloadurl.query')
    expect(opened).toMatchObject({ signed: true, node: { code: '10000', bill_download_url: 'https://dwbillcenter.alipay.com/x?a=1' } })
    expect(rsa2Verify(JSON.stringify(JSON.parse(content)), signature, key)).toBe(false)

    expect(() => openAnswer(body.replace('a=1', 'a=2'), key)).toThrow(ResponseSignatureError)
    expect(() => openAnswer(body, publicKeyFrom(STRANGER_PUBLIC))).toThrow(ResponseSignatureError)
    // A success must be signed; an error the gateway could not sign (unknown app) is read as the error it is.
    expect(() => openAnswer(`{"x_response":${content}}`, key)).toThrow(/no sign/)
    expect(openAnswer('{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}}', key)).toMatchObject({ signed: false, node: { sub_code: 'isv.invalid-app-id' } })
  })
})

describe('the Alipay connector against the gateway', () => {
  // A data dir of its own, where the zips are downloaded to.
  const { hub, dataDir, files } = useTestHubWithDataDir('alipay')
  const downloads = () => files('downloads')
  const fileNames = downloads
  const clockNow = () => hub.clock()
  const sandbox = alipaySandbox({ appId: APP_ID, appPublicKey: appKeys.publicKey, alipayPrivateKey: alipayKeys.privateKey, pid: PID, clock: clockNow })
  const vendor = useVendorServer(hub, ...sandbox.handlers)
  afterEach(() => {
    sandbox.state.tamper = undefined
    sandbox.state.onUrlIssued = undefined
    sandbox.state.bills.clear()
    hub.setNow(undefined)
    // What a test did not discard.
    fs.rmSync(path.join(dataDir, 'downloads'), { recursive: true, force: true })
  })

  const connect = connectWith(hub, vendor, 'alipay', { name: () => `Alipay ${randomUUID()}`, config: { appId: APP_ID, pid: PID, appPrivateKey: APP_PRIVATE, alipayPublicKey: ALIPAY_PUBLIC } })
  const fetch = (ctx: Awaited<ReturnType<typeof connect>>['ctx'], businessDate = DATE) => alipay.capabilities.fetchStatement!(ctx, { businessDate })

  it('asks for the bill with a signed request, verifies the answer and downloads the zip', async () => {
    const zip = alipayBillZip(DAY)
    sandbox.publish(DATE, zip)
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const { ctx } = await connect()
    const got = await fetch(ctx)
    expect(got.status).toBe('ready')
    if (got.status !== 'ready') return
    expect(got.files).toHaveLength(1)
    expect(got.files[0]).toMatchObject({ format: 'alipay_trade', name: `${PID}0156_20260314.csv.zip`, contentType: 'application/zip' })
    expect(got.files[0]!.content.bytes().equals(zip)).toBe(true)
    // Downloaded to a file under the hub's data dir.
    expect(got.files[0]!.content.path).toBe(path.join(dataDir, 'downloads', downloads()[0]!))

    const req = sandbox.state.requests.at(-1)!
    expect(req.signatureOk).toBe(true)
    expect(req.params).toMatchObject({
      app_id: APP_ID,
      method: 'alipay.data.dataservice.bill.downloadurl.query',
      format: 'JSON',
      charset: 'utf-8',
      sign_type: 'RSA2',
      version: '1.0',
      timestamp: '2026-03-15 10:00:00',
    })
    expect(JSON.parse(req.params.biz_content!)).toEqual({ bill_type: 'trade', bill_date: DATE })
    expect(sandbox.state.downloads.at(-1)?.outcome).toBe('zip')

    // Read from disk with random access, never whole; the file is gone once discarded.
    const onDisk = got.files[0]!.content
    const content = streamOnly(onDisk)
    const lines = await collectLines(alipay.capabilities.parseStatement!({ format: 'alipay_trade', content }, { ...config, pid: PID }))
    expect(lines.map((l) => [l.kind, l.amount])).toEqual([
      ['payment', 8800],
      ['refund', 3000],
      ['payment', 1899],
    ])
    await discardFetched(got)
    expect(downloads()).toEqual([])
  })

  it('is refused as auth_failed when the request is signed with a key Alipay does not know', async () => {
    sandbox.publish(DATE, alipayBillZip(DAY))
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const downloads = sandbox.state.downloads.length
    const { ctx, loaded } = await connect({ appPrivateKey: STRANGER_PRIVATE })
    const e = await connectorError(fetch(ctx))
    expect(e.kind).toBe('auth_failed')
    expect(e.vendorCode).toBe('isv.invalid-signature')
    expect(sandbox.state.requests.at(-1)!.signatureOk).toBe(false)
    expect(sandbox.state.downloads.length).toBe(downloads)
    const verdict = await runCheck(hub, loaded)
    expect(verdict.ok).toBe(false)
    expect(verdict.message).toMatch(/isv\.invalid-signature/)
  })

  it('refuses an answer whose sign does not verify with the Alipay public key, before any download', async () => {
    sandbox.publish(DATE, alipayBillZip(DAY))
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const downloads = sandbox.state.downloads.length
    const { ctx } = await connect()

    sandbox.state.tamper = { kind: 'other-key', key: strangerKeys.privateKey }
    const signedByOther = await connectorError(fetch(ctx))
    expect(signedByOther.kind).toBe('auth_failed')
    expect(signedByOther.message).toMatch(/sign does not verify/)

    sandbox.state.tamper = { kind: 'altered' }
    const altered = await connectorError(fetch(ctx))
    expect(altered.kind).toBe('auth_failed')

    // The same when the connection holds the wrong Alipay public key.
    sandbox.state.tamper = undefined
    const wrongKey = await connect({ alipayPublicKey: STRANGER_PUBLIC })
    expect((await connectorError(fetch(wrongKey.ctx))).kind).toBe('auth_failed')
    expect(sandbox.state.downloads.length).toBe(downloads)

    // Untampered, the first connection works.
    expect((await fetch(ctx)).status).toBe('ready')
  })

  it('reads "no bill" as not ready until noon of the next day, and as a day without transactions after it', async () => {
    const { ctx } = await connect()
    const before = sandbox.state.requests.length
    // The day itself and later: not asked at all, Alipay refuses such dates.
    hub.setNow(beijing('2026-03-14 23:00:00'))
    expect(await fetch(ctx)).toMatchObject({ status: 'not_ready' })
    expect(sandbox.state.requests.length).toBe(before)

    hub.setNow(beijing('2026-03-15 08:00:00'))
    const early = await fetch(ctx)
    expect(early.status).toBe('not_ready')
    expect(sandbox.state.requests.length).toBe(before + 1)

    hub.setNow(beijing('2026-03-15 12:30:00'))
    const late = await fetch(ctx)
    expect(late.status).toBe('empty')
    if (late.status === 'empty') expect(late.message).toMatch(/no API transactions/)

    // A bill Alipay generates at 09:00: not ready at 08:30, ready at 09:30.
    sandbox.publish(DATE, alipayBillZip(DAY))
    hub.setNow(beijing('2026-03-15 08:30:00'))
    expect((await fetch(ctx)).status).toBe('not_ready')
    hub.setNow(beijing('2026-03-15 09:30:00'))
    expect((await fetch(ctx)).status).toBe('ready')
  })

  it('fetches a generated bill without rows as ready, parsing to no lines and zero totals', async () => {
    sandbox.publish(DATE, alipayBillZip({ pid: PID, date: DATE, rows: [] }))
    hub.setNow(beijing('2026-03-16 10:00:00'))
    const { ctx } = await connect()
    const got = await fetch(ctx)
    expect(got.status).toBe('ready')
    if (got.status !== 'ready') return
    const { lines, totals } = await parse(got.files[0]!.content.bytes())
    expect(lines).toEqual([])
    expect(totals).toEqual({ count: 0, paymentCount: 0, refundCount: 0, paymentAmount: 0, refundAmount: 0, feeMilli: 0 })
  })

  it('asks for a new URL when the download URL expired after its 30 seconds', async () => {
    sandbox.publish(DATE, alipayBillZip(DAY))
    const start = beijing('2026-03-15 10:00:00')
    hub.setNow(start)
    const { ctx } = await connect()
    const requests = sandbox.state.requests.length
    const downloads = sandbox.state.downloads.length
    let urls = 0
    // The first URL is used 31 s after it was handed out, as over a stalled network.
    sandbox.state.onUrlIssued = () => {
      if (++urls === 1) hub.setNow(new Date(start.getTime() + 31_000))
    }
    const got = await fetch(ctx)
    expect(got.status).toBe('ready')
    expect(sandbox.state.requests.length - requests).toBe(2)
    expect(sandbox.state.downloads.slice(downloads).map((d) => d.outcome)).toEqual(['expired', 'zip'])
    // The expiry page was removed from disk; the zip stays until it is discarded.
    expect(fileNames()).toHaveLength(1)
    await discardFetched(got)
    expect(fileNames()).toEqual([])
  })

  it('gives up with a retryable error when every URL expires before its download', async () => {
    sandbox.publish(DATE, alipayBillZip(DAY))
    let now = beijing('2026-03-15 10:00:00').getTime()
    hub.setNow(new Date(now))
    const { ctx } = await connect()
    const downloads = sandbox.state.downloads.length
    sandbox.state.onUrlIssued = () => hub.setNow(new Date((now += 31_000)))
    const e = await connectorError(fetch(ctx))
    expect(e.kind).toBe('retryable')
    expect(e.message).toMatch(/expired 3 times.*下载超时/)
    expect(sandbox.state.downloads.slice(downloads).map((d) => d.outcome)).toEqual(['expired', 'expired', 'expired'])
  })

  it('answers a URL used after 30 seconds with the expiry page, and within them with the zip', async () => {
    const zip = alipayBillZip(DAY)
    sandbox.publish(DATE, zip)
    const start = beijing('2026-03-15 10:00:00')
    hub.setNow(start)
    let url = ''
    sandbox.state.onUrlIssued = (u) => (url = u)
    const { ctx } = await connect()
    await fetch(ctx)
    hub.setNow(new Date(start.getTime() + 29_000))
    expect(Buffer.from(await (await globalThis.fetch(url)).arrayBuffer()).equals(zip)).toBe(true)
    hub.setNow(new Date(start.getTime() + 31_000))
    const late = await globalThis.fetch(url)
    expect(iconv.decode(Buffer.from(await late.arrayBuffer()), 'gbk')).toBe('下载超时,请重新下载')
  })

  it('checks a connection by a read-only bill query', async () => {
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const { loaded } = await connect()
    const verdict = await runCheck(hub, loaded)
    expect(verdict).toMatchObject({ ok: true })
    expect(verdict.message).toMatch(new RegExp(`app ${APP_ID}`))
  })

  it('keeps the app private key out of the call log and the hub logs, and masks request signatures', async () => {
    sandbox.publish(DATE, alipayBillZip(DAY))
    hub.setNow(beijing('2026-03-15 10:00:00'))
    const good = await connect()
    await fetch(good.ctx)
    const stranger = await connect({ appPrivateKey: STRANGER_PRIVATE })
    await connectorError(fetch(stranger.ctx))
    sandbox.state.tamper = { kind: 'other-key', key: strangerKeys.privateKey }
    await connectorError(fetch(good.ctx))
    const signatures = sandbox.state.requests.slice(-3).map((r) => r.params.sign!)

    const rows = [
      ...(await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, good.connectionId))),
      ...(await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, stranger.connectionId))),
    ]
    expect(rows.map((r) => r.operation).sort()).toEqual(['downloadStatement', 'fetchStatement', 'fetchStatement', 'fetchStatement'])
    const logged = JSON.stringify(rows) + hub.logs.text
    for (const line of [...keyBody(APP_PRIVATE), ...keyBody(STRANGER_PRIVATE)]) expect(logged).not.toContain(line)
    for (const s of signatures) {
      expect(logged).not.toContain(s)
      expect(logged).not.toContain(encodeURIComponent(s))
    }
    expect(rows.find((r) => r.operation === 'fetchStatement')!.requestExcerpt).toContain('sign=[REDACTED]')
  })
})

describe('the Alipay trade bill parser', () => {
  it('reads the GBK zip, named in GBK, into payment and refund lines with the channel references', async () => {
    const zip = alipayBillZip(DAY)
    // The entries are named in GBK without the UTF-8 flag, as Alipay writes them.
    const z = await yauzl.fromBufferPromise(zip, { lazyEntries: true, decodeStrings: false })
    const entries: { raw: Buffer; flags: number }[] = []
    for await (const e of z.eachEntry()) entries.push({ raw: e.fileNameRaw, flags: e.generalPurposeBitFlag })
    const names = alipayBillEntryNames(PID, DATE)
    expect(entries.map((e) => e.raw)).toEqual([iconv.encode(names.detail, 'gbk'), iconv.encode(names.summary, 'gbk')])
    expect(entries.every((e) => (e.flags & 0x800) === 0)).toBe(true)
    expect(names.detail).toBe('20881011223344550156_20260314_业务明细.csv')

    const { lines, totals } = await parse(zip)
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatchObject({
      lineNo: 6,
      kind: 'payment',
      ourRef: 'SH01T03-20260314-000813',
      ourPaymentRef: null,
      channelTxnId: '2026031422001400000000000001',
      channelRefundId: null,
      currency: 'CNY',
      amount: 8800,
      feeMilli: 53_000,
      status: 'SUCCESS',
      storeRef: 'SH01',
      terminalRef: 'T03',
    })
    expect(lines[0]!.occurredAt.toISOString()).toBe('2026-03-14T02:01:05.000Z')
    expect(lines[1]).toMatchObject({
      lineNo: 7,
      kind: 'refund',
      ourRef: 'RF-SH01T03-000813-1',
      ourPaymentRef: 'SH01T03-20260314-000813',
      channelTxnId: '2026031422001400000000000001',
      amount: 3000,
      feeMilli: -18_000,
      status: 'REFUND',
    })
    expect(lines[1]!.occurredAt.toISOString()).toBe('2026-03-14T08:20:01.000Z')
    // The amount is what the merchant receives (商家实收), not the order amount before the merchant's discount.
    // The TAB after an id cell is gone.
    expect(lines[2]).toMatchObject({ kind: 'payment', channelTxnId: '2026031422001400000000000002', amount: 1899, feeMilli: 11_000, storeRef: 'BJ02', terminalRef: 'T01' })
    expect(lines[2]!.occurredAt.toISOString()).toBe('2026-03-14T15:59:59.000Z')
    expect(totals).toEqual({ count: 3, paymentCount: 2, refundCount: 1, paymentAmount: 10_699, refundAmount: 3000, feeMilli: 46_000 })
  })

  it('maps columns by header name, in any order and with extra columns', async () => {
    const columns: string[] = [...ALIPAY_TRADE_COLUMNS].reverse()
    columns.push('支付宝PID')
    const shuffled = await parse(alipayBillZip({ ...DAY, columns }))
    const plain = await parse(alipayBillZip(DAY))
    expect(shuffled.lines).toEqual(plain.lines)
    expect(shuffled.totals).toEqual(plain.totals)
  })

  it('skips the # lines before the header and refuses a file cut before its footer', async () => {
    const lines = alipayDetailLines(DAY)
    expect(lines.slice(0, 4).every((l) => l.startsWith('#'))).toBe(true)
    expect(lines.slice(-3).map((l) => l.slice(0, 5))).toEqual(['#交易合计', '#退款合计', '#导出时间'])
    const cut = await parseError(alipayBillZip({ ...DAY, editDetail: (ls) => ls.slice(0, -3) }))
    expect(cut.message).toMatch(/incomplete/)
    const noHeader = await parseError(alipayBillZip({ ...DAY, rows: [], editDetail: (ls) => ls.filter((l) => l.startsWith('#')) }))
    expect(noHeader.message).toMatch(/no header/)
  })

  it('refuses a file whose rows disagree with its footer totals', async () => {
    const count = await parseError(alipayBillZip({ ...DAY, editDetail: (ls) => ls.map((l) => l.replace('#交易合计：2笔', '#交易合计：3笔')) }))
    expect(count).toBeInstanceOf(StatementFormatError)
    expect(count.lineNo).toBe(10)
    expect(count.message).toMatch(/交易合计 \(count\) 3, the rows add up to 2/)
    const amount = await parseError(alipayBillZip({ ...DAY, editDetail: (ls) => ls.map((l) => l.replace('商家实收退款共-30.00元', '商家实收退款共-30.01元')) }))
    expect(amount.lineNo).toBe(11)
    expect(amount.message).toMatch(/退款合计 商家实收退款 \(fen\) -3001, the rows add up to -3000/)
  })

  it('refuses a bill whose 汇总 file disagrees with its detail', async () => {
    const fee = await parseError(alipayBillZip({ ...DAY, editSummary: (ls) => ls.map((l) => (l.startsWith('合计') ? l.replace('-0.46', '-0.47') : l)) }))
    expect(fee.message).toMatch(/服务费/)
    const payments = await parseError(alipayBillZip({ ...DAY, editSummary: (ls) => ls.map((l) => (l.startsWith('合计,,2,1') ? l.replace('合计,,2,1', '合计,,3,1') : l)) }))
    expect(payments.message).toMatch(/交易订单总笔数 3/)
    // Without the 汇总 file the footer still holds, and no fee total is claimed.
    const { totals } = await parse(alipayBillZip({ ...DAY, summary: false }))
    expect(totals).toEqual({ count: 3, paymentCount: 2, refundCount: 1, paymentAmount: 10_699, refundAmount: 3000 })
  })

  it('reads partial and repeated refunds of one payment as refunds of that payment', async () => {
    const pay: AlipayBillRow = { ...PAY_1, amount: 10_000, fee: 60 }
    const first: AlipayBillRow = { ...pay, type: 'refund', amount: 3000, fee: 18, refundRequestNo: 'RF-1', completedAt: '2026-03-14 12:00:00' }
    const second: AlipayBillRow = { ...pay, type: 'refund', amount: 2000, fee: 12, refundRequestNo: 'RF-2', completedAt: '2026-03-14 13:00:00' }
    const { lines, totals } = await parse(alipayBillZip({ pid: PID, date: DATE, rows: [pay, first, second] }))
    expect(lines.map((l) => [l.kind, l.ourRef, l.ourPaymentRef ?? null, l.channelTxnId, l.amount, l.feeMilli])).toEqual([
      ['payment', pay.outTradeNo, null, pay.tradeNo, 10_000, 60_000],
      ['refund', 'RF-1', pay.outTradeNo, pay.tradeNo, 3000, -18_000],
      ['refund', 'RF-2', pay.outTradeNo, pay.tradeNo, 2000, -12_000],
    ])
    expect(totals).toMatchObject({ refundCount: 2, refundAmount: 5000, feeMilli: 30_000 })
    // The file prints refunds negative; a refund printed positive is not a refund this parser can trust.
    const positive = await parseError(
      alipayBillZip({ pid: PID, date: DATE, rows: [pay, first], summary: false, editDetail: (ls) => ls.map((l, i) => (i === 6 ? l.replace(/-30\.00/g, '30.00') : l)) }),
    )
    expect(positive.lineNo).toBe(7)
    expect(positive.message).toMatch(/refunds are negative/)
  })

  it('refuses a malformed amount, fee or time with its line number', async () => {
    const at = (row: number, from: string, to: string) => alipayBillZip({ ...DAY, editDetail: (ls) => ls.map((l, i) => (i === row - 1 ? l.replace(from, to) : l)) })
    const amount = await parseError(at(8, ',18.99,', ',18.9.9,'))
    expect(amount.lineNo).toBe(8)
    expect(amount.message).toBe('line 8: 商家实收（元） "18.9.9" is not an amount in yuan')
    const decimals = await parseError(at(6, ',88.00,88.00,', ',88.001,88.00,'))
    expect(decimals.lineNo).toBe(6)
    expect(decimals.message).toMatch(/订单金额（元） "88.001"/)
    const fee = await parseError(at(7, ',0.18,', ',0.1八,'))
    expect(fee.lineNo).toBe(7)
    expect(fee.message).toMatch(/服务费/)
    const time = await parseError(at(6, '2026-03-14 10:01:05', '2026-02-30 10:01:05'))
    expect(time.lineNo).toBe(6)
    const cells = await parseError(at(6, '门店消费', '门店,消费'))
    expect(cells.message).toMatch(/26 cells, the header 25/)
    const type = await parseError(at(6, '交易\t', '冻结\t'))
    expect(type.message).toMatch(/业务类型 "冻结"/)
  })

  it('reads the fee sign from the file: charged on payments, given back on refunds, in either convention', async () => {
    const merchant = await parse(alipayBillZip({ ...DAY, feeConvention: 'merchant' }))
    const cost = await parse(alipayBillZip({ ...DAY, feeConvention: 'cost' }))
    expect(cost.lines.map((l) => l.feeMilli)).toEqual([53_000, -18_000, 11_000])
    expect(merchant.lines.map((l) => l.feeMilli)).toEqual(cost.lines.map((l) => l.feeMilli))
    expect(merchant.totals!.feeMilli).toBe(46_000)
    expect(cost.totals!.feeMilli).toBe(46_000)
    // A refund that gave no fee back reads as 0, never as -0.
    const noFee = await parse(alipayBillZip({ ...DAY, rows: [PAY_1, { ...REFUND_1, fee: 0 }] }))
    expect(Object.is(noFee.lines[1]!.feeMilli, 0)).toBe(true)
  })

  it('refuses the bill of another Alipay account', async () => {
    const other = await parseError(alipayBillZip({ ...DAY, pid: '2088999999999999' }))
    expect(other.message).toMatch(/belongs to Alipay account 20889999999999990156/)
  })

  it('reads a bare 业务明细 CSV uploaded on its own', async () => {
    const csv = iconv.encode(alipayDetailLines(DAY).join('\n'), 'gbk')
    const { lines, totals } = await parse(csv)
    expect(lines.map((l) => [l.kind, l.amount, l.feeMilli])).toEqual([
      ['payment', 8800, 53_000],
      ['refund', 3000, -18_000],
      ['payment', 1899, 11_000],
    ])
    expect(totals).toEqual({ count: 3, paymentCount: 2, refundCount: 1, paymentAmount: 10_699, refundAmount: 3000 })
    expect((await parseError(Buffer.from('PK\x03\x04 not really a zip'))).message).toMatch(/not a readable zip/)
  })

  it('a member whose compressed data is damaged is a format error naming it, in memory and on disk, with nothing left unheard', async () => {
    const zip = Buffer.from(alipayBillZip(DAY))
    // Bytes in the middle of the first member's (业务明细) deflate data: its directory is whole, its data is not.
    zip[120] = zip[120]! ^ 0xff
    zip[121] = zip[121]! ^ 0xff
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-zip-'))
    const file = path.join(dir, 'damaged.zip')
    fs.writeFileSync(file, zip)
    for (const content of [contentInMemory(zip), contentOnDisk(file)]) {
      const parsed = alipay.capabilities.parseStatement!({ format: 'alipay_trade', content }, config)
      expect((await rejection(collectLines(parsed), StatementFormatError, 'expected a StatementFormatError')).message).toMatch(/业务明细.*damaged/)
    }
    await new Promise((r) => setTimeout(r, 50))
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('a zip on disk whose directory is damaged is refused and closed, not left open', async () => {
    const zip = Buffer.from(alipayBillZip(DAY))
    // The end record is whole; the directory entries before it are not.
    zip.fill(0x41, zip.length - 120, zip.length - 30)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-zip-'))
    const file = path.join(dir, 'damaged.zip')
    fs.writeFileSync(file, zip)
    const open = () => fs.readdirSync('/proc/self/fd').length
    const before = open()
    for (let i = 0; i < 5; i++) {
      const parsed = alipay.capabilities.parseStatement!({ format: 'alipay_trade', content: contentOnDisk(file) }, config)
      expect((await rejection(collectLines(parsed), StatementFormatError, 'expected a StatementFormatError')).message).toMatch(/not a readable zip/)
    }
    await new Promise((r) => setTimeout(r, 50))
    expect(open() - before).toBe(0)
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('reports the control totals only once the lines have been read', async () => {
    const parsed = alipay.capabilities.parseStatement!({ format: 'alipay_trade', content: contentInMemory(alipayBillZip(DAY)) }, config)
    expect(parsed.controlTotals()).toBeNull()
    let n = 0
    for await (const _ of parsed.lines) n++
    expect(n).toBe(3)
    expect(parsed.controlTotals()).toMatchObject({ count: 3 })
  })
})

describe('the Alipay connector declaration', () => {
  it('expects the contracted fee on payments and gives the same share back on refunds', () => {
    const fee = alipay.capabilities.expectedFeeMilli!
    expect(fee({ kind: 'payment', amount: 8800 }, config)).toBe(52_800) // 0.6 % of 88.00 = 0.528 yuan
    expect(fee({ kind: 'refund', amount: 3000 }, config)).toBe(-18_000)
    expect(fee({ kind: 'payment', amount: 1 }, { ...config, feeRateBp: 55 })).toBe(6) // 0.0055 fen, half up in milli
    expect(fee({ kind: 'payout', amount: 100_000 }, config)).toBe(0)
  })

  it('is a payment connector whose only secret is the app private key, and refuses keys that are not RSA keys', () => {
    expect(connectorRegistry.get('alipay')).toBe(alipay)
    expect(alipay.family).toBe('payment')
    expect(secretFields(alipay.config)).toEqual(['appPrivateKey'])
    expect(config).toMatchObject({ gateway: 'https://openapi.alipay.com/gateway.do', feeRateBp: 60 })
    const bad = alipay.config.safeParse({ appId: APP_ID, pid: PID, appPrivateKey: 'MIIEvQ-not-a-key-secret', alipayPublicKey: ALIPAY_PUBLIC })
    expect(bad.success).toBe(false)
    expect(JSON.stringify(bad.error?.issues)).not.toContain('MIIEvQ-not-a-key-secret')
    expect(alipay.config.safeParse({ appId: APP_ID, pid: '3088101122334455', appPrivateKey: APP_PRIVATE, alipayPublicKey: ALIPAY_PUBLIC }).success).toBe(false)
  })
})
