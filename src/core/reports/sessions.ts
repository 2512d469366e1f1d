// Cash sessions among the reports: the sessions of a business day with their over/short, and the X/Z report of one
// session (sessionReport of the sales area, shown here as it is and as a CSV file).
//
// Definitions (amounts in minor units):
//   day         cash_sessions.business_date: the business day the session was opened on. A session that runs past
//               midnight stays on its opening day.
//   expected    closed: the expected cash fixed at the close; open: the drawer's ledger so far (Σ cash_movements).
//   counted     the cash counted at the close; null while open.
//   overShort   counted − expected (positive over, negative short); null while open.
//   totals      overShort = Σ over/short of the closed sessions; counts of open and closed sessions.
//
// Performance: one statement; cash_sessions_store_idx (merchant, store, business_date) serves a store's day. Without
// a store the merchant prefix of that index is used and the day filtered; an index on (merchant_id, business_date)
// would serve merchants with many stores better (the schema is left as it is). The open sessions' ledger sums go
// through cash_movements_session_idx.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { badRequest } from '../../lib/errors.ts'
import { isDate, localIso } from '../../lib/time.ts'
import { getSettings } from '../merchants/settings.ts'
import type { SessionReport } from '../sales/session-report.ts'
import { csvFile, moneyCell, type Cell, type CsvFile } from './csv.ts'
import type { Locale } from '../../lib/i18n/locale.ts'
import { num, scopeStore, storeFilter } from './period.ts'

export { sessionReport } from '../sales/session-report.ts'

export interface SessionListEntry {
  id: string
  storeId: string
  storeCode: string
  registerId: string
  registerCode: string
  status: 'open' | 'closed'
  rescue: boolean
  businessDate: string
  openedAt: string
  openedBy: string | null
  openedByName: string | null
  closedAt: string | null
  closedBy: string | null
  closedByName: string | null
  openingFloat: number
  expectedCash: number
  countedCash: number | null
  overShort: number | null
}

export interface SessionsOfDay {
  date: string
  storeId: string | null
  currency: string
  sessions: SessionListEntry[]
  totals: { open: number; closed: number; overShort: number }
}

const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString())

export async function sessionsOfDay(tx: Tx, merchantId: string, q: { date: string; storeId?: string }): Promise<SessionsOfDay> {
  if (!isDate(q.date)) throw badRequest('invalid_date', `date must be a date as YYYY-MM-DD, got "${q.date}"`)
  await scopeStore(tx, merchantId, q.storeId)
  const { currency } = await getSettings(tx, merchantId)
  const { rows } = await tx.execute<Record<string, unknown>>(sql`
    select cs.id, cs.store_id, st.code as store_code, cs.register_id, r.code as register_code, cs.status, cs.rescue,
           cs.business_date::text as business_date, cs.opened_at, cs.opened_by, ou.name as opened_by_name,
           cs.closed_at, cs.closed_by, cu.name as closed_by_name, cs.opening_float, cs.counted_cash, cs.over_short,
           coalesce(cs.expected_cash, (select coalesce(sum(m.amount), 0) from cash_movements m where m.session_id = cs.id))::bigint as expected_cash
      from cash_sessions cs
      join stores st on st.id = cs.store_id
      join registers r on r.id = cs.register_id
      left join users ou on ou.id = cs.opened_by and ou.merchant_id = cs.merchant_id
      left join users cu on cu.id = cs.closed_by and cu.merchant_id = cs.merchant_id
     where cs.merchant_id = ${merchantId} and cs.business_date = ${q.date}${storeFilter(sql`cs.store_id`, q.storeId)}
     order by st.code, r.code, cs.opened_at, cs.id`)
  const sessions = rows.map(
    (r): SessionListEntry => ({
      id: String(r.id),
      storeId: String(r.store_id),
      storeCode: String(r.store_code),
      registerId: String(r.register_id),
      registerCode: String(r.register_code),
      status: r.status as 'open' | 'closed',
      rescue: Boolean(r.rescue),
      businessDate: String(r.business_date),
      openedAt: iso(r.opened_at)!,
      openedBy: (r.opened_by as string | null) ?? null,
      openedByName: (r.opened_by_name as string | null) ?? null,
      closedAt: iso(r.closed_at),
      closedBy: (r.closed_by as string | null) ?? null,
      closedByName: (r.closed_by_name as string | null) ?? null,
      openingFloat: num(r.opening_float),
      expectedCash: num(r.expected_cash),
      countedCash: r.counted_cash === null ? null : num(r.counted_cash),
      overShort: r.over_short === null ? null : num(r.over_short),
    }),
  )
  const closed = sessions.filter((s) => s.status === 'closed')
  return {
    date: q.date,
    storeId: q.storeId ?? null,
    currency,
    sessions,
    totals: { open: sessions.length - closed.length, closed: closed.length, overShort: closed.reduce((a, s) => a + (s.overShort ?? 0), 0) },
  }
}

/** The day's sessions as a file; times in the merchant's time zone, with its offset (a spreadsheet shows the till's clock). */
export function sessionsOfDayCsv(r: SessionsOfDay, timeZone: string, locale?: Locale): CsvFile {
  const local = (at: string | null) => (at === null ? null : localIso(new Date(at), timeZone))
  const money = moneyCell(r.currency)
  const header = ['store_code', 'register_code', 'session_id', 'status', 'rescue', 'opened_at', 'opened_by', 'closed_at', 'closed_by', 'opening_float', 'expected_cash', 'counted_cash', 'over_short']
  const rows = r.sessions.map((s) => [
    s.storeCode,
    s.registerCode,
    s.id,
    s.status,
    s.rescue ? 'yes' : 'no',
    local(s.openedAt),
    s.openedByName,
    local(s.closedAt),
    s.closedByName,
    money(s.openingFloat),
    money(s.expectedCash),
    money(s.countedCash),
    money(s.overShort),
  ])
  return csvFile(`sessions_${r.storeId ? `${r.sessions[0]?.storeCode ?? 'store'}_` : ''}${r.date}.csv`, { header, rows }, locale)
}

/** The X/Z report as rows of (section, item, count, amount): sales, voids, refunds, tenders, discounts and the drawer. */
export async function sessionReportCsv(tx: Tx, merchantId: string, report: SessionReport, locale?: Locale): Promise<CsvFile> {
  const { currency } = await getSettings(tx, merchantId)
  const money = moneyCell(currency)
  const s = report.sales
  const c = report.cash
  const rows: Cell[][] = [
    ['report', report.type, null, null],
    ['sales', 'count', s.count, null],
    ['sales', 'gross', null, money(s.gross)],
    ['sales', 'discounts', null, money(s.discounts)],
    ['sales', 'tax', null, money(s.tax)],
    ['sales', 'total', null, money(s.total)],
    ['sales', 'rounding', null, money(s.rounding)],
    ['sales', 'amount_due', null, money(s.amountDue)],
    ['sales', 'tender_difference', null, money(s.tenderDifference)],
    ['voids', 'voids', report.voids.count, money(report.voids.total)],
    ['refunds', 'refunds', report.refunds.count, money(report.refunds.total)],
    ['refunds', 'tax', null, money(report.refunds.tax)],
    ['net', 'net', null, money(report.net)],
    ...report.tenders.flatMap((t): Cell[][] => [
      ['tender', `${t.kind} sales`, null, money(t.sales)],
      ['tender', `${t.kind} refunds`, null, money(t.refunds)],
      ['tender', `${t.kind} net`, null, money(t.net)],
    ]),
    ...report.discounts.map((d): Cell[] => ['discount', `${d.source}: ${d.label}`, null, money(d.amount)]),
    ['cash', 'opening_float', null, money(c.openingFloat)],
    ['cash', 'sales', null, money(c.sales)],
    ['cash', 'refunds', null, money(c.refunds)],
    ['cash', 'voids', null, money(c.voids)],
    ['cash', 'paid_in', null, money(c.paidIn)],
    ['cash', 'paid_out', null, money(c.paidOut)],
    ['cash', 'topups', null, money(c.topUps)],
    ['cash', 'topup_refunds', null, money(c.topUpRefunds)],
    ['cash', 'expected', null, money(c.expected)],
    ['cash', 'counted', null, money(c.counted)],
    ['cash', 'over_short', null, money(c.overShort)],
  ]
  return csvFile(`session-${report.type}_${report.session.businessDate}_${report.session.id}.csv`, { header: ['section', 'item', 'count', 'amount'], rows }, locale)
}
