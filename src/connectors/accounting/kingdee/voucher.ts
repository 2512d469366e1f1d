// A voucher as a 云星空 GL_VOUCHER: the Save body (never with FVOUCHERID, which would overwrite an existing voucher),
// its reply, and the ExecuteBillQuery that finds a voucher delivered before by our reference.
//
// GL_VOUCHER has no external-reference field. Our reference travels in a BOS extension field when the customer added
// one (config referenceField), otherwise as the prefix of the first line's 摘要: `TB-S001-20261120-R1 11/20 S001 现金收款`.
import { minorToDecimal, type VoucherDocument, type VoucherExportResult, type DimensionKind } from '../../framework/accounting.ts'
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { interpretStatus, kdCall, responseStatusOf, SERVICES, statusMessage, type ResponseStatus } from './api.ts'
import type { KingdeeConfig } from './config.ts'

export const FORM_ID = 'GL_VOUCHER'

/** Our reference as it opens the first line's 摘要; the space keeps `…-R1` from matching `…-R10`. */
export const referencePrefix = (reference: string) => `${reference} `

type Ref = { FNumber: string }

export interface GlVoucherEntry {
  FEXPLANATION: string
  FACCOUNTID: Ref
  FDetailID?: Record<string, Ref>
  FCURRENCYID: Ref
  FEXCHANGERATETYPE: Ref
  FEXCHANGERATE: number
  FAMOUNTFOR: string
  FDEBIT?: string
  FCREDIT?: string
}

export interface GlVoucherSave {
  formid: typeof FORM_ID
  data: {
    NeedUpDateFields: string[]
    NeedReturnFields: string[]
    SubSystemId: 'GL'
    IsVerifyBaseDataField: 'true'
    ValidateFlag: 'true'
    NumberSearch: 'true'
    ValidateRepeatJson: 'true'
    Model: Record<string, unknown> & { FEntity: GlVoucherEntry[] }
  }
}

export type Built = { ok: true; body: GlVoucherSave } | { ok: false; code: string; message: string }

/** The Save body of a voucher, or why it cannot be expressed with this connection's mapping. */
export function buildSave(v: VoucherDocument, c: KingdeeConfig): Built {
  const currency = c.currencies[v.currency]
  if (!currency) return { ok: false, code: 'unmapped_currency', message: `no 币别 is configured for ${v.currency} (config currencies)` }
  const entries: GlVoucherEntry[] = []
  for (const [i, line] of v.lines.entries()) {
    const detail: Record<string, Ref> = {}
    for (const [kind, value] of Object.entries(line.dimensions) as [DimensionKind, string | undefined][]) {
      if (!value) continue
      const slot = c.dimensionSlots[kind]
      if (!slot) return { ok: false, code: 'unmapped_dimension', message: `line ${line.lineNo} has a ${kind} dimension, but no 核算维度 slot is configured for it (config dimensionSlots.${kind})` }
      detail[`FDETAILID__${slot}`] = { FNumber: value }
    }
    const debit = line.debit !== 0
    const amount = minorToDecimal(debit ? line.debit : line.credit, v.currency)
    const summary = i === 0 && !c.referenceField ? `${referencePrefix(v.reference)}${line.summary}` : line.summary
    // The rate comes before the amounts: Kingdee recomputes fields in the order it reads them (尾差 otherwise).
    entries.push({
      FEXPLANATION: summary,
      FACCOUNTID: { FNumber: line.account.code },
      ...(Object.keys(detail).length ? { FDetailID: detail } : {}),
      FCURRENCYID: { FNumber: currency },
      FEXCHANGERATETYPE: { FNumber: c.exchangeRateType },
      FEXCHANGERATE: 1,
      FAMOUNTFOR: amount,
      ...(debit ? { FDEBIT: amount } : { FCREDIT: amount }),
    })
  }
  const [year, month] = v.date.split('-').map(Number) as [number, number]
  const model: GlVoucherSave['data']['Model'] = {
    FAccountBookID: { FNumber: c.accountBook },
    FDate: v.date,
    FBUSDATE: v.businessDate,
    ...(c.sendPeriod ? { FYEAR: year, FPERIOD: month } : {}),
    FVOUCHERGROUPID: { FNumber: c.voucherGroup },
    FATTACHMENTS: v.attachments,
    ...(c.referenceField ? { [c.referenceField]: v.reference } : {}),
    FEntity: entries,
  }
  return {
    ok: true,
    body: {
      formid: FORM_ID,
      data: {
        NeedUpDateFields: [],
        NeedReturnFields: ['FVOUCHERID', 'FVOUCHERGROUPNO'],
        SubSystemId: 'GL',
        IsVerifyBaseDataField: 'true',
        ValidateFlag: 'true',
        NumberSearch: 'true',
        ValidateRepeatJson: 'true',
        Model: model,
      },
    },
  }
}

interface SaveReply {
  Result?: {
    ResponseStatus?: ResponseStatus
    Id?: number | string
    Number?: string | null
    NeedReturnData?: { FVOUCHERID?: number | string; FVOUCHERGROUPNO?: number | string | null }[]
  }
}

const text = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : String(v))

/** The outcome of a Save: the voucher's 内码 and 凭证号, or the rejection with Kingdee's messages. */
export function parseSaveReply(reply: unknown): VoucherExportResult {
  const status = responseStatusOf(reply)
  if (!status) throw new ConnectorError('permanent', 'Kingdee answered Save without a ResponseStatus')
  const meaning = interpretStatus(status)
  if (meaning.kind === 'rejected') return { status: 'rejected', reason: meaning.reason, code: `MsgCode ${status.MsgCode ?? 0}`, message: statusMessage(status) }
  if (meaning.kind !== 'ok') throw new ConnectorError(meaning.kind === 'session_lost' ? 'retryable' : meaning.kind, `Kingdee Save failed: ${statusMessage(status)}`, { vendorCode: `MsgCode ${status.MsgCode ?? '?'}` })
  const result = (reply as SaveReply).Result!
  const entity = status.SuccessEntitys?.[0]
  const returned = result.NeedReturnData?.[0]
  const id = text(entity?.Id) ?? text(result.Id) ?? text(returned?.FVOUCHERID)
  if (!id) throw new ConnectorError('permanent', 'Kingdee reported the voucher saved but returned no id')
  return { status: 'exported', externalId: id, number: text(returned?.FVOUCHERGROUPNO) ?? text(entity?.Number) ?? text(result.Number), details: { formId: FORM_ID } }
}

/** A string literal of a FilterString (SQL Server syntax). */
const quote = (s: string) => `'${s.replace(/'/g, "''")}'`
/** A LIKE pattern matching values that start with `prefix` literally. */
const startsWith = (prefix: string) => quote(`${prefix.replace(/[[%_]/g, (ch) => `[${ch}]`)}%`)

/** The voucher of this account book dated `date` that carries `reference`, if Kingdee holds one. */
export async function findByReference(ctx: ConnectorContext<KingdeeConfig>, reference: string, date: string, operation = 'findVoucher'): Promise<{ externalId: string; number: string | null } | null> {
  const c = ctx.config
  const markerKey = c.referenceField ?? 'FEXPLANATION'
  const filter = [
    `FAccountBookID.FNumber = ${quote(c.accountBook)}`,
    `FDate = ${quote(date)}`,
    c.referenceField ? `${c.referenceField} = ${quote(reference)}` : `FEXPLANATION like ${startsWith(referencePrefix(reference))}`,
  ].join(' and ')
  const query = { FormId: FORM_ID, FieldKeys: `FVOUCHERID,FVOUCHERGROUPNO,${markerKey}`, FilterString: filter, OrderString: 'FVOUCHERID', TopRowCount: 0, StartRow: 0, Limit: 2000, SubSystemId: 'GL' }
  const rows = await kdCall<unknown>(ctx, SERVICES.executeBillQuery, { data: query }, { operation, idempotent: true })
  const status = responseStatusOf(rows)
  if (status) {
    // A query fault (an unknown field: the extension field is missing from GL_VOUCHER) does not pass by retrying.
    const meaning = interpretStatus(status)
    const kind = meaning.kind === 'rejected' || meaning.kind === 'ok' || meaning.kind === 'session_lost' ? 'permanent' : meaning.kind
    throw new ConnectorError(kind, `Kingdee could not look up vouchers: ${statusMessage(status)}`, { vendorCode: `MsgCode ${status.MsgCode ?? '?'}` })
  }
  if (!Array.isArray(rows)) throw new ConnectorError('permanent', 'Kingdee answered ExecuteBillQuery without rows')
  for (const row of rows) {
    if (!Array.isArray(row)) continue
    const [id, number, marker] = row as unknown[]
    const matches = c.referenceField ? marker === reference : typeof marker === 'string' && marker.startsWith(referencePrefix(reference))
    if (matches && text(id)) return { externalId: text(id)!, number: text(number) }
  }
  return null
}
