// The finance dashboard's reconciliation pages: days × channel connections with a status chip, both sides' counts
// and amounts and the difference; a day's exceptions with the forms that resolve them (the engine's resolveItem and
// reopenItem, behind the API's permission 'finance.export'; a resolution over the merchant's approval limit is held
// for a manager, as the API holds it); exports of the same data as CSV or XLSX.
import type { Context, Hono } from 'hono'
import { html } from 'hono/html'
import { connectorRegistry } from '../../connectors/index.ts'
import { getConnectionRow, listConnections, type ConnectionRow } from '../../connectors/framework/connections.ts'
import { getMerchant } from '../../core/merchants/service.ts'
import { exceptionsTable, feeText, summaryTable, tableFile, type ExportFormat } from '../../core/reconciliation/export.ts'
import { OUTCOMES } from '../../core/reconciliation/match.ts'
import { dailySummary, exportExceptions, getStatementFile, latestRun, listExceptions, listStatements, type ItemView, type SummaryRow } from '../../core/reconciliation/queries.ts'
import { RESOLVE_ACTIONS, reopenItem, type ResolveAction, type ResolveActionName } from '../../core/reconciliation/resolve.ts'
import { pendingResolutions, resolveRequest, waitingResolutions, type WaitingResolution } from '../../core/reconciliation/resolve-approval.ts'
import { actOrHold, approveRequest, rejectRequest } from '../../core/staff/approvals.ts'
import { badRequest, isDomainError, notFound } from '../../lib/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { and, eq } from 'drizzle-orm'
import { reconItems } from '../../core/reconciliation/schema.ts'
import { addDays, businessDate, isDate } from '../../lib/time.ts'
import { chip, label, labelOf, money, OUTCOME_LABELS, page, PAGE_HEADERS, refusal, RESOLUTION_LABELS, say, STATE_LABELS, type ChipStatus, type Html } from './layout.ts'
import { dayRange, daysDesc, DEFAULT_DAYS } from './days.ts'
import { currentLocale } from '../../lib/i18n/context.ts'
import { handMatches, openExceptionAges, staffNames, type AgeBuckets } from './queries.ts'
import { can, pageUser, requireCsrf, requirePermission, requireSession, type DashboardEnv } from './session.ts'
import { listStores } from '../../core/stores/service.ts'
import { readForm } from '../form.ts'

type C = Context<DashboardEnv>

/** Reading is allowed to whoever may read the API's reconciliation; changing needs what the API's resolve needs. */
const READ = ['finance.export', 'reports.read'] as const
const RESOLVE = 'finance.export'
const requireRead = (c: C) => requirePermission(c, ...READ)

/** Days shown by default, and at most. */
/** Exceptions listed on a day's page (the export has them all). */
const DAY_LIMIT = 200
const EXCEPTION_OUTCOMES = OUTCOMES.filter((o) => o !== 'matched')

const dayPath = (connectionId: string, date: string) => `/dashboard/reconciliation/${connectionId}/${date}`

const exportHref = (q: Record<string, string | undefined>) =>
  `/dashboard/reconciliation/export?${new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined)).toString()}`

function timeText(d: Date | null, timeZone: string): string {
  if (!d) return ''
  return new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d)
}

/** The chip of a day: the live state of its items once a run has decided the day, else what the last attempt said. */
export function chipStatus(runStatus: string | null, openExceptions: number): ChipStatus {
  if (runStatus === 'balanced' || runStatus === 'exceptions') return openExceptions > 0 ? 'exceptions' : 'balanced'
  if (runStatus === 'not_ready' || runStatus === 'fetch_failed') return runStatus
  return openExceptions > 0 ? 'exceptions' : 'not_run'
}

interface Cell {
  runStatus: string | null
  posCount: number
  posAmount: number
  channelCount: number
  channelAmount: number
  difference: number
  /** Σ (channel's fee − contract's fee) in thousandths of a fen; null when no fee of the day was checked. */
  feeDifferenceMilli: number | null
  openExceptions: number
  timing: number
  resolved: number
}

/** The engine's summary rows are per store; the grid shows a connection's whole day. */
function cellsOf(rows: SummaryRow[]): Map<string, Cell> {
  const cells = new Map<string, Cell>()
  for (const r of rows) {
    const key = `${r.connectionId}|${r.businessDate}`
    const c = cells.get(key) ?? { runStatus: r.runStatus, posCount: 0, posAmount: 0, channelCount: 0, channelAmount: 0, difference: 0, feeDifferenceMilli: null, openExceptions: 0, timing: 0, resolved: 0 }
    c.posCount += r.posCount
    c.posAmount += r.posAmount
    c.channelCount += r.channelCount
    c.channelAmount += r.channelAmount
    c.difference += r.difference
    if (r.feeDifferenceMilli !== null) c.feeDifferenceMilli = (c.feeDifferenceMilli ?? 0) + r.feeDifferenceMilli
    c.openExceptions += r.openExceptions
    c.timing += r.timing
    c.resolved += r.resolved
    cells.set(key, c)
  }
  return cells
}

async function merchantOf(c: C) {
  const m = await getMerchant(c.var.hub.database.db, c.var.principal.merchantId)
  return { ...m, today: businessDate(c.var.hub.clock(), m.timeZone) }
}

async function paymentConnections(c: C): Promise<ConnectionRow[]> {
  return listConnections(c.var.hub.database.db, c.var.principal.merchantId, { family: 'payment' }, connectorRegistry)
}

const connectorTitle = (row: ConnectionRow) => connectorRegistry.get(row.connectorId)?.title ?? row.connectorId

function gridCell(conn: ConnectionRow, date: string, cell: Cell | undefined, currency: string): Html {
  const status = chipStatus(cell?.runStatus ?? null, cell?.openExceptions ?? 0)
  const diff = cell?.difference ?? 0
  return html`<td data-connection="${conn.id}" data-date="${date}"><a class="cell" href="${dayPath(conn.id, date)}">
${chip(status, cell && cell.openExceptions > 0 ? String(cell.openExceptions) : undefined)}
${cell && (cell.posCount > 0 || cell.channelCount > 0)
  ? html`<div class="small">${label('POS', '收银')} ${cell.posCount} · ${money(cell.posAmount, currency)}</div>
<div class="small">${label('Channel', '渠道')} ${cell.channelCount} · ${money(cell.channelAmount, currency)}</div>
<div class="small ${diff !== 0 ? 'neg' : ''}">Δ ${money(diff, currency)}</div>`
  : ''}
${cell && cell.feeDifferenceMilli !== null
  ? html`<div class="small ${Math.abs(cell.feeDifferenceMilli) >= 1000 ? 'neg' : ''}" data-fee-difference="${cell.feeDifferenceMilli}">Δ ${label('fee', '手续费')} ${feeText(cell.feeDifferenceMilli, currency)}</div>`
  : ''}
${cell && cell.timing > 0 ? html`<div class="small muted">${label('timing', '跨日')} ${cell.timing}</div>` : ''}
</a></td>`
}

async function gridPage(c: C): Promise<Response> {
  requireRead(c)
  const db = c.var.hub.database.db
  const m = await merchantOf(c)
  const { from, to } = dayRange(c.req.query('from'), c.req.query('to'), m.today)
  const connections = await paymentConnections(c)
  const [summary, ages, waiting] = await Promise.all([dailySummary(db, m.id, { from, to, today: m.today }), openExceptionAges(db, m.id, m.today), waitingResolutions(db, m.id)])
  const requesters = await staffNames(db, m.id, waiting.map((w) => w.requestedBy))
  const names = new Map(connections.map((k) => [k.id, k.name]))
  const cells = cellsOf(summary)
  const days = daysDesc(from, to)
  const span = days.length
  const earlier = { from: addDays(from, -span), to: addDays(from, -1) }
  const later = { from: addDays(to, 1), to: addDays(to, span) }
  const noAges: AgeBuckets = { upTo1: 0, upTo3: 0, over3: 0 }

  const body = html`<h1>${label('Settlement reconciliation', '渠道对账')}</h1>
<nav class="range">
<form method="get" action="/dashboard/reconciliation">
<label>${label('From', '从')} <input type="date" name="from" value="${from}"></label>
<label>${label('To', '至')} <input type="date" name="to" value="${to}"></label>
<button type="submit">${label('Show', '查看')}</button>
</form>
<a href="/dashboard/reconciliation?from=${earlier.from}&amp;to=${earlier.to}">← ${label('Earlier', '更早')}</a>
${later.from <= m.today ? html`<a href="/dashboard/reconciliation?from=${later.from}&amp;to=${later.to > m.today ? m.today : later.to}">${label('Later', '更晚')} →</a>` : ''}
<span class="muted">${label('Export', '导出')}:
<a href="${exportHref({ what: 'summary', format: 'csv', from, to })}">${label('summary', '汇总')} CSV</a> ·
<a href="${exportHref({ what: 'summary', format: 'xlsx', from, to })}">XLSX</a> ·
<a href="${exportHref({ what: 'summary', by: 'terminal', format: 'csv', from, to })}">${label('by terminal', '按终端')} CSV</a> ·
<a href="${exportHref({ what: 'summary', by: 'terminal', format: 'xlsx', from, to })}">XLSX</a> ·
<a href="${exportHref({ what: 'exceptions', format: 'csv', from, to })}">${label('open exceptions', '未处理异常')} CSV</a> ·
<a href="${exportHref({ what: 'exceptions', format: 'xlsx', from, to })}">XLSX</a></span>
</nav>
${connections.length === 0
  ? html`<p class="muted">${label('No payment channel is connected yet.', '尚未连接任何支付渠道。')}</p>`
  : html`<table id="recon-grid">
<thead><tr><th>${label('Business date', '营业日')}</th>${connections.map((k) => html`<th>${k.name}<div class="small muted">${connectorTitle(k)}</div></th>`)}</tr></thead>
<tbody>
${days.map((d) => html`<tr data-date="${d}"><th>${d}</th>${connections.map((k) => gridCell(k, d, cells.get(`${k.id}|${d}`), m.currency))}</tr>`)}
</tbody>
</table>
<h2>${label('Open exceptions by age', '未处理异常账龄')} <span class="small muted">(${label('all days', '全部日期')})</span></h2>
<table id="recon-ages">
<thead><tr><th>${label('Channel', '渠道')}</th><th class="num">0–1 ${label('days', '天')}</th><th class="num">2–3 ${label('days', '天')}</th><th class="num">&gt; 3 ${label('days', '天')}</th><th class="num">${label('Total', '合计')}</th></tr></thead>
<tbody>
${connections.map((k) => {
  const a = ages.get(k.id) ?? noAges
  return html`<tr data-connection="${k.id}"><th>${k.name}</th><td class="num" data-age="0-1">${a.upTo1}</td><td class="num" data-age="2-3">${a.upTo3}</td><td class="num" data-age="over-3">${a.over3}</td><td class="num">${a.upTo1 + a.upTo3 + a.over3}</td></tr>`
})}
</tbody>
</table>
${waitingTable(waiting, names, requesters, m.timeZone)}`}`
  return c.html(page({ title: 'Reconciliation', user: pageUser(c), body }), 200, PAGE_HEADERS)
}

/** The resolutions waiting for a manager, across days: each links to its day, where a manager decides it. */
function waitingTable(waiting: WaitingResolution[], names: Map<string, string>, requesters: Map<string, string>, timeZone: string): Html {
  if (waiting.length === 0) return html``
  return html`<h2>${label('Resolutions awaiting approval', '待审批的处理')} <span class="small muted">(${waiting.length})</span></h2>
<table id="recon-waiting">
<thead><tr><th>${label('Asked', '申请时间')}</th><th>${label('By', '申请人')}</th><th>${label('Channel', '渠道')}</th><th>${label('Business date', '营业日')}</th><th>${label('Exception', '异常')}</th><th>${label('Reference', '单号')}</th><th>${label('Resolution', '处理')}</th><th class="num">${label('Settles', '涉及金额')}</th></tr></thead>
<tbody>
${waiting.map(
  (w) => html`<tr data-approval="${w.approvalId}" data-item="${w.itemId}"><td>${timeText(w.requestedAt, timeZone)}</td><td>${(w.requestedBy && requesters.get(w.requestedBy)) ?? ''}</td><td>${names.get(w.connectionId) ?? ''}</td>
<td><a href="${dayPath(w.connectionId, w.businessDate)}#item-${w.itemId}">${w.businessDate}</a></td><td>${labelOf(OUTCOME_LABELS, w.outcome)}</td><td>${w.ref ?? ''}</td><td>${label(...ACTION_LABELS[w.action])}</td><td class="num">${money(w.atStake, w.currency)}</td></tr>`,
)}
</tbody>
</table>`
}

const posOnly = (i: ItemView) => i.posId !== null && i.line === null && i.outcome !== 'duplicate'
const lineOnly = (i: ItemView) => i.line !== null && (i.posId === null || i.outcome === 'duplicate') && i.posKind !== 'payout'

const ACTION_LABELS: Record<ResolveActionName, [string, string]> = {
  match: ['Match by hand', '手工匹配'],
  accept_channel: ['Accept channel', '以渠道为准'],
  accept_pos: ['Accept POS', '以收银为准'],
  write_off: ['Write off', '核销入账'],
  expect_next_day: ['Expect next day', '次日再核'],
  ignore: ['Ignore', '忽略'],
}

function describeItem(i: ItemView): string {
  const ref = i.posRef ?? i.line?.ourRef ?? i.line?.channelTxnId ?? i.id
  const amount = i.posAmount ?? i.channelAmount
  const o = OUTCOME_LABELS[i.outcome]?.[0] ?? i.outcome
  return `${i.businessDate} · ${o} · ${ref} · ${money(amount, i.currency)}`
}

type StoreOption = { id: string; code: string; name: string }

function resolveForm(i: ItemView, action: string, csrf: string, counterparts: ItemView[], stores: StoreOption[]): Html {
  const oneSided = posOnly(i) || lineOnly(i)
  const canExpect = oneSided && ['timing', 'missing_in_channel', 'missing_in_pos'].includes(i.outcome)
  const canMatch = oneSided && counterparts.length > 0
  const button = (a: ResolveActionName) => html`<button type="submit" name="action" value="${a}">${label(...ACTION_LABELS[a])}</button>`
  return html`<details class="resolve"><summary>${label('Resolve', '处理')}</summary>
<form method="post" action="${action}" class="resolve-form">
<input type="hidden" name="_csrf" value="${csrf}">
${canMatch
  ? html`<label for="cp-${i.id}">${label('Counterpart', '对应项')}</label>
<select id="cp-${i.id}" name="counterpartId">${counterparts.map(
      (o) => html`<option value="${o.id}" ${i.suggestion?.counterpartItemId === o.id ? 'selected' : ''}>${describeItem(o)}${i.suggestion?.counterpartItemId === o.id ? ` (${say('suggested', '建议')})` : ''}</option>`,
    )}</select>`
  : ''}
${i.storeCode === null && i.difference !== 0 && stores.length > 0
  ? html`<label for="store-${i.id}">${label('Store whose books take it (accepting the channel)', '入账门店（以渠道为准时）')}</label>
<select id="store-${i.id}" name="storeId"><option value="">–</option>${stores.map((st) => html`<option value="${st.id}">${st.code} ${st.name}</option>`)}</select>`
  : ''}
<label for="acct-${i.id}">${label('Account', '科目')}</label><input id="acct-${i.id}" name="accountCode" maxlength="40" placeholder="6603.02">
<label for="note-${i.id}">${label('Note / reason', '备注 / 原因')}</label><input id="note-${i.id}" name="note" maxlength="2000">
<div class="actions">${canMatch ? button('match') : ''}${button('accept_channel')}${button('accept_pos')}${button('write_off')}${canExpect ? button('expect_next_day') : ''}${button('ignore')}</div>
</form></details>`
}

/** A manager's approve and reject buttons for a resolution waiting on them (the API's /api/v1/approvals decisions). */
function decisionForms(path: string, csrf: string): Html {
  const form = (decision: 'approve' | 'reject', text: Html) =>
    html`<form method="post" action="${path}/${decision}" class="inline"><input type="hidden" name="_csrf" value="${csrf}"><input name="note" maxlength="2000" placeholder="${decision === 'approve' ? say('Note', '备注') : say('Reason', '原因')}" aria-label="${decision} note"><button type="submit" data-decision="${decision}">${text}</button></form>`
  return html`<div class="actions">${form('approve', label('Approve', '批准'))}${form('reject', label('Reject', '驳回'))}</div>`
}

function itemRow(c: C, i: ItemView, base: string, counterparts: ItemView[], names: Map<string, string>, tz: string, pending: Map<string, string>, stores: StoreOption[]): Html {
  const csrf = c.var.csrf
  const feeCell =
    i.expectedFeeMilli !== null || i.channelFeeMilli !== null
      ? html`<div class="small">${label('expected', '应收')} ${feeText(i.expectedFeeMilli, i.currency) ?? '–'}</div><div class="small">${label('channel', '渠道')} ${feeText(i.channelFeeMilli, i.currency) ?? '–'}</div>`
      : ''
  const others = counterparts.filter((o) => o.id !== i.id && (posOnly(i) ? lineOnly(o) : lineOnly(i) ? posOnly(o) : false))
  return html`<tr id="item-${i.id}" data-item="${i.id}" data-outcome="${i.outcome}" data-state="${i.state}">
<td>${labelOf(OUTCOME_LABELS, i.outcome)}${i.carriedDays > 0 ? html`<div class="small muted">${label('carried', '结转')} ${i.carriedDays} ${label('days', '天')}</div>` : ''}${i.businessDate !== base ? html`<div class="small muted">${i.businessDate}</div>` : ''}</td>
<td class="state-${i.state}" data-testid="state">${labelOf(STATE_LABELS, i.state)}${i.resolution ? html`<div class="small">${labelOf(RESOLUTION_LABELS, i.resolution)}</div>` : ''}${i.state === 'open' && pending.has(i.id)
    ? html`<div class="small" data-testid="awaiting-approval" data-approval="${pending.get(i.id)}">${label('Resolution awaiting a manager’s approval', '处理待主管审批')}</div>${can(c, 'approvals.decide') ? decisionForms(`${dayPath(i.connectionId, base)}/approvals/${pending.get(i.id)}`, csrf) : ''}`
    : ''}</td>
<td>${i.storeCode ?? ''}</td>
<td>${i.posRef ?? ''}${i.posKind ? html`<div class="small muted">${i.posKind}</div>` : ''}</td>
<td>${i.line
    ? html`${i.line.channelTxnId ?? ''}${i.line.ourRef && i.line.ourRef !== i.posRef ? html`<div class="small">${label('our ref', '商户单号')} ${i.line.ourRef}</div>` : ''}<div class="small muted">${i.line.kind} · ${i.line.status} · ${timeText(i.line.occurredAt, tz)}</div>`
    : ''}</td>
<td class="num">${money(i.posAmount, i.currency)}</td>
<td class="num">${money(i.channelAmount, i.currency)}${i.outcome === 'currency_diff' ? html`<div class="small">${i.currency}</div>` : ''}</td>
<td class="num ${i.difference !== 0 ? 'neg' : ''}">${money(i.difference, i.currency)}</td>
<td class="num">${feeCell}</td>
<td>${i.resolutionNote ?? ''}${i.resolvedAt ? html`<div class="small muted">${names.get(i.resolvedBy ?? '') ?? ''} ${timeText(i.resolvedAt, tz)}</div>` : ''}</td>
<td>${!can(c, RESOLVE)
    ? ''
    : i.state === 'open'
    ? resolveForm(i, `${dayPath(i.connectionId, base)}/items/${i.id}/resolve`, csrf, others, stores)
    : i.state === 'resolved'
      ? html`<form method="post" action="${dayPath(i.connectionId, base)}/items/${i.id}/reopen" class="inline"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit">${label('Reopen', '重新打开')}</button></form>`
      : ''}</td>
</tr>`
}

type Alert = { kind: 'error' | 'ok' | 'info'; message: string; status?: number }

/** What the day's page says after a change (its `done` parameter). A held resolution is not pretended done. */
const DONE_MESSAGES: Record<string, () => Alert> = {
  resolved: () => ({ kind: 'ok', message: say('Resolved.', '已处理。') }),
  reopened: () => ({ kind: 'ok', message: say('Reopened.', '已重新打开。') }),
  approved: () => ({ kind: 'ok', message: say('Approved: the resolution took effect.', '已批准，处理已生效。') }),
  rejected: () => ({ kind: 'ok', message: say('Rejected: the item stays open.', '已驳回，该项仍未处理。') }),
  held: () => ({
    kind: 'info',
    message: say('Awaiting a manager’s approval: the resolution is above the approval limit and nothing has changed yet; the item stays open until a manager approves it.', '超过审批限额，已提交主管审批，审批通过前不生效，该项仍未处理。'),
  }),
}

async function dayPage(c: C, alert?: Alert): Promise<Response> {
  requireRead(c)
  const db = c.var.hub.database.db
  const connectionId = c.req.param('connectionId')!
  const date = c.req.param('date')!
  if (!isDate(date)) throw notFound('business_date', date)
  const m = await merchantOf(c)
  const conn = await getConnectionRow(db, m.id, connectionId)
  // The open exceptions first, from the whole day (each can be resolved only from its row); the resolved ones fill
  // what room is left.
  const dayItems = (state: 'open' | 'resolved', limit: number) =>
    listExceptions(db, m.id, { connectionId: conn.id, from: date, to: date, outcomes: EXCEPTION_OUTCOMES, state, today: m.today, limit })
  const [run, summary, openOfDay, candidates, statements, matchedByHand] = await Promise.all([
    latestRun(db, m.id, conn.id, date),
    dailySummary(db, m.id, { from: date, to: date, connectionId: conn.id, today: m.today }),
    dayItems('open', DAY_LIMIT),
    listExceptions(db, m.id, { connectionId: conn.id, outcomes: EXCEPTION_OUTCOMES, state: 'open', today: m.today, limit: DAY_LIMIT }),
    listStatements(db, m.id, { connectionId: conn.id, from: date, to: date, limit: 20 }),
    handMatches(db, m.id, conn.id, date),
  ])
  const room = DAY_LIMIT - openOfDay.items.length
  const resolvedOfDay = openOfDay.nextCursor ? null : await dayItems('resolved', Math.max(room, 1))
  const items = [...openOfDay.items, ...(resolvedOfDay?.items.slice(0, room) ?? [])]
  const more = openOfDay.nextCursor !== null || (resolvedOfDay !== null && (resolvedOfDay.nextCursor !== null || resolvedOfDay.items.length > room))
  const [names, pending, storeOptions] = await Promise.all([
    staffNames(db, m.id, [...items.map((i) => i.resolvedBy), ...matchedByHand.map((h) => h.resolvedBy)]),
    pendingResolutions(db, m.id, items.filter((i) => i.state === 'open').map((i) => i.id)),
    // An open item of no store is accepted into a store's books: the stores to choose from.
    items.some((i) => i.state === 'open' && i.storeCode === null) ? listStores(db, m.id) : Promise.resolve([]),
  ])
  const cell = cellsOf(summary).get(`${conn.id}|${date}`)
  const status = chipStatus(run?.status ?? null, cell?.openExceptions ?? 0)
  const cur = m.currency
  const t = run?.totals ?? {}
  const mayChange = can(c, RESOLVE)
  const done = c.req.query('done')
  const flash = alert ?? (done && Object.hasOwn(DONE_MESSAGES, done) ? DONE_MESSAGES[done]!() : undefined)

  const body = html`<p class="small"><a href="/dashboard/reconciliation?from=${addDays(date, -(DEFAULT_DAYS - 1)) }&amp;to=${date}">← ${label('All days', '全部日期')}</a>
· <a href="${dayPath(conn.id, addDays(date, -1))}">${label('Previous day', '前一天')}</a>
${date < m.today ? html`· <a href="${dayPath(conn.id, addDays(date, 1))}">${label('Next day', '后一天')}</a>` : ''}</p>
<h1>${conn.name} <span class="muted">${connectorTitle(conn)}</span> · ${date} <span id="day-status">${chip(status, cell && cell.openExceptions > 0 ? String(cell.openExceptions) : undefined)}</span></h1>
${flash ? html`<p class="alert alert-${flash.kind}" data-testid="flash">${flash.message}</p>` : ''}
${run
  ? html`<p class="small muted">${label('Last run', '最近对账')} ${timeText(run.startedAt, m.timeZone)} · ${run.status}${run.error ? html` · <span class="neg">${run.error}</span>` : ''}</p>`
  : html`<p class="muted">${label('This day has not been reconciled yet.', '该日尚未对账。')}</p>`}
${run && (run.status === 'balanced' || run.status === 'exceptions')
  ? html`<table id="day-totals"><thead><tr><th></th><th class="num">${label('Count', '笔数')}</th><th class="num">${label('Payments', '收款')}</th><th class="num">${label('Refunds', '退款')}</th><th class="num">${label('Net', '净额')}</th><th class="num">${label('Fee', '手续费')}</th></tr></thead><tbody>
<tr><th>${label('POS', '收银')}</th><td class="num">${t.pos_count ?? 0}</td><td class="num">${money(t.pos_payments ?? 0, cur)}</td><td class="num">${money(t.pos_refunds ?? 0, cur)}</td><td class="num">${money(t.pos_net ?? 0, cur)}</td><td class="num">${label('expected', '应收')} ${feeText(t.expected_fee_milli ?? 0, cur)}</td></tr>
<tr><th>${label('Channel', '渠道')}</th><td class="num">${t.channel_count ?? 0}</td><td class="num">${money(t.channel_payments ?? 0, cur)}</td><td class="num">${money(t.channel_refunds ?? 0, cur)}</td><td class="num">${money(t.channel_net ?? 0, cur)}</td><td class="num">${feeText(t.channel_fee_milli ?? 0, cur)}</td></tr>
<tr><th>${label('Difference', '差额')}</th><td></td><td></td><td></td><td class="num ${(t.difference ?? 0) !== 0 ? 'neg' : ''}">${money(t.difference ?? 0, cur)}</td><td></td></tr>
</tbody></table>`
  : ''}
${summary.length > 1 || (summary[0] && summary[0].storeId)
  ? html`<h2>${label('By store', '按门店')}</h2><table id="day-stores"><thead><tr><th>${label('Store', '门店')}</th><th class="num">POS</th><th class="num">${label('Channel', '渠道')}</th><th class="num">${label('Difference', '差额')}</th><th class="num">${label('Matched', '已匹配')}</th><th class="num">${label('Open', '未处理')}</th><th class="num">${label('Resolved', '已处理')}</th></tr></thead><tbody>
${summary.map((s) => html`<tr><td>${s.storeCode ?? '–'}</td><td class="num">${s.posCount} · ${money(s.posAmount, cur)}</td><td class="num">${s.channelCount} · ${money(s.channelAmount, cur)}</td><td class="num">${money(s.difference, cur)}</td><td class="num">${s.matched}</td><td class="num">${s.openExceptions}</td><td class="num">${s.resolved}</td></tr>`)}
</tbody></table>`
  : ''}
${mayChange ? '' : html`<p class="muted small" data-testid="read-only">${label('Read only: resolving exceptions needs the permission finance.export.', '只读：处理异常需要 finance.export 权限。')}</p>`}
<h2>${label('Exceptions', '异常')} <span class="small muted">${label('Export', '导出')}:
<a href="${exportHref({ what: 'exceptions', format: 'csv', from: date, to: date, connection: conn.id, state: 'all', timing: 'include' })}">CSV</a> ·
<a href="${exportHref({ what: 'exceptions', format: 'xlsx', from: date, to: date, connection: conn.id, state: 'all', timing: 'include' })}">XLSX</a></span></h2>
${items.length === 0
  ? html`<p class="muted" data-testid="no-exceptions">${label('No exceptions on this day.', '该日没有异常。')}</p>`
  : html`<table id="exceptions"><thead><tr><th>${label('Outcome', '结果')}</th><th>${label('State', '状态')}</th><th>${label('Store', '门店')}</th><th>${label('POS ref', '收银单号')}</th><th>${label('Channel ref', '渠道单号')}</th><th class="num">${label('POS', '收银')}</th><th class="num">${label('Channel', '渠道')}</th><th class="num">${label('Difference', '差额')}</th><th class="num">${label('Fee', '手续费')}</th><th>${label('Note', '备注')}</th><th></th></tr></thead>
<tbody>${items.map((i) => itemRow(c, i, date, candidates.items, names, m.timeZone, pending, storeOptions))}</tbody></table>
${more ? html`<p class="muted small">${label(`Showing the first ${DAY_LIMIT}; the export has them all.`, `仅显示前 ${DAY_LIMIT} 条，导出文件包含全部。`)}</p>` : ''}`}
${matchedByHand.length > 0
  ? html`<h2>${label('Matched by hand', '手工匹配')}</h2><table id="hand-matches"><thead><tr><th>${label('POS ref', '收银单号')}</th><th>${label('Channel ref', '渠道单号')}</th><th class="num">POS</th><th class="num">${label('Channel', '渠道')}</th><th class="num">${label('Difference', '差额')}</th><th>${label('Note', '备注')}</th><th></th></tr></thead><tbody>
${matchedByHand.map(
  (h) => html`<tr data-item="${h.id}"><td>${h.posRef ?? ''}</td><td>${h.channelTxnId ?? ''}</td><td class="num">${money(h.posAmount, h.currency)}</td><td class="num">${money(h.channelAmount, h.currency)}</td><td class="num">${money(h.difference, h.currency)}</td>
<td>${h.resolutionNote ?? ''}<div class="small muted">${names.get(h.resolvedBy ?? '') ?? ''} ${timeText(h.resolvedAt, m.timeZone)}</div></td>
<td>${mayChange ? html`<form method="post" action="${dayPath(conn.id, date)}/items/${h.id}/reopen" class="inline"><input type="hidden" name="_csrf" value="${c.var.csrf}"><button type="submit">${label('Reopen', '重新打开')}</button></form>` : ''}</td></tr>`,
)}</tbody></table>`
  : ''}
<h2>${label('Statements', '对账单')}</h2>
${statements.items.length === 0
  ? html`<p class="muted">${label('No statement for this day.', '该日没有对账单。')}</p>`
  : html`<table id="statements"><thead><tr><th>${label('File', '文件')}</th><th>${label('Format', '格式')}</th><th>${label('Source', '来源')}</th><th>${label('Status', '状态')}</th><th class="num">${label('Lines', '行数')}</th><th>${label('Received', '接收时间')}</th></tr></thead><tbody>
${statements.items.map(
  (s) => html`<tr><td><a href="/dashboard/reconciliation/statements/${s.id}/file">${s.fileName ?? s.id}</a></td><td>${s.format}</td><td>${s.source}</td><td>${s.status}${s.rejectReason ? html`<div class="small neg">${s.rejectReason}</div>` : ''}</td><td class="num">${s.lineCount}</td><td>${timeText(s.createdAt, m.timeZone)}</td></tr>`,
)}</tbody></table>`}`
  return c.html(page({ title: `${conn.name} ${date}`, user: pageUser(c), body }), (alert?.status ?? 200) as 200, PAGE_HEADERS)
}

function actionOf(form: Record<string, unknown>): ResolveAction {
  const text = (k: string) => (typeof form[k] === 'string' ? (form[k] as string) : '')
  const action = text('action') as ResolveActionName
  if (!RESOLVE_ACTIONS.includes(action)) throw badRequest('invalid_action', `Unknown action "${text('action').slice(0, 40)}"`)
  const note = text('note').trim() || undefined
  switch (action) {
    case 'match':
      return { action, counterpartId: text('counterpartId'), note }
    case 'write_off':
      return { action, accountCode: text('accountCode'), note }
    case 'accept_channel':
      return { action, note, ...(text('storeId') ? { storeId: text('storeId') } : {}) }
    case 'ignore':
      return { action, reason: text('note') }
    default:
      return { action, note }
  }
}

/** An expected refusal of a change (a domain error not of `passOn`'s kinds) shown on the day's page; others thrown. */
function refusedOnDay(c: C, e: unknown, passOn: string[]): Promise<Response> {
  if (!isDomainError(e) || passOn.includes(e.kind)) throw e
  return dayPage(c, refusal(e))
}

/**
 * Runs a resolve or reopen and goes back to the day; an expected refusal is shown on the day's page, and so is a
 * resolution the merchant's rules hold for a manager's approval.
 */
async function change(c: C, kind: 'resolved' | 'reopened'): Promise<Response> {
  const actor = requirePermission(c, RESOLVE)
  const connectionId = c.req.param('connectionId')!
  const date = c.req.param('date')!
  // The day page's own address: a day that is not a date is no page (and nothing is changed from it).
  if (!isDate(date)) throw notFound('business_date', date)
  const itemId = c.req.param('itemId')!
  const form = await readForm(c)
  let done: 'resolved' | 'reopened' | 'held' = kind
  try {
    const now = c.var.hub.clock()
    await c.var.hub.database.db.transaction(async (tx) => {
      // The item is one of the page's connection (a form posted to another connection's page changes nothing).
      const [item] = isUuid(itemId) ? await tx.select({ connectionId: reconItems.connectionId }).from(reconItems).where(and(eq(reconItems.merchantId, actor.merchantId), eq(reconItems.id, itemId))) : []
      if (!item || item.connectionId !== connectionId.toLowerCase()) throw notFound('recon_item', itemId)
      if (kind === 'resolved') {
        const r = await actOrHold(tx, actor, 'recon_item.resolve', await resolveRequest(tx, actor, itemId, actionOf(form)), now)
        if (r.held) done = 'held'
      } else await reopenItem(tx, actor, itemId, { note: typeof form.note === 'string' ? form.note : undefined }, now)
    })
  } catch (e) {
    return refusedOnDay(c, e, ['forbidden', 'unauthorized'])
  }
  return c.redirect(`${dayPath(connectionId, date)}?done=${done}#item-${itemId}`, 303)
}

/**
 * A manager decides a resolution waiting for approval from the day's page, as POST /api/v1/approvals/{id}/approve or
 * reject would: approved, the resolution runs as its requester; one that can no longer run (the item was resolved or
 * changed meanwhile) is shown as failed, with its reason.
 */
async function decide(c: C): Promise<Response> {
  const actor = requirePermission(c, 'approvals.decide')
  const connectionId = c.req.param('connectionId')!
  const date = c.req.param('date')!
  if (!isDate(date)) throw notFound('business_date', date)
  const decision = c.req.param('decision')
  if (decision !== 'approve' && decision !== 'reject') throw notFound('decision', decision ?? '')
  const id = c.req.param('approvalId')!
  if (!isUuid(id)) throw notFound('approval_request', id)
  const form = await readForm(c)
  const note = typeof form.note === 'string' && form.note.trim() ? form.note.trim().slice(0, 2000) : undefined
  let itemId: string | undefined
  try {
    const now = c.var.hub.clock()
    const row = await c.var.hub.database.db.transaction((tx) => (decision === 'approve' ? approveRequest(tx, actor, id, { note }, now) : rejectRequest(tx, actor, id, { note }, now)))
    itemId = typeof row.payload.itemId === 'string' ? row.payload.itemId : undefined
    if (row.status === 'failed') {
      const error = row.error as { code?: string; message?: string } | null
      return dayPage(c, { kind: 'error', message: `The resolution could not be made: ${error?.message ?? error?.code ?? 'it failed'}`, status: 409 })
    }
  } catch (e) {
    return refusedOnDay(c, e, ['unauthorized'])
  }
  return c.redirect(`${dayPath(connectionId, date)}?done=${decision === 'approve' ? 'approved' : 'rejected'}${itemId ? `#item-${itemId}` : ''}`, 303)
}

async function exportFile(c: C): Promise<Response> {
  requireRead(c)
  const db = c.var.hub.database.db
  const m = await merchantOf(c)
  const { from, to } = dayRange(c.req.query('from'), c.req.query('to'), m.today)
  const format = c.req.query('format') as ExportFormat
  if (format !== 'csv' && format !== 'xlsx') throw badRequest('invalid_format', 'format must be csv or xlsx')
  const what = c.req.query('what')
  const connectionParam = c.req.query('connection')
  const connectionId = connectionParam ? (await getConnectionRow(db, m.id, connectionParam)).id : undefined
  let file: { filename: string; bytes: Uint8Array; contentType: string }
  if (what === 'summary') {
    const by = c.req.query('by') ?? 'store'
    if (by !== 'store' && by !== 'terminal') throw badRequest('invalid_by', 'by must be store or terminal')
    const rows = await dailySummary(db, m.id, { from, to, connectionId, today: m.today, by })
    file = await tableFile(`reconciliation-summary-${by === 'terminal' ? 'terminals-' : ''}${from}-${to}`, 'Summary', summaryTable(rows, by === 'terminal'), format, currentLocale())
  } else if (what === 'exceptions') {
    const state = c.req.query('state')
    if (state !== undefined && state !== 'open' && state !== 'resolved' && state !== 'all') throw badRequest('invalid_state', 'state must be open, resolved or all')
    // Timing items (still carried over) only when asked for, as the engine's lists do.
    const outcomes = c.req.query('timing') === 'include' ? EXCEPTION_OUTCOMES : undefined
    const items = await exportExceptions(db, m.id, { from, to, connectionId, state, outcomes, today: m.today })
    file = await tableFile(`reconciliation-exceptions-${from}-${to}`, 'Exceptions', exceptionsTable(items), format, currentLocale())
  } else throw badRequest('invalid_export', 'what must be summary or exceptions')
  return c.body(file.bytes as Uint8Array<ArrayBuffer>, 200, {
    'Content-Type': file.contentType,
    'Content-Disposition': `attachment; filename="${file.filename}"`,
    'Cache-Control': 'no-store',
  })
}

async function statementDownload(c: C): Promise<Response> {
  requireRead(c)
  const f = await getStatementFile(c.var.hub.database.db, c.var.principal.merchantId, c.req.param('id')!)
  const name = (f.statement.fileName ?? `statement-${f.statement.id}`).replace(/[^\w.\-]+/g, '_')
  return c.body(new Uint8Array(f.content) as Uint8Array<ArrayBuffer>, 200, {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': `attachment; filename="${name}"`,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  })
}

export function registerReconciliation(app: Hono<DashboardEnv>) {
  app.use('/reconciliation/*', requireSession(), requireCsrf())
  app.get('/reconciliation', gridPage)
  app.get('/reconciliation/export', exportFile)
  app.get('/reconciliation/statements/:id/file', statementDownload)
  app.get('/reconciliation/:connectionId/:date', (c) => dayPage(c))
  app.post('/reconciliation/:connectionId/:date/items/:itemId/resolve', (c) => change(c, 'resolved'))
  app.post('/reconciliation/:connectionId/:date/items/:itemId/reopen', (c) => change(c, 'reopened'))
  app.post('/reconciliation/:connectionId/:date/approvals/:approvalId/:decision', decide)
}
