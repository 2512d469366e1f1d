// U8 EAI voucher import: the `<ufinterface roottag="voucher" billtype="gl" proc="add">` document of one voucher and
// the `<ufinterface><item succeed="0" dsc="…" …/></ufinterface>` reply. U8 answers HTTP 200 either way; `succeed`
// other than 0 carries the reason in `dsc`, which is the only thing that tells a closed period from an unknown account.
import xml2js from 'xml2js'
import { minorToDecimal, type DimensionKind, type VoucherDocument, type VoucherExportResult } from '../../framework/accounting.ts'
import type { Classified } from '../../framework/http-types.ts'
import { AUXILIARY_ITEMS, type AuxiliaryItem, type YonyouU8Config } from './config.ts'

const builder = new xml2js.Builder({ xmldec: { version: '1.0', encoding: 'utf-8' }, renderOpts: { pretty: false } })

export type BuiltXml = { ok: true; xml: string } | { ok: false; code: string; message: string }

/** The EAI document of one voucher. U8 numbers it (voucher_id left empty); our reference goes in reserve2. */
export function buildVoucherXml(v: VoucherDocument, c: YonyouU8Config): BuiltXml {
  const [year, month] = v.date.split('-').map(Number) as [number, number]
  const entries = []
  for (const line of v.lines) {
    const values: Partial<Record<AuxiliaryItem, string>> = {}
    for (const [kind, value] of Object.entries(line.dimensions) as [DimensionKind, string | undefined][]) {
      if (!value) continue
      const item = c.dimensionItems[kind]
      if (!item) return { ok: false, code: 'unmapped_dimension', message: `line ${line.lineNo} has a ${kind} dimension, but no 辅助核算 item is configured for it (config dimensionItems.${kind})` }
      values[item] = value
    }
    if (values.item_id && c.projectClass) values.item_class = c.projectClass
    const debit = line.debit !== 0
    entries.push({
      entry_id: line.lineNo,
      account_code: line.account.code,
      abstract: line.summary,
      settlement: '',
      document_id: '',
      document_date: '',
      currency: '',
      unit_price: '',
      exchange_rate1: '',
      exchange_rate2: '0',
      debit_quantity: '0',
      primary_debit_amount: '0',
      secondary_debit_amount: '',
      natural_debit_currency: debit ? minorToDecimal(line.debit, v.currency) : '0',
      credit_quantity: '0',
      primary_credit_amount: '0',
      secondary_credit_amount: '',
      natural_credit_currency: debit ? '0' : minorToDecimal(line.credit, v.currency),
      bill_type: '',
      bill_id: '',
      bill_date: '',
      auxiliary_accounting: { item: AUXILIARY_ITEMS.map((name) => (values[name] ? { _: values[name], $: { name } } : { $: { name } })) },
      detail: { cash_flow_statement: '', code_remark_statement: '' },
    })
  }
  const doc = {
    ufinterface: {
      $: { roottag: 'voucher', billtype: 'gl', proc: 'add', sender: c.sender, receiver: c.receiver, codeexchanged: 'N' },
      voucher: {
        $: { id: v.reference },
        voucher_head: {
          company: c.company,
          voucher_type: v.word,
          fiscal_year: year,
          accounting_period: month,
          voucher_id: '',
          attachment_number: v.attachments,
          date: v.date,
          auditdate: '',
          enter: c.enter,
          cashier: '',
          signature: '',
          checker: '',
          posting_date: '',
          posting_person: '',
          voucher_making_system: c.voucherMakingSystem,
          memo1: '',
          memo2: '',
          reserve1: '',
          reserve2: v.reference,
          revokeflag: '',
        },
        voucher_body: { entry: entries },
      },
    },
  }
  return { ok: true, xml: builder.buildObject(doc) }
}

export interface ReplyItem {
  key?: string
  succeed?: string
  dsc?: string
  u8key?: string
  proc?: string
  accounting_period?: string
  voucher_type?: string
  voucher_id?: string
  u8accounting_period?: string
  u8voucher_id?: string
}

/** The `<item>` attributes of an EAI reply, or null when the text is not a ufinterface document. */
export function parseReply(text: string): ReplyItem[] | null {
  let items: ReplyItem[] | null = null
  // xml2js parses synchronously when given a string.
  xml2js.parseString(text.replace(/^\uFEFF/, ''), { explicitArray: false, attrkey: '$' }, (err, value: { ufinterface?: { item?: unknown } } | undefined) => {
    if (err || !value || typeof value.ufinterface !== 'object' || value.ufinterface === null) return
    const raw = value.ufinterface.item
    const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
    items = list.map((i) => ((i as { $?: ReplyItem }).$ ?? {}) as ReplyItem)
  })
  return items
}

/** The item of our voucher (its key is the voucher's id attribute), else the only one. */
export const itemFor = (items: ReplyItem[], reference: string): ReplyItem | undefined => items.find((i) => i.key === reference) ?? items[0]

/** The sender is not registered, or the 账套 refuses it: no voucher can pass until the configuration changes. */
const NOT_REGISTERED = /系统编码|发送方|sender|未注册|没有注册|无权|没有权限|登录失败|口令/i
/** Failures of U8 itself: the same voucher may pass later. */
const SERVER_FAULT = /超时|连接.{0,6}失败|死锁|服务.{0,6}(不可用|未启动|异常)|timeout|deadlock|被锁定|正在被.{0,10}使用/i
const DUPLICATE = /重复|已经存在|已存在/
const PERIOD_CLOSED = /已结账|已结帐|期间.{0,10}(已关闭|已结)|已经结账/

/** The connection's classifier: sender and server faults are errors; voucher outcomes are read by the caller. */
export function classifyEai(res: { status: number; data: unknown }): Classified | undefined {
  if (res.status !== 200) return undefined
  const text = typeof res.data === 'string' ? res.data : Buffer.isBuffer(res.data) ? res.data.toString('utf8') : ''
  const items = parseReply(text)
  // Not an EAI reply (a check's GET, a page of the web server): the status decides; an import reads it as a fault.
  if (!items) return undefined
  const failed = items.find((i) => i.succeed !== '0')
  if (!failed) return { kind: 'ok' }
  const dsc = failed.dsc ?? ''
  if (NOT_REGISTERED.test(dsc) && !DUPLICATE.test(dsc)) return { kind: 'auth_failed', vendorCode: `succeed ${failed.succeed ?? '?'}`, message: dsc }
  if (SERVER_FAULT.test(dsc)) return { kind: 'retryable', vendorCode: `succeed ${failed.succeed ?? '?'}`, message: dsc }
  return { kind: 'ok' }
}

/** The outcome of an import, from our voucher's reply item. */
export function resultOf(item: ReplyItem, v: VoucherDocument): VoucherExportResult {
  const dsc = item.dsc ?? ''
  if (item.succeed === '0') {
    const period = item.u8accounting_period || item.accounting_period || String(Number(v.date.slice(5, 7)))
    const type = item.voucher_type || v.word
    const no = item.u8voucher_id || item.voucher_id
    const externalId = no ? `${v.date.slice(0, 4)}-${period}-${type}-${no}` : item.u8key
    if (!externalId) return { status: 'exported', externalId: v.reference, number: null, details: { dsc, note: 'U8 saved the voucher without telling its number' } }
    return { status: 'exported', externalId, number: no ? `${type}-${no}` : null, details: { dsc, ...(item.u8key ? { u8key: item.u8key } : {}) } }
  }
  // U8 keeps the reference in reserve2 (外部凭证业务号): a repeated one means an earlier attempt got through.
  if (DUPLICATE.test(dsc)) return { status: 'duplicate', externalId: v.reference, number: null, details: { dsc, matchedBy: 'reserve2' } }
  const code = `succeed ${item.succeed ?? '?'}`
  if (PERIOD_CLOSED.test(dsc)) return { status: 'rejected', reason: 'period_closed', code, message: dsc }
  return { status: 'rejected', reason: 'invalid', code, message: dsc || 'U8 refused the voucher without a description' }
}
