// The built-in sandboxes as the demo uses them: every vendor simulator on a real local port, every connector's
// sandbox connection created through the API and checked by the connector against it over real HTTP (no msw
// interception in this file), and the flows the demo leans on: a WeChat Pay bill fetched into reconciliation, Shopify
// locations, an Aliyun SMS, vouchers into the four ledgers, and the devices.
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api } from '../helpers/api.ts'
import { voucherMaker, delivered, type Line } from '../helpers/accounting.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { loadConnection } from '../../src/connectors/framework/connections.ts'
import { connectorContext } from '../../src/connectors/framework/context.ts'
import type { AccountingCapabilities } from '../../src/connectors/framework/accounting.ts'
import type { CampaignCapabilities } from '../../src/connectors/framework/campaign.ts'
import { fetchSettlement } from '../../src/jobs/reconciliation.ts'
import { addDays, businessDate } from '../../src/lib/time.ts'
import { SANDBOX, SANDBOX_PREFIX, startSandboxes, type Sandboxes } from '../../src/sandboxes/index.ts'
import { serveHandlers } from '../../src/sandboxes/serve.ts'
import { alipayBillZip } from '../../src/sandboxes/vendors/alipay.ts'
import { innRecord, unionpaySettlementZip } from '../../src/sandboxes/vendors/unionpay.ts'
import { http, HttpResponse } from 'msw'

const job = () => ({ job: { id: '1', attempts: 1, maxAttempts: 8, key: null }, signal: new AbortController().signal })
const voucher = voucherMaker('5a1d0c3e-7b2f-4e6a-9c8d-')
/** A small day of store S001 on the default chart: WeChat takings, sales and their VAT. */
const DAY: Line[] = [
  ['11/20 S001 微信收款', '1012.01', '其他货币资金-微信', 11300, 0],
  ['11/20 S001 销售收入 13%', '6001', '主营业务收入', 0, 10000],
  ['11/20 S001 销项税额 13%', '2221.01.01', '应交税费-应交增值税(销项税额)', 0, 1300],
]

describe('built-in sandboxes', () => {
  const hub = useTestHub()
  let sb: Sandboxes
  let api: Api
  let merchantId: string
  /** Connection id by connector id, once created through the API. */
  const ids = new Map<string, string>()

  beforeAll(async () => {
    sb = await startSandboxes()
    const m = await seedMerchant(hub)
    merchantId = m.merchantId
    api = createApi(hub).as(m.adminToken)
  })
  afterAll(() => sb?.close())

  const ctxOf = async (connectorId: string) => connectorContext(hub, await loadConnection(hub.database.db, connectorRegistry, hub.secrets, ids.get(connectorId)!, merchantId))

  it('offers one sandbox connection, named as one, for every connector the hub ships, each pointed at a local server', () => {
    expect(sb.connections.map((c) => c.connectorId).sort()).toEqual(connectorRegistry.all().map((c) => c.id).sort())
    for (const c of sb.connections) {
      expect(c.name.startsWith(SANDBOX_PREFIX), c.name).toBe(true)
      const parsed = connectorRegistry.get(c.connectorId)!.config.safeParse(c.config)
      expect(parsed.success, `${c.connectorId}: ${parsed.error?.message}`).toBe(true)
      // Every address a connector calls is on this machine; the shop's own address and the hub's are only names.
      for (const [field, value] of Object.entries(c.config)) {
        if (typeof value !== 'string' || !/^https?:\/\//.test(value) || field === 'siteUrl' || field === 'webhookBaseUrl') continue
        expect(new URL(value).hostname, `${c.connectorId}.${field}`).toBe('127.0.0.1')
      }
    }
    expect(sb.connections.find((c) => c.connectorId === 'voucher-file')?.config).toMatchObject({ smtpHost: '127.0.0.1', smtpPort: sb.vendors.smtp.port })
  })

  it('creates every sandbox connection through the API, and each passes its connector’s own check against its simulator', async () => {
    const v = sb.vendors
    // What each simulator has seen: a check that reached it over the network moves its count.
    const seen: Record<string, () => number> = {
      wechatpay: () => v.wechatpay.state.requests.length,
      alipay: () => v.alipay.state.requests.length,
      unionpay: () => v.unionpay.state.requests.length,
      stripe: () => v.stripe.state.requests.length,
      shopify: () => v.shopify.state.requests.length,
      woocommerce: () => v.woocommerce.state.requests.length,
      taobao: () => v.taobao.state.requests.length,
      kingdee: () => v.kingdee.state.requests.length,
      'yonyou-u8': () => v.yonyou.state.requests.length,
      quickbooks: () => v.quickbooks.state.requests.length,
      xero: () => v.xero.state.requests.length,
      'voucher-file': () => v.smtp.state.log.length,
      'aliyun-sms': () => v.aliyunSms.state.requests.length,
      twilio: () => v.twilio.state.requests.length,
      mailchimp: () => v.mailchimp.state.requests.length,
      'wechat-messages': () => v.wechatMessages.state.requests.length,
    }
    const verdicts: Record<string, unknown> = {}
    for (const c of sb.connections) {
      const created = await api.post('/api/v1/connections', c)
      expect(created.status, `${c.connectorId}: ${JSON.stringify(created.body)}`).toBe(201)
      expect(created.body).toMatchObject({ connectorId: c.connectorId, name: c.name, status: 'untested' })
      ids.set(c.connectorId, created.body.id)
      const before = seen[c.connectorId]?.()
      const checked = await api.post(`/api/v1/connections/${created.body.id}/test`)
      expect(checked.status).toBe(200)
      verdicts[c.connectorId] = { ok: checked.body.ok, message: checked.body.message, reached: before === undefined ? 'no vendor' : seen[c.connectorId]!() > before }
    }
    const expected = Object.fromEntries(
      sb.connections.map((c) => [c.connectorId, { ok: true, message: expect.any(String), reached: c.connectorId === 'allinpay' || c.connectorId === 'mapped' ? 'no vendor' : true }]),
    )
    expect(verdicts).toEqual(expected)
    const listed = await api.get('/api/v1/connections')
    expect(listed.body.items.filter((c: { status: string }) => c.status === 'ok')).toHaveLength(sb.connections.length)
  })

  it('fetches a day’s WeChat Pay bills over HTTP and imports them for reconciliation', async () => {
    const day = addDays(businessDate(new Date(), 'Asia/Shanghai'), -2)
    sb.vendors.wechatpay.state.days.set(day, {
      rows: [
        { kind: 'payment', at: `${day} 09:12:05`, outTradeNo: 'SANDBOX-0001', amount: 5800 },
        { kind: 'payment', at: `${day} 12:30:00`, outTradeNo: 'SANDBOX-0002', amount: 12_300 },
        { kind: 'refund', at: `${day} 15:40:22`, outTradeNo: 'SANDBOX-0001', outRefundNo: 'RF-0001', amount: 2000 },
      ],
    })
    const connectionId = ids.get('wechatpay')!
    const outcome = await fetchSettlement(hub, { merchantId, connectionId, businessDate: day }, job())
    expect(outcome.status).toBe('imported')
    const statements = await hub.database.db.execute<{ format: string; status: string; line_count: number }>(
      sql`select format, status, line_count from settlement_statements where connection_id = ${connectionId} and business_date = ${day} order by format`,
    )
    expect(statements.rows).toEqual([
      { format: 'wechat_fundflow', status: 'imported', line_count: expect.any(Number) },
      { format: 'wechat_trade', status: 'imported', line_count: 3 },
    ])
    // The v3 bill link and its download, both signed with the connection's key.
    expect(sb.vendors.wechatpay.state.requests.filter((r) => r.path.startsWith('/v3/bill')).every((r) => r.signed)).toBe(true)
    expect(sb.vendors.wechatpay.state.requests.some((r) => r.path === '/v3/billdownload/file' && r.signed)).toBe(true)
  })

  it('fetches an Alipay trade bill: the gateway’s download link points at the sandbox’s file server', async () => {
    const day = addDays(businessDate(new Date(), 'Asia/Shanghai'), -2)
    sb.vendors.alipay.publish(
      day,
      alipayBillZip({
        pid: SANDBOX.alipay.pid,
        date: day,
        rows: [{ type: 'payment', tradeNo: '2026000122000000000001', outTradeNo: 'SANDBOX-A-0001', amount: 4200, fee: 25, completedAt: `${day} 10:00:00` }],
      }),
    )
    const connectionId = ids.get('alipay')!
    expect(await fetchSettlement(hub, { merchantId, connectionId, businessDate: day }, job())).toMatchObject({ status: 'imported' })
    const statements = await hub.database.db.execute(sql`select format, line_count from settlement_statements where connection_id = ${connectionId} and business_date = ${day}`)
    expect(statements.rows).toEqual([{ format: 'alipay_trade', line_count: 1 }])
    expect(sb.vendors.alipay.state.downloads.map((d) => d.outcome)).toEqual(['zip'])
  })

  it('fetches a UnionPay settlement zip through the sandbox’s file-transfer interface', async () => {
    const day = addDays(businessDate(new Date(), 'Asia/Shanghai'), -2)
    const time = `${day.slice(5, 7)}${day.slice(8, 10)}101532`
    const record = innRecord({ trace: '000457', time, amount: 4200, queryId: '512603141015320004571', orderId: 'SANDBOX-U-0001', fee: 'D000000000025', settle: 'C000000004175' })
    sb.vendors.unionpay.publish(day, unionpaySettlementZip({ merId: SANDBOX.unionpay.merId, date: day, records: [record] }))
    const connectionId = ids.get('unionpay')!
    expect(await fetchSettlement(hub, { merchantId, connectionId, businessDate: day }, job())).toMatchObject({ status: 'imported' })
    const statements = await hub.database.db.execute(sql`select format, line_count from settlement_statements where connection_id = ${connectionId} and business_date = ${day}`)
    expect(statements.rows).toEqual([{ format: 'unionpay_inn', line_count: 1 }])
    expect(sb.vendors.unionpay.state.requests.at(-1)).toMatchObject({ signatureOk: true, fields: { merId: SANDBOX.unionpay.merId, settleDate: time.slice(0, 4) } })
  })

  it('lists the Shopify shop’s locations through the stock-sync API', async () => {
    sb.vendors.shopify.addLocation('Shanghai Flagship', { pickup: true })
    sb.vendors.shopify.addLocation('Pudong Warehouse')
    const res = await api.get(`/api/v1/stock-sync/${ids.get('shopify')}/remote-locations`)
    expect(res.status).toBe(200)
    expect(res.body.items.map((l: { name: string }) => l.name)).toEqual(expect.arrayContaining(['Shanghai Flagship', 'Pudong Warehouse']))
  })

  it('sends an SMS through Alibaba Cloud, and the sandbox holds it with the signature and the member’s values', async () => {
    const caps = connectorRegistry.get('aliyun-sms')!.capabilities as CampaignCapabilities<unknown>
    const outcomes = await caps.sendBatch(await ctxOf('aliyun-sms'), {
      campaignKey: 'sandbox-spring',
      message: { templateCode: SANDBOX.aliyunSms.templateCode, signName: SANDBOX.aliyunSms.signName },
      recipients: [{ deliveryId: '0192f7a0-0000-7000-8000-00000000a001', memberId: 'm1', address: '+8613800138000', params: { name: '王芳', coupon: 'SPRING10' } }],
    })
    expect(outcomes).toMatchObject([{ deliveryId: '0192f7a0-0000-7000-8000-00000000a001', status: 'accepted' }])
    expect(sb.vendors.aliyunSms.sentTo('+8613800138000').map((m) => m.content)).toEqual(['【茶语轩】亲爱的王芳，您的优惠券SPRING10已到账，拒收请回复R'])
  })

  it('posts a store’s voucher into Kingdee, U8, QuickBooks and Xero once the store is registered, and reads the lock dates', async () => {
    sb.registerStores(['S001'])
    for (const connectorId of ['kingdee', 'yonyou-u8', 'quickbooks', 'xero']) {
      const caps = connectorRegistry.get(connectorId)!.capabilities as AccountingCapabilities<unknown>
      const result = delivered(await caps.exportVoucher(await ctxOf(connectorId), { voucher: voucher({}, DAY) }))
      expect(result.status, connectorId).toBe('exported')
    }
    expect(sb.vendors.kingdee.vouchers()).toHaveLength(1)
    expect(sb.vendors.yonyou.state.vouchers).toHaveLength(1)
    expect(sb.vendors.quickbooks.state.journalEntries.size).toBe(1)
    const [journal] = [...sb.vendors.xero.state.manualJournals.values()]
    expect(journal!.JournalLines.map((l) => [l.AccountCode, l.LineAmount, l.Tracking.map((t) => `${t.Name}=${t.Option}`)])).toEqual([
      ['1012.01', 113, ['Store=S001']],
      ['6001', -100, ['Store=S001']],
      ['2221.01.01', -13, ['Store=S001']],
    ])

    sb.vendors.xero.state.periodLockDate = '2026-10-31'
    sb.vendors.quickbooks.state.bookCloseDate = '2026-09-30'
    const lock = (id: string) => ctxOf(id).then((ctx) => (connectorRegistry.get(id)!.capabilities as AccountingCapabilities<unknown>).lockDate!(ctx, {}))
    expect(await lock('xero')).toBe('2026-10-31')
    expect(await lock('quickbooks')).toBe('2026-09-30')
  })

  it('runs the devices: printers print what they are sent, the reader is known to the Stripe sandbox', async () => {
    const { receiptPrinter, kitchenPrinter, eposPrinter } = sb.devices
    for (const printer of [receiptPrinter, kitchenPrinter]) {
      const [host, port] = printer.address.split(':')
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(Number(port), host!, () => socket.end(Buffer.from('\x1b@Sandbox ticket\n\x1dV\x00', 'latin1')))
        socket.on('close', () => resolve()).on('error', reject)
      })
      const [job] = await printer.waitForPrints(1, 5000)
      expect(job!.text).toContain('Sandbox ticket')
    }
    expect(kitchenPrinter.address).not.toBe(receiptPrinter.address)
    const epos = await fetch(eposPrinter.url, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8' },
      body: '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><epos-print xmlns="http://www.epson-pos.com/schemas/2011/03/epos-print"/></s:Body></s:Envelope>',
    })
    expect(await epos.text()).toContain('success="true"')
    expect(sb.devices.display.address).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(sb.devices.scale.address).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(sb.vendors.stripeTerminal.state.readers.get(sb.devices.readerId)).toMatchObject({ status: 'online' })
  })
})

describe('serving a handler set on a local port', () => {
  it('answers as the vendor’s origin, passes status, headers, cookies and bytes, and names an unknown route in a 404', async () => {
    const seen: string[] = []
    const s = await serveHandlers(
      [
        http.post('https://api.vendor.example/v1/echo', async ({ request }) => {
          seen.push(request.url)
          const body = new Uint8Array(await request.arrayBuffer())
          const headers = new Headers({ 'content-type': 'application/octet-stream', 'x-got': request.headers.get('x-custom') ?? '' })
          headers.append('set-cookie', 'a=1; Path=/')
          headers.append('set-cookie', 'b=2; Path=/')
          return new HttpResponse(body.reverse(), { status: 207, headers })
        }),
        http.get('https://api.vendor.example/v1/gone', () => HttpResponse.error()),
      ],
      { origin: 'https://api.vendor.example', name: 'Example' },
    )
    try {
      const res = await fetch(`${s.url}/v1/echo?x=1`, { method: 'POST', headers: { 'x-custom': 'yes' }, body: new Uint8Array([1, 2, 3, 250]) })
      expect(res.status).toBe(207)
      expect(res.headers.get('x-got')).toBe('yes')
      expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/'])
      expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([250, 3, 2, 1])
      expect(seen).toEqual(['https://api.vendor.example/v1/echo?x=1'])

      const missing = await fetch(`${s.url}/v2/nothing`)
      expect(missing.status).toBe(404)
      expect(await missing.json()).toEqual({ error: { code: 'sandbox_no_route', message: 'the Example sandbox has no answer for GET /v2/nothing' } })
      // A handler's network error drops the connection, as the vendor's would.
      await expect(fetch(`${s.url}/v1/gone`)).rejects.toThrow()
    } finally {
      await s.close()
    }
    await expect(fetch(`${s.url}/v1/echo`, { method: 'POST' })).rejects.toThrow()
  })
})
