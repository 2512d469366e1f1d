import { describe, expect, it } from 'vitest'
import { eq, inArray } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { useVendorServer, connectWith, rejection } from '../helpers/connections.ts'
import { kingdeeSandbox } from '../../src/sandboxes/vendors/kingdee.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import type { VoucherDocument, VoucherDocumentLine } from '../../src/connectors/framework/accounting.ts'
import { kingdee } from '../../src/connectors/accounting/kingdee/index.ts'

const SERVER = 'https://erp.tillbridge-test.cn'
const ACCT_ID = '6523f1a4b0e8c1'
const USER = 'tillbridge-api'
const PASSWORD = 'Kd!pass-2026-api'
const APP_ID = '312345_7d3cQ+wr6kHdWe9IRe2M3wxHzrSX'
const APP_SECRET = 'a7f3e9c2d1b84f6e9a0c5d7b3e1f8a26'
const caps = kingdee.capabilities

type Row = [summary: string, code: string, name: string, debit: number, credit: number, customer?: string]

/** The store-day voucher of vouchers.md §6 (S001, 2026-11-20), amounts in fen. */
const WORKED_EXAMPLE: Row[] = [
  ['11/20 S001 现金收款(实点)', '1001', '库存现金', 15600, 0],
  ['11/20 S001 现金短款', '1901', '待处理财产损溢', 50, 0],
  ['11/20 S001 微信收款(含储值充值 500.00)', '1012.01', '其他货币资金-微信', 96500, 0],
  ['11/20 S001 支付宝收款', '1012.02', '其他货币资金-支付宝', 10920, 0],
  ['11/20 S001 银行卡收款', '1122.01', '应收账款-银联', 113000, 0, 'UNIONPAY'],
  ['11/20 S001 储值消费', '2203.01', '预收账款-会员储值', 9160, 0],
  ['11/20 S001 会员储值充值', '2203.01', '预收账款-会员储值', 0, 50000],
  ['11/20 S001 销售收入 13%', '6001', '主营业务收入', 0, 177769],
  ['11/20 S001 销售退货 13%', '6001', '主营业务收入', 5000, 0],
  ['11/20 S001 销项税额 13%', '2221.01.01', '应交税费-应交增值税(销项税额)', 0, 23111],
  ['11/20 S001 退货冲减销项 13%', '2221.01.01', '应交税费-应交增值税(销项税额)', 650, 0],
  ['11/20 S001 微信手续费', '6603.01', '财务费用-手续费', 579, 0],
  ['11/20 S001 微信手续费', '1012.01', '其他货币资金-微信', 0, 579],
  ['11/20 S001 支付宝手续费', '6603.01', '财务费用-手续费', 66, 0],
  ['11/20 S001 支付宝手续费', '1012.02', '其他货币资金-支付宝', 0, 66],
  ['11/20 S001 银联手续费', '6603.01', '财务费用-手续费', 678, 0],
  ['11/20 S001 银联手续费', '1122.01', '应收账款-银联', 0, 678, 'UNIONPAY'],
  ['11/20 S001 结转销售成本', '6401', '主营业务成本', 116500, 0],
  ['11/20 S001 结转销售成本', '1405', '库存商品', 0, 116500],
]

function voucher(reference: string, o: { date?: string; rows?: Row[] } = {}): VoucherDocument {
  const date = o.date ?? '2026-11-20'
  const lines: VoucherDocumentLine[] = (o.rows ?? WORKED_EXAMPLE).map(([summary, code, name, debit, credit, customer], i) => ({
    lineNo: i + 1,
    summary,
    account: { code, name },
    dimensions: { department: 'S001', ...(customer ? { customer } : {}) },
    debit,
    credit,
  }))
  return {
    reference,
    idempotencyKey: '0b7c6f3e-2d4a-5e8f-9a1b-3c5d7e9f1a2b',
    kind: 'daily',
    date,
    businessDate: date,
    word: '记',
    currency: 'CNY',
    corrects: null,
    narration: `POS daily voucher S001 ${date}`,
    store: { id: 'c4a1e2f0-0000-4000-8000-000000000001', code: 'S001', name: 'S001 门店' },
    lines,
    attachments: 0,
  }
}

/** A small balanced voucher (order A of §6: cash sale of 113.00 with 13 % VAT). */
const small = (reference: string, date?: string) =>
  voucher(reference, {
    date,
    rows: [
      ['11/20 S001 现金收款', '1001', '库存现金', 11300, 0],
      ['11/20 S001 销售收入 13%', '6001', '主营业务收入', 0, 10000],
      ['11/20 S001 销项税额 13%', '2221.01.01', '应交税费-应交增值税(销项税额)', 0, 1300],
    ],
  })

describe('Kingdee K/3 Cloud accounting connector', () => {
  const hub = useTestHub()
  const sim = kingdeeSandbox({ serverUrl: SERVER, acctId: ACCT_ID, username: USER, password: PASSWORD, app: { appId: APP_ID, appSecret: APP_SECRET }, customFields: ['F_TB_ExtNo'] })
  const vendor = useVendorServer(hub, ...sim.handlers)
  const connectionIds: string[] = []
  for (const [, code, name] of WORKED_EXAMPLE) sim.addAccount(code, name)
  sim.addAccount('6603.02', '财务费用-利息', { audited: false })
  sim.addDimensionValue('FFLEX5', 'S001')
  sim.addDimensionValue('FFLEX9', 'S001')
  sim.addDimensionValue('FFLEX6', 'UNIONPAY')

  const connect = connectWith(hub, vendor, 'kingdee', {
    name: 'Kingdee',
    config: { serverUrl: SERVER, acctId: ACCT_ID, username: USER, password: PASSWORD, accountBook: '001' },
    onCreated: (id) => connectionIds.push(id),
  })

  const savesOf = (reference: string) => sim.vouchers().filter((v) => v.entries[0]!.explanation.startsWith(`${reference} `) || v.custom.F_TB_ExtNo === reference)
  const lastBody = (service: 'Save' | 'ExecuteBillQuery' | 'ValidateUser' | 'LoginByAppSecret') => sim.requestsOf(service).at(-1)!.body as Record<string, any>

  /** The entry the connector must send for a line of the worked example. */
  const entry = (explanation: string, account: string, side: 'FDEBIT' | 'FCREDIT', amount: string, customer?: string) => ({
    FEXPLANATION: explanation,
    FACCOUNTID: { FNumber: account },
    FDetailID: { FDETAILID__FFLEX5: { FNumber: 'S001' }, ...(customer ? { FDETAILID__FFLEX6: { FNumber: customer } } : {}) },
    FCURRENCYID: { FNumber: 'PRE001' },
    FEXCHANGERATETYPE: { FNumber: 'HLTX01_SYS' },
    FEXCHANGERATE: 1,
    FAMOUNTFOR: amount,
    [side]: amount,
  })

  describe('export', () => {
    it('saves the worked example as GL_VOUCHER with the documented Model and returns its id and 凭证号', async () => {
      const { ctx } = await connect()
      const result = await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261120-R1') })
      const saved = savesOf('TB-S001-20261120-R1')
      expect(saved).toHaveLength(1)
      expect(result).toEqual({ status: 'exported', externalId: String(saved[0]!.id), number: String(saved[0]!.groupNo), details: { formId: 'GL_VOUCHER' } })

      expect(lastBody('ValidateUser')).toEqual({ format: 1, useragent: 'ApiClient', rid: {}, parameters: [ACCT_ID, USER, PASSWORD, 2052], timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/), v: '1.0' })
      expect(lastBody('Save')).toEqual({
        formid: 'GL_VOUCHER',
        data: {
          NeedUpDateFields: [],
          NeedReturnFields: ['FVOUCHERID', 'FVOUCHERGROUPNO'],
          SubSystemId: 'GL',
          IsVerifyBaseDataField: 'true',
          ValidateFlag: 'true',
          NumberSearch: 'true',
          ValidateRepeatJson: 'true',
          Model: {
            FAccountBookID: { FNumber: '001' },
            FDate: '2026-11-20',
            FBUSDATE: '2026-11-20',
            FYEAR: 2026,
            FPERIOD: 11,
            FVOUCHERGROUPID: { FNumber: 'PRE001' },
            FATTACHMENTS: 0,
            FEntity: [
              entry('TB-S001-20261120-R1 11/20 S001 现金收款(实点)', '1001', 'FDEBIT', '156.00'),
              entry('11/20 S001 现金短款', '1901', 'FDEBIT', '0.50'),
              entry('11/20 S001 微信收款(含储值充值 500.00)', '1012.01', 'FDEBIT', '965.00'),
              entry('11/20 S001 支付宝收款', '1012.02', 'FDEBIT', '109.20'),
              entry('11/20 S001 银行卡收款', '1122.01', 'FDEBIT', '1130.00', 'UNIONPAY'),
              entry('11/20 S001 储值消费', '2203.01', 'FDEBIT', '91.60'),
              entry('11/20 S001 会员储值充值', '2203.01', 'FCREDIT', '500.00'),
              entry('11/20 S001 销售收入 13%', '6001', 'FCREDIT', '1777.69'),
              entry('11/20 S001 销售退货 13%', '6001', 'FDEBIT', '50.00'),
              entry('11/20 S001 销项税额 13%', '2221.01.01', 'FCREDIT', '231.11'),
              entry('11/20 S001 退货冲减销项 13%', '2221.01.01', 'FDEBIT', '6.50'),
              entry('11/20 S001 微信手续费', '6603.01', 'FDEBIT', '5.79'),
              entry('11/20 S001 微信手续费', '1012.01', 'FCREDIT', '5.79'),
              entry('11/20 S001 支付宝手续费', '6603.01', 'FDEBIT', '0.66'),
              entry('11/20 S001 支付宝手续费', '1012.02', 'FCREDIT', '0.66'),
              entry('11/20 S001 银联手续费', '6603.01', 'FDEBIT', '6.78'),
              entry('11/20 S001 银联手续费', '1122.01', 'FCREDIT', '6.78', 'UNIONPAY'),
              entry('11/20 S001 结转销售成本', '6401', 'FDEBIT', '1165.00'),
              entry('11/20 S001 结转销售成本', '1405', 'FCREDIT', '1165.00'),
            ],
          },
        },
      })
      // The rate precedes the amounts (Kingdee recomputes in reading order), and no internal id is ever sent.
      const first = (lastBody('Save').data.Model.FEntity as Record<string, unknown>[])[0]!
      expect(Object.keys(first).indexOf('FEXCHANGERATE')).toBeLessThan(Object.keys(first).indexOf('FAMOUNTFOR'))
      for (const r of sim.requestsOf('Save')) expect((r.body as any).data.Model).not.toHaveProperty('FVOUCHERID')
      // Kingdee holds the voucher to the fen: 3,687.03 on each side.
      expect(saved[0]!.entries.reduce((s, e) => s + e.debit, 0)).toBe(368_703)
      expect(saved[0]!.entries.reduce((s, e) => s + e.credit, 0)).toBe(368_703)
    })

    it('looks for the reference before saving, and a voucher already there comes back as a duplicate', async () => {
      const { ctx } = await connect()
      const first = await caps.exportVoucher(ctx, { voucher: small('TB-S001-20261120-R2') })
      const query = lastBody('ExecuteBillQuery').data
      expect(query).toEqual({
        FormId: 'GL_VOUCHER',
        FieldKeys: 'FVOUCHERID,FVOUCHERGROUPNO,FEXPLANATION',
        FilterString: "FAccountBookID.FNumber = '001' and FDate = '2026-11-20' and FEXPLANATION like 'TB-S001-20261120-R2 %'",
        OrderString: 'FVOUCHERID',
        TopRowCount: 0,
        StartRow: 0,
        Limit: 2000,
        SubSystemId: 'GL',
      })
      const saves = sim.requestsOf('Save').length
      const again = await caps.exportVoucher(ctx, { voucher: small('TB-S001-20261120-R2') })
      expect(first.status).toBe('exported')
      expect(again).toEqual({ status: 'duplicate', externalId: (first as { externalId: string }).externalId, number: (first as { number: string }).number })
      expect(sim.requestsOf('Save')).toHaveLength(saves)
      expect(savesOf('TB-S001-20261120-R2')).toHaveLength(1)
    })

    it('does not post twice when the answer to a Save is lost: the retry finds the voucher by its reference', async () => {
      const { ctx } = await connect()
      sim.state.loseNextSaveReply = 1
      const lost = await rejection(caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261121-R1', { date: '2026-11-21' }) }), ConnectorError)
      expect(lost.kind).toBe('retryable')
      expect(lost.transient).toBe(true)
      // The job retries later.
      const retry = await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261121-R1', { date: '2026-11-21' }) })
      const saved = savesOf('TB-S001-20261121-R1')
      expect(saved).toHaveLength(1)
      expect(retry).toEqual({ status: 'duplicate', externalId: String(saved[0]!.id), number: String(saved[0]!.groupNo) })
      expect(sim.requestsOf('Save').filter((r) => (r.body as any).data.Model.FDate === '2026-11-21')).toHaveLength(1)
    })

    it('finds a voucher by its exact reference, not by a longer one sharing its start', async () => {
      const { ctx } = await connect()
      await caps.exportVoucher(ctx, { voucher: small('TB-S001-20261122-R10', '2026-11-22') })
      expect(await caps.findVoucher!(ctx, { reference: 'TB-S001-20261122-R1', date: '2026-11-22' })).toBeNull()
      const found = await caps.findVoucher!(ctx, { reference: 'TB-S001-20261122-R10', date: '2026-11-22' })
      const saved = savesOf('TB-S001-20261122-R10')[0]!
      expect(found).toEqual({ externalId: String(saved.id), number: String(saved.groupNo) })
    })

    it('carries the reference in a BOS extension field when one is configured', async () => {
      const { ctx } = await connect({ referenceField: 'F_TB_ExtNo' })
      const result = await caps.exportVoucher(ctx, { voucher: small('TB-S001-20261123-R1', '2026-11-23') })
      const model = lastBody('Save').data.Model
      expect(model.F_TB_ExtNo).toBe('TB-S001-20261123-R1')
      expect(model.FEntity[0].FEXPLANATION).toBe('11/20 S001 现金收款')
      expect(lastBody('ExecuteBillQuery').data).toMatchObject({ FieldKeys: 'FVOUCHERID,FVOUCHERGROUPNO,F_TB_ExtNo', FilterString: "FAccountBookID.FNumber = '001' and FDate = '2026-11-23' and F_TB_ExtNo = 'TB-S001-20261123-R1'" })
      expect(result).toMatchObject({ status: 'exported' })
      const { externalId, number } = result as { externalId: string; number: string }
      expect(await caps.findVoucher!(ctx, { reference: 'TB-S001-20261123-R1', date: '2026-11-23' })).toEqual({ externalId, number })
    })

    it('refuses to save when the configured reference field does not exist in GL_VOUCHER', async () => {
      const { ctx } = await connect({ referenceField: 'F_XX_Missing' })
      const before = sim.requestsOf('Save').length
      const e = await rejection(caps.exportVoucher(ctx, { voucher: small('TB-S001-20261124-R1', '2026-11-24') }), ConnectorError)
      expect(e).toMatchObject({ kind: 'permanent', vendorCode: 'MsgCode 9' })
      expect(e.message).toContain('F_XX_Missing')
      expect(sim.requestsOf('Save')).toHaveLength(before)
    })

    it('maps dimensions to the configured 核算维度 slots, and refuses a dimension it has no slot for', async () => {
      const { ctx } = await connect({ dimensionSlots: { department: 'FFLEX9' } })
      await caps.exportVoucher(ctx, { voucher: small('TB-S001-20261125-R1', '2026-11-25') })
      expect(lastBody('Save').data.Model.FEntity[0].FDetailID).toEqual({ FDETAILID__FFLEX9: { FNumber: 'S001' } })

      const before = sim.state.requests.length
      const result = await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261125-R2', { date: '2026-11-25' }) })
      expect(result).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'unmapped_dimension' })
      expect((result as { message: string }).message).toContain('customer')
      expect(sim.state.requests).toHaveLength(before)
    })
  })

  describe("Kingdee's refusals", () => {
    it('rejects a voucher with an unknown or unaudited account as invalid, with the entry in the message', async () => {
      const { ctx } = await connect()
      const rows: Row[] = [
        ['11/20 S001 现金收款', '1001', '库存现金', 11300, 0],
        ['11/20 S001 销售收入', '9999', '不存在的科目', 0, 11300],
      ]
      const result = await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261126-R1', { date: '2026-11-26', rows }) })
      expect(result).toEqual({ status: 'rejected', reason: 'invalid', code: 'MsgCode 9', message: 'FACCOUNTID: 第2行分录：科目编码“9999”不存在或未审核' })

      const unaudited: Row[] = [
        ['11/20 S001 利息', '6603.02', '财务费用-利息', 100, 0],
        ['11/20 S001 利息', '1001', '库存现金', 0, 100],
      ]
      expect(await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261126-R2', { date: '2026-11-26', rows: unaudited }) })).toMatchObject({ status: 'rejected', reason: 'invalid' })
      expect(sim.vouchers().filter((v) => v.date === '2026-11-26')).toHaveLength(0)
    })

    it('rejects an unknown dimension value as invalid', async () => {
      const { ctx } = await connect()
      const v = small('TB-S999-20261126-R1', '2026-11-26')
      v.lines = v.lines.map((l) => ({ ...l, dimensions: { department: 'S999' } }))
      const result = await caps.exportVoucher(ctx, { voucher: v })
      expect(result).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'MsgCode 9' })
      expect((result as { message: string }).message).toContain('核算维度(FFLEX5)编码“S999”不存在')
    })

    it('rejects a voucher dated in a closed period as period_closed', async () => {
      const { ctx } = await connect()
      sim.closePeriodsThrough(2026, 10)
      try {
        const result = await caps.exportVoucher(ctx, { voucher: small('TB-S001-20261031-R1', '2026-10-31') })
        expect(result).toMatchObject({ status: 'rejected', reason: 'period_closed', code: 'MsgCode 11' })
        expect((result as { message: string }).message).toContain('已结账')
        // The first open day is fine.
        expect(await caps.exportVoucher(ctx, { voucher: small('TB-S001-20261031-R2', '2026-11-01') })).toMatchObject({ status: 'exported' })
      } finally {
        sim.state.closedThrough = null
      }
    })
  })

  describe('session', () => {
    it('keeps the session cookie for the connection: two exports sign in once', async () => {
      const { ctx } = await connect()
      const logins = sim.requestsOf('ValidateUser').length
      await caps.exportVoucher(ctx, { voucher: small('TB-S002-20261120-R1') })
      await caps.exportVoucher(ctx, { voucher: small('TB-S002-20261120-R2') })
      expect(sim.requestsOf('ValidateUser')).toHaveLength(logins + 1)
      const sessions = new Set(sim.state.requests.slice(-4).map((r) => r.sessionId))
      expect(sessions.size).toBe(1)
      expect([...sessions][0]).toMatch(/^[0-9a-f]{32}$/)
    })

    it('signs in again when the password or app secret changes (the old session is not used with new credentials)', async () => {
      const { ctx } = await connect()
      await caps.exportVoucher(ctx, { voucher: small('TB-S012-20261120-R1') })
      const logins = sim.requestsOf('ValidateUser').length
      const changed = { ...ctx, config: { ...ctx.config, password: 'not-the-password' } }
      const e = await rejection(caps.exportVoucher(changed, { voucher: small('TB-S012-20261120-R2') }), ConnectorError)
      expect(e).toMatchObject({ kind: 'auth_failed' })
      expect(sim.requestsOf('ValidateUser')).toHaveLength(logins + 1)
      expect(savesOf('TB-S012-20261120-R2')).toHaveLength(0)
    })

    it('signs in again once when Kingdee says the session is lost, and goes on', async () => {
      const { ctx } = await connect()
      await caps.exportVoucher(ctx, { voucher: small('TB-S003-20261120-R1') })
      sim.expireSessions()
      const before = sim.state.requests.length
      expect(await caps.exportVoucher(ctx, { voucher: small('TB-S003-20261120-R2') })).toMatchObject({ status: 'exported' })
      expect(sim.state.requests.slice(before).map((r) => [r.service, r.answer])).toEqual([
        ['ExecuteBillQuery', 'session_lost'],
        ['ValidateUser', 'ok'],
        ['ExecuteBillQuery', 'ok'],
        ['Save', 'ok'],
      ])
    })

    it('fails as retryable when the session is lost again right after a new login', async () => {
      const { ctx } = await connect()
      await caps.exportVoucher(ctx, { voucher: small('TB-S004-20261120-R1') })
      const before = sim.state.requests.length
      sim.state.sessionLostNext = 2
      const e = await rejection(caps.exportVoucher(ctx, { voucher: small('TB-S004-20261120-R2') }), ConnectorError)
      expect(e).toMatchObject({ kind: 'retryable', vendorCode: 'MsgCode 1' })
      expect(sim.state.requests.slice(before).map((r) => [r.service, r.answer])).toEqual([
        ['ExecuteBillQuery', 'session_lost'],
        ['ValidateUser', 'ok'],
        ['ExecuteBillQuery', 'session_lost'],
      ])
    })

    it('signs in with LoginByAppSecret when an app id and secret are configured', async () => {
      const { ctx, loaded } = await connect({ password: undefined, appId: APP_ID, appSecret: APP_SECRET })
      expect(await caps.exportVoucher(ctx, { voucher: small('TB-S005-20261120-R1') })).toMatchObject({ status: 'exported' })
      expect(lastBody('LoginByAppSecret').parameters).toEqual([ACCT_ID, USER, APP_ID, APP_SECRET, 2052])
      expect(await runCheck(hub, loaded)).toMatchObject({ ok: true, message: expect.stringContaining(`数据中心 ${ACCT_ID}`) })
    })

    it('reports a wrong password or app secret as auth_failed', async () => {
      const wrong = await connect({ password: 'not-the-password' })
      const e = await rejection(caps.exportVoucher(wrong.ctx, { voucher: small('TB-S006-20261120-R1') }), ConnectorError)
      expect(e).toMatchObject({ kind: 'auth_failed', vendorCode: 'LoginResultType 0' })
      expect(e.message).toContain('用户名或密码错误')
      expect(await runCheck(hub, wrong.loaded)).toMatchObject({ ok: false, message: expect.stringContaining('refused the login') })

      const app = await connect({ password: undefined, appId: APP_ID, appSecret: 'ffffffffffffffffffffffffffffffff' })
      expect(await rejection(caps.exportVoucher(app.ctx, { voucher: small('TB-S006-20261120-R2') }), ConnectorError)).toMatchObject({ kind: 'auth_failed' })
      expect(sim.vouchers().filter((v) => v.entries[0]!.explanation.startsWith('TB-S006'))).toHaveLength(0)
    })

    it('needs a password or an app id and secret', async () => {
      await expect(connect({ password: undefined })).rejects.toMatchObject({ code: 'invalid_config' })
      await expect(connect({ password: undefined, appId: APP_ID })).rejects.toMatchObject({ code: 'invalid_config' })
    })
  })

  describe('transient failures', () => {
    it('waits out a 429 from the gateway and saves once', async () => {
      const { ctx } = await connect()
      sim.state.rateLimitNext = 1
      expect(await caps.exportVoucher(ctx, { voucher: small('TB-S007-20261120-R1') })).toMatchObject({ status: 'exported' })
      expect(savesOf('TB-S007-20261120-R1')).toHaveLength(1)
    })

    it('reports a lasting 429 as rate_limited, without saving', async () => {
      const { ctx } = await connect()
      await caps.exportVoucher(ctx, { voucher: small('TB-S008-20261120-R1') })
      sim.state.rateLimitNext = 10
      try {
        const e = await rejection(caps.exportVoucher(ctx, { voucher: small('TB-S008-20261120-R2') }), ConnectorError)
        expect(e).toMatchObject({ kind: 'rate_limited', status: 429 })
        expect(e.transient).toBe(true)
      } finally {
        sim.state.rateLimitNext = 0
      }
      expect(savesOf('TB-S008-20261120-R2')).toHaveLength(0)
    })

    it("repeats a call refused with Kingdee's own call limit (MsgCode 14): it was not executed", async () => {
      const { ctx } = await connect()
      await caps.findVoucher!(ctx, { reference: 'TB-S009-20261120-R1', date: '2026-11-20' })
      const before = sim.state.requests.length
      sim.state.throttleNext = 1
      sim.state.throttleSavesNext = 1
      expect(await caps.exportVoucher(ctx, { voucher: small('TB-S009-20261120-R1') })).toMatchObject({ status: 'exported' })
      expect(sim.state.requests.slice(before).map((r) => [r.service, r.answer])).toEqual([
        ['ExecuteBillQuery', 'throttled'],
        ['ExecuteBillQuery', 'ok'],
        ['Save', 'throttled'],
        ['Save', 'ok'],
      ])
      expect(savesOf('TB-S009-20261120-R1')).toHaveLength(1)
    })

    it('reports an outage (503) as retryable', async () => {
      const { ctx } = await connect()
      sim.state.down = true
      try {
        const e = await rejection(caps.exportVoucher(ctx, { voucher: small('TB-S010-20261120-R1') }), ConnectorError)
        expect(e).toMatchObject({ kind: 'retryable', status: 503 })
        expect(e.transient).toBe(true)
      } finally {
        sim.state.down = false
      }
      expect(savesOf('TB-S010-20261120-R1')).toHaveLength(0)
    })
  })

  it('keeps passwords, app secrets and session ids out of the call log and the logs', async () => {
    const rows = await hub.database.db.select().from(connectorCalls).where(inArray(connectorCalls.connectionId, connectionIds))
    expect(rows.length).toBeGreaterThan(30)
    expect(rows.some((r) => r.operation === 'login' && r.requestExcerpt?.includes(ACCT_ID))).toBe(true)
    const logged = JSON.stringify(rows) + hub.logs.text
    for (const s of [PASSWORD, APP_SECRET, ...sim.state.sessions.keys(), ...[...sim.state.sessions.values()].map((s) => s.aspNetSessionId)]) expect(logged).not.toContain(s)
    const one = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.operation, 'login')).limit(1)
    expect(one[0]!.responseExcerpt).toMatch(/\[\d+ bytes\]/)
  })
})
