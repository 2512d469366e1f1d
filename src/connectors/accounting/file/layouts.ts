// The column layouts a voucher file can take: a generic bilingual one, the Kingdee 云星空 引入 (import) template and
// the Yonyou U8 总账工具 凭证引入 text format. Each turns a voucher into rows of text cells; render.ts writes them.
//
// Kingdee template (read in public import generators): sheet `凭证#单据头(FBillHead)`, row 1 the field keys, row 2
// their captions (`*` = required), then one row per entry (分录) with the head fields only on a voucher's first row.
// U8 text format: a first line `填制凭证,V800`, then one line per entry of positional fields — 制单日期, 凭证类别字,
// 业务号 ([date + word + 业务号] names one voucher), 附单据数, 摘要, 科目编码, 借方, 贷方 (one of them 0), … 部门编码
// (16), 个人编码, 客户编码, 供应商编码, 业务员, 项目编码 (21); trailing empty fields may be left off.
import { minorToDecimal, type DimensionKind, type VoucherDocument, type VoucherDocumentLine } from '../../framework/accounting.ts'
import { fitReference } from '../reference.ts'

export type VoucherLayout = 'generic' | 'kingdee' | 'u8'

export const DIMENSION_KINDS: readonly DimensionKind[] = ['department', 'customer', 'supplier', 'employee', 'project']

/** Chinese and English names of the dimension kinds, as column captions. */
export const DIMENSION_NAMES: Record<DimensionKind, { zh: string; en: string }> = {
  department: { zh: '部门', en: 'Department' },
  customer: { zh: '客户', en: 'Customer' },
  supplier: { zh: '供应商', en: 'Supplier' },
  employee: { zh: '员工', en: 'Employee' },
  project: { zh: '项目', en: 'Project' },
}

/** What the Kingdee template needs beyond the voucher: the 账簿, the 凭证字 code and each dimension's flex slot. */
export interface KingdeeLayoutOptions {
  /** 账簿 code (FAccountBookID), e.g. `001`. */
  accountBook: string
  /** 凭证字 code (FVOUCHERGROUPID); `PRE001` is the shipped 记. */
  voucherGroup?: string
  /** 核算维度 slot per dimension kind (`FFLEX5`, `FDETAILID__FFLEX5` or a custom `FF100002`); default the shipped presets. */
  dimensions?: Partial<Record<DimensionKind, string>>
  /** 币别 code; default PRE001 for CNY and PRE007 for USD (Kingdee's presets). */
  currency?: string
}

/** A voucher this layout cannot carry (a dimension without a slot, a reference too long for U8): a value to fix, not to retry. */
export class VoucherRenderError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'VoucherRenderError'
    this.code = code
  }
}

/** A voucher as rows of text cells: the header rows of the layout, then one row per entry. No totals row. */
export interface VoucherTable {
  sheetName: string
  header: string[][]
  rows: string[][]
}

const amount = (minor: number, currency: string): string => (minor === 0 ? '' : minorToDecimal(minor, currency))

export function genericTable(voucher: VoucherDocument): VoucherTable {
  const header = [
    '凭证日期/Date',
    '凭证字/Word',
    '凭证号/No',
    '摘要/Summary',
    '科目编码/Account code',
    '科目名称/Account name',
    '借方/Debit',
    '贷方/Credit',
    ...DIMENSION_KINDS.map((k) => `${DIMENSION_NAMES[k].zh}/${DIMENSION_NAMES[k].en}`),
    '参考号/Reference',
  ]
  const rows = voucher.lines.map((l) => [
    voucher.date,
    voucher.word,
    '',
    l.summary,
    l.account.code,
    l.account.name,
    amount(l.debit, voucher.currency),
    amount(l.credit, voucher.currency),
    ...DIMENSION_KINDS.map((k) => l.dimensions[k] ?? ''),
    voucher.reference,
  ])
  return { sheetName: '记账凭证', header: [header], rows }
}

// Kingdee's own template spells most flex keys `FFlexN` but 9 and 11–16 `FFLEXN`; the captions are the shipped 维度.
const KINGDEE_FLEX: Record<string, { key: string; caption: string }> = {
  FFLEX4: { key: 'FFlex4', caption: '供应商' },
  FFLEX5: { key: 'FFlex5', caption: '部门' },
  FFLEX6: { key: 'FFlex6', caption: '客户' },
  FFLEX7: { key: 'FFlex7', caption: '员工' },
  FFLEX8: { key: 'FFlex8', caption: '物料' },
  FFLEX9: { key: 'FFLEX9', caption: '费用项目' },
  FFLEX10: { key: 'FFlex10', caption: '资产类别' },
  FFLEX11: { key: 'FFLEX11', caption: '组织机构' },
  FFLEX12: { key: 'FFLEX12', caption: '物料分组' },
  FFLEX13: { key: 'FFLEX13', caption: '客户分组' },
  FFLEX14: { key: 'FFLEX14', caption: '银行' },
  FFLEX15: { key: 'FFLEX15', caption: '银行账号' },
  FFLEX16: { key: 'FFLEX16', caption: '其他往来单位' },
}

/** The shipped slots: FFLEX4 供应商, FFLEX5 部门, FFLEX6 客户, FFLEX7 员工; projects are a custom dimension, unset. */
export const KINGDEE_DEFAULT_DIMENSIONS: Partial<Record<DimensionKind, string>> = { department: 'FFLEX5', customer: 'FFLEX6', supplier: 'FFLEX4', employee: 'FFLEX7' }

export const KINGDEE_SLOT = /^(FDETAILID__)?F(FLEX([4-9]|1[0-6])|F\d{6})$/i

const KINGDEE_CURRENCIES: Record<string, string> = { CNY: 'PRE001', USD: 'PRE007' }

function kingdeeSlot(kind: DimensionKind, slot: string): { key: string; caption: string } {
  if (!KINGDEE_SLOT.test(slot)) throw new VoucherRenderError('invalid_options', `"${slot}" is not a Kingdee dimension slot (FFLEX4…FFLEX16 or a custom FF100001…)`)
  const name = slot.toUpperCase().replace(/^FDETAILID__/, '')
  const known = KINGDEE_FLEX[name]
  return { key: `FDetailID#${known?.key ?? name}`, caption: `(分录)${known?.caption ?? DIMENSION_NAMES[kind].zh}#编码` }
}

export function kingdeeTable(voucher: VoucherDocument, opts: KingdeeLayoutOptions | undefined): VoucherTable {
  if (!opts?.accountBook) throw new VoucherRenderError('invalid_options', 'the Kingdee layout needs the account book (账簿) code')
  const slots = opts.dimensions ?? KINGDEE_DEFAULT_DIMENSIONS
  const dims = DIMENSION_KINDS.filter((k) => slots[k]).map((kind) => ({ kind, ...kingdeeSlot(kind, slots[kind]!) }))
  const currency = opts.currency ?? KINGDEE_CURRENCIES[voucher.currency]
  if (!currency) throw new VoucherRenderError('invalid_options', `no Kingdee 币别 code is known for ${voucher.currency}: set it in the connection`)
  for (const l of voucher.lines) {
    for (const kind of DIMENSION_KINDS) {
      if (l.dimensions[kind] && !slots[kind]) throw new VoucherRenderError('unmapped_dimension', `line ${l.lineNo} has a ${kind} dimension (${l.dimensions[kind]}) but the connection maps no Kingdee slot to ${kind}`)
    }
  }
  const columns: [key: string, caption: string, head: boolean, value: (l: VoucherDocumentLine) => string][] = [
    ['FBillHead(GL_VOUCHER)', '*单据头(序号)', true, () => '1'],
    ['FAccountBookID', '*(单据头)账簿#编码', true, () => opts.accountBook],
    ['FDate', '*(单据头)日期', true, () => voucher.date],
    ['FBUSDATE', '(单据头)业务日期', true, () => voucher.businessDate],
    ['FVOUCHERGROUPID', '*(单据头)凭证字#编码', true, () => opts.voucherGroup ?? 'PRE001'],
    ['FVOUCHERGROUPID#Name', '(单据头)凭证字#名称', true, () => voucher.word],
    // Left empty: Kingdee numbers the voucher itself; numbers we sent would leave gaps (断号) or collide.
    ['FVOUCHERGROUPNO', '*(单据头)凭证号', true, () => ''],
    ['FATTACHMENTS', '(单据头)附件数', true, () => String(voucher.attachments)],
    ['*Split*1', '间隔列', false, () => ''],
    ['FEntity', '*分录(序号)', false, (l) => String(l.lineNo)],
    ['FEXPLANATION', '(分录)摘要', false, (l) => l.summary],
    ['FACCOUNTID', '*(分录)科目编码#编码', false, (l) => l.account.code],
    ['FACCOUNTID#Name', '(分录)科目编码#名称', false, (l) => l.account.name],
    ...dims.map((d) => [d.key, d.caption, false, (l: VoucherDocumentLine) => l.dimensions[d.kind] ?? ''] as [string, string, boolean, (l: VoucherDocumentLine) => string]),
    ['FCURRENCYID', '*(分录)币别#编码', false, () => currency],
    ['FEXCHANGERATETYPE', '*(分录)汇率类型#编码', false, () => 'HLTX01_SYS'],
    ['FEXCHANGERATE', '(分录)汇率', false, () => '1'],
    ['FAMOUNTFOR', '(分录)原币金额', false, (l) => minorToDecimal(l.debit !== 0 ? l.debit : l.credit, voucher.currency)],
    ['FDEBIT', '(分录)借方金额', false, (l) => amount(l.debit, voucher.currency)],
    ['FCREDIT', '(分录)贷方金额', false, (l) => amount(l.credit, voucher.currency)],
    // 业务编号 carries our reference on every entry, so an imported voucher can be traced back and found again.
    ['FBUSNO', '(分录)业务编号', false, () => voucher.reference],
  ]
  return {
    sheetName: '凭证#单据头(FBillHead)',
    header: [columns.map((c) => c[0]), columns.map((c) => c[1])],
    rows: voucher.lines.map((l, i) => columns.map(([, , head, value]) => (head && i > 0 ? '' : value(l)))),
  }
}

/** The U8 format's first line: the file kind and version the 总账工具 checks. */
export const U8_MARKER = ['填制凭证', 'V800']

const U8_CAPTIONS = ['制单日期', '凭证类别字', '业务号', '附单据数', '摘要', '科目编码', '金额借方', '金额贷方', '数量', '外币金额', '汇率', '制单人', '结算方式', '票号', '发生日期', '部门编码', '个人编码', '客户编码', '供应商编码', '业务员', '项目编码']

/** 业务号 is text(30) in the U8 format. */
const U8_BUSINESS_NO_MAX = 30

export function u8Table(voucher: VoucherDocument): VoucherTable {
  // A long store code with a revision and a reversal's -X can pass 30: then its start and a hash, the same every time.
  const businessNo = fitReference(voucher.reference, U8_BUSINESS_NO_MAX)
  const rows = voucher.lines.map((l) => {
    const d = l.dimensions
    return [
      voucher.date,
      voucher.word,
      // Our reference as the 业务号: with the date and word it names the voucher; U8 numbers it on import (重新编号).
      businessNo,
      String(voucher.attachments),
      l.summary,
      l.account.code,
      // "金额双方必须有一方<>0,另一方=0": the other side is written as 0, not left empty.
      minorToDecimal(l.debit, voucher.currency),
      minorToDecimal(l.credit, voucher.currency),
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      d.department ?? '',
      d.employee ?? '',
      d.customer ?? '',
      d.supplier ?? '',
      '',
      d.project ?? '',
    ]
  })
  return { sheetName: '凭证', header: [U8_CAPTIONS], rows }
}

export function layoutTable(voucher: VoucherDocument, layout: VoucherLayout, kingdee?: KingdeeLayoutOptions): VoucherTable {
  if (layout === 'kingdee') return kingdeeTable(voucher, kingdee)
  if (layout === 'u8') return u8Table(voucher)
  return genericTable(voucher)
}
