import { describe, expect, it } from 'vitest'
import { asc, eq, sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { delivered, EXAMPLE, voucherMaker } from '../helpers/accounting.ts'
import { useVendorServer, connectWith, rejection } from '../helpers/connections.ts'
import { quickbooksSandbox } from '../../src/sandboxes/vendors/quickbooks.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { loadConnection, updateConnection } from '../../src/connectors/framework/connections.ts'
import { connectorContext, runCheck } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { quickbooks } from '../../src/connectors/accounting/quickbooks/index.ts'
import { docNumberFor } from '../../src/connectors/accounting/quickbooks/journal-entry.ts'

const CLIENT_ID = 'ABcd1234EfGh5678IjKl9012MnOp3456QrSt7890UvWx'
const CLIENT_SECRET = 'qbo-client-secret-7Hc2Lr9Vx4Kp0Wm6Zt3Ny8Bq5Fs1Jd'
const REFRESH_TOKEN = 'AB11800000000a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7'
const REALM = '9130357992218386'
const caps = quickbooks.capabilities

const voucher = voucherMaker('8d6f2a1c-5b7e-4c3d-9a2b-')

describe('QuickBooks Online accounting connector', () => {
  const hub = useTestHub()
  const sim = quickbooksSandbox({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: REFRESH_TOKEN, realmId: REALM, companyName: 'Tillbridge Shanghai Ltd', homeCurrency: 'CNY' })
  const vendor = useVendorServer(hub, ...sim.handlers)

  // Accounts with a number are found by AcctNum; the dotted sub-accounts (longer than QuickBooks US numbers allow)
  // are mapped in the connection's config.
  const acct = {
    cash: sim.addAccount({ name: 'Cash on hand', acctNum: '1001', type: 'Bank' }),
    suspense: sim.addAccount({ name: 'Cash over/short pending', acctNum: '1901', type: 'Other Current Asset' }),
    wechat: sim.addAccount({ name: 'WeChat Pay balance', type: 'Bank' }),
    alipay: sim.addAccount({ name: 'Alipay balance', type: 'Bank' }),
    unionpay: sim.addAccount({ name: 'Receivable UnionPay', type: 'Accounts Receivable' }),
    storedValue: sim.addAccount({ name: 'Member stored value', type: 'Other Current Liability' }),
    sales: sim.addAccount({ name: 'Sales', acctNum: '6001', type: 'Income' }),
    vat: sim.addAccount({ name: 'Output VAT', type: 'Other Current Liability' }),
    fees: sim.addAccount({ name: 'Payment channel fees', type: 'Expense' }),
    cogs: sim.addAccount({ name: 'Cost of goods sold', acctNum: '6401', type: 'Cost of Goods Sold' }),
    inventory: sim.addAccount({ name: 'Inventory', acctNum: '1405', type: 'Other Current Asset' }),
  }
  const store = sim.addDepartment('S001')
  const unionpay = sim.addCustomer('UnionPay Merchant Services')
  const ACCOUNTS = { '1012.01': acct.wechat.Id, '1012.02': acct.alipay.Id, '1122.01': acct.unionpay.Id, '2203.01': acct.storedValue.Id, '2221.01.01': acct.vat.Id, '6603.02': acct.fees.Id }

  const connect = connectWith(hub, vendor, 'quickbooks', {
    name: 'QuickBooks',
    config: () => ({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: sim.currentRefreshToken(), realmId: REALM, accounts: ACCOUNTS, dimensionIds: { customer: { UNIONPAY: unionpay.Id } } }),
  })

  const callLog = (connectionId: string) => hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))

  describe('connection', () => {
    it('checks the credentials against the company and names it', async () => {
      const { loaded } = await connect()
      expect(await runCheck(hub, loaded)).toMatchObject({ ok: true, message: expect.stringContaining('Tillbridge Shanghai Ltd') })
    })

    it('reports a wrong client secret as refused, without the secret', async () => {
      const { loaded } = await connect({ clientSecret: 'not-the-secret-0000000000' })
      const verdict = await runCheck(hub, loaded)
      expect(verdict).toMatchObject({ ok: false, message: expect.stringContaining('refused the app’s credentials') })
      expect(JSON.stringify(verdict)).not.toContain('not-the-secret-0000000000')
    })

    it('refuses a config without the realm id or with an Entity slot for a department', async () => {
      const base = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: REFRESH_TOKEN }
      expect(quickbooks.config.safeParse(base).success).toBe(false)
      expect(quickbooks.config.safeParse({ ...base, realmId: REALM, dimensions: { department: 'Entity' } }).success).toBe(false)
      expect(quickbooks.config.safeParse({ ...base, realmId: REALM, dimensions: { department: 'ClassRef', project: 'ClassRef' } }).success).toBe(false)
      expect(quickbooks.config.parse({ ...base, realmId: REALM })).toMatchObject({ environment: 'production', dimensions: { department: 'DepartmentRef', customer: 'Entity' } })
    })
  })

  describe('export', () => {
    it('posts the worked example as one balanced journal entry with PostingType sides and exact decimals', async () => {
      const { ctx } = await connect()
      const v = voucher()
      const before = sim.state.requests.length
      const result = await caps.exportVoucher(ctx, { voucher: v })

      const [posted] = sim.journalEntriesByDocNumber(v.reference)
      expect(result).toEqual({ status: 'exported', externalId: posted!.Id, number: v.reference, details: { requestId: expect.stringMatching(/^[0-9a-f-]{36}$/), txnDate: '2026-11-20' } })

      const calls = sim.state.requests.slice(before)
      expect(calls.map((c) => c.operation)).toEqual(['token', 'query', 'query', 'query', 'journalentry'])
      expect(calls.slice(1, 4).map((c) => c.query)).toEqual([
        `select * from JournalEntry where DocNumber = '${v.reference}'`,
        "select * from Account where AcctNum in ('1001', '1901', '6001', '6401', '1405')",
        "select * from Department where Name = 'S001'",
      ])
      const post = calls.at(-1)!
      expect(post.requestId).toBe(delivered(result).details?.requestId)
      // The amounts travel as decimal literals, written from the fen without a float in between.
      expect(post.body).toContain('"Amount":156.00,')
      expect(post.body).toContain('"Amount":1777.69,')
      expect(post.body).toContain('"Amount":0.50,')
      const body = JSON.parse(post.body!) as { Line: unknown[] } & Record<string, unknown>
      const detail = (posting: 'Debit' | 'Credit', account: string, extra: Record<string, unknown> = {}) => ({ PostingType: posting, AccountRef: { value: account }, DepartmentRef: { value: store.Id }, ...extra })
      expect(body).toEqual({
        TxnDate: '2026-11-20',
        DocNumber: v.reference,
        PrivateNote: `[${v.reference}] POS daily voucher S001 2026-11-20`,
        CurrencyRef: { value: 'CNY' },
        Line: expect.any(Array),
      })
      expect(body.Line).toHaveLength(19)
      expect(body.Line.slice(0, 2)).toEqual([
        { Id: '1', Description: '11/20 S001 现金收款(实点)', Amount: 156, DetailType: 'JournalEntryLineDetail', JournalEntryLineDetail: detail('Debit', acct.cash.Id) },
        { Id: '2', Description: '11/20 S001 现金短款', Amount: 0.5, DetailType: 'JournalEntryLineDetail', JournalEntryLineDetail: detail('Debit', acct.suspense.Id) },
      ])
      expect(body.Line[4]).toEqual({
        Id: '5',
        Description: '11/20 S001 银行卡收款',
        Amount: 1130,
        DetailType: 'JournalEntryLineDetail',
        JournalEntryLineDetail: detail('Debit', acct.unionpay.Id, { Entity: { Type: 'Customer', EntityRef: { value: unionpay.Id } } }),
      })
      expect(body.Line[7]).toEqual({ Id: '8', Description: '11/20 S001 销售收入 13%', Amount: 1777.69, DetailType: 'JournalEntryLineDetail', JournalEntryLineDetail: detail('Credit', acct.sales.Id) })
      expect(body.Line[9]).toEqual({ Id: '10', Description: '11/20 S001 销项税额 13%', Amount: 231.11, DetailType: 'JournalEntryLineDetail', JournalEntryLineDetail: detail('Credit', acct.vat.Id) })

      // QuickBooks saved it balanced: 3 687.03 on each side.
      const cents = (side: 'Debit' | 'Credit') => posted!.Line.filter((l) => l.JournalEntryLineDetail.PostingType === side).reduce((s, l) => s + Math.round(l.Amount * 100), 0)
      expect([cents('Debit'), cents('Credit')]).toEqual([368703, 368703])
    })

    it('keeps the store lookups of a connection and reads the numbered accounts once per voucher', async () => {
      const { ctx } = await connect()
      await caps.exportVoucher(ctx, { voucher: voucher() })
      const before = sim.state.requests.length
      const v = voucher()
      expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'exported', number: v.reference })
      const calls = sim.state.requests.slice(before)
      expect(calls.map((c) => c.operation)).toEqual(['query', 'query', 'journalentry'])
      expect(calls[1]!.query).toBe("select * from Account where AcctNum in ('1001', '1901', '6001', '6401', '1405')")
    })

    it('looks the ids up afresh once the connection is pointed at another company, whose accounts have ids of their own', async () => {
      const { ctx, connectionId } = await connect()
      expect(await caps.exportVoucher(ctx, { voucher: voucher() })).toMatchObject({ status: 'exported' })
      // The integrator points the connection at the company it was meant for: the same chart, its own ids.
      const saved = { realmId: sim.state.realmId, accounts: new Map(sim.state.accounts), departments: new Map(sim.state.departments) }
      try {
        sim.state.realmId = '4620816365204757580'
        const renumbered = [acct.cash, acct.suspense, acct.sales, acct.cogs, acct.inventory].map((a) => {
          sim.state.accounts.delete(a.Id)
          return sim.addAccount({ name: a.Name, acctNum: a.AcctNum, type: a.AccountType })
        })
        sim.state.departments.delete(store.Id)
        const otherStore = sim.addDepartment('S001')
        await updateConnection(hub.database.db, connectorRegistry, hub.secrets, vendor.merchantId, connectionId, { config: { realmId: sim.state.realmId } }, new Date())
        const moved = connectorContext(hub, await loadConnection(hub.database.db, connectorRegistry, hub.secrets, connectionId, vendor.merchantId))
        const v = voucher()
        expect(await caps.exportVoucher(moved, { voucher: v })).toMatchObject({ status: 'exported', number: v.reference })
        const [posted] = sim.journalEntriesByDocNumber(v.reference)
        const refs = posted!.Line.map((l) => l.JournalEntryLineDetail)
        expect(refs.find((d) => d.AccountRef.value === renumbered[0]!.Id)).toBeDefined()
        expect(refs.every((d) => d.DepartmentRef?.value === otherStore.Id)).toBe(true)
      } finally {
        sim.state.realmId = saved.realmId
        sim.state.accounts = saved.accounts
        sim.state.departments = saved.departments
      }
    })

    it('retries a post whose answer was lost under the same requestid: QuickBooks replays it and holds one entry', async () => {
      const { ctx } = await connect()
      const v = voucher()
      sim.state.loseNextResponses = 1
      const result = await caps.exportVoucher(ctx, { voucher: v })
      expect(result).toMatchObject({ status: 'exported', number: v.reference })
      expect(sim.journalEntriesByDocNumber(v.reference)).toHaveLength(1)
      const posts = sim.requestsFor('journalentry').filter((r) => r.body?.includes(v.reference))
      expect(posts.map((p) => p.answer)).toEqual(['lost', 'replayed'])
      expect(posts[0]!.requestId).toBe(posts[1]!.requestId)

      // The job, unsure, sends the voucher again later: the entry is found and nothing is posted.
      const again = await caps.exportVoucher(ctx, { voucher: v })
      const { externalId } = delivered(result)
      expect(again).toEqual({ status: 'duplicate', externalId, number: v.reference })
      expect(sim.journalEntriesByDocNumber(v.reference)).toHaveLength(1)
      expect(await caps.findVoucher!(ctx, { reference: v.reference, date: v.date })).toEqual({ externalId, number: v.reference })
    })

    it('posts each line to the account that holds the mapped number now: an account renumbered at QuickBooks and a new one given the old number', async () => {
      const { ctx } = await connect()
      expect(await caps.exportVoucher(ctx, { voucher: voucher() })).toMatchObject({ status: 'exported' })
      // Finance renumbers the sales account (still active) and, later, opens a new account numbered 6001.
      acct.sales.AcctNum = '6001.9'
      let fresh: ReturnType<typeof sim.addAccount> | undefined
      try {
        const v = voucher()
        const before = sim.state.requests.length
        expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'account_not_mapped', message: expect.stringContaining('6001') })
        expect(sim.state.requests.slice(before).some((r) => r.operation === 'journalentry')).toBe(false)

        fresh = sim.addAccount({ name: 'Sales (from December)', acctNum: '6001', type: 'Income' })
        const w = voucher()
        expect(await caps.exportVoucher(ctx, { voucher: w })).toMatchObject({ status: 'exported' })
        const [posted] = sim.journalEntriesByDocNumber(w.reference)
        const used = posted!.Line.map((l) => l.JournalEntryLineDetail.AccountRef.value)
        expect(used).toContain(fresh.Id)
        expect(used).not.toContain(acct.sales.Id)
      } finally {
        acct.sales.AcctNum = '6001'
        if (fresh) sim.state.accounts.delete(fresh.Id)
      }
    })

    it('sends a voucher refused for a closed period again under a new requestid once the books are reopened; an answer lost then is still booked once', async () => {
      const { ctx } = await connect()
      const v = voucher()
      sim.state.bookCloseDate = '2026-11-30'
      try {
        expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'period_closed', code: '6210' })
      } finally {
        sim.state.bookCloseDate = null
      }
      // Finance reopens the books; the same voucher, the same body, goes again and its answer is lost once.
      sim.state.loseNextResponses = 1
      const result = await caps.exportVoucher(ctx, { voucher: { ...v, refusals: 1 } })
      expect(result).toMatchObject({ status: 'exported', number: v.reference })
      const { externalId } = delivered(result)
      const posts = () => sim.requestsFor('journalentry').filter((r) => r.body?.includes(v.reference))
      expect(posts().map((p) => p.answer)).toEqual(['fault', 'lost', 'replayed'])
      const [refused, lost, replayed] = posts()
      expect(lost!.requestId).not.toBe(refused!.requestId)
      expect(replayed!.requestId).toBe(lost!.requestId)

      // Sent once more while QuickBooks' query does not list the entry yet: the requestid of the post that may have
      // booked it, so QuickBooks replays that answer rather than booking it again or repeating the old refusal.
      const entry = sim.state.journalEntries.get(externalId)!
      sim.state.journalEntries.delete(externalId)
      try {
        expect(await caps.exportVoucher(ctx, { voucher: { ...v, refusals: 1 } })).toMatchObject({ status: 'exported', externalId })
      } finally {
        sim.state.journalEntries.set(externalId, entry)
      }
      expect(posts().at(-1)).toMatchObject({ answer: 'replayed', requestId: lost!.requestId })
      expect(await caps.exportVoucher(ctx, { voucher: { ...v, refusals: 1 } })).toEqual({ status: 'duplicate', externalId, number: v.reference })
      expect(sim.journalEntriesByDocNumber(v.reference)).toHaveLength(1)
    })

    it('sends a voucher refused for an inactive account again under a new requestid once the account is active again', async () => {
      const { ctx } = await connect()
      const v = voucher()
      acct.fees.Active = false
      try {
        expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', code: '2500' })
      } finally {
        acct.fees.Active = true
      }
      expect(await caps.exportVoucher(ctx, { voucher: { ...v, refusals: 1 } })).toMatchObject({ status: 'exported', number: v.reference })
      const posts = sim.requestsFor('journalentry').filter((r) => r.body?.includes(v.reference))
      expect(posts.map((p) => p.answer)).toEqual(['fault', 'ok'])
      expect(sim.journalEntriesByDocNumber(v.reference)).toHaveLength(1)
    })

    it('shortens a reference longer than DocNumber allows to a stable 21-character number and finds it by that', async () => {
      const { ctx } = await connect()
      const v = voucher({ reference: 'TB-S001-20261120-R1-REVERSAL-OF-R1', kind: 'reversal', corrects: 'TB-S001-20261120-R1' })
      const number = docNumberFor(v.reference)
      expect(number).toHaveLength(21)
      expect(number).toBe(docNumberFor(v.reference))
      expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'exported', number })
      expect(await caps.findVoucher!(ctx, { reference: v.reference, date: v.date })).toMatchObject({ number })
      expect(await caps.findVoucher!(ctx, { reference: 'TB-S001-20261120-R999', date: v.date })).toBeNull()
    })
  })

  describe('refusals', () => {
    it('answers an account QuickBooks does not know as rejected invalid, with its fault code', async () => {
      const { ctx } = await connect({ accounts: { ...ACCOUNTS, '6603.02': '999' } })
      const v = voucher()
      const result = await caps.exportVoucher(ctx, { voucher: v })
      expect(result).toEqual({ status: 'rejected', reason: 'invalid', code: '2500', message: 'Invalid Reference Id: Invalid Reference Id : Accounts element id 999 not found' })
      expect(sim.journalEntriesByDocNumber(v.reference)).toHaveLength(0)
    })

    it('refuses an account code that is neither mapped nor an account number before posting', async () => {
      const { ctx } = await connect()
      const v = voucher({}, [...EXAMPLE.slice(0, 17), ['11/20 S001 结转销售成本', '6401.99', '主营业务成本-其他', 116500, 0], EXAMPLE[18]!])
      const before = sim.state.requests.length
      expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'account_not_mapped', message: expect.stringContaining('6401.99') })
      expect(sim.state.requests.slice(before).some((r) => r.operation === 'journalentry')).toBe(false)
    })

    it('refuses a store QuickBooks has no department for', async () => {
      const { ctx } = await connect()
      const v = voucher()
      v.lines = v.lines.map((l) => ({ ...l, dimensions: { ...l.dimensions, department: 'S009' } }))
      expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'dimension_not_found', message: expect.stringContaining('S009') })
    })

    it('passes on QuickBooks’ own business rule: a receivable line without its customer', async () => {
      const { ctx } = await connect({ dimensions: { department: 'DepartmentRef' } })
      expect(await caps.exportVoucher(ctx, { voucher: voucher() })).toMatchObject({ status: 'rejected', reason: 'invalid', code: '6000', message: expect.stringContaining('Accounts Receivable') })
    })

    it('answers a date on or before the closing date as period_closed, with the closing date', async () => {
      const { ctx } = await connect()
      sim.state.bookCloseDate = '2026-11-30'
      try {
        expect(await caps.lockDate!(ctx, {})).toBe('2026-11-30')
        const v = voucher()
        expect(await caps.exportVoucher(ctx, { voucher: v })).toEqual({
          status: 'rejected',
          reason: 'period_closed',
          code: '6210',
          message: expect.stringMatching(/^Account Period Closed, Cannot Update Through Services API: The account period has closed.* \(books closed through 2026-11-30\)$/),
        })
        expect(sim.journalEntriesByDocNumber(v.reference)).toHaveLength(0)
        // Re-dated to the first open day, the same reference goes through under a new requestid.
        const redated = { ...v, date: '2026-12-01' }
        expect(await caps.exportVoucher(ctx, { voucher: redated })).toMatchObject({ status: 'exported', details: { txnDate: '2026-12-01' } })
      } finally {
        sim.state.bookCloseDate = null
      }
      expect(await caps.lockDate!(ctx, {})).toBeNull()
    })

    it('refuses an unbalanced voucher without calling QuickBooks', async () => {
      const { ctx } = await connect()
      const before = sim.state.requests.length
      const v = voucher({}, [EXAMPLE[0]!, ['11/20 S001 销售收入', '6001', '主营业务收入', 0, 15500]])
      expect(await caps.exportVoucher(ctx, { voucher: v })).toEqual({ status: 'rejected', reason: 'invalid', code: 'unbalanced', message: `voucher ${v.reference} does not balance: debit 156.00, credit 155.00` })
      expect(sim.state.requests.length).toBe(before)
    })
  })

  describe('tokens', () => {
    it('keeps the rotated refresh token, hands it to the secrets hook, and refreshes with it after a 401', async () => {
      const original = sim.currentRefreshToken()!
      const { ctx: plain } = await connect()
      const saved: Record<string, string>[] = []
      const ctx = { ...plain, updateSecrets: async (patch: Record<string, string>) => void saved.push(patch) }

      await caps.findVoucher!(ctx, { reference: 'TB-NONE', date: '2026-11-20' })
      const rotated = sim.currentRefreshToken()!
      expect(rotated).not.toBe(original)
      expect(saved).toEqual([{ refreshToken: rotated }])

      // The hour passes early: the next call is refused, the connector refreshes with the rotated token (the one in
      // the config no longer works) and repeats the call once.
      sim.expireAccessTokens()
      const before = sim.state.requests.length
      expect(await caps.lockDate!(ctx, {})).toBeNull()
      expect(sim.state.requests.slice(before).map((r) => [r.operation, r.answer])).toEqual([
        ['preferences', 'unauthorized'],
        ['token', 'ok'],
        ['preferences', 'ok'],
      ])
      expect(saved).toEqual([{ refreshToken: rotated }, { refreshToken: sim.currentRefreshToken() }])
    })

    it('the hub stores a rotated refresh token sealed with the connection, so a reloaded connection keeps working', async () => {
      const { ctx, loaded } = await connect()
      await caps.findVoucher!(ctx, { reference: 'TB-NONE', date: '2026-11-20' })
      const rotated = sim.currentRefreshToken()!
      const reloaded = await loadConnection(hub.database.db, connectorRegistry, hub.secrets, loaded.row.id, vendor.merchantId)
      expect(reloaded.config.refreshToken).toBe(rotated)
      expect(reloaded.row.status).toBe(loaded.row.status)
      const stored = await hub.database.db.execute<{ config: string; sealed: string }>(sql`select config::text, sealed_secrets as sealed from connections where id = ${loaded.row.id}`)
      expect(stored.rows[0]!.config).not.toContain(rotated)
      expect(stored.rows[0]!.sealed).not.toContain(rotated)
    })

    it('refreshes once for calls that start together', async () => {
      const { ctx } = await connect()
      const before = sim.requestsFor('token').length
      await Promise.all([caps.findVoucher!(ctx, { reference: 'TB-A', date: '2026-11-20' }), caps.findVoucher!(ctx, { reference: 'TB-B', date: '2026-11-20' }), caps.lockDate!(ctx, {})])
      expect(sim.requestsFor('token').length - before).toBe(1)
    })

    it('fails as auth_failed when the client is wrong or the company revoked the consent', async () => {
      const wrong = await connect({ clientSecret: 'another-secret-1111111111' })
      const e = await rejection(caps.exportVoucher(wrong.ctx, { voucher: voucher() }), ConnectorError)
      expect(e).toMatchObject({ kind: 'auth_failed', status: 401, vendorCode: 'invalid_client' })

      const { ctx } = await connect()
      await caps.lockDate!(ctx, {})
      const revoked = sim.state.refreshTokens.size
      sim.revokeConsent()
      try {
        const e2 = await rejection(caps.exportVoucher(ctx, { voucher: voucher() }), ConnectorError)
        expect(e2).toMatchObject({ kind: 'auth_failed', status: 400, vendorCode: 'invalid_grant' })
        expect(sim.state.refreshTokens.size).toBe(revoked)
      } finally {
        // A new consent for the tests that follow.
        sim.state.refreshTokens.set(REFRESH_TOKEN, { retiredAt: null })
      }
    })
  })

  describe('limits and outages', () => {
    it('waits out a 429 and completes; after repeated 429s fails as rate_limited, posting nothing', async () => {
      const { ctx } = await connect()
      sim.state.throttleNext = 1
      const v = voucher()
      expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'exported' })
      expect(sim.state.requests.filter((r) => r.answer === 'throttled').length).toBeGreaterThanOrEqual(1)

      const other = await connect()
      const w = voucher()
      await caps.lockDate!(other.ctx, {})
      sim.state.throttleNext = 4
      try {
        const e = await rejection(caps.exportVoucher(other.ctx, { voucher: w }), ConnectorError)
        expect(e).toMatchObject({ kind: 'rate_limited', status: 429, vendorCode: '3001' })
        expect(e.transient).toBe(true)
      } finally {
        sim.state.throttleNext = 0
      }
      expect(sim.journalEntriesByDocNumber(w.reference)).toHaveLength(0)
    })

    it('answers more than 10 calls at a time with 429 and the connector still completes them', async () => {
      const { ctx } = await connect()
      await caps.lockDate!(ctx, {})
      sim.state.concurrent = 2
      sim.state.latencyMs = 50
      try {
        const before = sim.state.requests.length
        const found = await Promise.all(Array.from({ length: 6 }, (_, i) => caps.findVoucher!(ctx, { reference: `TB-CONC-${i}`, date: '2026-11-20' })))
        expect(found).toEqual(Array(6).fill(null))
        const answers = sim.state.requests.slice(before).map((r) => r.answer)
        expect(answers.filter((a) => a === 'throttled').length).toBeGreaterThan(0)
        expect(answers.filter((a) => a === 'ok')).toHaveLength(6)
      } finally {
        sim.state.concurrent = 10
        sim.state.latencyMs = 0
      }
    })

    it('reports an outage as retryable after the client’s retries', async () => {
      const { ctx } = await connect()
      await caps.lockDate!(ctx, {})
      sim.state.down = true
      try {
        const e = await rejection(caps.exportVoucher(ctx, { voucher: voucher() }), ConnectorError)
        expect(e).toMatchObject({ kind: 'retryable', status: 503 })
      } finally {
        sim.state.down = false
      }
    })
  })

  it('never writes a secret or a token to the call log or the logs', async () => {
    const { ctx, connectionId } = await connect()
    sim.state.loseNextResponses = 1
    await caps.exportVoucher(ctx, { voucher: voucher() })
    sim.expireAccessTokens()
    await caps.lockDate!(ctx, {})
    const log = await callLog(connectionId)
    expect(log.map((r) => r.operation)).toContain('refreshAccessToken')
    const text = JSON.stringify(log)
    for (const secret of [CLIENT_SECRET, ...sim.issuedTokens(), Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')]) {
      expect(text).not.toContain(secret)
      expect(hub.logs.text).not.toContain(secret)
    }
  })
})
