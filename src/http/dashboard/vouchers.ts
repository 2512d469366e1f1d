// The finance dashboard's voucher pages: business days × stores with the state of each day's voucher and a Build
// button, and a voucher's page — its head, lines with their drill-down, deliveries, export to one of the merchant's
// accounting connections, and the CSV / XLSX files. Reading needs finance.export or reports.read, as the voucher API;
// building and exporting need finance.export.
import type { Context, Hono } from 'hono'
import { html, raw } from 'hono/html'
import { and, eq, inArray } from 'drizzle-orm'
import { voucherFile, VoucherRenderError } from '../../connectors/accounting/file/render.ts'
import type { VoucherDocument } from '../../connectors/framework/accounting.ts'
import { getConnectionRow, listConnections, type ConnectionRow } from '../../connectors/framework/connections.ts'
import { ConnectorError } from '../../connectors/framework/http-types.ts'
import { connections } from '../../connectors/framework/schema.ts'
import { connectorRegistry } from '../../connectors/index.ts'
import { getMerchant } from '../../core/merchants/service.ts'
import { getSettings } from '../../core/merchants/settings.ts'
import { recordAudit } from '../../core/staff/audit.ts'
import { getStore, listStores } from '../../core/stores/service.ts'
import { lineSources, type SourceRecord } from '../../core/vouchers/drilldown.ts'
import { buildVoucher, exportsOf, failedDeliveriesToMend, getVoucher, listVouchers, voucherDocumentOf, voucherLinesOf, type BuildResult, type ExportRow, type VoucherLineRow, type VoucherRow } from '../../core/vouchers/service.ts'
import type { Tx } from '../../db/client.ts'
import { exportVoucherAs } from '../../jobs/vouchers.ts'
import { badRequest, invalid, isDomainError, notFound } from '../../lib/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { formatDecimal } from '../../lib/money.ts'
import { addDays, businessDate, isDate } from '../../lib/time.ts'
import { label, labelOf, page, PAGE_HEADERS, refusal, say, type Html } from './layout.ts'
import { dayRange, daysDesc, DEFAULT_DAYS } from './days.ts'
import { can, pageUser, requireCsrf, requirePermission, requireSession, type DashboardEnv } from './session.ts'
import { formText, readForm } from '../form.ts'

type C = Context<DashboardEnv>

/** The voucher API's permissions: reading, and building or exporting. */
const READ = ['finance.export', 'reports.read'] as const
const ACT = 'finance.export'
const requireRead = (c: C) => requirePermission(c, ...READ)

/** Days shown by default, and at most. */
/** Vouchers read for the grid: every revision of every cell of the longest range, with room to spare. */
const GRID_LIMIT = 20_000

/** The state of a (day, store) cell of the grid. */
export type CellStatus = 'built' | 'exported' | 'failed' | 'corrected' | 'blocked' | 'none'

const STATUS_LABELS: Record<string, [string, string]> = {
  built: ['built', '已生成'],
  exported: ['exported', '已导出'],
  failed: ['export failed', '导出失败'],
  corrected: ['corrected', '已更正'],
  blocked: ['blocked', '科目缺失'],
  superseded: ['superseded', '已作废'],
  none: ['none', '无凭证'],
}

const KIND_LABELS: Record<string, [string, string]> = {
  daily: ['daily', '日结凭证'],
  reversal: ['reversal', '冲销凭证'],
  difference: ['difference', '差额调整凭证'],
}

const EXPORT_LABELS: Record<string, [string, string]> = {
  pending: ['pending', '待发送'],
  exported: ['exported', '已导出'],
  duplicate: ['already there', '对方已有'],
  rejected: ['rejected', '被拒绝'],
  failed: ['failed', '失败'],
}

const SOURCE_LABELS: Record<string, [string, string]> = {
  sale_line: ['sale line', '销售明细'],
  sale_tender: ['sale payment', '销售收款'],
  sale: ['sale', '销售单'],
  refund_line: ['refund line', '退货明细'],
  refund_tender: ['refund payment', '退款'],
  topup: ['top-up', '储值充值'],
  cash_session: ['cash session', '收银班次'],
  recon_item: ['reconciliation item', '对账项'],
  stock_movement: ['stock movement', '库存变动'],
}

const BUILD_MESSAGES: Record<BuildResult['outcome'], [string, string]> = {
  created: ['The voucher is built.', '凭证已生成。'],
  replaced: ['The day changed: a new revision replaced the unexported voucher.', '当日有变化，已重新生成凭证。'],
  corrected: ['The day changed after its voucher was exported: a correcting voucher is built.', '凭证导出后当日有变化，已生成更正凭证。'],
  unchanged: ['Nothing changed since the last build.', '与上次生成相比没有变化。'],
  empty: ['Nothing happened on that day: there is no voucher to build.', '当日没有业务，无需生成凭证。'],
}

const CSS = `
.chip-built{background:#e3ecfb;color:#1d4f9c}.chip-exported,.chip-duplicate{background:#dff5e3;color:#17692a}
.chip-failed,.chip-rejected{background:#fde2e1;color:#a4231b}.chip-corrected{background:#f3d6f0;color:#7b1f72}
.chip-blocked,.chip-pending{background:#fff1cc;color:#7a5600}.chip-none,.chip-superseded{background:#e6e8eb;color:#4a5361}
td.cell form{margin-top:4px}tr.totals th,tr.totals td{background:#eef1f5;font-weight:600}
tr.open-line td{background:#f0f6ff}tr.sources>td{background:#f7f9fb;padding:8px 8px 8px 32px}
table.head th{width:180px}ul.problems{margin:4px 0;padding-left:20px}
.downloads a{margin-right:8px}button.primary .zh{color:#dbe6ff}#export-form{margin-top:8px}
`

const statusChip = (status: string, extra?: string) => {
  const l = STATUS_LABELS[status] ?? EXPORT_LABELS[status] ?? [status, '']
  return html`<span class="chip chip-${status}" data-status="${status}">${label(l[0], l[1])}${extra ? ` · ${extra}` : ''}</span>`
}

const exportChip = (status: string) => {
  const l = EXPORT_LABELS[status] ?? [status, '']
  return html`<span class="chip chip-${status}" data-status="${status}">${label(l[0], l[1])}</span>`
}

/** Minor units as yuan with their decimals and thousands grouped ("1,234.50"); exact, never through a float. */
export function amountText(minor: number, currency: string): string {
  const text = formatDecimal(minor, currency)
  const [whole, frac] = text.split('.') as [string, string | undefined]
  const neg = whole.startsWith('-')
  const grouped = (neg ? whole.slice(1) : whole).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return `${neg ? '-' : ''}${grouped}${frac !== undefined ? `.${frac}` : ''}`
}

function timeText(d: Date | null, timeZone: string): string {
  if (!d) return ''
  return new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d)
}

const voucherPath = (id: string, q: Record<string, string | undefined> = {}) => {
  const qs = new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')).toString()
  return `/dashboard/vouchers/${id}${qs ? `?${qs}` : ''}`
}

const gridPath = (q: Record<string, string | undefined>) => {
  const qs = new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')).toString()
  return `/dashboard/vouchers${qs ? `?${qs}` : ''}`
}

/**
 * The state of a day's voucher from its vouchers (superseded ones left out) and the ids of those with a failed or
 * rejected delivery: a failed delivery first (someone must act), then a mapping gap, then a correction.
 */
export function cellStatus(vs: Pick<VoucherRow, 'id' | 'status'>[], failed: Set<string>): CellStatus {
  if (vs.length === 0) return 'none'
  if (vs.some((v) => failed.has(v.id))) return 'failed'
  if (vs.some((v) => v.status === 'blocked')) return 'blocked'
  if (vs.some((v) => v.status === 'corrected')) return 'corrected'
  if (vs.every((v) => v.status === 'exported')) return 'exported'
  return 'built'
}

async function merchantOf(c: C) {
  const m = await getMerchant(c.var.hub.database.db, c.var.principal.merchantId)
  return { ...m, today: businessDate(c.var.hub.clock(), m.timeZone) }
}

const accountingConnections = (c: C) => listConnections(c.var.hub.database.db, c.var.principal.merchantId, { family: 'accounting' }, connectorRegistry)

const connectorTitle = (row: Pick<ConnectionRow, 'connectorId'>) => connectorRegistry.get(row.connectorId)?.title ?? row.connectorId

/** Names of the connections deliveries went to, deleted ones included (a delivery outlives its connection). */
async function connectionNames(tx: Tx, merchantId: string, ids: string[]): Promise<Map<string, { name: string; connectorId: string }>> {
  if (ids.length === 0) return new Map()
  const rows = await tx
    .select({ id: connections.id, name: connections.name, connectorId: connections.connectorId })
    .from(connections)
    .where(and(eq(connections.merchantId, merchantId), inArray(connections.id, [...new Set(ids)])))
  return new Map(rows.map((r) => [r.id, { name: r.name, connectorId: r.connectorId }]))
}

interface Column {
  storeId: string | null
  code: string
  name: string
}

interface Alert {
  kind: 'error' | 'ok'
  message: string
  status?: number
}

function gridCell(c: C, col: Column, date: string, vs: VoucherRow[], failed: Set<string>, range: { from: string; to: string }, today: string): Html {
  const status = cellStatus(vs, failed)
  const primary = [...vs].reverse().find((v) => v.kind === 'daily') ?? vs[vs.length - 1]
  const waiting = vs.filter((v) => v.status === 'built').length
  const extra = status === 'corrected' && waiting > 0 ? say(`${waiting} to export`, `${waiting} 待导出`) : undefined
  const inner = html`${statusChip(status, extra)}
${primary ? html`<div class="small" data-testid="reference">${primary.reference}</div><div class="small">${label('Debit', '借方')} ${amountText(primary.totalDebit, primary.currency)}</div>` : ''}
${vs.length > 1 ? html`<div class="small muted">${vs.length} ${label('vouchers', '张凭证')}</div>` : ''}`
  const cellId = `${col.storeId ?? 'all'}|${date}`
  return html`<td class="cell" data-store="${col.storeId ?? ''}" data-date="${date}" data-cell="${cellId}">
${primary ? html`<a class="cell" href="${voucherPath(primary.id)}">${inner}</a>` : html`<div class="cell">${inner}</div>`}
${can(c, ACT) && date <= today
  ? html`<form method="post" action="/dashboard/vouchers/build?from=${range.from}&amp;to=${range.to}" class="inline">
<input type="hidden" name="_csrf" value="${c.var.csrf}"><input type="hidden" name="date" value="${date}"><input type="hidden" name="storeId" value="${col.storeId ?? ''}">
<button type="submit" data-action="build">${label(primary ? 'Rebuild' : 'Build', primary ? '重新生成' : '生成')}</button></form>`
  : ''}
</td>`
}

async function gridPage(c: C, alert?: Alert): Promise<Response> {
  requireRead(c)
  const db = c.var.hub.database.db
  const m = await merchantOf(c)
  const range = dayRange(c.req.query('from'), c.req.query('to'), m.today)
  const { from, to } = range
  const settings = await getSettings(db, m.id)
  const vouchers = await listVouchers(db, m.id, { from, to, limit: GRID_LIMIT })
  const failed = await failedDeliveriesToMend(db, m.id, vouchers.map((v) => v.id))
  const byCell = new Map<string, VoucherRow[]>()
  for (const v of [...vouchers].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())) {
    const key = `${v.storeId ?? ''}|${v.businessDate}`
    byCell.set(key, [...(byCell.get(key) ?? []), v])
  }
  let columns: Column[]
  if (settings.vouchers.grouping === 'merchant') columns = [{ storeId: null, code: 'ALL', name: say('All stores', '全部门店') }]
  else {
    const withVouchers = new Set(vouchers.map((v) => v.storeId))
    columns = (await listStores(db, m.id)).filter((s) => s.status === 'active' || withVouchers.has(s.id)).map((s) => ({ storeId: s.id, code: s.code, name: s.name }))
  }
  const days = daysDesc(from, to)
  const span = days.length
  const earlier = { from: addDays(from, -span), to: addDays(from, -1) }
  const later = { from: addDays(to, 1), to: addDays(to, span) }

  const done = c.req.query('done') as BuildResult['outcome'] | undefined
  let flash: (Alert & { voucher?: VoucherRow }) | undefined = alert
  if (!flash && done && Object.hasOwn(BUILD_MESSAGES, done)) {
    const vid = c.req.query('voucher')
    const voucher = vid && isUuid(vid) ? await getVoucher(db, m.id, vid).catch(() => undefined) : undefined
    flash = { kind: 'ok', message: say(...BUILD_MESSAGES[done]), voucher }
  }

  const body = html`<style>${raw(CSS)}</style>
<h1>${label('Accounting vouchers', '记账凭证')}</h1>
<nav class="range">
<form method="get" action="/dashboard/vouchers">
<label>${label('From', '从')} <input type="date" name="from" value="${from}"></label>
<label>${label('To', '至')} <input type="date" name="to" value="${to}"></label>
<button type="submit">${label('Show', '查看')}</button>
</form>
<a href="${gridPath(earlier)}" data-testid="earlier">← ${label('Earlier', '更早')}</a>
${later.from <= m.today ? html`<a href="${gridPath({ from: later.from, to: later.to > m.today ? m.today : later.to })}" data-testid="later">${label('Later', '更晚')} →</a>` : ''}
</nav>
${flash
  ? html`<p class="alert alert-${flash.kind}" data-testid="flash">${flash.message}${flash.voucher ? html` <a href="${voucherPath(flash.voucher.id)}">${flash.voucher.reference}</a>` : ''}</p>`
  : ''}
${can(c, ACT) ? '' : html`<p class="muted small" data-testid="read-only">${label('Read only: building and exporting vouchers needs the permission finance.export.', '只读：生成和导出凭证需要 finance.export 权限。')}</p>`}
${columns.length === 0
  ? html`<p class="muted" data-testid="no-stores">${label('No store yet.', '尚无门店。')}</p>`
  : html`<table id="voucher-grid">
<thead><tr><th>${label('Business date', '营业日')}</th>${columns.map((k) => html`<th data-store="${k.storeId ?? ''}">${k.code}<div class="small muted">${k.name}</div></th>`)}</tr></thead>
<tbody>
${days.map((d) => html`<tr data-date="${d}"><th>${d}</th>${columns.map((k) => gridCell(c, k, d, byCell.get(`${k.storeId ?? ''}|${d}`) ?? [], failed, range, m.today))}</tr>`)}
</tbody>
</table>`}`
  return c.html(page({ title: 'Vouchers', user: pageUser(c), body }), (alert?.status ?? 200) as 200, PAGE_HEADERS)
}


/** Builds a (day, store)'s voucher and goes back to the grid with what came of it; an expected refusal is shown there. */
async function build(c: C): Promise<Response> {
  const actor = requirePermission(c, ACT)
  const form = await readForm(c)
  const date = formText(form, 'date')
  const storeParam = formText(form, 'storeId')
  if (!isDate(date)) throw badRequest('invalid_date', 'date must be a day YYYY-MM-DD')
  if (storeParam !== '' && !isUuid(storeParam)) throw notFound('store', storeParam)
  const storeId = storeParam || null
  const m = await merchantOf(c)
  if (date > m.today) return gridPage(c, { kind: 'error', message: say(`${date} has not happened yet.`, `${date} 尚未到来。`), status: 422 })
  let result: BuildResult
  try {
    result = await c.var.hub.database.db.transaction(async (tx) => {
      const r = await buildVoucher(tx, { merchantId: m.id, storeId, businessDate: date }, c.var.hub.clock())
      await recordAudit(tx, actor, { action: `vouchers.${r.outcome}`, entityType: 'voucher', entityId: r.voucher?.id ?? null, details: { date, storeId, corrections: r.corrections.map((x) => x.reference), via: 'dashboard' } })
      return r
    })
  } catch (e) {
    if (!isDomainError(e) || e.kind === 'forbidden' || e.kind === 'unauthorized') throw e
    return gridPage(c, refusal(e))
  }
  const range = dayRange(c.req.query('from'), c.req.query('to'), m.today)
  const shown = result.corrections[result.corrections.length - 1] ?? result.voucher
  return c.redirect(gridPath({ from: range.from, to: range.to, done: result.outcome, voucher: shown?.id }), 303)
}

function sourcesRow(records: { records: SourceRecord[]; total: number; truncated: boolean }, currency: string): Html {
  const detailText = (d: Record<string, unknown>) =>
    Object.entries(d)
      .filter(([k, v]) => !k.endsWith('Id') && v !== null && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
      .map(([k, v]) => `${k}: ${String(v)}`)
      .join(' · ')
  return html`<tr class="sources"><td colspan="7">
<h2>${label('Source records', '来源单据')} <span class="small muted">(${records.records.length}${records.truncated ? '+' : ''})</span></h2>
${records.records.length === 0
  ? html`<p class="muted" data-testid="no-sources">${label('This line has no source record to show.', '该分录没有可显示的来源单据。')}</p>`
  : html`<table id="line-sources"><thead><tr><th>${label('Type', '类型')}</th><th>${label('Reference', '单号')}</th><th class="num">${label('Amount', '金额')}</th><th>${label('Detail', '明细')}</th></tr></thead>
<tbody>${records.records.map(
      (r) => html`<tr data-source="${r.id}" data-type="${r.type}"><td>${labelOf(SOURCE_LABELS, r.type)}</td><td data-testid="source-ref">${r.ref ?? ''}</td><td class="num">${amountText(r.amount, currency)}</td><td class="small">${detailText(r.detail)}</td></tr>`,
    )}</tbody></table>
${records.truncated ? html`<p class="muted small">${label('Only the first 1,000 records are shown.', '仅显示前 1,000 条。')}</p>` : ''}`}
</td></tr>`
}

function lineRow(v: VoucherRow, l: VoucherLineRow, open: boolean, sources: Html | ''): Html {
  const dims = Object.entries(l.dimensions)
    .map(([k, val]) => `${k}: ${val}`)
    .join(' · ')
  return html`<tr id="line-${l.lineNo}" data-line="${l.lineNo}" class="${open ? 'open-line' : ''}">
<td class="num">${l.lineNo}</td>
<td data-testid="summary">${l.summary}</td>
<td><span data-testid="account-code">${l.accountCode}</span> ${l.accountName}</td>
<td class="small">${dims}</td>
<td class="num" data-testid="debit">${l.debit !== 0 ? amountText(l.debit, v.currency) : ''}</td>
<td class="num" data-testid="credit">${l.credit !== 0 ? amountText(l.credit, v.currency) : ''}</td>
<td class="small">${open
    ? html`<a href="${voucherPath(v.id)}#line-${l.lineNo}" data-action="close-sources">${label('Hide', '收起')}</a>`
    : html`<a href="${voucherPath(v.id, { line: String(l.lineNo) })}#line-${l.lineNo}" data-action="sources">${label('Sources', '来源')}</a>`}</td>
</tr>
${sources}`
}

function doneFlash(done: string | undefined, exports: ExportRow[], connectionId: string | undefined, names: Map<string, { name: string }>, tz: string): Alert | undefined {
  if (!done) return undefined
  // Only a connection of this merchant is named: the query string's text itself is never shown.
  const name = connectionId ? names.get(connectionId)?.name : undefined
  if (!name) return undefined
  const row = exports.find((e) => e.connectionId === connectionId)
  switch (done) {
    case 'queued':
      return { kind: 'ok', message: say(`The export to ${name} is queued.`, `已排队导出到 ${name}。`) }
    case 'sent':
      return row && (row.status === 'exported' || row.status === 'duplicate')
        ? { kind: 'ok', message: say(`Exported to ${name}${row.externalNumber ? ` as ${row.externalNumber}` : ''}.`, `已导出到 ${name}${row.externalNumber ? `，凭证号 ${row.externalNumber}` : ''}。`) }
        : undefined
    case 'already':
      return row ? { kind: 'ok', message: say(`Already delivered to ${name} on ${timeText(row.exportedAt, tz)}: not sent again.`, `此凭证已于 ${timeText(row.exportedAt, tz)} 送达 ${name}，未重复发送。`) } : undefined
    case 'rejected':
      return row ? { kind: 'error', message: say(`${name} refused the voucher: ${row.lastError ?? ''}`, `${name} 拒绝了此凭证：${row.lastError ?? ''}`) } : undefined
    default:
      return undefined
  }
}

async function voucherPage(c: C, alert?: Alert): Promise<Response> {
  requireRead(c)
  const db = c.var.hub.database.db
  const id = c.req.param('id')!
  if (!isUuid(id)) throw notFound('voucher', id)
  const m = await merchantOf(c)
  const v = await getVoucher(db, m.id, id)
  const [lines, exports, targets, store, sameDay] = await Promise.all([
    voucherLinesOf(db, v.id),
    exportsOf(db, v.id),
    accountingConnections(c),
    v.storeId ? getStore(db, m.id, v.storeId) : Promise.resolve(null),
    listVouchers(db, m.id, { from: v.businessDate, to: v.businessDate, storeId: v.storeId ?? undefined, includeSuperseded: true, limit: 200 }),
  ])
  const names = await connectionNames(db, m.id, [...exports.map((e) => e.connectionId), ...targets.map((t) => t.id)])
  const related = sameDay.filter((o) => o.storeId === v.storeId).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
  const byId = new Map(related.map((o) => [o.id, o]))
  const lineParam = c.req.method === 'GET' ? c.req.query('line') : undefined
  const openLine = lineParam && /^\d{1,6}$/.test(lineParam) ? lines.find((l) => l.lineNo === Number(lineParam)) : undefined
  const openSources = openLine ? await lineSources(db, m.id, v.id, openLine.lineNo) : undefined
  const totalDebit = lines.reduce((n, l) => n + l.debit, 0)
  const totalCredit = lines.reduce((n, l) => n + l.credit, 0)
  const balanced = totalDebit === totalCredit
  const flash = alert ?? (c.req.method === 'GET' ? doneFlash(c.req.query('done'), exports, c.req.query('connection'), names, m.timeZone) : undefined)
  const delivered = new Map(exports.filter((e) => e.status === 'exported' || e.status === 'duplicate').map((e) => [e.connectionId, e]))
  const mayAct = can(c, ACT)
  const ref = (otherId: string | null) => {
    if (!otherId) return ''
    const o = byId.get(otherId)
    return html`<a href="${voucherPath(otherId)}">${o?.reference ?? otherId}</a>`
  }

  const exportForm = (): Html | '' => {
    if (!mayAct) return html`<p class="muted small" data-testid="read-only">${label('Read only: exporting needs the permission finance.export.', '只读：导出凭证需要 finance.export 权限。')}</p>`
    if (v.status === 'superseded') return html`<p class="muted" data-testid="no-export">${label('A later build of this day replaced this voucher; export the current one.', '此凭证已被当日更新的版本取代，请导出当前版本。')}</p>`
    if (v.status === 'blocked') return html`<p class="muted" data-testid="no-export">${label('Fix the account mapping and build the day again before exporting.', '请先补全科目映射并重新生成，再导出。')}</p>`
    if (targets.length === 0) return html`<p class="muted" data-testid="no-export">${label('No accounting connection yet.', '尚未连接任何财务系统。')}</p>`
    return html`<form method="post" action="/dashboard/vouchers/${v.id}/export" id="export-form">
<input type="hidden" name="_csrf" value="${c.var.csrf}">
<label>${label('Export to', '导出到')} <select name="connectionId">${targets.map(
      (t) => html`<option value="${t.id}" ${t.enabled ? '' : 'disabled'}>${t.name} · ${connectorTitle(t)}${delivered.has(t.id) ? ` (${say('delivered', '已送达')})` : ''}${t.enabled ? '' : ` (${say('disabled', '已停用')})`}</option>`,
    )}</select></label>
<button type="submit" class="primary" name="mode" value="now" data-action="export">${label('Export now', '立即导出')}</button>
<button type="submit" name="mode" value="queue" data-action="queue">${label('Queue', '排队导出')}</button>
</form>`
  }

  const body = html`<style>${raw(CSS)}</style>
<p class="small"><a href="${v.businessDate < addDays(m.today, -(DEFAULT_DAYS - 1)) ? gridPath({ from: addDays(v.businessDate, -(DEFAULT_DAYS - 1)), to: v.businessDate }) : gridPath({})}" data-testid="back">← ${label('All vouchers', '全部凭证')}</a></p>
<h1><span id="voucher-reference">${v.reference}</span> <span id="voucher-status">${statusChip(v.status)}</span></h1>
${flash ? html`<p class="alert alert-${flash.kind}" data-testid="flash">${flash.message}</p>` : ''}
${v.problems.length
  ? html`<div class="alert alert-error" data-testid="problems"><strong>${label('Cannot be exported', '无法导出')}</strong><ul class="problems">${v.problems.map((p) => html`<li>${p.message}${p.key ? html` <span class="small">(${p.key})</span>` : ''}</li>`)}</ul></div>`
  : ''}
<table class="head" id="voucher-head"><tbody>
<tr><th>${label('Kind', '类型')}</th><td data-testid="kind">${labelOf(KIND_LABELS, v.kind)}</td></tr>
<tr><th>${label('Store', '门店')}</th><td data-testid="store">${store ? html`${store.code} ${store.name}` : label('All stores', '全部门店')}</td></tr>
<tr><th>${label('Business date', '营业日')}</th><td data-testid="business-date">${v.businessDate}</td></tr>
<tr><th>${label('Posting date', '凭证日期')}</th><td data-testid="posting-date">${v.postingDate}${v.postingDate !== v.businessDate ? html` <span class="small muted">${label('the day’s period is closed', '所属期间已结账，补记')}</span>` : ''}</td></tr>
<tr><th>${label('Word · revision', '凭证字 · 版本')}</th><td>${v.word} · R${v.revision}</td></tr>
<tr><th>${label('Narration', '说明')}</th><td>${v.narration}</td></tr>
<tr><th>${label('Total debit', '借方合计')}</th><td class="num" data-testid="head-debit">${amountText(v.totalDebit, v.currency)} ${v.currency}</td></tr>
<tr><th>${label('Total credit', '贷方合计')}</th><td class="num" data-testid="head-credit">${amountText(v.totalCredit, v.currency)} ${v.currency}</td></tr>
<tr><th>${label('Rounding', '尾差')}</th><td class="num" data-testid="rounding">${amountText(v.rounding, v.currency)}</td></tr>
<tr><th>${label('Built', '生成时间')}</th><td>${timeText(v.createdAt, m.timeZone)}</td></tr>
${v.exportedAt ? html`<tr><th>${label('Exported', '导出时间')}</th><td>${timeText(v.exportedAt, m.timeZone)}</td></tr>` : ''}
${v.correctsId ? html`<tr><th>${label('Corrects', '更正')}</th><td>${ref(v.correctsId)}</td></tr>` : ''}
${v.correctedById ? html`<tr><th>${label('Corrected by', '被更正于')}</th><td>${ref(v.correctedById)}</td></tr>` : ''}
</tbody></table>
<p class="downloads small">${label('Download', '下载')}:
<a href="/dashboard/vouchers/${v.id}/file?format=csv" data-testid="download-csv">CSV (GBK)</a>
<a href="/dashboard/vouchers/${v.id}/file?format=csv&amp;encoding=utf8" data-testid="download-csv-utf8">CSV (UTF-8)</a>
<a href="/dashboard/vouchers/${v.id}/file?format=xlsx" data-testid="download-xlsx">XLSX</a></p>

<h2>${label('Lines', '分录')}</h2>
<table id="voucher-lines"><thead><tr><th class="num">#</th><th>${label('Summary', '摘要')}</th><th>${label('Account', '科目')}</th><th>${label('Dimensions', '辅助核算')}</th><th class="num">${label('Debit', '借方')}</th><th class="num">${label('Credit', '贷方')}</th><th></th></tr></thead>
<tbody>${lines.map((l) => lineRow(v, l, l === openLine, l === openLine && openSources ? sourcesRow(openSources, v.currency) : ''))}</tbody>
<tfoot><tr class="totals" data-balanced="${String(balanced)}"><th></th><th colspan="3">${label('Total', '合计')} ${balanced ? html`<span class="chip chip-exported">${label('debit = credit', '借贷平衡')}</span>` : html`<span class="chip chip-failed">${label('debit ≠ credit', '借贷不平')}</span>`}</th>
<td class="num" data-testid="total-debit">${amountText(totalDebit, v.currency)}</td><td class="num" data-testid="total-credit">${amountText(totalCredit, v.currency)}</td><td></td></tr></tfoot>
</table>

<h2>${label('Deliveries', '导出记录')}</h2>
${exports.length === 0
  ? html`<p class="muted" data-testid="no-deliveries">${label('Not delivered anywhere yet.', '尚未导出。')}</p>`
  : html`<table id="deliveries"><thead><tr><th>${label('Connection', '连接')}</th><th>${label('Status', '状态')}</th><th>${label('External number', '对方凭证号')}</th><th class="num">${label('Attempts', '尝试次数')}</th><th>${label('Last error', '最近错误')}</th><th>${label('Updated', '更新时间')}</th></tr></thead>
<tbody>${exports.map((e) => {
      const n = names.get(e.connectionId)
      return html`<tr data-connection="${e.connectionId}" data-status="${e.status}"><td>${n?.name ?? e.connectionId}${n ? html`<div class="small muted">${connectorTitle(n)}</div>` : ''}</td><td>${exportChip(e.status)}</td><td data-testid="external-number">${e.externalNumber ?? e.externalId ?? ''}</td><td class="num">${e.attempts}</td><td class="neg" data-testid="last-error">${e.lastError ?? ''}</td><td>${timeText(e.exportedAt ?? e.updatedAt, m.timeZone)}</td></tr>`
    })}</tbody></table>`}
${exportForm()}

${related.length > 1
  ? html`<h2>${label('Vouchers of this day', '当日凭证')}</h2><table id="day-vouchers"><thead><tr><th>${label('Reference', '参考号')}</th><th>${label('Kind', '类型')}</th><th>${label('Status', '状态')}</th><th class="num">${label('Debit', '借方')}</th><th>${label('Built', '生成时间')}</th></tr></thead><tbody>
${related.map((o) => html`<tr data-voucher="${o.id}"><td>${o.id === v.id ? html`<strong>${o.reference}</strong>` : html`<a href="${voucherPath(o.id)}">${o.reference}</a>`}</td><td>${labelOf(KIND_LABELS, o.kind)}</td><td>${statusChip(o.status)}</td><td class="num">${amountText(o.totalDebit, o.currency)}</td><td>${timeText(o.createdAt, m.timeZone)}</td></tr>`)}
</tbody></table>`
  : ''}`
  return c.html(page({ title: `Voucher ${v.reference}`, user: pageUser(c), body }), (alert?.status ?? 200) as 200, PAGE_HEADERS)
}

/** Exports the voucher to the chosen accounting connection now (or queues it); a delivered one is not sent again. */
async function exportAction(c: C): Promise<Response> {
  const actor = requirePermission(c, ACT)
  const id = c.req.param('id')!
  if (!isUuid(id)) throw notFound('voucher', id)
  const form = await readForm(c)
  const connectionId = formText(form, 'connectionId')
  const queue = formText(form, 'mode') === 'queue'
  const hub = c.var.hub
  const db = hub.database.db
  const merchantId = actor.merchantId
  try {
    await getVoucher(db, merchantId, id)
    if (!isUuid(connectionId)) throw badRequest('connection_required', say('Choose the connection to export to.', '请选择导出目标。'))
    const conn = await getConnectionRow(db, merchantId, connectionId)
    const r = await exportVoucherAs(hub, actor, { voucherId: id, connectionId }, { queue, via: 'dashboard', signal: c.req.raw.signal })
    if (r.queued) return c.redirect(voucherPath(id, { done: 'queued', connection: connectionId }), 303)
    // A failed attempt's message, cleaned of the connection's secrets, is what is shown.
    if ('failed' in r) {
      const why = r.failed.row?.lastError ?? r.failed.error.kind
      return voucherPage(c, { kind: 'error', message: say(`${conn.name} did not take the voucher: ${why}.`, `${conn.name} 未接收此凭证：${why}。`), status: 502 })
    }
    const done = r.attempt.row.status === 'rejected' ? 'rejected' : r.attempt.sent ? 'sent' : 'already'
    return c.redirect(voucherPath(id, { done, connection: connectionId }), 303)
  } catch (e) {
    if (!isDomainError(e) || e.kind === 'forbidden' || e.kind === 'unauthorized' || e.kind === 'not_found') throw e
    return voucherPage(c, refusal(e))
  }
}

/** The voucher as the file finance software imports: the same renderers (and bytes) as the API and the emailed files. */
async function download(c: C): Promise<Response> {
  requireRead(c)
  const id = c.req.param('id')!
  if (!isUuid(id)) throw notFound('voucher', id)
  const format = c.req.query('format') ?? 'xlsx'
  const encoding = c.req.query('encoding') ?? 'gbk'
  const layout = c.req.query('layout') ?? 'generic'
  if (format !== 'csv' && format !== 'xlsx') throw badRequest('invalid_format', 'format must be csv or xlsx')
  if (encoding !== 'gbk' && encoding !== 'utf8') throw badRequest('invalid_encoding', 'encoding must be gbk or utf8')
  // The Kingdee layout needs a connection's account book; its files come by email from that connection.
  if (layout !== 'generic' && layout !== 'u8') throw badRequest('invalid_layout', 'layout must be generic or u8')
  const { document } = await voucherDocumentOf(c.var.hub.database.db, c.var.principal.merchantId, id)
  const doc = document as VoucherDocument
  const opts = { encoding, layout } as const
  let file: Awaited<ReturnType<typeof voucherFile>>
  try {
    file = await voucherFile(doc, format, opts)
  } catch (e) {
    if (e instanceof VoucherRenderError) throw invalid(e.code, e.message)
    throw e
  }
  return c.body(new Uint8Array(file.bytes) as Uint8Array<ArrayBuffer>, 200, {
    'Content-Type': file.contentType,
    'Content-Disposition': `attachment; filename="${file.filename}"`,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  })
}

export function registerVouchers(app: Hono<DashboardEnv>) {
  app.use('/vouchers/*', requireSession(), requireCsrf())
  app.get('/vouchers', (c) => gridPage(c))
  app.post('/vouchers/build', build)
  app.get('/vouchers/:id', (c) => voucherPage(c))
  app.get('/vouchers/:id/file', download)
  app.post('/vouchers/:id/export', exportAction)
}
