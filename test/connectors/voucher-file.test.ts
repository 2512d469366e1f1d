import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import ExcelJS from 'exceljs'
import iconv from 'iconv-lite'
import { parse } from 'csv-parse/sync'
import { useTestHub } from '../helpers/db.ts'
import { seedMerchant } from '../helpers/api.ts'
import { connectWith, rejection } from '../helpers/connections.ts'
import { smtpSandbox } from '../../src/sandboxes/vendors/smtp.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { connections, connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { secretFields } from '../../src/connectors/framework/define.ts'
import type { VoucherDocument, VoucherDocumentLine } from '../../src/connectors/framework/accounting.ts'
import { voucherFile } from '../../src/connectors/accounting/file/index.ts'
import { voucherCsv, voucherFileName, voucherXlsx, VoucherRenderError } from '../../src/connectors/accounting/file/render.ts'

const USERNAME = 'vouchers@tea-house.cn'
const PASSWORD = 'Smtp-9f3c-Qx7!hunter'
const FINANCE = 'finance@tea-house.cn'
const AUDIT = 'audit@tea-house.cn'
const caps = voucherFile.capabilities

let lineNo = 0
const line = (summary: string, code: string, name: string, side: 'D' | 'C', minor: number, dimensions: VoucherDocumentLine['dimensions'] = { department: 'S001' }): VoucherDocumentLine => ({
  lineNo: ++lineNo,
  summary,
  account: { code, name },
  dimensions,
  debit: side === 'D' ? minor : 0,
  credit: side === 'C' ? minor : 0,
})

/** The worked example of vouchers.md §6: store S001, 2026-11-20, 19 lines, 3,687.03 on each side. */
function workedExample(over: Partial<VoucherDocument> = {}): VoucherDocument {
  lineNo = 0
  return {
    reference: 'TB-S001-20261120-R1',
    idempotencyKey: '5b3f6a0e-8d1c-5e2a-9f47-2c6d1e0a7b93',
    kind: 'daily',
    date: '2026-11-20',
    businessDate: '2026-11-20',
    word: '记',
    currency: 'CNY',
    corrects: null,
    narration: 'S001 静安寺店 2026-11-20 日结',
    store: { id: '0b9f1c52-3d7e-4a61-8f20-6e5d4c3b2a19', code: 'S001', name: '静安寺店' },
    attachments: 0,
    lines: [
      line('11/20 S001 现金收款(实点)', '1001', '库存现金', 'D', 156_00),
      line('11/20 S001 现金短款', '1901', '待处理财产损溢', 'D', 50),
      line('11/20 S001 微信收款(含储值充值 500.00)', '1012.01', '其他货币资金-微信', 'D', 965_00),
      line('11/20 S001 支付宝收款', '1012.02', '其他货币资金-支付宝', 'D', 109_20),
      line('11/20 S001 银行卡收款', '1122.01', '应收账款-银联', 'D', 1130_00, { department: 'S001', customer: 'UNIONPAY' }),
      line('11/20 S001 储值消费', '2203.01', '预收账款-会员储值', 'D', 91_60),
      line('11/20 S001 会员储值充值', '2203.01', '预收账款-会员储值', 'C', 500_00),
      line('11/20 S001 销售收入 13%', '6001', '主营业务收入', 'C', 1777_69),
      line('11/20 S001 销售退货 13%', '6001', '主营业务收入', 'D', 50_00),
      line('11/20 S001 销项税额 13%', '2221.01.01', '应交税费-应交增值税(销项税额)', 'C', 231_11),
      line('11/20 S001 退货冲减销项 13%', '2221.01.01', '应交税费-应交增值税(销项税额)', 'D', 6_50),
      line('11/20 S001 微信手续费', '6603.02', '财务费用-手续费', 'D', 5_79),
      line('11/20 S001 微信手续费', '1012.01', '其他货币资金-微信', 'C', 5_79),
      line('11/20 S001 支付宝手续费', '6603.02', '财务费用-手续费', 'D', 66),
      line('11/20 S001 支付宝手续费', '1012.02', '其他货币资金-支付宝', 'C', 66),
      line('11/20 S001 银联手续费', '6603.02', '财务费用-手续费', 'D', 6_78),
      line('11/20 S001 银联手续费', '1122.01', '应收账款-银联', 'C', 6_78),
      line('11/20 S001 结转销售成本', '6401', '主营业务成本', 'D', 1165_00),
      line('11/20 S001 结转销售成本', '1405', '库存商品', 'C', 1165_00),
    ],
    ...over,
  }
}

const R = 'TB-S001-20261120-R1'
const GENERIC_GOLDEN = [
  '凭证日期/Date,凭证字/Word,凭证号/No,摘要/Summary,科目编码/Account code,科目名称/Account name,借方/Debit,贷方/Credit,部门/Department,客户/Customer,供应商/Supplier,员工/Employee,项目/Project,参考号/Reference',
  `2026-11-20,记,,11/20 S001 现金收款(实点),1001,库存现金,156.00,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 现金短款,1901,待处理财产损溢,0.50,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 微信收款(含储值充值 500.00),1012.01,其他货币资金-微信,965.00,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 支付宝收款,1012.02,其他货币资金-支付宝,109.20,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 银行卡收款,1122.01,应收账款-银联,1130.00,,S001,UNIONPAY,,,,${R}`,
  `2026-11-20,记,,11/20 S001 储值消费,2203.01,预收账款-会员储值,91.60,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 会员储值充值,2203.01,预收账款-会员储值,,500.00,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 销售收入 13%,6001,主营业务收入,,1777.69,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 销售退货 13%,6001,主营业务收入,50.00,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 销项税额 13%,2221.01.01,应交税费-应交增值税(销项税额),,231.11,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 退货冲减销项 13%,2221.01.01,应交税费-应交增值税(销项税额),6.50,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 微信手续费,6603.02,财务费用-手续费,5.79,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 微信手续费,1012.01,其他货币资金-微信,,5.79,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 支付宝手续费,6603.02,财务费用-手续费,0.66,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 支付宝手续费,1012.02,其他货币资金-支付宝,,0.66,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 银联手续费,6603.02,财务费用-手续费,6.78,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 银联手续费,1122.01,应收账款-银联,,6.78,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 结转销售成本,6401,主营业务成本,1165.00,,S001,,,,,${R}`,
  `2026-11-20,记,,11/20 S001 结转销售成本,1405,库存商品,,1165.00,S001,,,,,${R}`,
]
  .map((l) => `${l}\r\n`)
  .join('')

const KINGDEE = { accountBook: '001' }

/** A worksheet as rows of text, empty cells as '', `width` cells a row. */
async function readSheet(bytes: Buffer): Promise<{ name: string; rows: string[][]; numFmts: Set<string>; types: Set<number> }> {
  const wb = new ExcelJS.Workbook()
  await wb.xlsx.load(bytes as unknown as ArrayBuffer)
  expect(wb.worksheets).toHaveLength(1)
  const ws = wb.worksheets[0]!
  const width = ws.getRow(1).cellCount
  const rows: string[][] = []
  const numFmts = new Set<string>()
  const types = new Set<number>()
  ws.eachRow({ includeEmpty: true }, (row) => {
    const cells: string[] = []
    for (let c = 1; c <= width; c++) {
      const cell = row.getCell(c)
      if (cell.value !== null && cell.value !== '') types.add(cell.type)
      numFmts.add(cell.numFmt)
      cells.push(cell.value === null || cell.value === undefined ? '' : String(cell.value))
    }
    rows.push(cells)
  })
  return { name: ws.name, rows, numFmts, types }
}

const csvRows = (text: string): string[][] => parse(text.replace(/^\ufeff/, ''), { relax_column_count: true }) as string[][]

describe('voucher files', () => {
  it('renders the worked example as GBK CSV, one row per entry under a bilingual header and no totals row', () => {
    const bytes = voucherCsv(workedExample(), { encoding: 'gbk' })
    expect(bytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))).toBe(false)
    expect(iconv.decode(bytes, 'gbk')).toBe(GENERIC_GOLDEN)
    expect(bytes.equals(iconv.encode(GENERIC_GOLDEN, 'gbk'))).toBe(true)
    // Not UTF-8: a GBK reader gets the hanzi back, a UTF-8 reader would not.
    expect(bytes.toString('utf8')).not.toContain('库存现金')
  })

  it('writes UTF-8 with a BOM when asked, so Excel still reads the Chinese', () => {
    const bytes = voucherCsv(workedExample(), { encoding: 'utf8', layout: 'generic' })
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    expect(bytes.subarray(3).toString('utf8')).toBe(GENERIC_GOLDEN)
  })

  it('quotes commas and quotes, keeps formula-like text from running, and loses no character GBK lacks', () => {
    const v = workedExample()
    v.lines[0]!.summary = 'Refund, "walk-in" 客人'
    v.lines[1]!.summary = '=HYPERLINK("http://x")'
    v.lines[2]!.summary = '11/20 S001 微信收款 🧧𠀀'
    const text = iconv.decode(voucherCsv(v, { encoding: 'gbk' }), 'gb18030')
    const rows = text.split('\r\n')
    expect(rows[1]).toBe(`2026-11-20,记,,"Refund, ""walk-in"" 客人",1001,库存现金,156.00,,S001,,,,,${R}`)
    expect(rows[2]).toBe(`2026-11-20,记,,"'=HYPERLINK(""http://x"")",1901,待处理财产损溢,0.50,,S001,,,,,${R}`)
    expect(rows[3]).toContain('11/20 S001 微信收款 🧧𠀀')
    // Lines of the rest of the file are the same bytes GBK would write.
    expect(rows[4]).toBe(`2026-11-20,记,,11/20 S001 支付宝收款,1012.02,其他货币资金-支付宝,109.20,,S001,,,,,${R}`)
  })

  it('renders the Kingdee 引入 template: field keys, captions, the head on the first entry only, 业务编号 = our reference', () => {
    const text = iconv.decode(voucherCsv(workedExample(), { encoding: 'gbk', layout: 'kingdee', kingdee: KINGDEE }), 'gbk')
    const rows = text.split('\r\n')
    expect(rows[0]).toBe(
      'FBillHead(GL_VOUCHER),FAccountBookID,FDate,FBUSDATE,FVOUCHERGROUPID,FVOUCHERGROUPID#Name,FVOUCHERGROUPNO,FATTACHMENTS,*Split*1,FEntity,FEXPLANATION,FACCOUNTID,FACCOUNTID#Name,FDetailID#FFlex5,FDetailID#FFlex6,FDetailID#FFlex4,FDetailID#FFlex7,FCURRENCYID,FEXCHANGERATETYPE,FEXCHANGERATE,FAMOUNTFOR,FDEBIT,FCREDIT,FBUSNO',
    )
    expect(rows[1]).toBe(
      '*单据头(序号),*(单据头)账簿#编码,*(单据头)日期,(单据头)业务日期,*(单据头)凭证字#编码,(单据头)凭证字#名称,*(单据头)凭证号,(单据头)附件数,间隔列,*分录(序号),(分录)摘要,*(分录)科目编码#编码,(分录)科目编码#名称,(分录)部门#编码,(分录)客户#编码,(分录)供应商#编码,(分录)员工#编码,*(分录)币别#编码,*(分录)汇率类型#编码,(分录)汇率,(分录)原币金额,(分录)借方金额,(分录)贷方金额,(分录)业务编号',
    )
    expect(rows[2]).toBe(`1,001,2026-11-20,2026-11-20,PRE001,记,,0,,1,11/20 S001 现金收款(实点),1001,库存现金,S001,,,,PRE001,HLTX01_SYS,1,156.00,156.00,,${R}`)
    expect(rows[3]).toBe(`,,,,,,,,,2,11/20 S001 现金短款,1901,待处理财产损溢,S001,,,,PRE001,HLTX01_SYS,1,0.50,0.50,,${R}`)
    expect(rows[6]).toBe(`,,,,,,,,,5,11/20 S001 银行卡收款,1122.01,应收账款-银联,S001,UNIONPAY,,,PRE001,HLTX01_SYS,1,1130.00,1130.00,,${R}`)
    expect(rows[9]).toBe(`,,,,,,,,,8,11/20 S001 销售收入 13%,6001,主营业务收入,S001,,,,PRE001,HLTX01_SYS,1,1777.69,,1777.69,${R}`)
    expect(rows).toHaveLength(2 + 19 + 1)
    expect(rows.at(-1)).toBe('')
  })

  it('maps Kingdee dimensions to the configured slots and refuses a dimension without one', () => {
    const v = workedExample()
    v.lines[17]!.dimensions = { department: 'S001', project: 'P-2026' }
    const opts = { accountBook: '001', dimensions: { department: 'FDETAILID__FFLEX5', customer: 'fflex6', project: 'FF100002' } }
    const rows = csvRows(iconv.decode(voucherCsv(v, { encoding: 'gbk', layout: 'kingdee', kingdee: opts }), 'gbk'))
    expect(rows[0]!.filter((k) => k.startsWith('FDetailID'))).toEqual(['FDetailID#FFlex5', 'FDetailID#FFlex6', 'FDetailID#FF100002'])
    expect(rows[1]!.slice(13, 16)).toEqual(['(分录)部门#编码', '(分录)客户#编码', '(分录)项目#编码'])
    expect(rows[2 + 4]!.slice(13, 16)).toEqual(['S001', 'UNIONPAY', ''])
    expect(rows[2 + 17]!.slice(13, 16)).toEqual(['S001', '', 'P-2026'])
    // The default slots have none for projects, and line 5's customer has no slot in `opts`.
    expect(() => voucherCsv(v, { encoding: 'gbk', layout: 'kingdee', kingdee: KINGDEE })).toThrow(VoucherRenderError)
    const customerLess = { accountBook: '001', dimensions: { department: 'FFLEX5' } }
    expect(() => voucherCsv(workedExample(), { encoding: 'gbk', layout: 'kingdee', kingdee: customerLess })).toThrow(/line 5 has a customer dimension/)
    expect(() => voucherCsv(workedExample(), { encoding: 'gbk', layout: 'kingdee' })).toThrow(/account book/)
  })

  it('renders the U8 总账工具 text: the V800 marker line, then positional fields with 0 on the other side', () => {
    const text = iconv.decode(voucherCsv(workedExample(), { encoding: 'gbk', layout: 'u8' }), 'gbk')
    const rows = text.split('\r\n')
    expect(rows[0]).toBe('填制凭证,V800')
    expect(rows[1]).toBe(`2026-11-20,记,${R},0,11/20 S001 现金收款(实点),1001,156.00,0.00,,,,,,,,S001,,,,,`)
    expect(rows[5]).toBe(`2026-11-20,记,${R},0,11/20 S001 银行卡收款,1122.01,1130.00,0.00,,,,,,,,S001,,UNIONPAY,,,`)
    expect(rows[8]).toBe(`2026-11-20,记,${R},0,11/20 S001 销售收入 13%,6001,0.00,1777.69,,,,,,,,S001,,,,,`)
    expect(rows).toHaveLength(1 + 19 + 1)
    // No quoting in this format: a comma inside a field becomes a full-width one.
    const v = workedExample()
    v.lines[0]!.summary = '11/20 S001 现金收款, 实点'
    expect(iconv.decode(voucherCsv(v, { encoding: 'gbk', layout: 'u8' }), 'gbk').split('\r\n')[1]).toContain(',11/20 S001 现金收款， 实点,1001,')
  })

  it('writes the same cells to XLSX as to the CSV, all as text, one sheet per layout', async () => {
    const v = workedExample()
    const generic = await readSheet(await voucherXlsx(v, { encoding: 'gbk' }))
    expect(generic.name).toBe('记账凭证')
    expect(generic.rows).toEqual(csvRows(iconv.decode(voucherCsv(v, { encoding: 'gbk' }), 'gbk')))
    expect(generic.rows).toHaveLength(1 + 19)
    expect(generic.rows[3]!.slice(4, 7)).toEqual(['1012.01', '其他货币资金-微信', '965.00'])
    expect(generic.numFmts).toEqual(new Set(['@']))
    expect(generic.types).toEqual(new Set([ExcelJS.ValueType.String]))

    const kingdee = await readSheet(await voucherXlsx(v, { encoding: 'utf8', layout: 'kingdee', kingdee: KINGDEE }))
    expect(kingdee.name).toBe('凭证#单据头(FBillHead)')
    expect(kingdee.rows).toEqual(csvRows(iconv.decode(voucherCsv(v, { encoding: 'gbk', layout: 'kingdee', kingdee: KINGDEE }), 'gbk')))

    const u8 = await readSheet(await voucherXlsx(v, { layout: 'u8' }))
    const u8Csv = csvRows(iconv.decode(voucherCsv(v, { encoding: 'gbk', layout: 'u8' }), 'gbk'))
    expect(u8.rows[0]!.slice(0, 8)).toEqual(['制单日期', '凭证类别字', '业务号', '附单据数', '摘要', '科目编码', '金额借方', '金额贷方'])
    expect(u8.rows.slice(1)).toEqual(u8Csv.slice(1))
  })

  it('names files by store, business day and revision', () => {
    expect(voucherFileName(workedExample(), 'csv')).toBe('voucher-S001-2026-11-20-R1.csv')
    expect(voucherFileName(workedExample({ reference: 'TB-S001-20261120-R2-REV', kind: 'reversal' }), 'xlsx')).toBe('voucher-S001-2026-11-20-R2-REV.xlsx')
    expect(voucherFileName(workedExample({ store: null, reference: 'TB-M-20261120-R1' }), 'csv')).toBe('voucher-ALL-2026-11-20-TB-M-20261120-R1.csv')
  })
})

describe('voucher-file connector', () => {
  const hub = useTestHub()
  const sim = smtpSandbox({ users: { [USERNAME]: PASSWORD } })
  let merchantId: string
  beforeAll(async () => {
    await sim.start()
    merchantId = (await seedMerchant(hub)).merchantId
  })
  afterAll(() => sim.stop())
  beforeEach(() => sim.reset())

  const connect = connectWith(hub, { get merchantId() { return merchantId } }, 'voucher-file', {
    name: 'Voucher mail',
    config: () => ({ smtpHost: '127.0.0.1', smtpPort: sim.port, secure: false, username: USERNAME, password: PASSWORD, from: USERNAME, recipients: [FINANCE, AUDIT] }),
  })

  it('declares the password its only secret and needs the account book for the Kingdee layout', async () => {
    expect(secretFields(voucherFile.config)).toEqual(['password'])
    const { loaded } = await connect()
    expect(loaded.config).toMatchObject({ format: 'both', encoding: 'gbk', layout: 'generic', smtpPort: sim.port })
    await expect(connect({ layout: 'kingdee' })).rejects.toMatchObject({ code: 'invalid_config' })
    await expect(connect({ recipients: [] })).rejects.toMatchObject({ code: 'invalid_config' })
    await expect(connect({ kingdeeDimensions: { department: 'DEPT' } })).rejects.toMatchObject({ code: 'invalid_config' })
  })

  it('checks the SMTP login and says where vouchers go', async () => {
    const { loaded } = await connect()
    const verdict = await runCheck(hub, loaded)
    expect(verdict).toMatchObject({ ok: true, message: `Connected to 127.0.0.1:${sim.port} as ${USERNAME}; vouchers go to ${FINANCE}, ${AUDIT}` })
    expect(sim.state.log.filter((e) => e.step === 'auth')).toEqual([expect.objectContaining({ detail: `PLAIN ${USERNAME} accepted`, reply: 235 })])
  })

  it('emails the day voucher with both files, a subject naming it and a Message-ID from its reference', async () => {
    const { ctx } = await connect()
    const voucher = workedExample()
    const result = await caps.exportVoucher(ctx, { voucher })
    expect(result).toMatchObject({
      status: 'exported',
      externalId: '<TB-S001-20261120-R1@tillbridge>',
      number: null,
      details: { accepted: [FINANCE, AUDIT], files: ['voucher-S001-2026-11-20-R1.csv', 'voucher-S001-2026-11-20-R1.xlsx'] },
    })
    expect(sim.state.messages).toHaveLength(1)
    const m = sim.state.messages[0]!
    expect(m.envelope).toEqual({ from: USERNAME, to: [FINANCE, AUDIT] })
    expect(m.user).toBe(USERNAME)
    expect(m.subject).toBe('记账凭证 2026-11-20 S001 TB-S001-20261120-R1')
    expect(m.messageId).toBe('<TB-S001-20261120-R1@tillbridge>')
    expect(m.mail.headers.get('x-tillbridge-voucher')).toBe(R)
    expect(m.text).toContain('借方合计 Total debit: 3687.03 CNY')
    expect(m.text).toContain('贷方合计 Total credit: 3687.03 CNY')
    expect(m.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      ['voucher-S001-2026-11-20-R1.csv', 'text/csv'],
      ['voucher-S001-2026-11-20-R1.xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
    ])
    const [csv, xlsx] = m.attachments
    expect(iconv.decode(csv!.content, 'gbk')).toBe(GENERIC_GOLDEN)
    expect((await readSheet(xlsx!.content)).rows).toEqual(csvRows(GENERIC_GOLDEN))
  })

  it('sends the Kingdee layout as XLSX only when told, and U8 as a .txt CSV', async () => {
    const kingdee = await connect({ layout: 'kingdee', kingdeeAccountBook: '001', format: 'xlsx' })
    expect(await caps.exportVoucher(kingdee.ctx, { voucher: workedExample() })).toMatchObject({ status: 'exported', details: { files: ['voucher-S001-2026-11-20-R1.xlsx'] } })
    const sheet = await readSheet(sim.state.messages[0]!.attachments[0]!.content)
    expect(sheet.name).toBe('凭证#单据头(FBillHead)')
    expect(sheet.rows[2]!.slice(0, 3)).toEqual(['1', '001', '2026-11-20'])

    const u8 = await connect({ layout: 'u8', format: 'csv', encoding: 'gbk' })
    await caps.exportVoucher(u8.ctx, { voucher: workedExample() })
    const txt = sim.state.messages[1]!.attachments
    expect(txt.map((a) => a.filename)).toEqual(['voucher-S001-2026-11-20-R1.txt'])
    expect(iconv.decode(txt[0]!.content, 'gbk').split('\r\n')[0]).toBe('填制凭证,V800')
  })

  it('sends again under the same Message-ID, so a re-send reads as the same voucher', async () => {
    const { ctx } = await connect()
    const first = await caps.exportVoucher(ctx, { voucher: workedExample() })
    const again = await caps.exportVoucher(ctx, { voucher: workedExample() })
    expect(again).toMatchObject({ status: 'exported', externalId: first.status === 'exported' ? first.externalId : 'x' })
    expect(sim.byMessageId('<TB-S001-20261120-R1@tillbridge>')).toHaveLength(2)
  })

  it('threads a reversal under the voucher it corrects', async () => {
    const { ctx } = await connect({ format: 'csv' })
    const reversal = workedExample({ kind: 'reversal', reference: 'TB-S001-20261120-R1-REV', corrects: 'TB-S001-20261120-R1' })
    expect(await caps.exportVoucher(ctx, { voucher: reversal })).toMatchObject({ status: 'exported', externalId: '<TB-S001-20261120-R1-REV@tillbridge>' })
    const m = sim.state.messages[0]!
    expect(m.subject).toBe('记账凭证(红字冲销) 2026-11-20 S001 TB-S001-20261120-R1-REV')
    expect(m.mail.inReplyTo).toBe('<TB-S001-20261120-R1@tillbridge>')
    expect(m.text).toContain('更正 Corrects: TB-S001-20261120-R1')
  })

  it('answers a refused login with auth_failed, and a missing one too', async () => {
    const wrong = await connect({ password: 'not-the-password' })
    const e = await rejection(caps.exportVoucher(wrong.ctx, { voucher: workedExample() }), ConnectorError)
    expect(e).toMatchObject({ kind: 'auth_failed', vendorCode: '535' })
    expect(e.message).toContain('5.7.8 Error: authentication failed')
    expect(await runCheck(hub, wrong.loaded)).toMatchObject({ ok: false, message: '127.0.0.1 refused the username and password', details: { kind: 'auth_failed' } })

    const anonymous = await connect({ username: undefined, password: undefined })
    expect(await rejection(caps.exportVoucher(anonymous.ctx, { voucher: workedExample() }), ConnectorError)).toMatchObject({ kind: 'auth_failed', vendorCode: '530' })
    expect(sim.state.messages).toHaveLength(0)
  })

  it('returns a rejection with the server reply when every recipient is refused, and delivers to the rest otherwise', async () => {
    const { ctx } = await connect()
    sim.rejectRecipient(FINANCE)
    sim.rejectRecipient(AUDIT)
    const refused = await caps.exportVoucher(ctx, { voucher: workedExample() })
    expect(refused).toEqual({
      status: 'rejected',
      reason: 'invalid',
      code: 'smtp_550',
      message: `the mail server refused every recipient: ${FINANCE}: 550 5.1.1 <${FINANCE}>: Recipient address rejected: User unknown in virtual mailbox table; ${AUDIT}: 550 5.1.1 <${AUDIT}>: Recipient address rejected: User unknown in virtual mailbox table`,
    })
    expect(sim.state.messages).toHaveLength(0)

    sim.state.recipientReplies.delete(FINANCE)
    const partly = await caps.exportVoucher(ctx, { voucher: workedExample() })
    expect(partly).toMatchObject({ status: 'exported', details: { accepted: [FINANCE], rejected: [{ recipient: AUDIT, reply: expect.stringContaining('550 5.1.1') }] } })
    expect(sim.messagesTo(FINANCE)).toHaveLength(1)
    expect(sim.messagesTo(AUDIT)).toHaveLength(0)
  })

  it('retries a deferred recipient and rejects a refused message', async () => {
    const { ctx } = await connect({ recipients: [FINANCE] })
    sim.deferRecipient(FINANCE)
    expect(await rejection(caps.exportVoucher(ctx, { voucher: workedExample() }), ConnectorError)).toMatchObject({ kind: 'retryable' })

    sim.state.recipientReplies.clear()
    sim.state.dataReply = { code: 554, message: '5.7.1 Message content rejected' }
    expect(await caps.exportVoucher(ctx, { voucher: workedExample() })).toEqual({ status: 'rejected', reason: 'invalid', code: 'smtp_554', message: 'the mail server refused the voucher email: 554 5.7.1 Message content rejected' })
    expect(sim.state.messages).toHaveLength(0)
  })

  it('throws a retryable error when the server is down, refuses the session or never answers', async () => {
    const gone = smtpSandbox()
    await gone.start()
    const closedPort = gone.port
    await gone.stop()
    const refused = await connect({ smtpPort: closedPort })
    const e = await rejection(caps.exportVoucher(refused.ctx, { voucher: workedExample() }), ConnectorError)
    expect(e.kind).toBe('retryable')
    expect(e.message).toContain('ECONNREFUSED')
    expect(await runCheck(hub, refused.loaded)).toMatchObject({ ok: false, details: { kind: 'retryable' } })

    const { ctx } = await connect({ timeoutMs: 300 })
    sim.state.down = true
    expect(await rejection(caps.exportVoucher(ctx, { voucher: workedExample() }), ConnectorError)).toMatchObject({ kind: 'retryable', vendorCode: '421' })
    sim.state.down = false
    sim.state.stall = true
    const slow = await rejection(caps.exportVoucher(ctx, { voucher: workedExample() }), ConnectorError)
    expect(slow).toMatchObject({ kind: 'retryable', vendorCode: 'ETIMEDOUT' })
    sim.state.stall = false
    expect(sim.state.messages).toHaveLength(0)
  })

  it('rejects a voucher the layout cannot carry without sending anything', async () => {
    const { ctx } = await connect({ layout: 'kingdee', kingdeeAccountBook: '001' })
    const v = workedExample()
    v.lines[0]!.dimensions = { department: 'S001', project: 'P-1' }
    expect(await caps.exportVoucher(ctx, { voucher: v })).toMatchObject({ status: 'rejected', reason: 'invalid', code: 'unmapped_dimension' })
    expect(sim.state.log).toHaveLength(0)
  })

  it('never lets the password reach a log, the call log, the stored config, an error or a result', async () => {
    const good = await connect()
    const bad = await connect({ password: `${PASSWORD}-old` })
    const outcomes: unknown[] = [await caps.exportVoucher(good.ctx, { voucher: workedExample() }), await runCheck(hub, good.loaded), await runCheck(hub, bad.loaded)]
    outcomes.push((await rejection(caps.exportVoucher(bad.ctx, { voucher: workedExample() }), ConnectorError)).message)
    expect(sim.state.log.filter((e) => e.step === 'auth').map((e) => e.reply)).toEqual([235, 235, 535, 535])
    const calls = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.merchantId, merchantId))
    const stored = await hub.database.db.select({ config: connections.config, sealed: connections.sealedSecrets }).from(connections).where(eq(connections.merchantId, merchantId))
    const everything = [hub.logs.text, JSON.stringify(calls), JSON.stringify(stored), JSON.stringify(outcomes), JSON.stringify(sim.state.log), sim.state.messages.map((m) => m.raw.toString('latin1')).join('')].join('\n')
    for (const form of [PASSWORD, Buffer.from(PASSWORD).toString('base64'), Buffer.from(`\0${USERNAME}\0${PASSWORD}`).toString('base64')]) expect(everything).not.toContain(form)
  })
})
