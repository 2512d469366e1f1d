// Stripe settlement from the balance transactions API (https://docs.stripe.com/api/balance_transactions/list): every
// movement of the balance in a day (charges, refunds, payouts, Stripe's own fees, adjustments) in integer minor units,
// paged with `starting_after`. A day is the merchant's business day: Stripe times are Unix seconds, so the window is
// cut in the merchant's time zone. The pages are stored as JSON lines, one balance transaction per line, and parsed
// back from that file like any other statement.
import { StringDecoder } from 'node:string_decoder'
import type { ConnectorContext, FetchedStatement, StatementFile } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import type { LineKind, ParsedStatement, PayoutMember, StatementLine } from '../../../core/reconciliation/types.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { businessDayRange, isDate } from '../../../lib/time.ts'
import { contentOnDisk, type StatementContent } from '../../../core/reconciliation/file.ts'

export const STRIPE_BALANCE_FORMAT = 'stripe_balance'
export const DEFAULT_TIME_ZONE = 'Asia/Shanghai'
/** Stripe's largest page. */
const PAGE = 100
/** A day beyond this many pages is not a POS merchant's day: stop rather than loop on a misbehaving cursor. */
const MAX_PAGES = 10_000

/**
 * The metadata keys that carry our numbers on Stripe objects, first found wins: the payment number on a charge or
 * PaymentIntent, the refund number on a refund. A connection names its own when its checkout writes others.
 */
export interface RefKeys {
  payment: string[]
  refund: string[]
}
export const DEFAULT_REF_KEYS: RefKeys = { payment: ['payment_no', 'out_trade_no'], refund: ['refund_no', 'out_refund_no'] }

/** The parts of an expanded `source` kept in the stored file: ids and our metadata, not the customer's details. */
export interface StripeSourceSummary {
  id: string
  object: string
  payment_intent?: string | null
  charge?: string | null
  status?: string | null
  automatic?: boolean
  arrival_date?: number
  metadata?: Record<string, string>
}

export interface StripeBalanceTransaction {
  id: string
  object: 'balance_transaction'
  amount: number
  fee: number
  net: number
  currency: string
  type: string
  reporting_category?: string
  status?: string
  created: number
  available_on?: number
  description?: string | null
  exchange_rate?: number | null
  fee_details?: { amount: number; currency: string; type: string; description?: string | null }[]
  source: string | StripeSourceSummary | null
}

interface StripeList<T> {
  object: 'list'
  data: T[]
  has_more: boolean
  url: string
}

const idOf = (v: unknown): string | null => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { id?: unknown }).id === 'string' ? (v as { id: string }).id : null)

function summarise(source: unknown): StripeBalanceTransaction['source'] {
  if (source === null || source === undefined) return null
  if (typeof source === 'string') return source
  const s = source as Record<string, unknown>
  const out: StripeSourceSummary = { id: String(s.id), object: String(s.object) }
  if ('payment_intent' in s) out.payment_intent = idOf(s.payment_intent)
  if ('charge' in s) out.charge = idOf(s.charge)
  if (typeof s.status === 'string') out.status = s.status
  if (typeof s.automatic === 'boolean') out.automatic = s.automatic
  if (typeof s.arrival_date === 'number') out.arrival_date = s.arrival_date
  if (s.metadata && typeof s.metadata === 'object') out.metadata = s.metadata as Record<string, string>
  return out
}

/** The balance transactions created in the business day, every page, as a JSON-lines statement file. */
export async function fetchStripeBalance(ctx: ConnectorContext<unknown>, input: { businessDate: string; timeZone?: string }): Promise<FetchedStatement> {
  const timeZone = input.timeZone ?? DEFAULT_TIME_ZONE
  if (!isDate(input.businessDate)) throw new ConnectorError('permanent', `${input.businessDate} is not a YYYY-MM-DD business date`)
  const { start, end } = businessDayRange(input.businessDate, timeZone)
  if (end.getTime() > ctx.now().getTime()) {
    return { status: 'not_ready', message: `${input.businessDate} has not ended yet in ${timeZone}; Stripe's day is complete after ${end.toISOString()}` }
  }
  let count = 0
  /** Every page of a listing of balance transactions. */
  async function* listing(filter: Record<string, string | number>): AsyncGenerator<StripeBalanceTransaction[]> {
    let startingAfter: string | undefined
    for (let page = 1; ; page++) {
      if (page > MAX_PAGES) throw new ConnectorError('permanent', `Stripe kept answering has_more after ${MAX_PAGES} pages of balance transactions`)
      const res = await ctx.http.request<StripeList<StripeBalanceTransaction>>({
        method: 'GET',
        url: '/v1/balance_transactions',
        params: { ...filter, limit: PAGE, starting_after: startingAfter, 'expand[]': 'data.source' },
        operation: 'fetchStatement',
        signal: ctx.signal,
      })
      const list = res.data
      if (!list || list.object !== 'list' || !Array.isArray(list.data)) throw new ConnectorError('permanent', 'Stripe answered GET /v1/balance_transactions with something that is not a list')
      yield list.data
      if (!list.has_more) return
      const last = list.data.at(-1)?.id
      if (!last) throw new ConnectorError('permanent', 'Stripe said has_more on an empty page of balance transactions')
      startingAfter = last
    }
  }
  const rows = (data: StripeBalanceTransaction[], extra: Record<string, string> = {}) =>
    Buffer.from(data.map((t) => `${JSON.stringify({ ...t, source: summarise(t.source), ...extra })}\n`).join(''), 'utf8')
  // The day's transactions, then those each of the day's automatic payouts paid out (marked `payout_member_of`; they
  // are lines of the days they happened on). Each page is written to the file as it arrives; a failed page (after the
  // client's retries) leaves no file.
  async function* pages(): AsyncGenerator<Buffer> {
    const payouts: string[] = []
    for await (const data of listing({ 'created[gte]': Math.floor(start.getTime() / 1000), 'created[lt]': Math.floor(end.getTime() / 1000) })) {
      count += data.length
      for (const t of data) {
        const source = t.source && typeof t.source === 'object' ? t.source : null
        // Stripe cannot tell what a manual payout paid out.
        if (t.type === 'payout' && source?.object === 'payout' && source.automatic !== false) payouts.push(source.id)
      }
      if (data.length) yield rows(data)
    }
    for (const payout of payouts) {
      for await (const data of listing({ payout })) {
        const members = data.filter((t) => !(t.type === 'payout' && idOf(t.source) === payout))
        if (members.length) yield rows(members, { payout_member_of: payout })
      }
    }
  }
  const saved = await ctx.saveDownload(pages())
  if (count === 0) {
    await saved.discard()
    return { status: 'empty', message: `Stripe recorded no balance transaction on ${input.businessDate} (${timeZone})` }
  }
  const file: StatementFile = {
    format: STRIPE_BALANCE_FORMAT,
    name: `stripe-balance-transactions-${input.businessDate}.jsonl`,
    contentType: 'application/x-ndjson',
    content: contentOnDisk(saved.path),
    discard: saved.discard,
  }
  return { status: 'ready', files: [file] }
}

// ---- parsing ---------------------------------------------------------------------------------------------------

/** reporting_category (or, on older objects, type) to the kind of line. */
function kindOf(t: StripeBalanceTransaction): LineKind {
  const category = t.reporting_category ?? ''
  if (category === 'charge' || (!category && (t.type === 'charge' || t.type === 'payment'))) return 'payment'
  if (category === 'refund' || (!category && (t.type === 'refund' || t.type === 'payment_refund'))) return 'refund'
  if (category === 'payout' || (!category && t.type === 'payout')) return 'payout'
  if (category === 'payout_reversal' || (!category && (t.type === 'payout_failure' || t.type === 'payout_cancel'))) return 'payout_return'
  if (category === 'fee' || (!category && (t.type === 'stripe_fee' || t.type === 'tax_fee' || t.type === 'stripe_fx_fee'))) return 'fee'
  return 'adjustment'
}

const meta = (s: StripeBalanceTransaction['source'], keys: string[]): string | null => {
  if (!s || typeof s === 'string') return null
  for (const k of keys) {
    const v = s.metadata?.[k]
    if (typeof v === 'string' && v.trim()) return v.trim()
  }
  return null
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)

function check(value: unknown, lineNo: number): StripeBalanceTransaction {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new StatementFormatError('not a balance transaction object', lineNo)
  const t = value as Record<string, unknown>
  if (typeof t.id !== 'string' || !t.id.startsWith('txn_')) throw new StatementFormatError(`"id" ${JSON.stringify(t.id)} is not a balance transaction id (txn_…)`, lineNo)
  for (const k of ['amount', 'fee', 'net', 'created'] as const) {
    if (!isInt(t[k])) throw new StatementFormatError(`${t.id}: "${k}" ${JSON.stringify(t[k])} is not an integer (Stripe amounts are minor units)`, lineNo)
  }
  if (typeof t.currency !== 'string' || !/^[a-z]{3}$/i.test(t.currency)) throw new StatementFormatError(`${t.id}: "currency" ${JSON.stringify(t.currency)} is not a currency code`, lineNo)
  if (typeof t.type !== 'string') throw new StatementFormatError(`${t.id}: "type" is missing`, lineNo)
  if ((t.net as number) !== (t.amount as number) - (t.fee as number)) {
    throw new StatementFormatError(`${t.id}: net ${t.net} is not amount ${t.amount} minus fee ${t.fee}`, lineNo)
  }
  return t as unknown as StripeBalanceTransaction
}

export function toStatementLine(t: StripeBalanceTransaction, lineNo: number, keys: RefKeys = DEFAULT_REF_KEYS): StatementLine {
  const kind = kindOf(t)
  const src = t.source
  const sourceId = idOf(src)
  const summary = src && typeof src === 'object' ? src : null
  const paymentIntent = summary?.payment_intent ?? null
  const base = {
    lineNo,
    kind,
    currency: t.currency.toUpperCase(),
    feeMilli: t.fee * 1000,
    occurredAt: new Date(t.created * 1000),
  }
  switch (kind) {
    case 'payment':
      return {
        ...base,
        ourRef: meta(src, keys.payment) ?? paymentIntent,
        channelTxnId: paymentIntent ?? sourceId,
        amount: t.amount,
        status: 'SUCCESS',
      }
    case 'refund':
      return {
        ...base,
        // A refund's own metadata names our refund; the payment it refunds is named by its PaymentIntent (a refund made
        // on the reader or in the console has no metadata: the run finds our payment number on the charge's line).
        ourRef: meta(src, keys.refund),
        ourPaymentRef: meta(src, keys.payment) ?? paymentIntent,
        channelTxnId: paymentIntent ?? summary?.charge ?? null,
        channelRefundId: sourceId,
        amount: -t.amount,
        status: 'REFUND',
      }
    case 'payout':
      // A payout takes money out of the balance: negative in Stripe, a positive transfer to the bank here.
      return { ...base, ourRef: null, channelTxnId: sourceId, payoutRef: sourceId, amount: -t.amount, status: (summary?.status ?? t.status ?? 'paid').toUpperCase() }
    case 'payout_return':
      // A payout the bank refused (or cancelled), its money back in the balance: the next payout pays it out again.
      return { ...base, ourRef: null, channelTxnId: sourceId ?? t.id, amount: t.amount, status: 'RETURNED' }
    case 'fee':
      // Stripe's own fee (Radar, Terminal, billing): the line's amount is all it took from the balance.
      return { ...base, ourRef: null, channelTxnId: sourceId ?? t.id, amount: -t.net, feeMilli: 0, status: (t.status ?? 'available').toUpperCase() }
    default:
      // Disputes, failed refunds, other adjustments: signed as Stripe books them.
      return { ...base, ourRef: meta(src, keys.payment), channelTxnId: sourceId ?? t.id, amount: t.amount, status: (t.status ?? 'available').toUpperCase() }
  }
}

/**
 * Reads a stripe_balance file line by line, in chunks: one StatementLine per balance transaction of the day; the
 * transactions listed for a payout (`payout_member_of`) are the payout's members, not lines.
 */
export function parseStripeBalance(content: StatementContent, keys: RefKeys = DEFAULT_REF_KEYS): ParsedStatement {
  const members: PayoutMember[] = []
  async function* lines(): AsyncGenerator<StatementLine> {
    const decoder = new StringDecoder('utf8')
    let pending = ''
    let lineNo = 0
    function* take(text: string, final: boolean): Generator<StatementLine> {
      pending += text
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0 || (final && pending.length > 0)) {
        const line = nl >= 0 ? pending.slice(0, nl) : pending
        pending = nl >= 0 ? pending.slice(nl + 1) : ''
        lineNo++
        const trimmed = line.trim()
        if (!trimmed) continue
        let value: unknown
        try {
          value = JSON.parse(trimmed)
        } catch {
          throw new StatementFormatError('not a JSON object', lineNo)
        }
        const t = check(value, lineNo)
        const payout = (value as { payout_member_of?: unknown }).payout_member_of
        if (payout === undefined) {
          yield toStatementLine(t, lineNo, keys)
          continue
        }
        if (typeof payout !== 'string' || !payout.startsWith('po_')) throw new StatementFormatError(`"payout_member_of" ${JSON.stringify(payout)} is not a payout id (po_…)`, lineNo)
        // A transaction of an earlier line or day that this payout paid out: not a line of its own.
        const member = toStatementLine(t, lineNo, keys)
        members.push({ payoutRef: payout, kind: member.kind, channelTxnId: member.channelTxnId ?? null, channelRefundId: member.channelRefundId ?? null, amount: member.amount })
      }
    }
    for await (const chunk of content.chunks()) yield* take(decoder.write(chunk), false)
    yield* take(decoder.end(), true)
  }
  return { lines: lines(), controlTotals: () => null, payoutMembers: () => members }
}
