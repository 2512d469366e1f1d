// A correction voucher's lines drill down to what changed: a difference voucher's to the records added, gone or
// changed since the voucher before it (a line the mapping moved, to the records that moved), a reversal's to the
// reversed voucher's records, each in the line's own direction.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore, setSettings } from '../helpers/pos.ts'
import { smtpSandbox } from '../../src/sandboxes/vendors/smtp.ts'
import { parseSettings } from '../../src/core/merchants/settings.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const DAY = '2026-11-21'

describe('drill-down of correction vouchers', () => {
  const hub = useTestHub()
  const smtp = smtpSandbox()
  beforeAll(() => smtp.start())
  afterAll(() => smtp.stop())
  const ok = (r: { status: number; body: any }, status = 201) => {
    expect(r.status, JSON.stringify(r.body)).toBe(status)
    return r.body
  }

  async function exportedDay(correction: 'reversal' | 'difference', opts: { mergeSameAccount?: boolean } = {}) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, correction, mergeSameAccount: opts.mergeSameAccount ?? false } })
    const store = await seedStore(hub, m.merchantId, { code: `C${Date.now() % 100000}`, openSession: false })
    const item = await seedProduct(hub, store, { price: 1130, cost: 600, stock: 100 })
    hub.setNow(at(`${DAY} 09:00:00`))
    let admin = createApi(hub).as(await m.adminTokenNow())
    try {
      ok(await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 }))
      for (const kind of ['wechat', 'wechat', 'alipay']) ok(await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind, amount: 1130 }] }))
    } finally {
      hub.setNow(undefined)
    }
    admin = createApi(hub).as(m.adminToken)
    const mail = ok(await admin.post('/api/v1/connections', {
      connectorId: 'voucher-file',
      name: 'Finance mailbox',
      config: { smtpHost: '127.0.0.1', smtpPort: smtp.port, secure: false, from: 'hub@shop.example', recipients: ['finance@shop.example'] },
    }))
    const v = ok(await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY }), 200).voucher
    ok(await admin.post(`/api/v1/vouchers/${v.id}/export`, { connectionId: mail.id }), 200)
    return { m, store, item, admin, mailId: mail.id as string, v }
  }

  const lateSale = async (d: Awaited<ReturnType<typeof exportedDay>>, kind = 'wechat') => {
    const id = randomUUID()
    const r = ok(await d.admin.post('/api/v1/sales/batch', { sales: [{ id, occurredAt: at(`${DAY} 15:00:00`).toISOString(), registerId: d.store.registerId, lines: [{ sku: d.item.sku, quantity: 1 }], tenders: [{ kind, amount: 1130 }] }] }), 200)
    expect(r.results[0].status, JSON.stringify(r)).toBe('accepted')
    const s = ok(await d.admin.get(`/api/v1/sales/${id}`), 200)
    expect(s.businessDate).toBe(DAY)
    return s
  }

  const sources = async (admin: any, v: any) => {
    const out: string[] = []
    for (const l of v.lines) {
      const s = ok(await admin.get(`/api/v1/vouchers/${v.id}/lines/${l.lineNo}/sources`), 200)
      out.push(`${l.kind} ${l.accountCode} D${l.debit} C${l.credit}: records ${s.records.reduce((n: number, r: any) => n + r.amount, 0)}`)
    }
    return out
  }
  const lineSums = (v: any) => v.lines.map((l: any) => `${l.kind} ${l.accountCode} D${l.debit} C${l.credit}: records ${l.debit + l.credit}`)

  const build = async (d: { admin: any; store: any }) => ok(await d.admin.post('/api/v1/vouchers/build', { storeId: d.store.storeId, date: DAY }), 200)
  /** Builds the day again: its correction, whose every line drills down to records adding up to the line. */
  const corrected = async (d: { admin: any; store: any }) => {
    const c = await build(d)
    expect(c.outcome).toBe('corrected')
    const v = ok(await d.admin.get(`/api/v1/vouchers/${c.corrections[0].id}`), 200)
    expect(await sources(d.admin, v)).toEqual(lineSums(v))
    return v
  }
  /** The references and amounts of the records of a voucher's tender line. */
  const tenderRecords = async (d: { admin: any }, v: any) => {
    const tender = v.lines.find((l: any) => l.kind === 'tender')
    return ok(await d.admin.get(`/api/v1/vouchers/${v.id}/lines/${tender.lineNo}/sources`), 200).records.map((r: any) => [r.ref, r.amount])
  }

  it('a difference voucher for a late sale drills down to that sale, not to the whole day', async () => {
    const d = await exportedDay('difference')
    const late = await lateSale(d)
    const diff = await corrected(d)
    expect(await tenderRecords(d, diff)).toEqual([[late.receiptNo, 1130]])
  })

  it('a difference voucher line merged from several kinds (a late cash sale and a top-up in cash on 1001) drills down to the records of each', async () => {
    const d = await exportedDay('difference', { mergeSameAccount: true })
    const late = await lateSale(d, 'cash')
    hub.setNow(at(`${DAY} 16:00:00`))
    try {
      const api = createApi(hub).as(await d.m.adminTokenNow())
      const member = ok(await api.post('/api/v1/members', { phone: '13800138777', storeId: d.store.storeId }))
      ok(await api.post(`/api/v1/members/${member.id}/topups`, { registerId: d.store.registerId, amount: 30000, tenders: [{ kind: 'cash', amount: 30000 }] }))
    } finally {
      hub.setNow(undefined)
    }
    const diff = await corrected(d)
    const cash = diff.lines.find((l: any) => l.accountCode === '1001')
    expect(cash).toMatchObject({ debit: 31130, group: { kinds: 'tender,topup_tender' } })
    const records = ok(await d.admin.get(`/api/v1/vouchers/${diff.id}/lines/${cash.lineNo}/sources`), 200).records
    expect(records.map((r: any) => [r.type, r.amount]).sort()).toEqual([
      ['sale_tender', 1130],
      ['topup', 30000],
    ])
    expect(records.find((r: any) => r.type === 'sale_tender').ref).toBe(late.receiptNo)
  })

  it('a difference voucher for a mapping change drills down to the records that moved, on both accounts', async () => {
    const d = await exportedDay('difference')
    expect((await d.admin.put('/api/v1/vouchers/mappings', { accounts: [{ key: 'tender:wechat', code: '1012.11', name: '微信商户号' }] })).status).toBe(200)
    const diff = await corrected(d)
    expect(diff.lines.map((l: any) => [l.accountCode, l.debit, l.credit])).toEqual([
      ['1012.11', 2260, 0],
      ['1012.01', 0, 2260],
    ])
  })

  it('a second difference voucher drills down to what changed since the first', async () => {
    const d = await exportedDay('difference')
    await lateSale(d)
    const first = (await build(d)).corrections[0]
    ok(await d.admin.post(`/api/v1/vouchers/${first.id}/export`, { connectionId: d.mailId }), 200)
    const second = await lateSale(d, 'alipay')
    expect(await tenderRecords(d, await corrected(d))).toEqual([[second.receiptNo, 1130]])
  })

  it("a reversal voucher's lines drill down to records adding up to the line, cost of goods too (not its negative)", async () => {
    const d = await exportedDay('reversal')
    await lateSale(d)
    const reversal = await corrected(d)
    expect(reversal.kind).toBe('reversal')
    expect(reversal.lines.some((l: any) => l.kind === 'cogs')).toBe(true)
  })
})
