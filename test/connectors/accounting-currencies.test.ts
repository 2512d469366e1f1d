// Amounts of a voucher in a currency without cents (JPY: the yen is the minor unit) reach the finance software as
// whole yen, by every connector and file layout; CNY keeps its two places.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { voucherMaker, type Line } from '../helpers/accounting.ts'
import { useVendorServer, connectWith } from '../helpers/connections.ts'
import { quickbooksSandbox } from '../../src/sandboxes/vendors/quickbooks.ts'
import { xeroSandbox } from '../../src/sandboxes/vendors/xero.ts'
import { quickbooks } from '../../src/connectors/accounting/quickbooks/index.ts'
import { xero } from '../../src/connectors/accounting/xero/index.ts'
import { genericTable, kingdeeTable, u8Table } from '../../src/connectors/accounting/file/layouts.ts'

const LINES: Line[] = [
  ['JPY sale cash', '1001', 'Cash', 1500, 0],
  ['JPY sale revenue', '6001', 'Sales', 0, 1500],
]

const QBO = { clientId: 'ABcd1234EfGh5678IjKl9012MnOp3456QrSt7890UvWx', clientSecret: 'qbo-secret-0000000000000000000000', realmId: '9130357992218386' }
const XERO = { clientId: '91E5715B1199038080D6D0296EBC1648', clientSecret: 'xero-client-secret-Qm3Rt8Vw1Yz6Bc0Df5Gh9Jk2Ln7Pq4', tenantId: '3c0b4a8e-6f12-4d7b-9a51-2e8f0c6d1b73' }

describe('vouchers in a currency without minor units', () => {
  const hub = useTestHub()
  const q = quickbooksSandbox({ ...QBO, refreshToken: 'AB11800000000a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7', companyName: 'Tokyo KK', homeCurrency: 'JPY' })
  const x = xeroSandbox({ ...XERO, refreshToken: '6a4f0c2e9b1d8f7a3c5e0b2d4f6a8c1e3b5d7f9a0c2e4b6d8f1a3c5e7b9d0f2a', organisationName: 'Tokyo KK', baseCurrency: 'JPY', perMinute: 1000 })
  const vendor = useVendorServer(hub, ...q.handlers, ...x.handlers)
  q.addAccount({ name: 'Cash', acctNum: '1001', type: 'Bank' })
  q.addAccount({ name: 'Sales', acctNum: '6001', type: 'Income' })
  x.addAccount({ code: '1001', name: 'Cash', type: 'CURRENT' })
  x.addAccount({ code: '6001', name: 'Sales', type: 'REVENUE' })
  x.addTrackingCategory('Store', ['S001'])
  q.addDepartment('S001')

  it('QuickBooks books ¥1500 as 1500', async () => {
    const connect = connectWith(hub, vendor, 'quickbooks', { name: 'QBO', config: () => ({ ...QBO, refreshToken: q.currentRefreshToken() }) })
    const { ctx } = await connect()
    const v = voucherMaker('8d6f2a1c-5b7e-4c3d-9a2b-')({ currency: 'JPY' }, LINES)
    const before = q.state.requests.length
    const r = await quickbooks.capabilities.exportVoucher(ctx, { voucher: v })
    expect(r.status, JSON.stringify(r)).toBe('exported')
    const post = q.state.requests.slice(before).find((c) => c.operation === 'journalentry')
    expect(post!.body).toContain('"Amount":1500,')
    const body = JSON.parse(post!.body!)
    expect(body.CurrencyRef).toEqual({ value: 'JPY' })
    expect(body.Line.map((l: { Amount: number }) => l.Amount)).toEqual([1500, 1500])
  })

  it('Xero books ¥1500 as 1500 and −1500', async () => {
    const connect = connectWith(hub, vendor, 'xero', { name: 'Xero', config: () => ({ ...XERO, refreshToken: x.currentRefreshToken() }) })
    const { ctx } = await connect()
    const v = voucherMaker('4e2b9c7a-1d3f-4a6b-8c5e-')({ currency: 'JPY' }, LINES)
    const r = await xero.capabilities.exportVoucher(ctx, { voucher: v })
    expect(r.status, JSON.stringify(r)).toBe('exported')
    const put = x.state.requests.find((c) => c.operation === 'ManualJournals' && c.body)
    const journal = JSON.parse(put!.body!)
    const lines = (journal.ManualJournals?.[0] ?? journal).JournalLines as { LineAmount: number }[]
    expect(lines.map((l) => l.LineAmount)).toEqual([1500, -1500])
  })

  it('the file layouts write whole yen, and CNY with two places', () => {
    const jpy = voucherMaker('2b7c9e1d-4f6a-4b8c-9d0e-')({ currency: 'JPY' }, LINES)
    expect(genericTable(jpy).rows.map((r) => r.slice(6, 8))).toEqual([['1500', ''], ['', '1500']])
    expect(u8Table(jpy).rows.map((r) => r.slice(6, 8))).toEqual([['1500', '0'], ['0', '1500']])
    const kd = kingdeeTable(jpy, { accountBook: '001', currency: 'PRE004' })
    const amountFor = kd.header[0]!.indexOf('FAMOUNTFOR')
    expect(kd.rows.map((r) => r[amountFor])).toEqual(['1500', '1500'])
    const cny = voucherMaker('6a1d3c5e-7b9f-4d2a-8e4c-')({ currency: 'CNY' }, LINES)
    expect(genericTable(cny).rows.map((r) => r.slice(6, 8))).toEqual([['15.00', ''], ['', '15.00']])
  })
})
