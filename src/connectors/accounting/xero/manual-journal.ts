// A voucher as a Xero ManualJournal: LineAmount positive for a debit and negative for a credit, NoTax (the voucher
// carries its VAT lines itself), the store and other dimensions as tracking options, our reference at the start of
// the Narration (what findVoucher looks for before every post), the PUT under an Idempotency-Key, and the lock dates.
// https://developer.xero.com/documentation/api/accounting/manualjournals
import type { DimensionKind, VoucherDocument, VoucherExportResult } from '../../framework/accounting.ts'
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { decimal, referenceMarker, stringifyWithDecimals, vendorIdempotencyKey, voucherProblem } from '../quickbooks/body.ts'
import { messageDate, xeroDate, xeroRequest, type XeroException } from './api.ts'
import type { XeroConfig } from './config.ts'

type Ctx = ConnectorContext<XeroConfig>
type Rejected = Extract<VoucherExportResult, { status: 'rejected' }>

const DIMENSION_ORDER: DimensionKind[] = ['department', 'customer', 'supplier', 'employee', 'project']
const ACCOUNT_CODE_MAX = 10
/** "The document date cannot be before the period lock date, currently set at 30-Nov-2018" (or the end of year lock date). */
const LOCK_MESSAGE = /lock date, currently set at (\d{1,2})-([A-Za-z]{3})-(\d{4})/i
const GONE = new Set(['VOIDED', 'DELETED'])

export interface XeroManualJournal {
  ManualJournalID: string
  Narration?: string
  Date?: string
  Status?: string
}

interface JournalsAnswer {
  ManualJournals?: XeroManualJournal[]
}

interface Organisation {
  Name?: string
  BaseCurrency?: string
  PeriodLockDate?: string
  EndOfYearLockDate?: string
}

const invalid = (code: string, message: string): Rejected => ({ status: 'rejected', reason: 'invalid', code, message })

// ---- the organisation ----------------------------------------------------------------------------------------------

const ORGANISATION_TTL_MS = 60 * 60_000
/** Per connection and organisation (tenant): a connection pointed at another organisation reads that one. */
const organisations = new Map<string, { org: Organisation; at: number }>()

/** The organisation, read afresh or (`cached`) reused for an hour: its base currency does not change under us. */
export async function organisation(ctx: Ctx, opts: { cached?: boolean } = {}): Promise<Organisation> {
  const key = `${ctx.connectionId}\n${ctx.config.tenantId}`
  const hit = organisations.get(key)
  if (opts.cached && hit && ctx.now().getTime() - hit.at < ORGANISATION_TTL_MS) return hit.org
  const res = await xeroRequest<{ Organisations?: Organisation[] }>(ctx, { method: 'GET', path: 'Organisation', operation: opts.cached ? 'organisation' : 'lockDate' })
  const org = res.data.Organisations?.[0]
  if (!org) throw new ConnectorError('permanent', 'Xero answered the Organisation request without an organisation', { status: res.status })
  organisations.set(key, { org, at: ctx.now().getTime() })
  return org
}

/**
 * The last locked day: the later of the period lock date (all users but advisers) and the end of year lock date (all
 * users), since the connection may act for either. Null when neither is set.
 */
export async function lockDate(ctx: Ctx): Promise<string | null> {
  const org = await organisation(ctx)
  const dates = [xeroDate(org.PeriodLockDate), xeroDate(org.EndOfYearLockDate)].filter((d): d is string => d !== null).sort()
  return dates.at(-1) ?? null
}

// ---- the body ------------------------------------------------------------------------------------------------------

export const accountCodeFor = (config: XeroConfig, code: string) => config.accounts[code] ?? code

export function manualJournalBody(config: XeroConfig, voucher: VoucherDocument) {
  return {
    ManualJournals: [
      {
        Narration: `${referenceMarker(voucher.reference)} ${voucher.narration}`,
        Date: voucher.date,
        LineAmountTypes: 'NoTax',
        Status: config.status,
        ShowOnCashBasisReports: config.showOnCashBasisReports,
        JournalLines: voucher.lines.map((line) => {
          const tracking = DIMENSION_ORDER.flatMap((kind) => {
            const name = config.tracking[kind]
            const option = line.dimensions[kind]
            return name && option ? [{ Name: name, Option: option }] : []
          })
          return {
            LineAmount: decimal(line.debit ? line.debit : -line.credit, voucher.currency),
            AccountCode: accountCodeFor(config, line.account.code),
            Description: line.summary,
            ...(tracking.length ? { Tracking: tracking } : {}),
          }
        }),
      },
    ],
  }
}

// ---- capabilities ------------------------------------------------------------------------------------------------

export async function findManualJournal(ctx: Ctx, input: { reference: string }): Promise<{ externalId: string; number: string | null } | null> {
  const marker = referenceMarker(input.reference)
  const res = await xeroRequest<JournalsAnswer>(ctx, {
    method: 'GET',
    path: 'ManualJournals',
    params: { where: `Narration.StartsWith("${marker.replace(/["\\]/g, '\\$&')}")` },
    operation: 'findVoucher',
  })
  // A voided or deleted journal no longer holds the voucher: it may be sent again.
  const ours = (res.data.ManualJournals ?? []).find((j) => j.Narration?.startsWith(marker) && !GONE.has(j.Status ?? ''))
  return ours ? { externalId: ours.ManualJournalID, number: null } : null
}

function validationMessages(answer: XeroException): string[] {
  const out: string[] = []
  for (const element of answer.Elements ?? []) {
    for (const e of element.ValidationErrors ?? []) out.push(e.Message)
    for (const line of element.JournalLines ?? []) for (const e of line.ValidationErrors ?? []) out.push(e.Message)
  }
  const unique = [...new Set(out.filter(Boolean))]
  return unique.length ? unique : [answer.Message ?? 'A validation exception occurred']
}

function rejection(answer: XeroException): Rejected {
  const messages = validationMessages(answer)
  const locks = messages.flatMap((m) => {
    const found = LOCK_MESSAGE.exec(m)
    const date = found ? messageDate(found[1]!, found[2]!, found[3]!) : null
    return date ? [date] : []
  })
  if (locks.length) return { status: 'rejected', reason: 'period_closed', code: 'lock_date', message: `${messages.join('; ')} (locked through ${locks.sort().at(-1)})` }
  if (messages.some((m) => /^Account code '.*' is not a valid code/i.test(m))) return invalid('account_code', messages.join('; '))
  return invalid('validation', messages.join('; '))
}


export async function exportManualJournal(ctx: Ctx, input: { voucher: VoucherDocument }): Promise<VoucherExportResult> {
  const { voucher } = input
  const { config } = ctx
  const problem = voucherProblem(voucher)
  if (problem) return invalid(problem.code, problem.message)
  const tooLong = voucher.lines.find((l) => accountCodeFor(config, l.account.code).length > ACCOUNT_CODE_MAX)
  if (tooLong) return invalid('account_not_mapped', `Account ${tooLong.account.code} ${tooLong.account.name} is longer than a Xero account code (${ACCOUNT_CODE_MAX} characters): map it in the connection's accounts`)
  // Manual journals are always in the organisation's base currency.
  const org = await organisation(ctx, { cached: true })
  if (org.BaseCurrency && org.BaseCurrency !== voucher.currency) return invalid('currency', `The voucher is in ${voucher.currency}; the Xero organisation ${org.Name ?? ''} keeps its books in ${org.BaseCurrency}`)
  // The guard against a second copy: Xero replays an Idempotency-Key for minutes only, a job may retry later.
  const existing = await findManualJournal(ctx, { reference: voucher.reference })
  if (existing) return { status: 'duplicate', ...existing }
  const body = stringifyWithDecimals(manualJournalBody(config, voucher))
  const key = vendorIdempotencyKey(voucher.idempotencyKey, body, voucher.refusals ?? 0)
  const res = await xeroRequest<JournalsAnswer & XeroException>(ctx, { method: 'PUT', path: 'ManualJournals', headers: { 'idempotency-key': key }, data: body, operation: 'exportVoucher' })
  if (res.data.Type === 'ValidationException') {
    // Nothing was saved (summarizeErrors: one failing journal fails the request); the refusal is recorded with the
    // export, and the next attempt derives a new key.
    return rejection(res.data)
  }
  const journal = res.data.ManualJournals?.[0]
  if (!journal?.ManualJournalID) throw new ConnectorError('permanent', 'Xero answered the manual journal without a ManualJournalID', { status: res.status })
  return { status: 'exported', externalId: journal.ManualJournalID, number: null, details: { idempotencyKey: key, status: journal.Status ?? config.status } }
}
