// Reports as CSV files: UTF-8 with a BOM so Excel shows Chinese names right when it opens the file, CRLF line ends
// (RFC 4180), money as decimal text in the merchant's currency, empty cells for "no value". Column headers are
// stable snake_case keys, or for a Chinese reader the names of the header table below (Traditional derived).
import { stringify } from 'csv-stringify/sync'
import type { Locale } from '../../lib/i18n/locale.ts'
import { toTraditional } from '../../lib/i18n/traditional.ts'
import { formatDecimal } from '../../lib/money.ts'
import { formulaSafe } from '../../lib/formula-guard.ts'

export type Cell = string | number | null

export interface CsvTable {
  header: string[]
  rows: Cell[][]
  /** The file's own Chinese names of keys (see localizeHeader). */
  headerZh?: Record<string, string>
}

export interface CsvFile {
  filename: string
  bytes: Uint8Array
}

/** Column names in Simplified Chinese, by the key every export uses in English. */
const HEADER_ZH: Record<string, string> = {
  // reconciliation exceptions and daily summaries
  business_date: '营业日',
  connection_id: '连接 ID',
  store: '门店',
  outcome: '对账结果',
  state: '处理状态',
  age_days: '账龄（天）',
  currency: '币种',
  pos_kind: '收银种类',
  pos_ref: '收银单号',
  pos_amount: '收银金额',
  channel_amount: '渠道金额',
  difference: '差额',
  expected_fee: '应收手续费',
  channel_fee: '渠道手续费',
  fee_difference: '手续费差额',
  terminal: '终端号',
  channel_txn_id: '渠道交易号',
  channel_status: '渠道状态',
  channel_time: '渠道交易时间',
  carried_days: '结转天数',
  resolution: '处理方式',
  resolution_note: '处理备注',
  item_id: '明细 ID',
  status: '状态',
  pos_count: '收银笔数',
  channel_count: '渠道笔数',
  matched: '已匹配',
  timing: '跨日待核',
  open_exceptions: '未处理差异',
  resolved: '已处理',
  open_0_1_days: '未处理 0–1 天',
  open_2_3_days: '未处理 2–3 天',
  open_4_7_days: '未处理 4–7 天',
  open_8_plus_days: '未处理 8 天以上',
  // daily sales
  store_code: '门店编号',
  store_name: '门店名称',
  transactions: '交易笔数',
  gross: '总额',
  discounts: '折扣',
  total: '合计',
  rounding: '抹零',
  net_sales: '净销售额',
  tax: '税额',
  refunds_count: '退款笔数',
  refunds_amount: '退款金额',
  refunds_tax: '退款税额',
  voids_count: '作废笔数',
  voids_amount: '作废金额',
  net_after_refunds: '退款后净额',
  tender_difference: '收款差额',
  average_basket: '客单价',
  items: '件数',
  average_items: '平均件数',
  // products and stock valuation
  list: '榜单',
  rank: '排名',
  sku: 'SKU',
  name: '名称',
  category: '分类',
  variants: '规格数',
  quantity: '数量',
  cost: '成本',
  margin: '毛利',
  margin_percent: '毛利率（%）',
  on_hand: '现有库存',
  location: '库位',
  unit_cost: '单位成本',
  cost_per: '成本计量单位',
  value: '库存金额',
  units_sold: '销售数量',
  average_daily_units: '日均销量',
  turnover_days: '周转天数',
  in_transit_from: '在途发出地',
  // staff
  user_id: '用户 ID',
  type: '种类',
  sales_count: '销售笔数',
  sales_amount: '销售金额',
  manual_discounts_count: '手动折扣次数',
  manual_discounts_amount: '手动折扣金额',
  overrides_approved: '授权次数',
  // cash sessions and X/Z reports
  register_code: '收银机编号',
  session_id: '班次 ID',
  rescue: '补录',
  opened_at: '开班时间',
  opened_by: '开班人',
  closed_at: '结班时间',
  closed_by: '结班人',
  opening_float: '备用金',
  expected_cash: '应有现金',
  counted_cash: '清点现金',
  over_short: '长短款',
  section: '部分',
  item: '条目',
  count: '笔数',
  amount: '金额',
}

type Conv = (zh: string) => string

/** Headers made of a key and a value (a tax rate, a tender, an hour, a promotion): only the fixed words are translated. */
const HEADER_PATTERNS_ZH: [RegExp, (t: Conv, ...m: string[]) => string][] = [
  [/^tax (.+)% net_ex_tax$/, (t, rate) => `${t('税率')} ${rate}% ${t('不含税金额')}`],
  [/^tax (.+)% tax$/, (t, rate) => `${t('税率')} ${rate}% ${t('税额')}`],
  [/^tender (.+) (sales|refunds|net)$/, (t, kind, what) => `${t('收款')} ${kind} ${t({ sales: '销售', refunds: '退款', net: '净额' }[what as 'sales'])}`],
  [/^hour (\d{2}) (count|amount)$/, (t, h, what) => `${h} ${t(what === 'count' ? '时 笔数' : '时 金额')}`],
  [/^discount ([^:]+): (.*)$/, (t, source, name) => `${t('折扣')} ${source}：${name}`],
]

function headerZh(key: string, t: Conv, own: Record<string, string>): string {
  const known = own[key] ?? HEADER_ZH[key]
  if (known) return t(known)
  for (const [re, f] of HEADER_PATTERNS_ZH) {
    const m = re.exec(key)
    if (m) return f(t, ...m.slice(1))
  }
  return key
}

const same: Conv = (zh) => zh

/**
 * Column headers for a reader: the keys themselves in English (what scripts rely on), named in Chinese otherwise.
 * `own` names a file's keys whose Chinese differs from the reports' (a members report's `value` is no stock value).
 */
export function localizeHeader(header: readonly string[], locale: Locale = 'en', own: Record<string, string> = {}): string[] {
  if (locale === 'en') return [...header]
  const t = locale === 'zh-TW' ? toTraditional : same
  return header.map((h) => headerZh(h, t, own))
}

export function csvFile(filename: string, table: CsvTable, locale: Locale = 'en'): CsvFile {
  const header = localizeHeader(table.header, locale, table.headerZh)
  const text = stringify([header, ...table.rows.map((r) => r.map((c) => (c === null ? '' : typeof c === 'string' ? formulaSafe(c) : String(c))))], { record_delimiter: 'windows' })
  return { filename, bytes: new TextEncoder().encode(`\ufeff${text}`) }
}

/** Money cells: minor units as decimal text ("1234" → "12.34" for CNY); null stays empty. */
export const moneyCell = (currency: string) => (minor: number | null) => (minor === null ? null : formatDecimal(minor, currency))

/** A percentage from basis points, "35.00" for 3500 and "-4.05" for -405; null stays empty. */
export function bpCell(bp: number | null): string | null {
  if (bp === null) return null
  const abs = Math.abs(bp)
  return `${bp < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}
