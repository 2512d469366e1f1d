import { describe, expect, it } from 'vitest'
import iconv from 'iconv-lite'
import { useTestHub } from '../helpers/db.ts'
import { seedProduct } from '../helpers/pos.ts'
import { at, financeOf, openShop, refund, sell } from '../core/reconciliation/helpers.ts'
import { ALLINPAY_COLUMNS } from '../../src/connectors/payment/allinpay/bill-parser.ts'

const D = '2026-11-20'
const MNO = '562310058120001'

type Row = Partial<Record<(typeof ALLINPAY_COLUMNS)[number], string>>
const csv = (rows: Row[]) =>
  [ALLINPAY_COLUMNS.join(','), ...rows.map((r) => ALLINPAY_COLUMNS.map((c) => r[c] ?? '').join(','))].join('\r\n') + '\r\n'
const base = (o: Row): Row => ({ 商户号: MNO, 门店名称: '上海一店', 终端号: 'T0000003', 交易批次号: '000012', 卡号: '622588******1234', 卡类别: '借记卡', 交易日期: D, 门店编号: 'SH01', 交易完成日期: D, ...o })

describe('reconciling an Allinpay card bill through the API', () => {
  const hub = useTestHub()

  async function setup(config: Record<string, unknown> = { merchantNo: MNO, feeRateBp: 50 }) {
    const shop = await openShop(hub)
    const f = await financeOf(hub, shop, { connectorId: 'allinpay', name: 'Allinpay', config })
    const upload = (rows: Row[], date = D) => f.upload(date, { format: 'allinpay', fileName: 'allin.csv' }, iconv.encode(csv(rows), 'gbk'), 'text/csv')
    return { ...f, shop, upload, run: () => f.run(D) }
  }

  it('sale, partial refund, void (消费撤销), big amount, fees: all match and totals add up', async () => {
    const s = await setup()
    const a = await sell(hub, s.shop, at(`${D} 10:00:00`), [{ kind: 'card', amount: 1999 }])
    const big = await seedProduct(hub, s.shop.store, { price: 123456789, stock: 10 })
    hub.setNow(at(`${D} 11:00:00`))
    const bs = await s.shop.api.post('/api/v1/sales', { registerId: s.shop.store.registerId, lines: [{ sku: big.sku, quantity: 1 }], tenders: [{ kind: 'card', amount: 123456789 }] })
    expect(bs.status, JSON.stringify(bs.body)).toBe(201)
    const c = await sell(hub, s.shop, at(`${D} 13:00:00`), [{ kind: 'card', amount: 1200 }])
    hub.setNow(at(`${D} 13:05:00`))
    const v = await s.shop.api.post(`/api/v1/sales/${c.id}/void`, { reason: 'wrong item' })
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    hub.setNow(undefined)
    await refund(hub, s.shop, at(`${D} 12:00:00`), a, 1001)
    const pa = a.tenders[0]!.paymentNo!
    const pb = bs.body.tenders[0].paymentNo
    const pc = c.tenders[0]!.paymentNo!
    const rows: Row[] = [
      base({ 交易时间: '10:00:02', 交易类型: '消费', 凭证号: '000001', 参考号: '100000000001', 交易金额: '19.99', 手续费: '0.10', 交易单号: '261120000000000001', 订单号: pa }),
      base({ 交易时间: '11:00:02', 交易类型: '消费', 凭证号: '000002', 参考号: '100000000002', 交易金额: '1234567.89', 手续费: '6172.84', 交易单号: '261120000000000002', 订单号: pb }),
      base({ 交易时间: '12:00:02', 交易类型: '退货', 凭证号: '000003', 参考号: '100000000003', 交易金额: '-10.01', 手续费: '-0.05', 交易单号: '261120000000000003', 订单号: pa, 原交易单: '261120000000000001' }),
      base({ 交易时间: '13:00:02', 交易类型: '消费', 凭证号: '000004', 参考号: '100000000004', 交易金额: '12.00', 手续费: '0.06', 交易单号: '261120000000000004', 订单号: pc }),
      base({ 交易时间: '13:05:02', 交易类型: '消费撤销', 凭证号: '000005', 参考号: '100000000005', 交易金额: '-12.00', 手续费: '-0.06', 交易单号: '261120000000000005', 订单号: pc, 原交易单: '261120000000000004' }),
    ]
    const up = await s.upload(rows)
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    const run = await s.run()
    expect(run.counts).toMatchObject({ matched: 5, open_exceptions: 0 })
    expect(run.totals).toMatchObject({ channel_payments: 1999 + 123456789 + 1200, channel_refunds: 1001 + 1200, difference: 0, channel_fee_milli: (10 + 617284 - 5) * 1000 })
  })

  it('a duplicated row of the bill is flagged duplicate, and the day is not balanced', async () => {
    const s = await setup()
    const a = await sell(hub, s.shop, at(`${D} 10:00:00`), [{ kind: 'card', amount: 1999 }])
    const row = base({ 交易时间: '10:00:02', 交易类型: '消费', 凭证号: '000001', 参考号: '100000000001', 交易金额: '19.99', 手续费: '0.10', 交易单号: '261120000000000001', 订单号: a.tenders[0]!.paymentNo! })
    const up = await s.upload([row, row])
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    const run = await s.run()
    expect(run.counts).toMatchObject({ matched: 1, duplicate: 1 })
    expect(run.status).toBe('exceptions')
  })

  it('two equal partial returns of one card sale on one day both match their till refunds', async () => {
    const s = await setup()
    const a = await sell(hub, s.shop, at(`${D} 10:00:00`), [{ kind: 'card', amount: 3000 }])
    await refund(hub, s.shop, at(`${D} 12:00:00`), a, 1000)
    await refund(hub, s.shop, at(`${D} 15:00:00`), a, 1000)
    const pa = a.tenders[0]!.paymentNo!
    const rows: Row[] = [
      base({ 交易时间: '10:00:02', 交易类型: '消费', 凭证号: '000001', 参考号: '100000000001', 交易金额: '30.00', 手续费: '0.15', 交易单号: '261120000000000001', 订单号: pa }),
      base({ 交易时间: '12:00:02', 交易类型: '退货', 凭证号: '000002', 参考号: '100000000002', 交易金额: '-10.00', 手续费: '-0.05', 交易单号: '261120000000000002', 订单号: pa, 原交易单: '261120000000000001' }),
      base({ 交易时间: '15:00:02', 交易类型: '退货', 凭证号: '000003', 参考号: '100000000003', 交易金额: '-10.00', 手续费: '-0.05', 交易单号: '261120000000000003', 订单号: pa, 原交易单: '261120000000000001' }),
    ]
    const up = await s.upload(rows)
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    const run = await s.run()
    expect(run.counts).toMatchObject({ matched: 3, open_exceptions: 0 })
    expect(run.status).toBe('balanced')
  })
})
