// The jobs page (/dashboard/jobs): background work of the merchant as people want to see it — what runs now and how
// far it has got (statement imports, stock audits, campaign sends report their progress, src/jobs/progress.ts),
// what finished lately, and the jobs that failed (every attempt used up; retried or cancelled through the jobs API).
import type { Context, Hono } from 'hono'
import { html, raw } from 'hono/html'
import { getSettings } from '../../core/merchants/settings.ts'
import { listJobs, type JobView } from '../../jobs/operations.ts'
import { finishedProgress, runningProgress, type ProgressRow } from '../../jobs/progress.ts'
import { label, page, PAGE_HEADERS, say, type Html } from './layout.ts'
import { pageUser, requirePermission, requireSession, type DashboardEnv } from './session.ts'

type C = Context<DashboardEnv>

/** A running job that has not reported for this long is shown as stalled (its worker may have died). */
export const STALLED_MS = 5 * 60_000
const FAILED_SHOWN = 50
const FINISHED_SHOWN = 20
const ERROR_SHOWN = 300

const CSS = `
.jobs td.bar{min-width:240px}.jobs progress{width:200px;height:14px;vertical-align:middle}
.chip-running{background:#dbe9ff;color:#17407a}.chip-stalled{background:#fff1cc;color:#7a5600}
.chip-done{background:#dff5e3;color:#17692a}.chip-failed{background:#fde2e1;color:#a4231b}
`

const TASK_LABELS: Record<string, [string, string]> = {
  'settlement.fetch': ['statement import', '对账单导入'],
  'stock.listings': ['stock audit', '库存核对'],
  'campaigns.send': ['campaign send', '营销发送'],
}

const UNIT_LABELS: Record<string, [string, string]> = {
  rows: ['rows', '行'],
  listings: ['listings', '商品'],
  recipients: ['recipients', '收件人'],
}

const taskLabel = (task: string) => (TASK_LABELS[task] ? label(...TASK_LABELS[task]) : task)
const unitText = (unit: string) => (UNIT_LABELS[unit] ? say(...UNIT_LABELS[unit]) : unit)

function timeText(d: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d)
}
const timeTag = (d: Date, timeZone: string) => html`<time datetime="${d.toISOString()}">${timeText(d, timeZone)}</time>`

/** Whole percent done, or null while the total is not known. */
export function percentDone(done: number, total: number | null): number | null {
  if (total === null) return null
  if (total <= 0) return 100
  return Math.min(100, Math.floor((done * 100) / total))
}

const chipOf = (status: 'running' | 'stalled' | 'done' | 'failed') => {
  const l: Record<typeof status, [string, string]> = { running: ['running', '运行中'], stalled: ['no news', '无进展'], done: ['done', '完成'], failed: ['failed', '失败'] }
  return html`<span class="chip chip-${status}" data-status="${status}">${label(...l[status])}</span>`
}

function progressCell(r: ProgressRow): Html {
  const pct = percentDone(r.done, r.total)
  const count = r.total === null ? `${r.done} ${unitText(r.unit)}` : `${r.done} / ${r.total} ${unitText(r.unit)}`
  // Without a total the bar is indeterminate: it says work goes on, not how much is left.
  const bar = pct === null ? html`<progress aria-label="${r.label}"></progress>` : html`<progress max="100" value="${pct}" aria-label="${r.label}"></progress>`
  return html`<td class="bar" data-testid="progress">${bar} <span data-testid="count">${count}</span>${pct === null ? '' : html` <strong data-testid="percent">${pct}%</strong>`}</td>`
}

function runningRow(r: ProgressRow, now: Date, tz: string): Html {
  const stalled = now.getTime() - r.updatedAt.getTime() > STALLED_MS
  return html`<tr data-testid="running-job" data-task="${r.task}" data-key="${r.key}">
<td>${taskLabel(r.task)}</td><td>${r.label}</td>${progressCell(r)}
<td>${chipOf(stalled ? 'stalled' : 'running')}</td>
<td class="small">${timeTag(r.startedAt, tz)}</td><td class="small">${timeTag(r.updatedAt, tz)}</td>
</tr>`
}

function finishedRow(r: ProgressRow, tz: string): Html {
  return html`<tr data-testid="finished-job" data-task="${r.task}" data-key="${r.key}">
<td>${taskLabel(r.task)}</td><td>${r.label}</td>${progressCell(r)}
<td>${chipOf(r.error ? 'failed' : 'done')}${r.error ? html`<div class="small neg" data-testid="error">${r.error.slice(0, ERROR_SHOWN)}</div>` : ''}</td>
<td class="small">${timeTag(r.startedAt, tz)}</td><td class="small">${r.finishedAt ? timeTag(r.finishedAt, tz) : ''}</td>
</tr>`
}

function failedRow(j: JobView, tz: string): Html {
  return html`<tr data-testid="failed-job" data-job="${j.id}">
<td class="num">${j.id}</td><td>${taskLabel(j.task)}</td><td class="num">${j.attempts} / ${j.maxAttempts}</td>
<td class="small neg" data-testid="error">${(j.lastError ?? '').slice(0, ERROR_SHOWN)}</td>
<td class="small">${timeTag(j.updatedAt, tz)}</td>
</tr>`
}

async function jobsPage(c: C): Promise<Response> {
  const principal = requirePermission(c, 'jobs.manage')
  const db = c.var.hub.database.db
  const { timeZone: tz } = await getSettings(db, principal.merchantId)
  const now = c.var.hub.clock()
  const [running, finished, failed] = await Promise.all([
    runningProgress(db, principal.merchantId),
    finishedProgress(db, principal.merchantId, FINISHED_SHOWN),
    listJobs(db, principal.merchantId, { state: 'failed', limit: FAILED_SHOWN }),
  ])
  const progressHead = (last: Html) =>
    html`<tr><th>${label('Task', '任务')}</th><th>${label('What', '内容')}</th><th>${label('Progress', '进度')}</th><th>${label('Status', '状态')}</th><th>${label('Started', '开始')}</th><th>${last}</th></tr>`
  const body = html`<style>${raw(CSS)}</style>
<h1>${label('Background jobs', '后台任务')}</h1>
<p><a href="/dashboard/jobs" data-testid="refresh">${label('Refresh', '刷新')}</a></p>
<section class="jobs" data-testid="running">
<h2>${label('Running now', '正在运行')}</h2>
${running.length
  ? html`<table>${progressHead(label('Last news', '最近更新'))}${running.map((r) => runningRow(r, now, tz))}</table>`
  : html`<p class="muted" data-testid="none-running">${label('Nothing is running.', '当前没有运行中的任务。')}</p>`}
</section>
<section class="jobs" data-testid="failed">
<h2>${label('Failed jobs', '失败的任务')}</h2>
${failed.items.length
  ? html`<table><tr><th>${label('Job', '任务号')}</th><th>${label('Task', '任务')}</th><th>${label('Attempts', '尝试次数')}</th><th>${label('Last error', '最后错误')}</th><th>${label('When', '时间')}</th></tr>${failed.items.map((j) => failedRow(j, tz))}</table>`
  : html`<p class="muted" data-testid="none-failed">${label('No job has failed.', '没有失败的任务。')}</p>`}
</section>
<section class="jobs" data-testid="finished">
<h2>${label('Finished lately', '最近完成')}</h2>
${finished.length
  ? html`<table>${progressHead(label('Finished', '结束'))}${finished.map((r) => finishedRow(r, tz))}</table>`
  : html`<p class="muted">${label('Nothing finished lately.', '最近没有完成的任务。')}</p>`}
</section>`
  return c.html(page({ title: say('Jobs', '任务'), user: pageUser(c), body }), 200, PAGE_HEADERS)
}

export function registerJobs(app: Hono<DashboardEnv>) {
  app.use('/jobs', requireSession())
  app.use('/jobs/*', requireSession())
  app.get('/jobs', (c) => jobsPage(c))
}
