import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import iconv from 'iconv-lite'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore, setSettings } from '../helpers/pos.ts'
import { drainJobs, queuedJobs } from '../helpers/jobs.ts'
import { smtpSandbox } from '../../src/sandboxes/vendors/smtp.ts'
import { parseSettings } from '../../src/core/merchants/settings.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const DAY = '2026-11-21'

describe('vouchers API', () => {
  const hub = useTestHub()
  const smtp = smtpSandbox()
  beforeAll(() => smtp.start())
  afterAll(() => smtp.stop())

  async function day() {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code: `V${Date.now() % 100000}`, openSession: false })
    const item = await seedProduct(hub, store, { price: 1130, cost: 600, stock: 100 })
    const admin = createApi(hub).as(m.adminToken)
    hub.setNow(at(`${DAY} 09:00:00`))
    try {
      await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
      for (const kind of ['wechat', 'wechat', 'cash', 'alipay']) {
        expect((await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind, amount: 1130 }] })).status).toBe(201)
      }
    } finally {
      hub.setNow(undefined)
    }
    return { m, store, item, admin, mailId: await financeMailbox(admin) }
  }

  /** A voucher-file connection mailing the finance team through the SMTP sandbox: its id. */
  async function financeMailbox(admin: ReturnType<typeof createApi>): Promise<string> {
    const mail = await admin.post('/api/v1/connections', {
      connectorId: 'voucher-file',
      name: 'Finance mailbox',
      config: { smtpHost: '127.0.0.1', smtpPort: smtp.port, secure: false, from: 'hub@shop.example', recipients: ['finance@shop.example'] },
    })
    expect(mail.status, JSON.stringify(mail.body)).toBe(201)
    return mail.body.id
  }

  it('the mapping starts from the Chinese chart, takes a merchant’s and a store’s accounts, refuses what it does not know, and checks what is missing', async () => {
    const { m, store, admin } = await day()
    const before = (await admin.get('/api/v1/vouchers/mappings')).body.items
    expect(before.find((a: any) => a.key === 'tender:wechat')).toMatchObject({ code: '1012.01', source: 'default' })
    expect((await admin.put('/api/v1/vouchers/mappings', { accounts: [{ key: 'tender:wechat', code: '1012.11', name: '其他货币资金-微信商户号' }] })).status).toBe(200)
    const storeOwn = await admin.put('/api/v1/vouchers/mappings', { storeId: store.storeId, accounts: [{ key: 'revenue', code: '6001.01', name: '主营业务收入-门店', dimensions: { project: 'RETAIL' } }] })
    expect(storeOwn.status).toBe(200)
    const forStore = (await admin.get(`/api/v1/vouchers/mappings?storeId=${store.storeId}`)).body.items
    expect(forStore.find((a: any) => a.key === 'tender:wechat')).toMatchObject({ code: '1012.11', source: 'merchant' })
    expect(forStore.find((a: any) => a.key === 'revenue')).toMatchObject({ code: '6001.01', source: 'store', dimensions: { project: 'RETAIL' } })
    // Another merchant's store (or none of any) is not found, read as written.
    const foreign = await seedStore(hub, (await seedMerchant(hub)).merchantId)
    for (const storeId of [foreign.storeId, crypto.randomUUID()]) {
      const read = await admin.get(`/api/v1/vouchers/mappings?storeId=${storeId}`)
      expect([read.status, read.body.error?.code]).toEqual([404, 'store_not_found'])
    }
    const unknown = await admin.put('/api/v1/vouchers/mappings', { accounts: [{ key: 'profit', code: '4103', name: '本年利润' }] })
    expect(unknown.status).toBe(422)
    expect(unknown.body.error.code).toBe('unknown_account_key')
    expect((await admin.put('/api/v1/vouchers/mappings', { accounts: [{ key: 'fee', code: 'bad code!', name: 'x' }] })).body.error.code).toBe('invalid_account_code')
    // With the defaults turned off, what the merchant did not map is listed, and the day's voucher is blocked.
    await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, useDefaultAccounts: false } })
    hub.setNow(at('2026-11-25 12:00:00'))
    try {
      const check = (await admin.get('/api/v1/vouchers/mappings/check?days=30')).body
      expect(check.ok).toBe(false)
      expect(check.missing.map((x: any) => x.key)).toEqual(expect.arrayContaining(['tender:cash', 'tender:alipay', 'vat:1300', 'cogs', 'settlement:adjustment']))
      expect(check.missing.map((x: any) => x.key)).not.toContain('tender:wechat')
    } finally {
      hub.setNow(undefined)
    }
    const blocked = await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY })
    expect(blocked.status, JSON.stringify(blocked.body)).toBe(200)
    expect(blocked.body.voucher.status).toBe('blocked')
    expect(blocked.body.voucher.problems.map((p: any) => p.key)).toContain('tender:cash')
    const refused = await admin.post(`/api/v1/vouchers/${blocked.body.voucher.id}/export`, { connectionId: (await admin.get('/api/v1/connections')).body.items[0].id })
    expect(refused.status).toBe(422)
    expect(refused.body.error.code).toBe('voucher_blocked')
  })

  it('a day no till can have (year 9999 or 0000) is a 400, not a 500, on every voucher route', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const admin = createApi(hub).as(m.adminToken)
    for (const date of ['9999-12-31', '0000-01-01']) {
      for (const path of ['/api/v1/vouchers/preview', '/api/v1/vouchers/build']) {
        const r = await admin.post(path, { storeId: store.storeId, date })
        expect(r.status, `${path} ${date}`).toBe(400)
      }
      expect((await admin.get(`/api/v1/vouchers?date=${date}`)).status).toBe(400)
    }
  })

  it("every line's drill-down adds up to the line: stored value given back by part, a top-up refunded, rounding both ways, and a day of returns", async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'down' } })
    const store = await seedStore(hub, m.merchantId, { code: `W${Date.now() % 100000}`, openSession: false })
    const item = await seedProduct(hub, store, { price: 1999, cost: 777, stock: 500 })
    const next = '2026-11-22'
    let admin = createApi(hub).as(m.adminToken)
    const ok = (r: { status: number; body: any }, status = 201) => {
      expect(r.status, JSON.stringify(r.body)).toBe(status)
      return r.body
    }
    const clock = async (t: string) => {
      hub.setNow(at(t))
      admin = createApi(hub).as(await m.adminTokenNow())
    }
    try {
      await clock(`${DAY} 09:00:00`)
      ok(await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 10_000 }))
      ok(await admin.post('/api/v1/topup-bonus-rules', { threshold: 10_000, bonus: 1000 }))
      const member = ok(await admin.post('/api/v1/members', { phone: '+8613700137001', name: '王五' }))
      ok(await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 10_000, tenders: [{ kind: 'alipay', amount: 10_000 }] }))
      const cash = ok(await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 4000 }] }))
      const stored = ok(await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'stored_value', amount: 3998 }] }))
      const topup = ok(await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 10_000, tenders: [{ kind: 'wechat', amount: 10_000 }] }))
      ok(await admin.post(`/api/v1/topups/${topup.id}/refund`, { registerId: store.registerId, reason: 'changed mind' }), 200)
      await clock(`${next} 10:00:00`)
      for (const sale of [cash, stored]) ok(await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] }))
      const wrong: string[] = []
      const kinds = new Set<string>()
      for (const day of [DAY, next]) {
        const built = ok(await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: day }), 200)
        const voucher = ok(await admin.get(`/api/v1/vouchers/${built.voucher.id}`), 200)
        for (const l of voucher.lines) {
          const d = ok(await admin.get(`/api/v1/vouchers/${voucher.id}/lines/${l.lineNo}/sources`), 200)
          const sum = d.records.reduce((n: number, r: { amount: number }) => n + r.amount, 0)
          kinds.add(l.kind)
          if (sum !== l.debit + l.credit) wrong.push(`${day} ${l.kind} ${l.accountCode} D${l.debit} C${l.credit}: records add up to ${sum}`)
        }
      }
      expect(wrong).toEqual([])
      expect([...kinds]).toEqual(expect.arrayContaining(['stored_value_refund', 'topup_refund_tender', 'topup_refund_principal', 'topup_refund_bonus', 'cash_rounding', 'cogs']))
    } finally {
      hub.setNow(undefined)
    }
  })

  it("a day's two cash-rounding lines (the sales' rounding credited, the refunds' share debited) each drill down to their own records, also reversed", async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code: `R${Date.now() % 100000}`, openSession: false })
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' }, vouchers: { ...parseSettings({}).vouchers, correction: 'reversal' } } as never)
    const item = await seedProduct(hub, store, { price: 1234, stock: 10 })
    const ok = (r: { status: number; body: any }, status = 201) => {
      expect(r.status, JSON.stringify(r.body)).toBe(status)
      return r.body
    }
    try {
      hub.setNow(at(`${DAY} 09:00:00`))
      const admin = createApi(hub).as(await m.adminTokenNow())
      ok(await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 10_000 }))
      // 2 × 12.34 = 24.68, paid 24.70 in cash: the sale's rounding +0.02 is credited.
      const sale = ok(await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 3000 }] }))
      expect(sale.roundingAdjustment).toBe(2)
      // One back from the drawer: its line 12.34, paid out 12.40: the refund's share, 0.06, is debited.
      ok(await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] }))
      const built = ok(await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY }), 200)
      const drilled = async (id: string) => {
        const voucher = ok(await admin.get(`/api/v1/vouchers/${id}`), 200)
        const out: unknown[] = []
        for (const l of (voucher.lines as any[]).filter((x) => x.kind === 'cash_rounding')) {
          const d = ok(await admin.get(`/api/v1/vouchers/${id}/lines/${l.lineNo}/sources`), 200)
          out.push([l.debit, l.credit, d.records.map((r: any) => [r.type, r.amount])])
        }
        return out
      }
      expect(await drilled(built.voucher.id)).toEqual([
        [6, 0, [['refund', 6]]],
        [0, 2, [['sale', 2]]],
      ])
      // Exported, then the day changes (a card sale of the day comes in from an offline till): reversed and booked again.
      ok(await admin.post(`/api/v1/vouchers/${built.voucher.id}/export`, { connectionId: await financeMailbox(admin) }), 200)
      const late = { id: randomUUID(), occurredAt: at(`${DAY} 15:00:00`).toISOString(), registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'card', amount: 1234 }] }
      expect(ok(await admin.post('/api/v1/sales/batch', { sales: [late] }), 200).results[0].status).toBe('accepted')
      const again = ok(await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY }), 200)
      expect(again.outcome).toBe('corrected')
      const reversal = (again.corrections as any[]).find((c) => c.kind === 'reversal')
      const back = await drilled(reversal.id)
      expect(back).toHaveLength(2)
      expect(back).toEqual(
        expect.arrayContaining([
          [2, 0, [['sale', 2]]],
          [0, 6, [['refund', 6]]],
        ]),
      )
    } finally {
      hub.setNow(undefined)
    }
  })

  it('paid-in and paid-out move cash on hand against the store cash clearing account, on the day they happen, each drilled down with its reason', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code: `P${Date.now() % 100000}`, openSession: false })
    let admin = createApi(hub).as(m.adminToken)
    const ok = (r: { status: number; body: any }, status = 201) => {
      expect(r.status, JSON.stringify(r.body)).toBe(status)
      return r.body
    }
    try {
      hub.setNow(at(`${DAY} 09:00:00`))
      admin = createApi(hub).as(await m.adminTokenNow())
      const session = ok(await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 10_000 }))
      ok(await admin.post(`/api/v1/cash-sessions/${session.id}/movements`, { kind: 'paid_in', amount: 5000, reason: 'float top-up from the safe' }))
      ok(await admin.post(`/api/v1/cash-sessions/${session.id}/movements`, { kind: 'paid_out', amount: 1200, reason: 'window cleaner' }))
      ok(await admin.post(`/api/v1/cash-sessions/${session.id}/movements`, { kind: 'paid_out', amount: 800, reason: 'milk' }))
      // After midnight, still in the same session: the next day's voucher.
      hub.setNow(at('2026-11-22 00:30:00'))
      admin = createApi(hub).as(await m.adminTokenNow())
      ok(await admin.post(`/api/v1/cash-sessions/${session.id}/movements`, { kind: 'paid_out', amount: 300, reason: 'late taxi' }))
      // A store whose only cash movements are these: the mapping check names their accounts when there are no defaults.
      await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, useDefaultAccounts: false } })
      const check = ok(await admin.get('/api/v1/vouchers/mappings/check?days=30'), 200)
      expect(check.missing.filter((x: any) => x.storeId === store.storeId).map((x: any) => x.key)).toEqual(expect.arrayContaining(['tender:cash', 'cash:paid_in', 'cash:paid_out']))
      await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, useDefaultAccounts: true } })

      const built = ok(await admin.get(`/api/v1/vouchers/${ok(await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY }), 200).voucher.id}`), 200)
      const lines = built.lines.map((l: any) => [l.kind, l.accountCode, l.debit, l.credit])
      expect(lines).toEqual([
        ['cash_paid_in', '1001', 5000, 0],
        ['cash_paid_in', '1221.02', 0, 5000],
        ['cash_paid_out', '1221.02', 2000, 0],
        ['cash_paid_out', '1001', 0, 2000],
      ])
      expect(built.lines.map((l: any) => l.summary)).toEqual(expect.arrayContaining([expect.stringContaining('现金存入'), expect.stringContaining('现金支出')]))
      const out = built.lines.find((l: any) => l.kind === 'cash_paid_out' && l.accountCode === '1001')
      const records = ok(await admin.get(`/api/v1/vouchers/${built.id}/lines/${out.lineNo}/sources`), 200).records
      expect(records.map((r: any) => [r.type, r.ref, r.amount])).toEqual([
        ['cash_movement', 'window cleaner', 1200],
        ['cash_movement', 'milk', 800],
      ])
      const next = ok(await admin.get(`/api/v1/vouchers/${ok(await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: '2026-11-22' }), 200).voucher.id}`), 200)
      expect(next.lines.map((l: any) => [l.kind, l.accountCode, l.debit, l.credit])).toEqual([
        ['cash_paid_out', '1221.02', 300, 0],
        ['cash_paid_out', '1001', 0, 300],
      ])
    } finally {
      hub.setNow(undefined)
    }
  })

  it('a stored-value correction by hand moves the members’ balances against a correction account in its store’s voucher of the day; opening balances of an import do not', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const code = `S${Date.now() % 100000}`
    const store = await seedStore(hub, m.merchantId, { code, openSession: false })
    const other = await seedStore(hub, m.merchantId, { code: `T${Date.now() % 100000}`, openSession: false })
    const stranger = await seedMerchant(hub)
    const elsewhere = await seedStore(hub, stranger.merchantId, { code: `X${Date.now() % 100000}`, openSession: false })
    let admin = createApi(hub).as(m.adminToken)
    const ok = (r: { status: number; body: any }, status = 201) => {
      expect(r.status, JSON.stringify(r.body)).toBe(status)
      return r.body
    }
    try {
      hub.setNow(at(`${DAY} 10:00:00`))
      admin = createApi(hub).as(await m.adminTokenNow())
      const homed = ok(await admin.post('/api/v1/members', { phone: '13800138101', name: 'Homed', storeId: store.storeId }))
      const roaming = ok(await admin.post('/api/v1/members', { phone: '13800138102', name: 'Roaming' }))
      const adjust = (id: string, body: object) => admin.post(`/api/v1/members/${id}/stored-value/adjust`, body)
      // A member of no store, at a merchant of two: the correction names the store whose books carry it.
      const unnamed = await adjust(roaming.id, { principal: 1000, bonus: 0, reason: 'goodwill' })
      expect(unnamed.status).toBe(422)
      expect(unnamed.body.error.code).toBe('store_required')
      expect((await adjust(roaming.id, { principal: 1000, bonus: 0, reason: 'goodwill', storeId: elsewhere.storeId })).status).toBe(404)
      expect(ok(await admin.get(`/api/v1/members/${roaming.id}/stored-value`), 200).ledger).toEqual([])
      ok(await adjust(homed.id, { principal: 5000, bonus: 300, reason: 'card balance lost in the old system' }), 200)
      ok(await adjust(roaming.id, { principal: 1000, bonus: 0, reason: 'goodwill', storeId: store.storeId }), 200)
      hub.setNow(at(`${DAY} 23:30:00`))
      admin = createApi(hub).as(await m.adminTokenNow())
      ok(await adjust(homed.id, { principal: -1200, bonus: 0, reason: 'double top-up keyed' }), 200)
      ok(await adjust(roaming.id, { principal: 0, bonus: 700, reason: 'promised bonus', storeId: other.storeId }), 200)
      // Opening balances carried from another system are in that system's books already.
      const file = new TextEncoder().encode('手机号,姓名,储值余额,赠送余额\n13800138103,Imported,88.00,12.00\n')
      const query = new URLSearchParams({ store: code, source: 'old POS' })
      const imported = ok(await admin.post(`/api/v1/imports/members?${query}`, undefined, { raw: file, headers: { 'content-type': 'text/csv' } }), 200)
      expect(imported.summary).toMatchObject({ created: 1, storedValue: 8800, storedBonus: 1200 })
      // After midnight: the next day.
      hub.setNow(at('2026-11-22 00:10:00'))
      admin = createApi(hub).as(await m.adminTokenNow())
      ok(await adjust(homed.id, { principal: 100, bonus: 0, reason: 'after midnight' }), 200)

      const build = async (storeId: string, date: string) => ok(await admin.get(`/api/v1/vouchers/${ok(await admin.post('/api/v1/vouchers/build', { storeId, date }), 200).voucher.id}`), 200)
      const built = await build(store.storeId, DAY)
      expect(built.lines.map((l: any) => [l.kind, l.accountCode, l.debit, l.credit])).toEqual([
        ['stored_value_adjust', '6601.03', 300, 0],
        ['stored_value_adjust', '6601.04', 4800, 0],
        ['stored_value_adjust', '2203.01', 0, 4800],
        ['stored_value_adjust', '2203.02', 0, 300],
      ])
      expect(built.lines[0].summary).toContain('储值调整')
      const principal = built.lines.find((l: any) => l.accountCode === '2203.01')
      const records = ok(await admin.get(`/api/v1/vouchers/${built.id}/lines/${principal.lineNo}/sources`), 200)
      expect(records.records.map((r: any) => [r.type, r.ref, r.amount, r.detail.memberId])).toEqual([
        ['stored_value_adjustment', 'card balance lost in the old system', 5000, homed.id],
        ['stored_value_adjustment', 'goodwill', 1000, roaming.id],
        ['stored_value_adjustment', 'double top-up keyed', -1200, homed.id],
      ])
      expect(records.records.reduce((t: number, r: any) => t + r.amount, 0)).toBe(principal.credit)
      expect((await build(other.storeId, DAY)).lines.map((l: any) => [l.kind, l.accountCode, l.debit, l.credit])).toEqual([
        ['stored_value_adjust', '6601.03', 700, 0],
        ['stored_value_adjust', '2203.02', 0, 700],
      ])
      expect((await build(store.storeId, '2026-11-22')).lines.map((l: any) => [l.kind, l.accountCode, l.debit, l.credit])).toEqual([
        ['stored_value_adjust', '6601.04', 100, 0],
        ['stored_value_adjust', '2203.01', 0, 100],
      ])
      // Without the default accounts, the check names the correction's accounts for a store whose only activity it is.
      await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, useDefaultAccounts: false } })
      const check = ok(await admin.get('/api/v1/vouchers/mappings/check?days=30'), 200)
      expect(check.missing.filter((x: any) => x.storeId === other.storeId).map((x: any) => x.key)).toEqual(expect.arrayContaining(['stored_value:adjustment', 'stored_value:bonus', 'stored_value:bonus_expense']))
      await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, useDefaultAccounts: true } })
      // The members' liability moved by what the vouchers booked and the import opened.
      const report = ok(await admin.get('/api/v1/reports/members?from=2026-11-21&to=2026-11-22'), 200)
      expect(report.storedValue).toEqual({ principal: 5000 - 1200 + 1000 + 100 + 8800, bonus: 300 + 700 + 1200, total: 15_900 })
    } finally {
      hub.setNow(undefined)
    }
  })

  it('a return written off takes its cost out of the cost of sales into a stock loss, so the voucher’s cost of sales is the products report’s', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code: `W${Date.now() % 100000}`, openSession: false })
    const item = await seedProduct(hub, store, { price: 1000, cost: 400, stock: 10 })
    const ok = (r: { status: number; body: any }, status = 201) => {
      expect(r.status, JSON.stringify(r.body)).toBe(status)
      return r.body
    }
    try {
      hub.setNow(at(`${DAY} 09:00:00`))
      const admin = createApi(hub).as(await m.adminTokenNow())
      ok(await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 }))
      const sale = ok(await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 3 }], tenders: [{ kind: 'wechat', amount: 3000 }] }))
      const line = sale.lines[0].id
      ok(await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: line, quantity: 1, restock: false }] }))
      ok(await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: line, quantity: 1, restock: true }] }))
      const built = ok(await admin.get(`/api/v1/vouchers/${ok(await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY }), 200).voucher.id}`), 200)
      const of = (kind: string) => built.lines.filter((l: any) => l.kind === kind).map((l: any) => [l.accountCode, l.debit, l.credit])
      expect(of('cogs')).toEqual([
        ['6401', 800, 0],
        ['1405', 0, 800],
      ])
      expect(of('stock_write_off')).toEqual([
        ['6711.02', 400, 0],
        ['6401', 0, 400],
      ])
      const cost = built.lines.filter((l: any) => l.accountCode === '6401').reduce((t: number, l: any) => t + l.debit - l.credit, 0)
      const report = ok(await admin.get(`/api/v1/reports/products?from=${DAY}&to=${DAY}&storeId=${store.storeId}`), 200)
      expect(cost).toBe(report.totals.cost)
      expect(cost).toBe(400)
      const loss = built.lines.find((l: any) => l.kind === 'stock_write_off' && l.accountCode === '6711.02')
      expect(loss.summary).toContain('退货报废')
      const records = ok(await admin.get(`/api/v1/vouchers/${built.id}/lines/${loss.lineNo}/sources`), 200).records
      expect(records.map((r: any) => [r.type, r.amount, r.detail.quantity])).toEqual([['refund_line', 400, 1]])
    } finally {
      hub.setNow(undefined)
    }
  })

  it('a line merged from two tax rates (mergeSameAccount) says what they share, and drills down to both', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, mergeSameAccount: true } })
    const store = await seedStore(hub, m.merchantId, { code: `M${Date.now() % 100000}`, openSession: false })
    const standard = await seedProduct(hub, store, { price: 1130, cost: 500, stock: 10 })
    const reduced = await seedProduct(hub, store, { price: 1090, cost: 500, stock: 10, tax: 'reduced' })
    const admin = createApi(hub).as(m.adminToken)
    hub.setNow(at(`${DAY} 09:00:00`))
    try {
      await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
      const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: standard.sku }, { sku: reduced.sku }], tenders: [{ kind: 'card', amount: 2220 }] })
      expect(sale.status).toBe(201)
      // Lines of other kinds on one account and side: a top-up's principal and a correction by hand (2203.01 credit),
      // the top-up's cash and a cash sale (1001 debit).
      const member = (await createApi(hub).as(await m.adminTokenNow()).post('/api/v1/members', { phone: '13800138555', storeId: store.storeId })).body
      const api = createApi(hub).as(await m.adminTokenNow())
      expect((await api.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 30000, tenders: [{ kind: 'cash', amount: 30000 }] })).status).toBe(201)
      expect((await api.post(`/api/v1/members/${member.id}/stored-value/adjust`, { principal: 5000, bonus: 0, reason: 'lost card balance' })).status).toBe(200)
      expect((await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: standard.sku }], tenders: [{ kind: 'cash', amount: 1130 }] })).status).toBe(201)
    } finally {
      hub.setNow(undefined)
    }
    const built = (await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY })).body
    const voucher = (await admin.get(`/api/v1/vouchers/${built.voucher.id}`)).body
    const vat = voucher.lines.filter((l: any) => l.kind === 'sale_vat')
    // One output VAT account for both rates: one line of 130 + 90 + 130, which names no single rate.
    expect(vat).toEqual([expect.objectContaining({ credit: 350, summary: expect.not.stringMatching(/%/) })])
    expect(voucher.lines.find((l: any) => l.accountCode === '2203.01')).toMatchObject({ credit: 35000, group: { kinds: 'topup_principal,stored_value_adjust' } })
    expect(voucher.lines.find((l: any) => l.accountCode === '1001')).toMatchObject({ debit: 31130 })
    for (const l of voucher.lines) {
      const d = (await admin.get(`/api/v1/vouchers/${voucher.id}/lines/${l.lineNo}/sources`)).body
      expect(d.records.reduce((n: number, r: { amount: number }) => n + r.amount, 0), `${l.kind} ${l.summary}`).toBe(l.debit + l.credit)
    }
  })

  it('every export asked for through the API is audited once, naming who: queued, sent, or not taken by the target', async () => {
    const { m, store, admin, mailId } = await day()
    const finance = await m.staff('finance')
    const api = createApi(hub).as(finance.token)
    const voucherId = (await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY })).body.voucher.id
    const exports = async () =>
      (await admin.get(`/api/v1/audit?entityId=${voucherId}`)).body.items.filter((e: any) => e.action.startsWith('voucher.export')).map((e: any) => [e.action, e.actorId, e.details.status ?? null, e.details.via]).reverse()
    expect((await api.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: mailId, queue: true })).body.queued).toBe(true)
    expect(await exports()).toEqual([['voucher.export_queued', finance.id, null, 'api']])
    // The mailbox is unreachable: the hub answers 502, and the attempt is on the record.
    await admin.patch(`/api/v1/connections/${mailId}`, { config: { smtpPort: 1, timeoutMs: 1500 } })
    const failed = await api.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: mailId })
    expect([failed.status, failed.body.error?.code]).toEqual([502, 'target_unavailable'])
    expect((await exports()).at(-1)).toEqual(['voucher.exported', finance.id, 'failed', 'api'])
    await admin.patch(`/api/v1/connections/${mailId}`, { config: { smtpPort: smtp.port } })
    expect((await api.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: mailId })).status).toBe(200)
    expect((await exports()).map((e: any[]) => e[0])).toEqual(['voucher.export_queued', 'voucher.exported', 'voucher.exported'])
    expect((await exports()).at(-1)).toEqual(['voucher.exported', finance.id, 'exported', 'api'])
  })

  it('builds, drills down to the sales, exports once by mail, and keeps an exported voucher immutable', async () => {
    const { m, store, admin, mailId } = await day()
    const preview = (await admin.post('/api/v1/vouchers/preview', { storeId: store.storeId, date: DAY })).body
    const built = await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY })
    expect(built.status).toBe(200)
    expect(built.body.outcome).toBe('created')
    const v = built.body.voucher
    expect(v.totalDebit).toBe(preview.totalDebit)
    expect((await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY })).body.outcome).toBe('unchanged')
    const full = (await admin.get(`/api/v1/vouchers/${v.id}`)).body
    const wechat = full.lines.find((l: any) => l.kind === 'tender' && l.group.tender === 'wechat')
    expect(wechat).toMatchObject({ accountCode: '1012.01', debit: 2260 })
    const drill = (await admin.get(`/api/v1/vouchers/${v.id}/lines/${wechat.lineNo}/sources`)).body
    expect(drill.records).toHaveLength(2)
    expect(drill.records.reduce((n: number, r: any) => n + r.amount, 0)).toBe(2260)
    expect(drill.records.every((r: any) => r.type === 'sale_tender' && typeof r.ref === 'string')).toBe(true)
    const revenue = full.lines.find((l: any) => l.kind === 'sale_revenue')
    const revenueSources = (await admin.get(`/api/v1/vouchers/${v.id}/lines/${revenue.lineNo}/sources`)).body
    expect(revenueSources.records.reduce((n: number, r: any) => n + r.amount, 0)).toBe(revenue.credit)

    const first = await admin.post(`/api/v1/vouchers/${v.id}/export`, { connectionId: mailId })
    expect(first.status, JSON.stringify(first.body)).toBe(200)
    expect(first.body).toMatchObject({ sent: true, export: { status: 'exported' }, voucher: { status: 'exported' } })
    const again = await admin.post(`/api/v1/vouchers/${v.id}/export`, { connectionId: mailId })
    expect(again.body).toMatchObject({ sent: false, export: { status: 'exported' } })
    const mails = smtp.state.messages.filter((x) => x.subject?.includes(v.reference))
    expect(mails).toHaveLength(1)
    expect(mails[0]!.attachments.map((a) => a.filename).sort()).toEqual([expect.stringMatching(/\.csv$/), expect.stringMatching(/\.xlsx$/)])
    // Exported lines are immutable in the database itself.
    await expect(hub.database.db.execute(sql`update voucher_lines set debit = debit + 1 where voucher_id = ${v.id}`)).rejects.toThrow()
    const events = await hub.database.db.execute<{ type: string }>(sql`select type from events where merchant_id = ${m.merchantId} and type like 'voucher.%'`)
    expect(events.rows.map((e) => e.type)).toEqual(['voucher.exported'])

    const csv = await admin.get(`/api/v1/vouchers/${v.id}/file?format=csv`)
    expect(csv.status).toBe(200)
    expect(csv.headers.get('content-disposition')).toContain('.csv')
    const raw = await admin.app.request(`/api/v1/vouchers/${v.id}/file?format=csv&encoding=gbk`, { headers: { authorization: `Bearer ${m.adminToken}` } })
    expect(raw.status).toBe(200)
    const text = iconv.decode(Buffer.from(await raw.arrayBuffer()), 'gbk')
    expect(text).toContain(v.reference)
    expect(text).toContain('1012.01')
    const kingdee = await admin.get(`/api/v1/vouchers/${v.id}/file?format=xlsx&layout=kingdee`)
    expect(kingdee.status).toBe(422)
  })

  // Exports of one voucher to one connection asked for at once deliver it once: the others answer with the delivery
  // already recorded.
  const built = async (d: Awaited<ReturnType<typeof day>>) => {
    const r = await d.admin.post('/api/v1/vouchers/build', { storeId: d.store.storeId, date: DAY })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return { voucherId: r.body.voucher.id as string, reference: r.body.voucher.reference as string }
  }

  it('three exports of one voucher at once send it once', async () => {
    const d = await day()
    const { voucherId, reference } = await built(d)
    const before = smtp.state.messages.length
    const rs = await Promise.all([0, 1, 2].map(() => d.admin.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: d.mailId })))
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200])
    expect(rs.map((r) => r.body.sent).sort()).toEqual([false, false, true])
    expect(rs.map((r) => r.body.export?.status)).toEqual(['exported', 'exported', 'exported'])
    const sent = smtp.state.messages.slice(before)
    expect(sent).toHaveLength(1)
    expect(JSON.stringify(sent[0])).toContain(reference)
  })

  it('an export by hand racing the queued export job sends the voucher once', async () => {
    const d = await day()
    const { voucherId } = await built(d)
    const before = smtp.state.messages.length
    expect((await d.admin.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: d.mailId, queue: true })).status).toBe(200)
    await Promise.all([drainJobs(hub), d.admin.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: d.mailId })])
    expect(smtp.state.messages.slice(before)).toHaveLength(1)
  })

  it('the daily schedule builds yesterday after the export time and sends it to the merchant’s targets', async () => {
    const { m, store, admin, mailId } = await day()
    await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, exportTo: [mailId], exportAt: '02:00', recheckDays: 1 } })
    hub.setNow(at('2026-11-22 01:30:00'))
    try {
      const { schedule } = await import('../../src/jobs/vouchers.ts')
      await schedule.run({}, { hub, signal: new AbortController().signal } as never)
      expect((await admin.get(`/api/v1/vouchers?date=${DAY}`)).body.items).toEqual([])
      hub.setNow(at('2026-11-22 02:10:00'))
      await schedule.run({}, { hub, signal: new AbortController().signal } as never)
    } finally {
      hub.setNow(undefined)
    }
    const list = (await admin.get(`/api/v1/vouchers?date=${DAY}`)).body.items
    expect(list.map((x: any) => [x.storeId, x.status])).toEqual([[store.storeId, 'built']])
    expect((await queuedJobs(hub, 'vouchers.export')).some((j) => j.payload.voucherId === list[0].id)).toBe(true)
    await drainJobs(hub)
    expect((await admin.get(`/api/v1/vouchers/${list[0].id}`)).body).toMatchObject({ status: 'exported', exports: [{ connectionId: mailId, status: 'exported' }] })
  })
  it('the daily schedule builds a day whose only activity is a paid-out or a top-up given back', async () => {
    const [d1, d2] = ['2026-07-01', '2026-07-02']
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, recheckDays: 0 } })
    const admin = createApi(hub).as(m.adminToken)
    const [paying, refunding] = [await seedStore(hub, m.merchantId, { code: `P${Date.now() % 100000}`, openSession: false }), await seedStore(hub, m.merchantId, { code: `T${Date.now() % 100000}`, openSession: false })]
    try {
      // Day 1: a drawer opened in one store, a member's top-up in the other.
      hub.setNow(at(`${d1} 10:00:00`))
      const session = (await admin.post('/api/v1/cash-sessions', { registerId: paying.registerId, openingFloat: 10_000 })).body
      const member = (await admin.post('/api/v1/members', { phone: `+86139${String(Date.now()).slice(-8)}` })).body
      const topup = await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: refunding.registerId, amount: 50_000, tenders: [{ kind: 'wechat', amount: 50_000 }] })
      expect(topup.status, JSON.stringify(topup.body)).toBe(201)
      // Day 2: only a paid-out from the drawer still open, and the top-up given back.
      hub.setNow(at(`${d2} 10:00:00`))
      expect((await admin.post(`/api/v1/cash-sessions/${session.id}/movements`, { kind: 'paid_out', amount: 2000, reason: 'milk' })).status).toBe(201)
      expect((await admin.post(`/api/v1/topups/${topup.body.id}/refund`, { registerId: refunding.registerId, reason: 'changed mind' })).status).toBe(200)
      const { schedule } = await import('../../src/jobs/vouchers.ts')
      hub.setNow(at('2026-07-03 02:30:00'))
      await schedule.run({}, { hub, signal: new AbortController().signal } as never)
    } finally {
      hub.setNow(undefined)
    }
    const list = (await admin.get(`/api/v1/vouchers?date=${d2}`)).body.items
    expect(list.map((v: any) => v.storeId).sort()).toEqual([paying.storeId, refunding.storeId].sort())
    const kinds = async (id: string) => (await admin.get(`/api/v1/vouchers/${id}`)).body.lines.map((l: any) => l.kind)
    expect(await kinds(list.find((v: any) => v.storeId === paying.storeId).id)).toEqual(expect.arrayContaining(['cash_paid_out']))
    expect(await kinds(list.find((v: any) => v.storeId === refunding.storeId).id)).toEqual(expect.arrayContaining(['topup_refund_tender']))
  })
})
