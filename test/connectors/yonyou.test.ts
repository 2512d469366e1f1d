import { describe, expect, it } from 'vitest'
import { inArray } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { useVendorServer, connectWith, rejection } from '../helpers/connections.ts'
import { yonyouSandbox } from '../../src/sandboxes/vendors/yonyou.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import type { DimensionKind, VoucherDocument, VoucherDocumentLine } from '../../src/connectors/framework/accounting.ts'
import { yonyouU8 } from '../../src/connectors/accounting/yonyou/index.ts'

const EAI_URL = 'http://u8.tillbridge-test.cn/U8EAI/import.asp'
const SENDER = 'TB01'
const ENTER = '张会计'
const HTTP_USER = 'eai-gateway'
const HTTP_PASSWORD = 'Gw#u8-basic-2026'
const caps = yonyouU8.capabilities

type Row = [summary: string, code: string, name: string, debit: number, credit: number, dims?: Partial<Record<DimensionKind, string>>]

/** The store-day voucher of vouchers.md §6 (S001, 2026-11-20), amounts in fen. */
const WORKED_EXAMPLE: Row[] = [
  ['11/20 S001 现金收款(实点)', '1001', '库存现金', 15600, 0],
  ['11/20 S001 现金短款', '1901', '待处理财产损溢', 50, 0],
  ['11/20 S001 微信收款(含储值充值 500.00)', '1012.01', '其他货币资金-微信', 96500, 0],
  ['11/20 S001 支付宝收款', '1012.02', '其他货币资金-支付宝', 10920, 0],
  ['11/20 S001 银行卡收款', '1122.01', '应收账款-银联', 113000, 0, { customer: 'UNIONPAY' }],
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
  ['11/20 S001 银联手续费', '1122.01', '应收账款-银联', 0, 678, { customer: 'UNIONPAY' }],
  ['11/20 S001 结转销售成本', '6401', '主营业务成本', 116500, 0],
  ['11/20 S001 结转销售成本', '1405', '库存商品', 0, 116500],
]

/** Order D of §6: a card sale of 1,130.00 with 13 % VAT, the card channel as customer. */
const CARD_SALE: Row[] = [
  ['11/20 S001 银行卡收款', '1122.01', '应收账款-银联', 113000, 0, { customer: 'UNIONPAY' }],
  ['11/20 S001 销售收入 13%', '6001', '主营业务收入', 0, 100000],
  ['11/20 S001 销项税额 13%', '2221.01.01', '应交税费-应交增值税(销项税额)', 0, 13000],
]

function voucher(reference: string, o: { date?: string; rows?: Row[] } = {}): VoucherDocument {
  const date = o.date ?? '2026-11-20'
  const lines: VoucherDocumentLine[] = (o.rows ?? WORKED_EXAMPLE).map(([summary, code, name, debit, credit, dims], i) => ({
    lineNo: i + 1,
    summary,
    account: { code, name },
    dimensions: { department: 'S001', ...dims },
    debit,
    credit,
  }))
  return {
    reference,
    idempotencyKey: '6f1d2c3b-4a5e-5f60-8172-93a4b5c6d7e8',
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

const AUX = ['dept_id', 'personnel_id', 'cust_id', 'supplier_id', 'item_id', 'item_class', 'operator', ...Array.from({ length: 16 }, (_, i) => `self_define${i + 1}`)]
const aux = (values: Record<string, string>) => `<auxiliary_accounting>${AUX.map((n) => (values[n] ? `<item name="${n}">${values[n]}</item>` : `<item name="${n}"/>`)).join('')}</auxiliary_accounting>`
const entryXml = (id: number, code: string, abstract: string, debit: string, credit: string, values: Record<string, string>) =>
  `<entry><entry_id>${id}</entry_id><account_code>${code}</account_code><abstract>${abstract}</abstract><settlement/><document_id/><document_date/><currency/><unit_price/><exchange_rate1/>` +
  `<exchange_rate2>0</exchange_rate2><debit_quantity>0</debit_quantity><primary_debit_amount>0</primary_debit_amount><secondary_debit_amount/><natural_debit_currency>${debit}</natural_debit_currency>` +
  `<credit_quantity>0</credit_quantity><primary_credit_amount>0</primary_credit_amount><secondary_credit_amount/><natural_credit_currency>${credit}</natural_credit_currency>` +
  `<bill_type/><bill_id/><bill_date/>${aux(values)}<detail><cash_flow_statement/><code_remark_statement/></detail></entry>`

describe('Yonyou U8 accounting connector (EAI)', () => {
  const hub = useTestHub()
  const sim = yonyouSandbox({ eaiUrl: EAI_URL, senders: [SENDER], operators: [ENTER] })
  const gated = yonyouSandbox({ eaiUrl: 'https://gw.tillbridge-test.cn/U8EAI/import.asp', senders: [SENDER], operators: [ENTER], basicAuth: { user: HTTP_USER, password: HTTP_PASSWORD } })
  const vendor = useVendorServer(hub, ...sim.handlers, ...gated.handlers)
  const connectionIds: string[] = []
  for (const s of [sim, gated]) {
    for (const [, code, name] of WORKED_EXAMPLE) s.addAccount(code, name)
    s.addAccount('6603', '财务费用', { leaf: false })
    s.addDimensionValue('dept_id', 'S001')
    s.addDimensionValue('cust_id', 'UNIONPAY')
    s.addDimensionValue('item_id', 'P2026')
  }

  const connect = connectWith(hub, vendor, 'yonyou-u8', { name: 'U8', config: { eaiUrl: EAI_URL, sender: SENDER, enter: ENTER }, onCreated: (id) => connectionIds.push(id) })

  describe('export', () => {
    it('posts the EAI voucher document U8 documents and returns the number U8 gave', async () => {
      const { ctx } = await connect()
      const result = await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261120-R1', { rows: CARD_SALE }) })
      const [saved] = sim.byReference('TB-S001-20261120-R1')
      expect(saved).toBeDefined()
      expect(result).toEqual({ status: 'exported', externalId: `2026-11-记-${saved!.no}`, number: `记-${saved!.no}`, details: { dsc: '凭证已成功保存', u8key: expect.stringMatching(/^\d+$/) } })
      expect(sim.imports().at(-1)!.body).toBe(
        '<?xml version="1.0" encoding="utf-8"?>' +
          `<ufinterface roottag="voucher" billtype="gl" proc="add" sender="${SENDER}" receiver="u8" codeexchanged="N">` +
          '<voucher id="TB-S001-20261120-R1"><voucher_head>' +
          '<company/><voucher_type>记</voucher_type><fiscal_year>2026</fiscal_year><accounting_period>11</accounting_period><voucher_id/><attachment_number>0</attachment_number>' +
          `<date>2026-11-20</date><auditdate/><enter>${ENTER}</enter><cashier/><signature/><checker/><posting_date/><posting_person/><voucher_making_system/>` +
          '<memo1/><memo2/><reserve1/><reserve2>TB-S001-20261120-R1</reserve2><revokeflag/></voucher_head><voucher_body>' +
          entryXml(1, '1122.01', '11/20 S001 银行卡收款', '1130.00', '0', { dept_id: 'S001', cust_id: 'UNIONPAY' }) +
          entryXml(2, '6001', '11/20 S001 销售收入 13%', '0', '1000.00', { dept_id: 'S001' }) +
          entryXml(3, '2221.01.01', '11/20 S001 销项税额 13%', '0', '130.00', { dept_id: 'S001' }) +
          '</voucher_body></voucher></ufinterface>',
      )
    })

    it('delivers the whole worked example to the fen, every line with its department', async () => {
      const { ctx } = await connect()
      expect(await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261120-R2') })).toMatchObject({ status: 'exported' })
      const [saved] = sim.byReference('TB-S001-20261120-R2')
      expect(saved!.entries).toHaveLength(19)
      expect(saved!.entries.reduce((s, e) => s + e.debit, 0)).toBe(368_703)
      expect(saved!.entries.reduce((s, e) => s + e.credit, 0)).toBe(368_703)
      expect(saved!.entries.every((e) => e.auxiliary.dept_id === 'S001')).toBe(true)
      expect(saved!.entries.filter((e) => e.auxiliary.cust_id === 'UNIONPAY').map((e) => e.entryId)).toEqual(['5', '17'])
      expect(saved!.entries[1]).toEqual({ entryId: '2', account: '1901', abstract: '11/20 S001 现金短款', debit: 50, credit: 0, auxiliary: { dept_id: 'S001' } })
    })

    it('does not post twice when the answer is lost: the retry meets the reference in reserve2 and is a duplicate', async () => {
      const { ctx } = await connect()
      sim.state.loseNextReply = 1
      const lost = await rejection(caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261121-R1', { date: '2026-11-21', rows: CARD_SALE }) }), ConnectorError)
      expect(lost.kind).toBe('retryable')
      expect(lost.transient).toBe(true)
      const retry = await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261121-R1', { date: '2026-11-21', rows: CARD_SALE }) })
      expect(retry).toMatchObject({ status: 'duplicate', externalId: 'TB-S001-20261121-R1', number: null, details: { matchedBy: 'reserve2' } })
      expect(sim.byReference('TB-S001-20261121-R1')).toHaveLength(1)
      expect(sim.imports().filter((r) => r.body.includes('<reserve2>TB-S001-20261121-R1</reserve2>')).map((r) => r.answer)).toEqual(['reply_lost', 'refused'])
    })

    it('maps dimensions to the configured 辅助核算 items, with the 项目大类 of a project', async () => {
      const { ctx } = await connect({ dimensionItems: { department: 'self_define1', project: 'item_id' }, projectClass: '01' })
      const rows: Row[] = [
        ['11/20 S001 现金收款', '1001', '库存现金', 11300, 0, { project: 'P2026' }],
        ['11/20 S001 销售收入', '6001', '主营业务收入', 0, 11300],
      ]
      expect(await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261122-R1', { date: '2026-11-22', rows }) })).toMatchObject({ status: 'exported' })
      const [saved] = sim.byReference('TB-S001-20261122-R1')
      expect(saved!.entries.map((e) => e.auxiliary)).toEqual([{ self_define1: 'S001', item_id: 'P2026', item_class: '01' }, { self_define1: 'S001' }])

      const before = sim.state.requests.length
      const unmapped = await connect({ dimensionItems: { department: 'dept_id' } })
      const result = await caps.exportVoucher(unmapped.ctx, { voucher: voucher('TB-S001-20261122-R2', { date: '2026-11-22', rows: CARD_SALE }) })
      expect(result).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'unmapped_dimension' })
      expect(sim.state.requests).toHaveLength(before)
    })
  })

  describe("U8's refusals", () => {
    it('rejects an unknown or non-leaf account as invalid with U8 description', async () => {
      const { ctx } = await connect()
      const unknown: Row[] = [
        ['11/20 S001 现金收款', '1001', '库存现金', 11300, 0],
        ['11/20 S001 销售收入', '9999', '不存在的科目', 0, 11300],
      ]
      expect(await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261123-R1', { date: '2026-11-23', rows: unknown }) })).toEqual({
        status: 'rejected',
        reason: 'invalid',
        code: 'succeed 1',
        message: '第2条分录：科目编码[9999]不存在',
      })
      const parent: Row[] = [
        ['11/20 S001 手续费', '6603', '财务费用', 100, 0],
        ['11/20 S001 手续费', '1001', '库存现金', 0, 100],
      ]
      expect(await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261123-R2', { date: '2026-11-23', rows: parent }) })).toMatchObject({ status: 'rejected', reason: 'invalid', message: expect.stringContaining('不是末级科目') })
      expect(sim.vouchers().filter((v) => v.date === '2026-11-23')).toHaveLength(0)
    })

    it('rejects an unknown department as invalid', async () => {
      const { ctx } = await connect()
      const v = voucher('TB-S999-20261123-R1', { date: '2026-11-23', rows: CARD_SALE })
      v.lines = v.lines.map((l) => ({ ...l, dimensions: { department: 'S999' } }))
      expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', message: '第1条分录：部门编码[S999]不存在' })
    })

    it('rejects a voucher in a closed period as period_closed', async () => {
      const { ctx } = await connect()
      sim.closePeriodsThrough(2026, 10)
      try {
        expect(await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261031-R1', { date: '2026-10-31', rows: CARD_SALE }) })).toEqual({
          status: 'rejected',
          reason: 'period_closed',
          code: 'succeed 1',
          message: '会计期间[2026-10]已结账，不能填制凭证',
        })
        expect(await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261031-R2', { date: '2026-11-01', rows: CARD_SALE }) })).toMatchObject({ status: 'exported' })
      } finally {
        sim.state.closedThrough = null
      }
    })
  })

  describe('credentials', () => {
    it('reports a sender EAI does not know as auth_failed', async () => {
      const { ctx } = await connect({ sender: 'NOPE' })
      const e = await rejection(caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261124-R1', { date: '2026-11-24', rows: CARD_SALE }) }), ConnectorError)
      expect(e).toMatchObject({ kind: 'auth_failed', vendorCode: 'succeed 1' })
      expect(e.message).toContain('系统编码[NOPE]没有注册')
    })

    it('sends HTTP basic credentials when the endpoint needs them, and reports wrong ones as auth_failed', async () => {
      const good = await connect({ eaiUrl: 'https://gw.tillbridge-test.cn/U8EAI/import.asp', httpUser: HTTP_USER, httpPassword: HTTP_PASSWORD })
      expect(await caps.exportVoucher(good.ctx, { voucher: voucher('TB-S001-20261124-R2', { date: '2026-11-24', rows: CARD_SALE }) })).toMatchObject({ status: 'exported' })
      expect(gated.byReference('TB-S001-20261124-R2')).toHaveLength(1)
      expect(await runCheck(hub, good.loaded)).toMatchObject({ ok: true, message: expect.stringContaining('answers (HTTP 405') })

      const wrong = await connect({ eaiUrl: 'https://gw.tillbridge-test.cn/U8EAI/import.asp', httpUser: HTTP_USER, httpPassword: 'not-the-password' })
      const e = await rejection(caps.exportVoucher(wrong.ctx, { voucher: voucher('TB-S001-20261124-R3', { date: '2026-11-24', rows: CARD_SALE }) }), ConnectorError)
      expect(e).toMatchObject({ kind: 'auth_failed', status: 401 })
      expect(await runCheck(hub, wrong.loaded)).toMatchObject({ ok: false, message: expect.stringContaining('refused the HTTP credentials') })
      expect(gated.byReference('TB-S001-20261124-R3')).toHaveLength(0)
    })
  })

  describe('transient failures', () => {
    it('waits out a 429 and imports once', async () => {
      const { ctx } = await connect()
      sim.state.rateLimitNext = 1
      expect(await caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261125-R1', { date: '2026-11-25', rows: CARD_SALE }) })).toMatchObject({ status: 'exported' })
      expect(sim.byReference('TB-S001-20261125-R1')).toHaveLength(1)
    })

    it('reports a lasting 429 as rate_limited', async () => {
      const { ctx } = await connect()
      sim.state.rateLimitNext = 10
      try {
        const e = await rejection(caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261125-R2', { date: '2026-11-25', rows: CARD_SALE }) }), ConnectorError)
        expect(e).toMatchObject({ kind: 'rate_limited', status: 429 })
        expect(e.transient).toBe(true)
      } finally {
        sim.state.rateLimitNext = 0
      }
      expect(sim.byReference('TB-S001-20261125-R2')).toHaveLength(0)
    })

    it('reports an outage as retryable without repeating the import', async () => {
      const { ctx } = await connect()
      const before = sim.state.requests.length
      sim.state.down = true
      try {
        const e = await rejection(caps.exportVoucher(ctx, { voucher: voucher('TB-S001-20261125-R3', { date: '2026-11-25', rows: CARD_SALE }) }), ConnectorError)
        expect(e).toMatchObject({ kind: 'retryable', status: 503 })
        expect(e.transient).toBe(true)
      } finally {
        sim.state.down = false
      }
      expect(sim.state.requests.slice(before).map((r) => r.answer)).toEqual(['down'])
    })
  })

  it('keeps the HTTP password out of the call log and the logs', async () => {
    const rows = await hub.database.db.select().from(connectorCalls).where(inArray(connectorCalls.connectionId, connectionIds))
    expect(rows.length).toBeGreaterThan(10)
    expect(rows.some((r) => r.operation === 'exportVoucher' && r.requestExcerpt?.includes('reserve2'))).toBe(true)
    const logged = JSON.stringify(rows) + hub.logs.text
    const basic = Buffer.from(`${HTTP_USER}:${HTTP_PASSWORD}`).toString('base64')
    for (const s of [HTTP_PASSWORD, basic]) expect(logged).not.toContain(s)
  })
})
