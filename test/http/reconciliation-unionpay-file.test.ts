import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { seedProduct } from '../helpers/pos.ts'
import { at, financeOf, openShop, refund, sell } from '../core/reconciliation/helpers.ts'
import { innFile, innRecord, SANDBOX_MER_ID, type InnTxn } from '../../src/sandboxes/vendors/unionpay.ts'

const D = '2026-11-20'
const sign = (c: string, fen: number) => `${c}${String(fen).padStart(12, '0')}`
let q = 0
const qid = () => `5126112010000000${String(++q).padStart(5, '0')}`

describe('reconciling a UnionPay INN file through the API', () => {
  const hub = useTestHub()

  async function setup(config: Record<string, unknown> = { merId: SANDBOX_MER_ID, feeRateBp: 50 }) {
    const shop = await openShop(hub)
    const f = await financeOf(hub, shop, { connectorId: 'unionpay', name: 'UnionPay', config })
    const upload = (recs: InnTxn[], date = D) => f.upload(date, { fileName: `INN26112001ZM_${SANDBOX_MER_ID}` }, innFile(recs.map((r) => innRecord(r))), 'application/octet-stream')
    return { ...f, shop, upload, run: () => f.run(D) }
  }

  it('sale, partial refund (S30), cancellation (S31) of a voided sale, big amount: all match and totals add up', async () => {
    const s = await setup()
    const a = await sell(hub, s.shop, at(`${D} 10:00:00`), [{ kind: 'unionpay_qr', amount: 1999 }])
    const big = await seedProduct(hub, s.shop.store, { price: 123456789, stock: 10 })
    hub.setNow(at(`${D} 11:00:00`))
    const bs = await s.shop.api.post('/api/v1/sales', { registerId: s.shop.store.registerId, lines: [{ sku: big.sku, quantity: 1 }], tenders: [{ kind: 'unionpay_qr', amount: 123456789 }] })
    expect(bs.status, JSON.stringify(bs.body)).toBe(201)
    const c = await sell(hub, s.shop, at(`${D} 13:00:00`), [{ kind: 'unionpay_qr', amount: 1200 }])
    hub.setNow(at(`${D} 13:05:00`))
    const v = await s.shop.api.post(`/api/v1/sales/${c.id}/void`, { reason: 'wrong item' })
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    const voidNo = v.body.refunds.at(-1).tenders[0].refundNo
    hub.setNow(undefined)
    const r = await refund(hub, s.shop, at(`${D} 12:00:00`), a, 1001)
    const qa = qid(), qb = qid(), qc = qid()
    const recs: InnTxn[] = [
      { trace: '000001', time: '1120100002', amount: 1999, queryId: qa, orderId: a.tenders[0]!.paymentNo!, fee: sign('D', 10), settle: sign('C', 1989) },
      { trace: '000002', time: '1120110002', amount: 123456789, queryId: qb, orderId: bs.body.tenders[0].paymentNo, fee: sign('D', 617284), settle: sign('C', 123456789 - 617284) },
      { code: 'S30', trace: '000003', time: '1120120002', amount: 1001, queryId: qid(), orderId: r.tenders[0]!.refundNo!, fee: sign('C', 5), settle: sign('D', 996), origQueryId: qa },
      { trace: '000004', time: '1120130002', amount: 1200, queryId: qc, orderId: c.tenders[0]!.paymentNo!, fee: sign('D', 6), settle: sign('C', 1194) },
      { code: 'S31', trace: '000005', time: '1120130502', amount: 1200, queryId: qid(), orderId: voidNo, fee: sign('C', 6), settle: sign('D', 1194), origQueryId: qc },
    ]
    const up = await s.upload(recs)
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    const run = await s.run()
    expect(run.counts).toMatchObject({ matched: 5, open_exceptions: 0 })
    expect(run.totals).toMatchObject({ channel_payments: 1999 + 123456789 + 1200, channel_refunds: 1001 + 1200, difference: 0, channel_fee_milli: (10 + 617284 - 5) * 1000 })
    const voucher = (await s.shop.api.post('/api/v1/vouchers/preview', { date: D, storeId: s.shop.store.storeId })).body
    expect(voucher.lines.filter((l: any) => l.kind === 'channel_fee').reduce((n: number, l: any) => n + l.debit, 0)).toBe(10 + 617284 - 5)
    expect(voucher.totalDebit).toBe(voucher.totalCredit)
  })

  it('a duplicated record is flagged, a record of another merchant code refuses the file', async () => {
    const s = await setup()
    const a = await sell(hub, s.shop, at(`${D} 10:00:00`), [{ kind: 'unionpay_qr', amount: 1999 }])
    const rec: InnTxn = { trace: '000001', time: '1120100002', amount: 1999, queryId: qid(), orderId: a.tenders[0]!.paymentNo!, fee: sign('D', 10), settle: sign('C', 1989) }
    const up = await s.upload([rec, rec])
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    const run = await s.run()
    expect(run.counts).toMatchObject({ matched: 1, duplicate: 1 })
    const other = await s.upload([rec, { ...rec, trace: '000009', queryId: qid(), orderId: 'X1', merId: '777290058119999' }], '2026-11-21')
    expect(other.status).toBe(422)
  })
})
