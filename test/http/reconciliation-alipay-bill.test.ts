import { describe, expect, it } from 'vitest'
import { generateKeyPairSync } from 'node:crypto'
import { useTestHub } from '../helpers/db.ts'
import { at, financeOf, openShop, refund, sell } from '../core/reconciliation/helpers.ts'
import { seedProduct } from '../helpers/pos.ts'
import { alipayBillZip, type AlipayBillRow } from '../../src/sandboxes/vendors/alipay.ts'

const pem = (k: { export(o: object): string | Buffer }, type: string) => k.export({ type, format: 'pem' }) as string
const appKeys = generateKeyPairSync('rsa', { modulusLength: 2048 })
const alipayKeys = generateKeyPairSync('rsa', { modulusLength: 2048 })
const APP_ID = '2021004100000001'
const PID = '2088101122334455'
const D = '2026-11-20'

describe('reconciling an Alipay trade bill through the API', () => {
  const hub = useTestHub()

  async function setup() {
    const shop = await openShop(hub)
    const f = await financeOf(hub, shop, { connectorId: 'alipay', name: 'Alipay', config: { appId: APP_ID, pid: PID, appPrivateKey: pem(appKeys.privateKey, 'pkcs8'), alipayPublicKey: pem(alipayKeys.publicKey, 'spki') } })
    const upload = (rows: AlipayBillRow[], date = D, extra: Record<string, unknown> = {}) =>
      f.upload(date, { format: 'alipay_trade', fileName: 'a.zip' }, alipayBillZip({ pid: PID, date, rows, ...extra }), 'application/zip')
    return { ...f, shop, upload }
  }

  it('matches payments, a partial refund and exact yuan amounts; totals and voucher agree', async () => {
    const s = await setup()
    const a = await sell(hub, s.shop, at(`${D} 10:00:00`), [{ kind: 'alipay', amount: 1999 }])
    const big = await seedProduct(hub, s.shop.store, { price: 123456789, stock: 10 })
    hub.setNow(at(`${D} 11:00:00`))
    const bs = await s.shop.api.post('/api/v1/sales', { registerId: s.shop.store.registerId, lines: [{ sku: big.sku, quantity: 1 }], tenders: [{ kind: 'alipay', amount: 123456789 }] })
    expect(bs.status, JSON.stringify(bs.body)).toBe(201)
    const b = bs.body
    hub.setNow(undefined)
    const r = await refund(hub, s.shop, at(`${D} 12:00:00`), a, 1001)
    const rows: AlipayBillRow[] = [
      { type: 'payment', tradeNo: '2026112022001400000000000001', outTradeNo: a.tenders[0]!.paymentNo!, amount: 1999, fee: 12, completedAt: `${D} 10:00:02` },
      { type: 'payment', tradeNo: '2026112022001400000000000002', outTradeNo: b.tenders[0]!.paymentNo!, amount: 123456789, fee: 740741, completedAt: `${D} 11:00:02` },
      { type: 'refund', tradeNo: '2026112022001400000000000001', outTradeNo: a.tenders[0]!.paymentNo!, amount: 1001, fee: 6, refundRequestNo: r.tenders[0]!.refundNo!, completedAt: `${D} 12:00:02` },
    ]
    const up = await s.upload(rows)
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    hub.setNow(at(`${D} 23:00:00`))
    try {
      const run = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: D })
      expect(run.status, JSON.stringify(run.body)).toBe(200)
      expect(run.body.counts.matched).toBe(3)
      expect(run.body.totals).toMatchObject({ channel_payments: 1999 + 123456789, channel_refunds: 1001, difference: 0, channel_fee_milli: (12 + 740741 - 6) * 1000 })
      // The summary and the day's voucher book the same fee the run found.
      const summary = await s.finance.get(`/api/v1/reconciliation/summary?connectionId=${s.connectionId}&from=${D}&to=${D}`)
      expect(summary.body.items.reduce((n: number, x: any) => n + x.channelFeeMilli, 0)).toBe(run.body.totals.channel_fee_milli)
      const voucher = (await s.shop.api.post('/api/v1/vouchers/preview', { date: D, storeId: s.shop.store.storeId })).body
      expect(voucher.lines.filter((l: any) => l.kind === 'channel_fee').reduce((n: number, l: any) => n + l.debit, 0)).toBe(12 + 740741 - 6)
      expect(voucher.totalDebit).toBe(voucher.totalCredit)
    } finally {
      hub.setNow(undefined)
    }
  })

  it('two equal partial refunds of one payment, printed without 退款批次号, both match their till refunds', async () => {
    const s = await setup()
    const a = await sell(hub, s.shop, at(`${D} 10:00:00`), [{ kind: 'alipay', amount: 3000 }])
    await refund(hub, s.shop, at(`${D} 12:00:00`), a, 1000)
    await refund(hub, s.shop, at(`${D} 15:00:00`), a, 1000)
    const pa = a.tenders[0]!.paymentNo!
    const T = '2026112022001400000000000001'
    const up = await s.upload([
      { type: 'payment', tradeNo: T, outTradeNo: pa, amount: 3000, fee: 18, completedAt: `${D} 10:00:02` },
      { type: 'refund', tradeNo: T, outTradeNo: pa, amount: 1000, fee: 6, completedAt: `${D} 12:00:02` },
      { type: 'refund', tradeNo: T, outTradeNo: pa, amount: 1000, fee: 6, completedAt: `${D} 15:00:02` },
    ])
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    hub.setNow(at(`${D} 23:00:00`))
    try {
      const run = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: D })
      expect(run.body.counts).toMatchObject({ matched: 3, open_exceptions: 0 })
    } finally {
      hub.setNow(undefined)
    }
  })
})
