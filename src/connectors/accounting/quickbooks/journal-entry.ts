// A voucher as a QuickBooks Online JournalEntry: account codes and dimension values resolved to QuickBooks ids, the
// body with PostingType sides and positive decimal amounts, the post under a requestid (a retry gets the original
// answer), the lookup by DocNumber that guards every post, and the company's closing date.
// https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/journalentry
import type { DimensionKind, VoucherDocument, VoucherExportResult } from '../../framework/accounting.ts'
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { decimal, referenceMarker, stringifyWithDecimals, vendorIdempotencyKey, voucherProblem } from './body.ts'
import { faultText, qboLiteral, qboQuery, qboRequest, type QboFault, faultOf } from './api.ts'
import { ENTITY_TYPES, type QboSlot, type QuickBooksConfig } from './config.ts'
import { fitReference } from '../reference.ts'

type Ctx = ConnectorContext<QuickBooksConfig>

/** QuickBooks' limit on DocNumber. */
export const DOC_NUMBER_MAX = 21
const NOTE_MAX = 4000
const DIMENSION_ORDER: DimensionKind[] = ['department', 'customer', 'supplier', 'employee', 'project']
/** Fault codes of a date on or before the company's closing date: 6200 (books closed), 6210 (closed with a password). */
const PERIOD_CLOSED_CODES = new Set(['6200', '6210'])

export interface QboJournalEntry {
  Id: string
  SyncToken?: string
  DocNumber?: string
  TxnDate?: string
  PrivateNote?: string
}

/** Our reference as DocNumber: itself when it fits 21 characters, else a stable prefix and hash. */
export const docNumberFor = (reference: string): string => fitReference(reference, DOC_NUMBER_MAX)

// ---- ids of accounts and dimensions ------------------------------------------------------------------------------

const LOOKUP_TTL_MS = 60 * 60_000
/**
 * Per connection and company: `Entity.Field=value` → QuickBooks id of a dimension (department, class, name), for an
 * hour. Only hits are kept, so a new one is seen at once; a connection pointed at another company (realm) looks its
 * ids up afresh. Accounts are not kept: see accountsByNumber.
 */
const lookups = new Map<string, Map<string, { id: string; at: number }>>()
const companyOf = (ctx: Ctx) => `${ctx.connectionId}\n${ctx.config.environment}\n${ctx.config.realmId}`

async function lookupId(ctx: Ctx, entity: string, field: string, value: string): Promise<string | null> {
  let cache = lookups.get(companyOf(ctx))
  if (!cache) lookups.set(companyOf(ctx), (cache = new Map()))
  const key = `${entity}.${field}=${value}`
  const now = ctx.now().getTime()
  const hit = cache.get(key)
  if (hit && now - hit.at < LOOKUP_TTL_MS) return hit.id
  const found = await qboQuery<{ Id: string }>(ctx, entity, `${field} = ${qboLiteral(value)}`, `find${entity}`)
  const id = found[0]?.Id ?? null
  if (id) cache.set(key, { id, at: now })
  else cache.delete(key)
  return id
}

const SLOT_LOOKUP: Record<Exclude<QboSlot, 'Entity'>, { entity: string; field: string }> = {
  DepartmentRef: { entity: 'Department', field: 'Name' },
  ClassRef: { entity: 'Class', field: 'Name' },
}

interface LineRefs {
  DepartmentRef?: { value: string }
  ClassRef?: { value: string }
  Entity?: { Type: string; EntityRef: { value: string } }
}

type Rejected = Extract<VoucherExportResult, { status: 'rejected' }>
const invalid = (code: string, message: string): Rejected => ({ status: 'rejected', reason: 'invalid', code, message })

/** Account numbers asked about in one query (the voucher's accounts are a few dozen at most). */
const ACCOUNT_NUMBERS_PER_QUERY = 50

/**
 * The active accounts numbered `numbers` now, AcctNum → Id, read at every export: finance renumbers an account (it
 * stays active under its old id) or gives its number to a new one without QuickBooks refusing anything, so an id
 * remembered from an earlier export could post a line to an account that no longer has the voucher's number.
 */
async function accountsByNumber(ctx: Ctx, numbers: string[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>()
  for (let i = 0; i < numbers.length; i += ACCOUNT_NUMBERS_PER_QUERY) {
    const chunk = numbers.slice(i, i + ACCOUNT_NUMBERS_PER_QUERY)
    const found = await qboQuery<{ Id: string; AcctNum?: string }>(ctx, 'Account', `AcctNum in (${chunk.map(qboLiteral).join(', ')})`, 'findAccount')
    for (const a of found) if (a.AcctNum && !ids.has(a.AcctNum)) ids.set(a.AcctNum, a.Id)
  }
  return ids
}

async function resolve(ctx: Ctx, voucher: VoucherDocument): Promise<{ accounts: Map<string, string>; lines: LineRefs[] } | Rejected> {
  const { config } = ctx
  const codes = [...new Set(voucher.lines.map((l) => l.account.code))]
  const numbered = await accountsByNumber(ctx, codes.filter((code) => !config.accounts[code]))
  const accounts = new Map<string, string>()
  for (const { account } of voucher.lines) {
    if (accounts.has(account.code)) continue
    const id = config.accounts[account.code] ?? numbered.get(account.code)
    if (!id) return invalid('account_not_mapped', `Account ${account.code} ${account.name} has no QuickBooks account: map it in the connection's accounts, or give the QuickBooks account the number ${account.code}`)
    accounts.set(account.code, id)
  }
  const lines: LineRefs[] = []
  for (const line of voucher.lines) {
    const refs: LineRefs = {}
    for (const kind of DIMENSION_ORDER) {
      const value = line.dimensions[kind]
      const slot = config.dimensions[kind]
      if (!value || !slot) continue
      const entityType = slot === 'Entity' ? ENTITY_TYPES[kind as keyof typeof ENTITY_TYPES] : undefined
      const where = slot === 'Entity' ? { entity: entityType!, field: 'DisplayName' } : SLOT_LOOKUP[slot]
      const id = config.dimensionIds[kind]?.[value] ?? (await lookupId(ctx, where.entity, where.field, value))
      if (!id) return invalid('dimension_not_found', `Line ${line.lineNo}: QuickBooks has no ${where.entity} named "${value}" (${kind}); create it or map it in the connection's dimensionIds`)
      if (refs[slot]) return invalid('dimension_conflict', `Line ${line.lineNo} has two dimensions for the QuickBooks ${slot}; keep one in the connection's dimensions`)
      if (slot === 'Entity') refs.Entity = { Type: entityType!, EntityRef: { value: id } }
      else refs[slot] = { value: id }
    }
    lines.push(refs)
  }
  return { accounts, lines }
}

// ---- the body ------------------------------------------------------------------------------------------------------

export function journalEntryBody(voucher: VoucherDocument, accounts: Map<string, string>, lineRefs: LineRefs[]) {
  return {
    TxnDate: voucher.date,
    DocNumber: docNumberFor(voucher.reference),
    PrivateNote: `${referenceMarker(voucher.reference)} ${voucher.narration}`.slice(0, NOTE_MAX),
    CurrencyRef: { value: voucher.currency },
    Line: voucher.lines.map((line, i) => ({
      Id: String(line.lineNo),
      Description: line.summary.slice(0, NOTE_MAX),
      // QuickBooks takes positive amounts only; the side is the PostingType.
      Amount: decimal(line.debit || line.credit, voucher.currency),
      DetailType: 'JournalEntryLineDetail',
      JournalEntryLineDetail: {
        PostingType: line.debit ? 'Debit' : 'Credit',
        AccountRef: { value: accounts.get(line.account.code)! },
        ...lineRefs[i],
      },
    })),
  }
}

// ---- capabilities ------------------------------------------------------------------------------------------------

export async function findJournalEntry(ctx: Ctx, input: { reference: string }): Promise<{ externalId: string; number: string | null } | null> {
  const found = await qboQuery<QboJournalEntry>(ctx, 'JournalEntry', `DocNumber = ${qboLiteral(docNumberFor(input.reference))}`, 'findVoucher')
  const ours = found.find((je) => je.PrivateNote?.startsWith(referenceMarker(input.reference))) ?? found[0]
  return ours ? { externalId: ours.Id, number: ours.DocNumber ?? null } : null
}

/** The company's closing date (Preferences.AccountingInfoPrefs.BookCloseDate), null when the books are open. */
export async function bookCloseDate(ctx: Ctx): Promise<string | null> {
  const res = await qboRequest<{ Preferences?: { AccountingInfoPrefs?: { BookCloseDate?: string } } }>(ctx, { method: 'GET', path: 'preferences', operation: 'lockDate' })
  const fault = faultOf(res.data)
  if (fault) throw new ConnectorError('permanent', `QuickBooks refused the preferences read: ${faultText(fault)}`, { status: res.status, vendorCode: fault.Error[0]?.code })
  return res.data.Preferences?.AccountingInfoPrefs?.BookCloseDate ?? null
}

async function rejection(ctx: Ctx, fault: QboFault): Promise<Rejected> {
  const closed = fault.Error.find((e) => PERIOD_CLOSED_CODES.has(e.code) || /account period closed/i.test(e.Message))
  if (closed) {
    // The closing date makes the refusal actionable; the answer is complete without it.
    const through = await bookCloseDate(ctx).catch((e: unknown) => {
      if (e instanceof ConnectorError) return null
      throw e
    })
    return { status: 'rejected', reason: 'period_closed', code: closed.code, message: `${faultText({ ...fault, Error: [closed] })}${through ? ` (books closed through ${through})` : ''}` }
  }
  // A dimension id we cached may be gone (made inactive or merged): look them up afresh next time.
  if (fault.Error.some((e) => e.code === '2500')) lookups.delete(companyOf(ctx))
  return invalid(fault.Error[0]?.code || fault.type, faultText(fault))
}


export async function exportJournalEntry(ctx: Ctx, input: { voucher: VoucherDocument }): Promise<VoucherExportResult> {
  const { voucher } = input
  const problem = voucherProblem(voucher)
  if (problem) return invalid(problem.code, problem.message)
  // The guard against a second copy: an earlier attempt may have been posted while its answer was lost.
  const existing = await findJournalEntry(ctx, { reference: voucher.reference })
  if (existing) return { status: 'duplicate', ...existing }
  const refs = await resolve(ctx, voucher)
  if ('status' in refs) return refs
  const body = stringifyWithDecimals(journalEntryBody(voucher, refs.accounts, refs.lines))
  const requestId = vendorIdempotencyKey(voucher.idempotencyKey, body, voucher.refusals ?? 0)
  const res = await qboRequest<{ JournalEntry?: QboJournalEntry }>(ctx, {
    method: 'POST',
    path: 'journalentry',
    params: { requestid: requestId },
    data: body,
    operation: 'exportVoucher',
    // The requestid makes a repeat return the original answer instead of posting again.
    idempotent: true,
  })
  const fault = faultOf(res.data)
  if (fault) {
    // A ValidationFault: nothing was booked, and QuickBooks would answer this requestid with it for ever (the
    // refusal is recorded with the export, and the next attempt derives a new one).
    return rejection(ctx, fault)
  }
  const entry = res.data.JournalEntry
  if (!entry?.Id) throw new ConnectorError('permanent', 'QuickBooks answered the journal entry without an Id', { status: res.status })
  return { status: 'exported', externalId: entry.Id, number: entry.DocNumber ?? null, details: { requestId, txnDate: entry.TxnDate ?? voucher.date } }
}
