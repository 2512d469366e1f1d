import { describe, expect, it } from 'vitest'
import { asc, eq } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { delivered, EXAMPLE, voucherMaker } from '../helpers/accounting.ts'
import { useVendorServer, connectWith, rejection } from '../helpers/connections.ts'
import { xeroSandbox } from '../../src/sandboxes/vendors/xero.ts'
import { connectorContext, runCheck } from '../../src/connectors/framework/context.ts'
import { loadConnection, updateConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { xero } from '../../src/connectors/accounting/xero/index.ts'

const CLIENT_ID = '91E5715B1199038080D6D0296EBC1648'
const CLIENT_SECRET = 'xero-client-secret-Qm3Rt8Vw1Yz6Bc0Df5Gh9Jk2Ln7Pq4'
const REFRESH_TOKEN = '6a4f0c2e9b1d8f7a3c5e0b2d4f6a8c1e3b5d7f9a0c2e4b6d8f1a3c5e7b9d0f2a'
const TENANT = '3c0b4a8e-6f12-4d7b-9a51-2e8f0c6d1b73'
const caps = xero.capabilities

const voucher = voucherMaker('4e2b9c7a-1d3f-4a6b-8c5e-')

describe('Xero accounting connector', () => {
  const hub = useTestHub()
  // The minute limit is raised for the file as a whole; its 429 is exercised through throttleNext.
  const sim = xeroSandbox({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: REFRESH_TOKEN, tenantId: TENANT, organisationName: 'Tillbridge Shanghai Ltd', baseCurrency: 'CNY', perMinute: 1000 })
  const vendor = useVendorServer(hub, ...sim.handlers)

  for (const [code, name, type] of [
    ['1001', 'Cash on hand', 'CURRENT'],
    ['1901', 'Cash over/short pending', 'CURRENT'],
    ['1012.01', 'WeChat Pay balance', 'BANK'],
    ['1012.02', 'Alipay balance', 'BANK'],
    ['1122.01', 'Receivable UnionPay', 'CURRENT'],
    ['2203.01', 'Member stored value', 'CURRLIAB'],
    ['6001', 'Sales', 'REVENUE'],
    ['2221', 'Output VAT', 'CURRLIAB'],
    ['6603.02', 'Payment channel fees', 'EXPENSE'],
    ['6401', 'Cost of goods sold', 'DIRECTCOSTS'],
    ['1405', 'Inventory', 'INVENTORY'],
  ] as const)
    sim.addAccount({ code, name, type })
  sim.addAccount({ code: '6602', name: 'Old fees', type: 'EXPENSE', status: 'ARCHIVED' })
  sim.addTrackingCategory('Store', ['S001', 'S002'])

  const connect = connectWith(hub, vendor, 'xero', {
    name: 'Xero',
    config: () => ({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: sim.currentRefreshToken(), tenantId: TENANT, accounts: { '2221.01.01': '2221' } }),
  })

  describe('connection', () => {
    it('checks the organisation and its tracking category', async () => {
      const { loaded } = await connect()
      expect(await runCheck(hub, loaded)).toMatchObject({ ok: true, message: 'Connected to the Xero organisation Tillbridge Shanghai Ltd (books in CNY)' })
      const region = await connect({ tracking: { department: 'Region' } })
      expect(await runCheck(hub, region.loaded)).toMatchObject({ ok: false, message: expect.stringContaining('no active tracking category "Region"') })
    })

    it('reports a wrong client secret as refused, without the secret', async () => {
      const { loaded } = await connect({ clientSecret: 'not-the-secret-0000000000' })
      const verdict = await runCheck(hub, loaded)
      expect(verdict).toMatchObject({ ok: false, message: expect.stringContaining('refused the app’s credentials') })
      expect(JSON.stringify(verdict)).not.toContain('not-the-secret-0000000000')
    })

    it('refuses a tenant that is not a GUID and more than two tracking categories', () => {
      const base = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: REFRESH_TOKEN }
      expect(xero.config.safeParse({ ...base, tenantId: 'demo-company' }).success).toBe(false)
      expect(xero.config.safeParse({ ...base, tenantId: TENANT, tracking: { department: 'Store', customer: 'Channel', project: 'Project' } }).success).toBe(false)
      expect(xero.config.parse({ ...base, tenantId: TENANT })).toMatchObject({ status: 'POSTED', tracking: { department: 'Store' }, showOnCashBasisReports: true })
    })
  })

  describe('export', () => {
    it('saves the worked example as one manual journal: debits positive, credits negative, NoTax, tracked by store', async () => {
      const { ctx } = await connect()
      const v = voucher()
      const before = sim.state.requests.length
      const result = delivered(await caps.exportVoucher(ctx, { voucher: v }))

      const [saved] = sim.journalsFor(v.reference)
      expect(result).toEqual({ status: 'exported', externalId: saved!.ManualJournalID, number: null, details: { idempotencyKey: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'POSTED' } })
      const calls = sim.state.requests.slice(before)
      expect(calls.map((c) => [c.method, c.operation])).toEqual([
        ['POST', 'token'],
        ['GET', 'Organisation'],
        ['GET', 'ManualJournals'],
        ['PUT', 'ManualJournals'],
      ])
      expect(calls[2]!.where).toBe(`Narration.StartsWith("[${v.reference}]")`)
      const put = calls[3]!
      expect(put.idempotencyKey).toBe(result.details?.idempotencyKey)
      // The amounts travel as decimal literals, written from the fen without a float in between.
      expect(put.body).toContain('"LineAmount":156.00,')
      expect(put.body).toContain('"LineAmount":-1777.69,')
      expect(put.body).toContain('"LineAmount":0.50,')
      const body = JSON.parse(put.body!) as { ManualJournals: ({ JournalLines: unknown[] } & Record<string, unknown>)[] }
      expect(body.ManualJournals).toHaveLength(1)
      const [journal] = body.ManualJournals
      expect(journal).toEqual({
        Narration: `[${v.reference}] POS daily voucher S001 2026-11-20`,
        Date: '2026-11-20',
        LineAmountTypes: 'NoTax',
        Status: 'POSTED',
        ShowOnCashBasisReports: true,
        JournalLines: expect.any(Array),
      })
      const store = [{ Name: 'Store', Option: 'S001' }]
      expect(journal!.JournalLines).toHaveLength(19)
      expect(journal!.JournalLines.slice(0, 2)).toEqual([
        { LineAmount: 156, AccountCode: '1001', Description: '11/20 S001 现金收款(实点)', Tracking: store },
        { LineAmount: 0.5, AccountCode: '1901', Description: '11/20 S001 现金短款', Tracking: store },
      ])
      expect(journal!.JournalLines[6]).toEqual({ LineAmount: -500, AccountCode: '2203.01', Description: '11/20 S001 会员储值充值', Tracking: store })
      expect(journal!.JournalLines[7]).toEqual({ LineAmount: -1777.69, AccountCode: '6001', Description: '11/20 S001 销售收入 13%', Tracking: store })
      expect(journal!.JournalLines[9]).toEqual({ LineAmount: -231.11, AccountCode: '2221', Description: '11/20 S001 销项税额 13%', Tracking: store })

      // Xero saved it balanced, with the tracking option resolved.
      expect(saved!.Status).toBe('POSTED')
      expect(saved!.JournalLines.reduce((s, l) => s + Math.round(l.LineAmount * 100), 0)).toBe(0)
      expect(saved!.JournalLines.filter((l) => l.LineAmount > 0).reduce((s, l) => s + Math.round(l.LineAmount * 100), 0)).toBe(368703)
      expect(saved!.JournalLines.every((l) => l.Tracking[0]?.Option === 'S001')).toBe(true)
    })

    it('saves a draft when the connection says DRAFT', async () => {
      const { ctx } = await connect({ status: 'DRAFT' })
      const v = voucher()
      expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'exported', details: { status: 'DRAFT' } })
      expect(sim.journalsFor(v.reference).map((j) => j.Status)).toEqual(['DRAFT'])
    })

    it('retries a PUT whose answer was lost under the same Idempotency-Key: Xero replays it and holds one journal', async () => {
      const { ctx } = await connect()
      const v = voucher()
      sim.state.loseNextResponses = 1
      const { externalId } = delivered(await caps.exportVoucher(ctx, { voucher: v }))
      expect(sim.journalsFor(v.reference)).toHaveLength(1)
      const puts = sim.requestsFor('ManualJournals').filter((r) => r.method === 'PUT' && r.body?.includes(v.reference))
      expect(puts.map((p) => p.answer)).toEqual(['lost', 'replayed'])
      expect(puts[0]!.idempotencyKey).toBe(puts[1]!.idempotencyKey)

      // The job, unsure, sends the voucher again later: the journal is found by its Narration and nothing is saved.
      expect(await caps.exportVoucher(ctx, { voucher: v })).toEqual({ status: 'duplicate', externalId, number: null })
      expect(sim.journalsFor(v.reference)).toHaveLength(1)
      expect(await caps.findVoucher!(ctx, { reference: v.reference, date: v.date })).toEqual({ externalId, number: null })

      // Voided in Xero, it no longer counts as delivered.
      sim.state.manualJournals.get(externalId)!.Status = 'VOIDED'
      expect(await caps.findVoucher!(ctx, { reference: v.reference, date: v.date })).toBeNull()
    })
  })

  describe('refusals', () => {
    it('answers an account code Xero does not know as rejected invalid, saving nothing', async () => {
      const { ctx } = await connect({ accounts: { '2221.01.01': '2221', '6603.02': '6699' } })
      const v = voucher()
      expect(await caps.exportVoucher(ctx, { voucher: v })).toEqual({ status: 'rejected', reason: 'invalid', code: 'account_code', message: "Account code '6699' is not a valid code for this document." })
      expect(sim.journalsFor(v.reference)).toHaveLength(0)
    })

    it('answers an archived account and an unknown store option as rejected invalid with Xero’s messages', async () => {
      const { ctx } = await connect({ accounts: { '2221.01.01': '2221', '6603.02': '6602' } })
      const v = voucher()
      v.lines = v.lines.map((l) => (l.lineNo === 1 ? { ...l, dimensions: { department: 'S009' } } : l))
      const result = await caps.exportVoucher(ctx, { voucher: v })
      expect(result).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'validation' })
      expect((result as { message: string }).message.split('; ')).toEqual([
        "The TrackingOption 'S009' does not exist for TrackingCategory 'Store'.",
        "Account code '6602' has been archived, or has been deleted. Each line item must reference a valid account.",
      ])
    })

    it('refuses, before any call, an account code longer than Xero’s ten characters', async () => {
      const { ctx } = await connect()
      const v = voucher()
      v.lines = v.lines.map((l) => (l.account.code === '6603.02' ? { ...l, account: { code: '6603.02.001', name: '财务费用-手续费-微信' } } : l))
      const before = sim.state.requests.length
      expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'account_not_mapped', message: expect.stringContaining('6603.02.001') })
      expect(sim.state.requests.length).toBe(before)
    })

    it('refuses a voucher in another currency than the organisation’s books', async () => {
      const { ctx } = await connect()
      const v = voucher({ currency: 'USD' })
      expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'currency' })
      expect(sim.requestsFor('ManualJournals').some((r) => r.method === 'PUT' && r.body?.includes(v.reference))).toBe(false)
    })

    it('reads the organisation afresh once the connection is pointed at another one: its books are in another currency', async () => {
      const { ctx, connectionId } = await connect()
      expect(await caps.exportVoucher(ctx, { voucher: voucher() })).toMatchObject({ status: 'exported' })
      const saved = { tenantId: sim.state.tenantId, baseCurrency: sim.state.baseCurrency }
      try {
        sim.state.tenantId = 'b1f0c7e2-4d3a-4e8b-9c6f-2a7d5e1b3c90'
        sim.state.baseCurrency = 'USD'
        await updateConnection(hub.database.db, connectorRegistry, hub.secrets, vendor.merchantId, connectionId, { config: { tenantId: sim.state.tenantId } }, new Date())
        const moved = connectorContext(hub, await loadConnection(hub.database.db, connectorRegistry, hub.secrets, connectionId, vendor.merchantId))
        const v = voucher()
        expect(await caps.exportVoucher(moved, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'currency' })
        expect(sim.requestsFor('ManualJournals').some((r) => r.method === 'PUT' && r.body?.includes(v.reference))).toBe(false)
      } finally {
        Object.assign(sim.state, saved)
      }
    })

    it('answers a date inside a lock date as period_closed with the lock date, and tells the lock date', async () => {
      const { ctx } = await connect()
      sim.state.periodLockDate = '2026-11-30'
      sim.state.endOfYearLockDate = '2026-03-31'
      try {
        expect(await caps.lockDate!(ctx, {})).toBe('2026-11-30')
        const v = voucher()
        expect(await caps.exportVoucher(ctx, { voucher: v })).toEqual({
          status: 'rejected',
          reason: 'period_closed',
          code: 'lock_date',
          message: 'The document date cannot be before the period lock date, currently set at 30-Nov-2026 (locked through 2026-11-30)',
        })
        const early = voucher({ date: '2026-03-15' })
        expect(await caps.exportVoucher(ctx, { voucher: early })).toMatchObject({ status: 'rejected', reason: 'period_closed', message: expect.stringContaining('end of year lock date, currently set at 31-Mar-2026') })
        expect(sim.journalsFor(v.reference)).toHaveLength(0)
        // Re-dated to the first open day, the same reference is saved: a new body gets a new Idempotency-Key.
        expect(await caps.exportVoucher(ctx, { voucher: { ...v, date: '2026-12-01' } })).toMatchObject({ status: 'exported' })
      } finally {
        sim.state.periodLockDate = null
        sim.state.endOfYearLockDate = null
      }
      expect(await caps.lockDate!(ctx, {})).toBeNull()
    })

    it('saves a journal refused for a lock date once the lock is lifted, under a new Idempotency-Key; an answer lost then is still saved once', async () => {
      const { ctx } = await connect()
      const v = voucher()
      sim.state.periodLockDate = '2026-11-30'
      try {
        expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'period_closed', code: 'lock_date' })
      } finally {
        sim.state.periodLockDate = null
      }
      // The adviser lifts the lock; the same voucher, the same body, goes again and its answer is lost once.
      sim.state.loseNextResponses = 1
      const { externalId } = delivered(await caps.exportVoucher(ctx, { voucher: { ...v, refusals: 1 } }))
      const puts = () => sim.requestsFor('ManualJournals').filter((r) => r.method === 'PUT' && r.body?.includes(v.reference))
      expect(puts().map((p) => p.answer)).toEqual(['invalid', 'lost', 'replayed'])
      const [refused, lost, replayed] = puts()
      expect(lost!.idempotencyKey).not.toBe(refused!.idempotencyKey)
      expect(replayed!.idempotencyKey).toBe(lost!.idempotencyKey)

      // Sent once more while Xero's list does not show the journal yet: the key of the PUT that may have saved it, so
      // Xero replays that answer rather than saving it again or repeating the old refusal.
      const journal = sim.state.manualJournals.get(externalId)!
      sim.state.manualJournals.delete(externalId)
      try {
        expect(await caps.exportVoucher(ctx, { voucher: { ...v, refusals: 1 } })).toMatchObject({ status: 'exported', externalId })
      } finally {
        sim.state.manualJournals.set(externalId, journal)
      }
      expect(puts().at(-1)).toMatchObject({ answer: 'replayed', idempotencyKey: lost!.idempotencyKey })
      expect(await caps.exportVoucher(ctx, { voucher: { ...v, refusals: 1 } })).toEqual({ status: 'duplicate', externalId, number: null })
      expect(sim.journalsFor(v.reference)).toHaveLength(1)
    })

    it('saves a journal refused for an archived account once the account is restored, under a new Idempotency-Key', async () => {
      const { ctx } = await connect()
      const v = voucher()
      const fees = sim.state.accounts.get('6603.02')!
      fees.Status = 'ARCHIVED'
      try {
        expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', message: expect.stringContaining("Account code '6603.02' has been archived") })
      } finally {
        fees.Status = 'ACTIVE'
      }
      expect(await caps.exportVoucher(ctx, { voucher: { ...v, refusals: 1 } })).toMatchObject({ status: 'exported' })
      const puts = sim.requestsFor('ManualJournals').filter((r) => r.method === 'PUT' && r.body?.includes(v.reference))
      expect(puts.map((p) => p.answer)).toEqual(['invalid', 'ok'])
      expect(sim.journalsFor(v.reference)).toHaveLength(1)
    })

    it('refuses an unbalanced voucher without calling Xero', async () => {
      const { ctx } = await connect()
      const before = sim.state.requests.length
      const v = voucher({}, [EXAMPLE[0]!, ['11/20 S001 销售收入', '6001', '主营业务收入', 0, 15500]])
      expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'unbalanced' })
      expect(sim.state.requests.length).toBe(before)
    })
  })

  describe('tokens', () => {
    it('keeps the rotated refresh token, hands it to the secrets hook, and refreshes with it after a 401', async () => {
      const grace = sim.state.rotatedGraceSeconds
      sim.state.rotatedGraceSeconds = 0
      try {
        const original = sim.currentRefreshToken()!
        const { ctx: plain } = await connect()
        const saved: Record<string, string>[] = []
        const ctx = { ...plain, updateSecrets: async (patch: Record<string, string>) => void saved.push(patch) }
        await caps.lockDate!(ctx, {})
        const rotated = sim.currentRefreshToken()!
        expect(rotated).not.toBe(original)
        expect(saved).toEqual([{ refreshToken: rotated }])

        sim.expireAccessTokens()
        const before = sim.state.requests.length
        expect(await caps.findVoucher!(ctx, { reference: 'TB-NONE', date: '2026-11-20' })).toBeNull()
        expect(sim.state.requests.slice(before).map((r) => [r.operation, r.answer])).toEqual([
          ['ManualJournals', 'unauthorized'],
          ['token', 'ok'],
          ['ManualJournals', 'ok'],
        ])
        expect(saved.at(-1)).toEqual({ refreshToken: sim.currentRefreshToken() })
      } finally {
        sim.state.rotatedGraceSeconds = grace
      }
    })

    it('fails as auth_failed for a wrong client, a revoked consent or a tenant the consent does not cover', async () => {
      const wrong = await connect({ clientSecret: 'another-secret-1111111111' })
      expect(await rejection(caps.exportVoucher(wrong.ctx, { voucher: voucher() }), ConnectorError)).toMatchObject({ kind: 'auth_failed', status: 400, vendorCode: 'invalid_client' })

      const other = await connect({ tenantId: '00000000-0000-4000-8000-000000000000' })
      expect(await rejection(caps.lockDate!(other.ctx, {}), ConnectorError)).toMatchObject({ kind: 'auth_failed', status: 403, vendorCode: 'Forbidden' })

      const { ctx } = await connect()
      sim.revokeConsent()
      try {
        expect(await rejection(caps.exportVoucher(ctx, { voucher: voucher() }), ConnectorError)).toMatchObject({ kind: 'auth_failed', status: 400, vendorCode: 'invalid_grant' })
      } finally {
        sim.state.refreshTokens.set(REFRESH_TOKEN, { retiredAt: null })
      }
    })
  })

  describe('limits and outages', () => {
    it('honours Retry-After on a minute-limit 429 and completes', async () => {
      const { ctx, connectionId } = await connect()
      await caps.lockDate!(ctx, {})
      sim.state.throttleNext = 1
      sim.state.throttleProblem = 'minute'
      sim.state.retryAfterSeconds = 1
      const started = Date.now()
      expect(await caps.findVoucher!(ctx, { reference: 'TB-NONE', date: '2026-11-20' })).toBeNull()
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
      const log = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))
      expect(log.slice(-2).map((r) => [r.operation, r.statusCode, r.outcome])).toEqual([
        ['findVoucher', 429, 'rate_limited'],
        ['findVoucher', 200, 'ok'],
      ])
    })

    it('fails at once as rate_limited with the wait when the day limit is spent, saving nothing', async () => {
      const { ctx } = await connect()
      await caps.lockDate!(ctx, {})
      sim.state.throttleNext = 1
      sim.state.throttleProblem = 'day'
      sim.state.retryAfterSeconds = 3600
      const v = voucher()
      try {
        const e = await rejection(caps.exportVoucher(ctx, { voucher: v }), ConnectorError)
        expect(e).toMatchObject({ kind: 'rate_limited', status: 429, vendorCode: 'day limit', retryAfterMs: 3_600_000 })
        expect(e.transient).toBe(true)
      } finally {
        sim.state.throttleNext = 0
      }
      expect(sim.journalsFor(v.reference)).toHaveLength(0)
    })

    it('completes calls beyond the concurrent limit after the 429s Xero gives them', async () => {
      const { ctx } = await connect()
      await caps.lockDate!(ctx, {})
      sim.state.concurrent = 1
      sim.state.latencyMs = 50
      const before = sim.state.requests.length
      try {
        const found = await Promise.all([0, 1, 2].map((i) => caps.findVoucher!(ctx, { reference: `TB-CONC-${i}`, date: '2026-11-20' })))
        expect(found).toEqual([null, null, null])
      } finally {
        sim.state.concurrent = 5
        sim.state.latencyMs = 0
      }
      const answers = sim.state.requests.slice(before).map((r) => r.answer)
      expect(answers.filter((a) => a === 'throttled').length).toBeGreaterThan(0)
      expect(answers.filter((a) => a === 'ok')).toHaveLength(3)
    })

    it('reports an outage as retryable after the client’s retries', async () => {
      const { ctx } = await connect()
      await caps.lockDate!(ctx, {})
      sim.state.down = true
      try {
        expect(await rejection(caps.findVoucher!(ctx, { reference: 'TB-NONE', date: '2026-11-20' }), ConnectorError)).toMatchObject({ kind: 'retryable', status: 503 })
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
    const log = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))
    expect(log.map((r) => r.operation)).toEqual(['refreshAccessToken', 'organisation', 'findVoucher', 'exportVoucher', 'exportVoucher', 'lockDate', 'refreshAccessToken', 'lockDate'])
    const text = JSON.stringify(log)
    for (const secret of [CLIENT_SECRET, ...sim.issuedTokens(), Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')]) {
      expect(text).not.toContain(secret)
      expect(hub.logs.text).not.toContain(secret)
    }
  })
})
