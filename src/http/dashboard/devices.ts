// The devices dashboard: each store's printers, drawers, displays and scales with the status they last reported and
// their open and failed work, the receipts last printed shown as the printer printed them (decoded from the bytes
// sent), and the jobs that need a person — a Printed / Not printed answer for an unknown outcome (devices.manage) and
// a Reprint (devices.use), the same operations as the devices API.
import type { Context, Hono } from 'hono'
import { html, raw } from 'hono/html'
import { and, desc, eq, gt, inArray, sql, type SQL } from 'drizzle-orm'
import { randomUUID } from 'node:crypto'
import { deviceJobs, type DeviceJobState } from '../../core/devices/schema.ts'
import { listDevices, type Device } from '../../core/devices/registry.ts'
import { reprintJob, settleJob, type DeviceJob } from '../../core/devices/jobs.ts'
import { getMerchant } from '../../core/merchants/service.ts'
import { refunds, sales } from '../../core/sales/schema.ts'
import { getStore, listStores } from '../../core/stores/service.ts'
import type { Tx } from '../../db/client.ts'
import { profileOf } from '../../devices/work.ts'
import type { DeviceStatus } from '../../devices/types.ts'
import { badRequest, isDomainError, notFound } from '../../lib/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { label, labelOf, page, PAGE_HEADERS, refusal, say, type Html } from './layout.ts'
import { can, pageUser, requireCsrf, requirePermission, requireSession, type DashboardEnv } from './session.ts'
import { UNANSWERED_FAILURE } from './home-queries.ts'
import { formText, readForm } from '../form.ts'

type C = Context<DashboardEnv>

/** The devices API's permissions: seeing devices and reprinting, and settling an unknown outcome. */
const USE = 'devices.use'
const MANAGE = 'devices.manage'

/** Jobs of this many days are counted and listed (the device index is by time, so older work is never scanned). */
const WINDOW_DAYS = 7
/** Printed copies shown, and jobs needing a person shown at most. */
const RECEIPTS_SHOWN = 10
const ATTENTION_SHOWN = 100

/** What a device's last status read comes to, worst first. */
export type DeviceBadge = 'paper_end' | 'cover_open' | 'offline' | 'unreachable' | 'error' | 'paper_near_end' | 'unknown' | 'ok'

export const BADGE_LABELS: Record<DeviceBadge, [string, string]> = {
  ok: ['ok', '正常'],
  paper_near_end: ['paper near end', '纸将用完'],
  paper_end: ['paper end', '缺纸'],
  cover_open: ['cover open', '盖子打开'],
  offline: ['offline', '离线'],
  unreachable: ['unreachable', '无法连接'],
  error: ['error', '故障'],
  unknown: ['unknown', '状态未知'],
}

const NAMED_PROBLEMS: readonly string[] = ['paper_end', 'cover_open', 'offline', 'unreachable']

/**
 * The badge of a status as stored: a problem the driver named wins; no answer (online null, many clones never
 * answer) or no read at all is unknown, not offline; a printer low on paper still prints, so near end is a warning.
 */
export function deviceBadge(status: Partial<DeviceStatus> | null): DeviceBadge {
  if (!status) return 'unknown'
  if (status.problem) return NAMED_PROBLEMS.includes(status.problem) ? (status.problem as DeviceBadge) : 'error'
  if (status.online === false) return 'offline'
  if (status.online !== true) return 'unknown'
  if (status.paper === 'end') return 'paper_end'
  if (status.coverOpen) return 'cover_open'
  if (status.paper === 'near_end') return 'paper_near_end'
  return 'ok'
}

const KIND_LABELS: Record<string, [string, string]> = {
  receipt_printer: ['receipt printer', '小票打印机'],
  kitchen_printer: ['kitchen printer', '厨房打印机'],
  label_printer: ['label printer', '标签打印机'],
  cash_drawer: ['cash drawer', '钱箱'],
  customer_display: ['customer display', '顾客显示屏'],
  scale: ['scale', '电子秤'],
  card_terminal: ['card terminal', '刷卡终端'],
}

const ROUTE_LABELS: Record<string, [string, string]> = {
  bridge: ['store bridge', '门店桥接'],
  hub: ['hub', '中心直连'],
}

const STATE_LABELS: Record<DeviceJobState, [string, string]> = {
  queued: ['queued', '排队中'],
  sent: ['sent', '已发送'],
  done: ['done', '已完成'],
  failed: ['failed', '失败'],
  unknown: ['outcome unknown', '结果未知'],
  dropped: ['dropped', '已丢弃'],
}

const DOCUMENT_LABELS: Record<string, [string, string]> = {
  receipt: ['receipt', '小票'],
  refund_receipt: ['refund receipt', '退货小票'],
  kitchen: ['kitchen ticket', '厨房单'],
  drawer: ['drawer kick', '开钱箱'],
  display: ['display', '显示'],
  weigh: ['weighing', '称重'],
  test_page: ['test page', '测试页'],
}

const REASON_LABELS: Record<string, [string, string]> = {
  paper_end: ['paper end', '缺纸'],
  cover_open: ['cover open', '盖子打开'],
  offline: ['offline', '离线'],
  unreachable: ['unreachable', '无法连接'],
  link_lost: ['link lost', '连接中断'],
  expired: ['expired', '已过期'],
  render_failed: ['could not be rendered', '无法生成'],
}

const DONE_MESSAGES: Record<string, [string, string]> = {
  printed: ['Marked as printed.', '已标记为已打印。'],
  not_printed: ['Marked as not printed: reprint it if the customer needs the copy.', '已标记为未打印，如需要请重印。'],
  reprinted: ['The reprint is queued for the printer.', '重印已排队。'],
  reprint_exists: ['That reprint was already queued.', '该重印已排队。'],
}

const CSS = `
.chip-ok,.chip-done{background:#dff5e3;color:#17692a}.chip-paper_near_end,.chip-unknown,.chip-queued,.chip-sent{background:#fff1cc;color:#7a5600}
.chip-paper_end,.chip-cover_open,.chip-error,.chip-failed{background:#fde2e1;color:#a4231b}.chip-offline,.chip-unreachable{background:#f3d6f0;color:#7b1f72}
.chip-dropped,.chip-disabled{background:#e6e8eb;color:#4a5361}.chip-reprint{background:#1f2d3d;color:#fff}
nav.range select{min-width:200px}.receipts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.receipt{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 10px}.receipt h3{font-size:13px;margin:0 0 4px;font-weight:600}
pre.paper{font:12px/1.35 ui-monospace,"Noto Sans Mono CJK SC","Sarasa Mono SC",Menlo,Consolas,monospace;background:#fffef6;color:#111;margin:6px 0;padding:12px 9px;white-space:pre;overflow-x:auto;box-shadow:0 1px 4px rgba(0,0,0,.18);border-top:3px dashed #e3e0cf;border-bottom:3px dashed #e3e0cf}
.settle-form{display:flex;flex-wrap:wrap;gap:4px;align-items:center}.settle-form input[name=note]{width:160px}
`

const chipOf = (labels: Record<string, [string, string]>, key: string, extra?: string) => {
  return html`<span class="chip chip-${key}" data-status="${key}">${labelOf(labels, key)}${extra ? ` · ${extra}` : ''}</span>`
}

function timeText(d: Date | null, timeZone: string): string {
  if (!d) return ''
  return new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d)
}

const timeTag = (d: Date | null, timeZone: string) => (d ? html`<time datetime="${d.toISOString()}">${timeText(d, timeZone)}</time>` : '')

const pathOf = (q: Record<string, string | undefined> = {}) => {
  const qs = new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')).toString()
  return `/dashboard/devices${qs ? `?${qs}` : ''}`
}

/** The characters a printer puts on a line: the receipt's width on screen. */
const columnsOf = (device: Device | undefined) => (device && device.kind.endsWith('_printer') ? profileOf(device).columns : 48)

// ---------------------------------------------------------------------------------------------------------------
// Queries: every one bounded by the devices shown and the window, so the (device_id, created_at) index serves it.

/** Unknown outcomes (until a status read or a person settles them) and unanswered failures. */
const NEEDS_ATTENTION = sql`(device_jobs.state = 'unknown' or ${UNANSWERED_FAILURE})`

interface Scope {
  merchantId: string
  deviceIds: string[]
  since: Date
}

const inScope = (s: Scope, ...more: (SQL | undefined)[]) =>
  and(eq(deviceJobs.merchantId, s.merchantId), inArray(deviceJobs.deviceId, s.deviceIds), gt(deviceJobs.createdAt, s.since), ...more)

export interface JobCounts {
  /** Queued (and still fresh) or sent, waiting for a result. */
  open: number
  /** Failed and not answered (see UNANSWERED_FAILURE). */
  failed: number
  unknown: number
}

async function jobCounts(tx: Tx, s: Scope, now: Date): Promise<Map<string, JobCounts>> {
  if (s.deviceIds.length === 0) return new Map()
  const rows = await tx
    .select({
      deviceId: deviceJobs.deviceId,
      open: sql<number>`count(*) filter (where device_jobs.state = 'sent' or (device_jobs.state = 'queued' and (device_jobs.expires_at is null or device_jobs.expires_at > ${now.toISOString()}::timestamptz)))::int`,
      failed: sql<number>`count(*) filter (where ${UNANSWERED_FAILURE})::int`,
      unknown: sql<number>`count(*) filter (where device_jobs.state = 'unknown')::int`,
    })
    .from(deviceJobs)
    .where(inScope(s))
    .groupBy(deviceJobs.deviceId)
  return new Map(rows.map((r) => [r.deviceId, { open: r.open, failed: r.failed, unknown: r.unknown }]))
}

interface ListedJob {
  job: DeviceJob
  /** The receipt or refund number of the sale or refund the job prints. */
  docNo: string | null
}

/** Jobs with the number of the receipt they print (sale or refund of the same merchant). */
function jobsWithNumbers(tx: Tx) {
  return tx
    .select({ job: deviceJobs, docNo: sql<string | null>`coalesce(${sales.receiptNo}, ${refunds.refundNo})` })
    .from(deviceJobs)
    .leftJoin(sales, and(eq(sales.merchantId, deviceJobs.merchantId), sql`${sales.id} = (${deviceJobs.document}->>'saleId')::uuid`))
    .leftJoin(refunds, and(eq(refunds.merchantId, deviceJobs.merchantId), sql`${refunds.id} = (${deviceJobs.document}->>'refundId')::uuid`))
}

/** The copies printers last printed, newest first: done print jobs with the text they were sent. */
const lastPrinted = (tx: Tx, s: Scope): Promise<ListedJob[]> =>
  s.deviceIds.length === 0
    ? Promise.resolve([])
    : jobsWithNumbers(tx)
        .where(inScope(s, eq(deviceJobs.action, 'print'), eq(deviceJobs.state, 'done'), sql`${deviceJobs.preview} is not null`))
        .orderBy(sql`coalesce(${deviceJobs.finishedAt}, ${deviceJobs.createdAt}) desc`, desc(deviceJobs.seq))
        .limit(RECEIPTS_SHOWN)

const needingAttention = (tx: Tx, s: Scope): Promise<ListedJob[]> =>
  s.deviceIds.length === 0 ? Promise.resolve([]) : jobsWithNumbers(tx).where(inScope(s, NEEDS_ATTENTION)).orderBy(desc(deviceJobs.seq)).limit(ATTENTION_SHOWN)

// ---------------------------------------------------------------------------------------------------------------
// The page

interface Alert {
  kind: 'error' | 'ok'
  message: string
  status?: number
}

/** The store of the filter (?store=, or the form's store field), checked to be the merchant's. */
async function storeFilter(c: C, value: string | undefined): Promise<string | undefined> {
  if (!value) return undefined
  if (!isUuid(value)) throw badRequest('invalid_store', 'store must be the id of one of your stores')
  return (await getStore(c.var.hub.database.db, c.var.principal.merchantId, value)).id
}

const docText = (j: ListedJob) => {
  const type = (j.job.document as { type: string }).type
  return html`${labelOf(DOCUMENT_LABELS, type)}${j.docNo ? html` <span data-testid="doc-no">${j.docNo}</span>` : ''}`
}

function reprintForm(c: C, job: DeviceJob, storeId: string | undefined): Html {
  return html`<form method="post" action="/dashboard/devices/jobs/${job.id}/reprint" class="inline"><input type="hidden" name="_csrf" value="${c.var.csrf}"><input type="hidden" name="key" value="${randomUUID()}">${storeId ? html`<input type="hidden" name="store" value="${storeId}">` : ''}<button type="submit" data-action="reprint">${label('Reprint', '重印')}</button></form>`
}

function settleForm(c: C, job: DeviceJob, storeId: string | undefined): Html {
  return html`<form method="post" action="/dashboard/devices/jobs/${job.id}/settle" class="settle-form" data-testid="settle-form"><input type="hidden" name="_csrf" value="${c.var.csrf}">${storeId ? html`<input type="hidden" name="store" value="${storeId}">` : ''}<input name="note" maxlength="500" placeholder="${say('Note', '备注')}"><button type="submit" name="printed" value="yes" data-action="printed">${label('Printed', '已打印')}</button><button type="submit" name="printed" value="no" data-action="not-printed">${label('Not printed', '未打印')}</button></form>`
}

async function devicesPage(c: C, alert?: Alert): Promise<Response> {
  requirePermission(c, USE)
  const db = c.var.hub.database.db
  const m = await getMerchant(db, c.var.principal.merchantId)
  const tz = m.timeZone
  const now = c.var.hub.clock()
  // On a form's error page the filter comes from the form's store field.
  const storeId = await storeFilter(c, c.req.method === 'GET' ? c.req.query('store') : formText(await readForm(c), 'store'))
  const [stores, deviceRows] = await Promise.all([listStores(db, m.id), listDevices(db, m.id, storeId)])
  const storeNames = new Map(stores.map((s) => [s.id, `${s.code} ${s.name}`]))
  const byId = new Map(deviceRows.map((d) => [d.id, d]))
  const scope: Scope = { merchantId: m.id, deviceIds: deviceRows.map((d) => d.id), since: new Date(now.getTime() - WINDOW_DAYS * 86_400_000) }
  const [counts, printed, attention] = await Promise.all([jobCounts(db, scope, now), lastPrinted(db, scope), needingAttention(db, scope)])
  const mayManage = can(c, MANAGE)
  const done = c.req.query('done')
  const flash = alert ?? (done && Object.hasOwn(DONE_MESSAGES, done) ? { kind: 'ok' as const, message: say(...DONE_MESSAGES[done]!) } : undefined)
  const deviceName = (id: string) => byId.get(id)?.name ?? id

  const body = html`<style>${raw(CSS)}</style>
<h1>${label('Devices', '设备')}</h1>
${flash ? html`<p class="alert alert-${flash.kind}" data-testid="flash">${flash.message}</p>` : ''}
${mayManage ? '' : html`<p class="muted small" data-testid="read-only">${label('Settling a job whose outcome is unknown needs the permission devices.manage.', '确认结果未知的任务需要 devices.manage 权限。')}</p>`}
<nav class="range">
<form method="get" action="/dashboard/devices" id="store-filter">
<label>${label('Store', '门店')} <select name="store" data-testid="store-filter">
<option value="">${label('All stores', '全部门店')}</option>
${stores.map((s) => html`<option value="${s.id}"${s.id === storeId ? ' selected' : ''}>${s.code} ${s.name}</option>`)}
</select></label>
<button type="submit">${label('Show', '显示')}</button>
</form>
<span class="small muted">${label(`Job counts and lists cover the last ${WINDOW_DAYS} days.`, `任务统计与列表为近 ${WINDOW_DAYS} 天。`)}</span>
</nav>

${deviceRows.length === 0
  ? html`<p class="muted" data-testid="no-devices">${label('No device is registered here.', '此处尚未登记设备。')}</p>`
  : html`<table id="devices">
<thead><tr><th>${label('Device', '设备')}</th><th>${label('Kind', '类型')}</th><th>${label('Driver / address', '驱动 / 地址')}</th><th>${label('Route', '连接方式')}</th><th>${label('Status', '状态')}</th><th class="num">${label('Open jobs', '进行中')}</th><th class="num">${label('Failed', '失败')}</th><th class="num">${label('Unknown', '结果未知')}</th></tr></thead>
<tbody>
${deviceRows.map((d) => {
      const status = d.status as Partial<DeviceStatus> | null
      const badge = deviceBadge(status)
      const n = counts.get(d.id) ?? { open: 0, failed: 0, unknown: 0 }
      return html`<tr data-device="${d.id}" data-badge="${badge}">
<th><span data-testid="name">${d.name}</span>${storeId ? '' : html`<div class="small muted">${storeNames.get(d.storeId) ?? ''}</div>`}${d.enabled ? '' : html` ${chipOf({ disabled: ['disabled', '已停用'] }, 'disabled')}`}</th>
<td>${labelOf(KIND_LABELS, d.kind)}${d.paperWidth ? html`<div class="small muted">${d.paperWidth} mm · ${columnsOf(d)} ${label('columns', '列')}</div>` : ''}</td>
<td><span data-testid="driver">${d.driver}</span><div class="small" data-testid="address">${d.address}</div></td>
<td>${labelOf(ROUTE_LABELS, d.route)}</td>
<td data-testid="status">${chipOf(BADGE_LABELS, badge, badge === 'error' ? (status?.problem ?? undefined) : undefined)}${d.statusAt ? html`<div class="small muted">${label('read', '读取于')} ${timeTag(d.statusAt, tz)}</div>` : html`<div class="small muted">${label('never read', '从未读取')}</div>`}</td>
<td class="num" data-count="open">${n.open}</td>
<td class="num${n.failed ? ' neg' : ''}" data-count="failed">${n.failed}</td>
<td class="num${n.unknown ? ' neg' : ''}" data-count="unknown">${n.unknown}</td>
</tr>`
    })}
</tbody>
</table>`}

<h2>${label('Needs attention', '待处理')}</h2>
${attention.length === 0
  ? html`<p class="muted" data-testid="no-attention">${label('Nothing needs a person.', '没有需要处理的任务。')}</p>`
  : html`<table id="attention">
<thead><tr><th>${label('Queued', '创建时间')}</th><th>${label('Device', '设备')}</th><th>${label('Document', '内容')}</th><th>${label('State', '状态')}</th><th>${label('Reason', '原因')}</th><th></th></tr></thead>
<tbody>
${attention.map((j) => {
      const job = j.job
      return html`<tr data-job="${job.id}" data-state="${job.state}">
<td class="small">${timeTag(job.createdAt, tz)}${job.attempts > 1 ? html`<div class="muted">${label(`${job.attempts} attempts`, `尝试 ${job.attempts} 次`)}</div>` : ''}</td>
<td>${deviceName(job.deviceId)}</td>
<td>${docText(j)}${job.reprintOf ? html` ${chipOf({ reprint: ['REPRINT', '重印'] }, 'reprint')}` : ''}</td>
<td>${chipOf(STATE_LABELS, job.state)}${job.settledBy ? html`<div class="small muted">${label(`settled by ${job.settledBy}`, job.settledBy === 'person' ? '人工确认' : '按设备状态确认')}</div>` : ''}</td>
<td class="small" data-reason="${job.reason ?? ''}">${job.reason ? labelOf(REASON_LABELS, job.reason) : ''}<div class="muted" data-testid="message">${job.message ?? ''}</div></td>
<td>${job.state === 'unknown' && mayManage ? settleForm(c, job, storeId) : ''}${job.action === 'print' ? reprintForm(c, job, storeId) : ''}</td>
</tr>`
    })}
</tbody>
</table>`}

<h2>${label('Last receipts', '最近打印')}</h2>
${printed.length === 0
  ? html`<p class="muted" data-testid="no-receipts">${label('Nothing printed yet.', '尚无打印记录。')}</p>`
  : html`<div class="receipts" id="receipts">
${printed.map((j) => {
      const job = j.job
      const cols = columnsOf(byId.get(job.deviceId))
      // The newline after <pre> is dropped by the HTML parser, so a preview's own leading blank line is kept.
      return html`<div class="receipt" data-job="${job.id}" data-reprint="${String(job.reprintOf !== null)}">
<h3>${docText(j)}${job.reprintOf ? html` ${chipOf({ reprint: ['REPRINT', '重印'] }, 'reprint')}` : ''}</h3>
<div class="small muted">${deviceName(job.deviceId)} · ${timeTag(job.finishedAt ?? job.createdAt, tz)}${job.settledBy === 'person' ? html` · ${label('confirmed by a person', '人工确认')}` : ''}</div>
<pre class="paper" data-testid="preview" data-columns="${cols}" style="width:calc(${cols}ch + 20px)">
${job.preview ?? ''}</pre>
${reprintForm(c, job, storeId)}
</div>`
    })}
</div>`}`
  return c.html(page({ title: 'Devices', user: pageUser(c), body }), (alert?.status ?? 200) as 200, PAGE_HEADERS)
}


/** After an action, back to the page with the filter the form carried. */
const backTo = (storeId: string | undefined, done: string) => pathOf({ store: storeId, done })

/** Runs a job action; an expected refusal (already settled, device disabled) is shown on the page with its status. */
async function jobAction(c: C, act: (jobId: string, form: Record<string, unknown>) => Promise<string>): Promise<Response> {
  const jobId = c.req.param('jobId')!
  if (!isUuid(jobId)) throw notFound('device_job', jobId)
  const form = await readForm(c)
  const storeId = await storeFilter(c, formText(form, 'store') || undefined)
  try {
    return c.redirect(backTo(storeId, await act(jobId, form)), 303)
  } catch (e) {
    if (!isDomainError(e) || e.kind === 'forbidden' || e.kind === 'unauthorized') throw e
    return devicesPage(c, refusal(e))
  }
}

/** A person says whether a job with an unknown outcome printed; the row is locked so two answers cannot both apply. */
const settle = (c: C) => {
  const actor = requirePermission(c, MANAGE)
  return jobAction(c, async (jobId, form) => {
    const answer = formText(form, 'printed')
    if (answer !== 'yes' && answer !== 'no') throw badRequest('printed_required', say('Say whether the job printed.', '请选择是否已打印。'))
    const note = formText(form, 'note').trim().slice(0, 500) || undefined
    await c.var.hub.database.db.transaction(async (tx) => {
      await tx.select({ id: deviceJobs.id }).from(deviceJobs).where(and(eq(deviceJobs.merchantId, actor.merchantId), eq(deviceJobs.id, jobId))).for('update')
      await settleJob(tx, actor, jobId, { printed: answer === 'yes', note })
    })
    return answer === 'yes' ? 'printed' : 'not_printed'
  })
}

/**
 * A new copy, marked REPRINT. Each rendered button carries its own key, so a double click or a resubmitted form
 * makes one reprint, not two.
 */
const reprint = (c: C) => {
  const actor = requirePermission(c, USE)
  return jobAction(c, async (jobId, form) => {
    const key = formText(form, 'key')
    const idempotencyKey = /^[A-Za-z0-9-]{8,64}$/.test(key) ? `dashboard-reprint:${jobId}:${key}` : undefined
    const { created } = await c.var.hub.database.db.transaction((tx) => reprintJob(tx, actor, jobId, { idempotencyKey }, c.var.hub.clock()))
    return created ? 'reprinted' : 'reprint_exists'
  })
}

export function registerDevices(app: Hono<DashboardEnv>) {
  app.use('/devices/*', requireSession(), requireCsrf())
  app.get('/devices', (c) => devicesPage(c))
  app.post('/devices/jobs/:jobId/settle', (c) => settle(c))
  app.post('/devices/jobs/:jobId/reprint', (c) => reprint(c))
}
