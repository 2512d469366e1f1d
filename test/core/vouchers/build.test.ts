import { describe, expect, it } from 'vitest'
import { useTestHub } from '../../helpers/db.ts'
import { createApi, seedMerchant } from '../../helpers/api.ts'
import { seedProduct, seedStore, setSettings } from '../../helpers/pos.ts'
import { buildVoucher, previewVoucher, recordExport, claimExport, voucherLinesOf } from '../../../src/core/vouchers/service.ts'
import { parseSettings } from '../../../src/core/merchants/settings.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const DAY = '2026-11-20'

/** The card acquirer's file: our payment number, its id, amount and fee in yuan, time. */
const MAPPING = { columns: { ourRef: '商户订单号', channelTxnId: '流水号', amount: '交易金额', fee: '手续费', time: '交易时间' } }

type Line = [code: string, debit: number, credit: number, summary: string]
const table = (lines: { accountCode: string; debit: number; credit: number; summary: string }[]): Line[] => lines.map((l) => [l.accountCode, l.debit, l.credit, l.summary])

describe('the daily voucher of a store', () => {
  const hub = useTestHub()

  async function shop(code: string) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code, openSession: false })
    const admin = createApi(hub).as(m.adminToken)
    // The register's cash session belongs to the day.
    hub.setNow(at(`${DAY} 08:00:00`))
    try {
      expect((await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 10_000 })).status).toBe(201)
    } finally {
      hub.setNow(undefined)
    }
    return { m, store, admin }
  }

  it('a worked day (13% and 9% lines, a discount, a partial refund, every tender, a top-up with bonus, a card fee, cash short) gives the exact lines and balances', async () => {
    const { m, store, admin } = await shop(`W${Date.now() % 100000}`)
    const p13 = await seedProduct(hub, store, { sku: `P13-${Date.now()}`, price: 5650, cost: 2825, stock: 100 })
    const p9 = await seedProduct(hub, store, { sku: `P9-${Date.now()}`, price: 10900, cost: 5450, tax: 'reduced', stock: 100 })
    const p13b = await seedProduct(hub, store, { sku: `P13B-${Date.now()}`, price: 1990, cost: 995, stock: 100 })
    const bank = await admin.post('/api/v1/connections', { connectorId: 'mapped', name: 'Card acquirer', config: MAPPING })
    expect(bank.status).toBe(201)
    hub.setNow(at(`${DAY} 10:00:00`))
    try {
      await admin.post('/api/v1/topup-bonus-rules', { threshold: 50000, bonus: 10000 })
      const member = (await admin.post('/api/v1/members', { phone: `+86139${String(Date.now()).slice(-8)}` })).body
      expect((await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 50000, tenders: [{ kind: 'wechat', amount: 50000 }] })).status).toBe(201)
      const sell = async (body: object) => {
        const r = await admin.post('/api/v1/sales', { registerId: store.registerId, ...body })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body
      }
      const s1 = await sell({ lines: [{ sku: p13.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 12000 }] })
      await sell({ lines: [{ sku: p9.sku }], tenders: [{ kind: 'wechat', amount: 10900 }] })
      await sell({ lines: [{ sku: p13b.sku, quantity: 3, discount: { percentBp: 1000 } }], tenders: [{ kind: 'alipay', amount: 5373 }] })
      const s4 = await sell({ lines: [{ sku: p13.sku }], tenders: [{ kind: 'card', amount: 5650 }] })
      const s5 = await sell({ memberId: member.id, lines: [{ sku: p13.sku }], tenders: [{ kind: 'stored_value', amount: 5650 }] })
      await sell({ lines: [{ sku: p9.sku }], tenders: [{ kind: 'on_account', amount: 10900 }], customerName: '王记茶馆' })
      const refund = await admin.post(`/api/v1/sales/${s1.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: s1.lines[0].id, quantity: 1 }] })
      expect(refund.status, JSON.stringify(refund.body)).toBe(201)
      const session = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0]
      const expected = 10_000 + 11300 - 5650
      expect((await admin.post(`/api/v1/cash-sessions/${session.id}/close`, { countedCash: expected - 50 })).status).toBe(200)

      // The acquirer's bill of the day: the card payment with a fee of 0.34.
      const card = s4.tenders[0].paymentNo
      const file = Buffer.from(`交易时间,商户订单号,流水号,交易金额,手续费\n${DAY} 10:05:00,${card},B1,56.50,0.34\n`)
      const up = await admin.request('POST', `/api/v1/reconciliation/statements?connectionId=${bank.body.id}&date=${DAY}`, undefined, { raw: file, headers: { 'content-type': 'text/csv' } })
      expect(up.status, JSON.stringify(up.body)).toBe(201)
      expect((await admin.post('/api/v1/reconciliation/runs', { connectionId: bank.body.id, date: DAY })).status).toBe(200)

      const sv = s5.tenders[0] as { storedPrincipal: number; storedBonus: number }
      expect(sv.storedPrincipal + sv.storedBonus).toBe(5650)
      const built = await hub.database.db.transaction((tx) => buildVoucher(tx, { merchantId: m.merchantId, storeId: store.storeId, businessDate: DAY }, new Date()))
      expect(built.outcome).toBe('created')
      const v = built.voucher!
      const c = store.storeId && (await hub.database.db.transaction((tx) => voucherLinesOf(tx, v.id)))
      const d = `11/20 ${(await admin.get(`/api/v1/stores/${store.storeId}`)).body.code}`
      expect(table(c as never)).toEqual([
        ['1001', 11300, 0, `${d} 现金收款`],
        ['1012.01', 10900, 0, `${d} 微信收款`],
        ['1012.02', 5373, 0, `${d} 支付宝收款`],
        ['1122.01', 5650, 0, `${d} 银行卡收款`],
        ['1122.02', 10900, 0, `${d} 挂账收款`],
        ['1012.01', 50000, 0, `${d} 会员储值充值 微信`],
        ['2203.01', sv.storedPrincipal, 0, `${d} 储值消费`],
        ['2203.02', sv.storedBonus, 0, `${d} 储值消费`],
        ['6711.01', 50, 0, `${d} 现金短款`],
        ['1001', 0, 50, `${d} 现金短款`],
        ['1001', 0, 5650, `${d} 现金退款`],
        ['2203.01', 0, 50000, `${d} 会员储值充值`],
        ['6601.03', 10000, 0, `${d} 储值赠送`],
        ['2203.02', 0, 10000, `${d} 储值赠送`],
        ['6001', 0, 24755, `${d} 销售收入 13%`],
        ['6001', 0, 20000, `${d} 销售收入 9%`],
        ['6001', 5000, 0, `${d} 销售退货 13%`],
        ['2221.01.01', 0, 3218, `${d} 销项税额 13%`],
        ['2221.01.01', 0, 1800, `${d} 销项税额 9%`],
        ['2221.01.01', 650, 0, `${d} 退货冲减销项 13%`],
        ['6603.01', 34, 0, `${d} 银行卡手续费`],
        ['1122.01', 0, 34, `${d} 银行卡手续费`],
        ['6401', 22360, 0, `${d} 结转销售成本`],
        ['1405', 0, 22360, `${d} 结转销售成本`],
      ])
      expect(v.totalDebit).toBe(137867)
      expect(v.totalCredit).toBe(137867)
      expect(v.rounding).toBe(0)
      expect(v.reference).toMatch(/^TB-W\d+-20261120-R1$/)
      // Every line carries the store as its department.
      expect((c as { dimensions: Record<string, string> }[]).every((l) => l.dimensions.department === d.split(' ')[1])).toBe(true)
    } finally {
      hub.setNow(undefined)
    }
  })

  it('forty sales of one-fen and odd-priced lines under both tax rounding rules, with cash rounding, balance with nothing left to spread', async () => {
    for (const taxRounding of ['per_line', 'per_order_rate_bucket'] as const) {
      const { m, store, admin } = await shop(`R${taxRounding.length}${Date.now() % 10000}`)
      await setSettings(hub, m.merchantId, { taxRounding, cashRounding: { unit: 10, mode: 'down' } })
      const one = await seedProduct(hub, store, { price: 1, cost: 0, stock: 100_000 })
      const odd = await seedProduct(hub, store, { price: 333, cost: 100, tax: 'reduced', stock: 100_000 })
      hub.setNow(at(`${DAY} 12:00:00`))
      try {
        for (let i = 0; i < 40; i++) {
          const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: one.sku, quantity: 1 + (i % 7) }, { sku: odd.sku, quantity: 1 + (i % 3) }, { sku: one.sku, quantity: 3 }], tenders: [{ kind: 'cash', amount: 100_000 }] })
          expect(r.status, JSON.stringify(r.body)).toBe(201)
          // Refunds of cash-rounded sales give back their share of the rounding.
          if (i % 9 === 4) {
            const back = await admin.post(`/api/v1/sales/${r.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: r.body.lines[1].id, quantity: 1 }] })
            expect(back.status, JSON.stringify(back.body)).toBe(201)
          }
        }
      } finally {
        hub.setNow(undefined)
      }
      const p = await hub.database.db.transaction((tx) => previewVoucher(tx, { merchantId: m.merchantId, storeId: store.storeId, businessDate: DAY }))
      expect(p.totalDebit).toBe(p.totalCredit)
      expect(p.rounding).toBe(0)
      expect(p.lines.some((l) => l.kind === 'cash_rounding')).toBe(true)
      expect(p.lines.some((l) => l.kind === 'refund_tender')).toBe(true)
      const net = (kinds: string[]) => p.lines.filter((l) => kinds.includes(l.kind)).reduce((n, l) => n + l.debit - l.credit, 0)
      // Cash taken and given back, plus the rounding, is exactly the revenue and tax of what was sold and returned.
      expect(net(['tender', 'refund_tender', 'cash_rounding'])).toBe(-net(['sale_revenue', 'sale_vat', 'refund_revenue', 'refund_vat']))
    }
  })

  it('a refund recorded late for an exported day is corrected by a reversal and a new revision, or by one difference voucher', async () => {
    for (const correction of ['reversal', 'difference'] as const) {
      const { m, store, admin } = await shop(`L${correction.length}${Date.now() % 10000}`)
      await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, correction, closedThrough: '2026-11-30' } })
      const item = await seedProduct(hub, store, { price: 1130, cost: 500, stock: 100 })
      hub.setNow(at(`${DAY} 15:00:00`))
      let sale: any
      try {
        sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'wechat', amount: 2260 }] })).body
      } finally {
        hub.setNow(undefined)
      }
      const day = { merchantId: m.merchantId, storeId: store.storeId, businessDate: DAY }
      const first = await hub.database.db.transaction((tx) => buildVoucher(tx, day, new Date()))
      // Built again before it is exported, with nothing changed: the same voucher (its summaries say 补记, as built).
      const rebuilt = await hub.database.db.transaction((tx) => buildVoucher(tx, day, new Date()))
      expect([rebuilt.outcome, rebuilt.voucher?.id]).toEqual(['unchanged', first.voucher!.id])
      const connectionId = '01a2344d-0000-7000-8000-000000000001'
      await hub.database.db.transaction(async (tx) => {
        await claimExport(tx, m.merchantId, first.voucher!.id, connectionId, new Date(), 60_000)
        await recordExport(tx, m.merchantId, first.voucher!.id, connectionId, { status: 'exported', externalId: 'X1', number: '记-1' }, new Date())
      })
      expect((await hub.database.db.transaction((tx) => buildVoucher(tx, day, new Date()))).outcome).toBe('unchanged')
      // A refund of one unit, recorded on the day itself (an offline till uploading late).
      hub.setNow(at(`${DAY} 21:00:00`))
      try {
        expect((await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })).status).toBe(201)
      } finally {
        hub.setNow(undefined)
      }
      const again = await hub.database.db.transaction((tx) => buildVoucher(tx, day, new Date()))
      expect(again.outcome).toBe('corrected')
      const [fix] = again.corrections
      // The day's period is closed: the correction posts on the first open day and says what it makes up for.
      expect(fix!.postingDate).toBe('2026-12-01')
      const lines = table(await hub.database.db.transaction((tx) => voucherLinesOf(tx, fix!.id)))
      if (correction === 'reversal') {
        expect(fix!.kind).toBe('reversal')
        expect(fix!.reference).toBe(`${first.voucher!.reference}-X`)
        // The reversal mirrors what was exported, sides swapped.
        const original = table(await hub.database.db.transaction((tx) => voucherLinesOf(tx, first.voucher!.id)))
        expect(lines.map(([code, dr, cr]) => [code, cr, dr])).toEqual(original.map(([code, dr, cr]) => [code, dr, cr]))
        expect(again.voucher!.reference).toMatch(/-R2$/)
        const r2 = await hub.database.db.transaction((tx) => voucherLinesOf(tx, again.voucher!.id))
        expect(r2.find((l) => l.kind === 'refund_tender')).toMatchObject({ accountCode: '1012.01', credit: 1130 })
        expect(r2.every((l) => l.summary.startsWith('补记2026-11-20'))).toBe(true)
        // The new revision waits to be exported: a build with nothing changed keeps it (the hourly rebuild would have
        // superseded it every time, and its queued export with it).
        const kept = await hub.database.db.transaction((tx) => buildVoucher(tx, day, new Date()))
        expect([kept.outcome, kept.voucher?.id]).toEqual(['unchanged', again.voucher!.id])
        // Finance closes one more week before it goes out: the waiting reversal and revision are built again on the
        // new first open day (the reversal under a reference of its own: the one it replaces keeps its).
        await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, correction, closedThrough: '2026-12-06' } })
        const moved = await hub.database.db.transaction((tx) => buildVoucher(tx, day, new Date()))
        expect([moved.outcome, moved.voucher?.postingDate, moved.corrections.map((c) => [c.kind, c.postingDate])]).toEqual(['corrected', '2026-12-07', [['reversal', '2026-12-07']]])
        expect(moved.corrections[0]!.reference).toBe(`${first.voucher!.reference}-X3`)
      } else {
        expect(fix!.kind).toBe('difference')
        // Only what changed: the refund of 11.30 (10.00 revenue, 1.30 VAT) back to WeChat, and its cost.
        expect(lines.map(([code, dr, cr]) => [code, dr, cr]).sort()).toEqual(
          [
            ['1012.01', 0, 1130],
            ['6001', 1000, 0],
            ['2221.01.01', 130, 0],
            ['1405', 500, 0],
            ['6401', 0, 500],
          ].sort(),
        )
      }
      const original = (await admin.get(`/api/v1/vouchers/${first.voucher!.id}`)).body
      expect(original.status).toBe('corrected')
      if (correction === 'difference') {
        // A second late change: its difference corrects the day's voucher too, which stays the day's voucher.
        hub.setNow(at(`${DAY} 21:30:00`))
        try {
          expect((await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })).status).toBe(201)
        } finally {
          hub.setNow(undefined)
        }
        const twice = await hub.database.db.transaction((tx) => buildVoucher(tx, day, new Date()))
        expect(twice.outcome).toBe('corrected')
        expect(twice.voucher?.id).toBe(first.voucher!.id)
        expect(twice.corrections[0]).toMatchObject({ kind: 'difference', correctsId: first.voucher!.id })
        expect(twice.corrections[0]!.narration).toContain(`调整 ${first.voucher!.reference}`)
        expect((await hub.database.db.transaction((tx) => buildVoucher(tx, day, new Date()))).outcome).toBe('unchanged')
      }
    }
  })
})
