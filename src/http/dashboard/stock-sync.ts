// The stock sync dashboard: every marketplace connection with its counts, and for the one chosen the status of each
// SKU, the listings that need a person (bound by SKU here), the drift audits found and the flagged online orders,
// with the actions of the stock-sync API (bind, unbind, audit, recover) as forms behind 'connections.manage'.
import type { Context, Hono } from 'hono'
import { html, raw } from 'hono/html'
import { and, eq, inArray } from 'drizzle-orm'
import { connectorRegistry } from '../../connectors/index.ts'
import { getConnectionRow, listConnections, type ConnectionRow } from '../../connectors/framework/connections.ts'
import { variants } from '../../core/catalog/schema.ts'
import { queueChannelPush } from '../../core/channel-stock/levels.ts'
import { bindListing, type ChannelRef } from '../../core/channel-stock/listings.ts'
import { listChannelOrders } from '../../core/channel-stock/orders.ts'
import { listChannelListings, listDrift, listSkuStatus, syncSummary, type SkuStatus, type SkuSyncRow, type SyncSummary } from '../../core/channel-stock/queries.ts'
import { listLocationMap } from '../../core/channel-stock/setup.ts'
import { getMerchant } from '../../core/merchants/service.ts'
import { recordAudit } from '../../core/staff/audit.ts'
import type { Tx } from '../../db/client.ts'
import { queueAudit, queueRecover } from '../../jobs/stock-sync.ts'
import { badRequest, invalid, isDomainError, notFound } from '../../lib/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { label, labelOf, page, PAGE_HEADERS, refusal, say, type Html } from './layout.ts'
import { can, pageUser, requireCsrf, requirePermission, requireSession, type DashboardEnv } from './session.ts'
import { formText, readForm } from '../form.ts'

type C = Context<DashboardEnv>

/** The same permissions as the stock-sync API: reading its state, and changing bindings or queueing syncs. */
const READ = 'connections.read'
const MANAGE = 'connections.manage'

/** SKU rows per page; listings, drift and orders shown at most (the API pages through them all). */
const PAGE_SIZE = 50
const LIST_LIMIT = 100

const SKU_STATUSES: SkuStatus[] = ['ok', 'pending', 'error', 'drift', 'unmapped']

const STATUS_LABELS: Record<SkuStatus, [string, string]> = {
  ok: ['ok', '正常'],
  pending: ['pending', '待推送'],
  error: ['error', '错误'],
  drift: ['drift', '偏差'],
  unmapped: ['unmapped', '未映射'],
}

const LISTING_STATE_LABELS: Record<string, [string, string]> = {
  bound: ['bound', '已绑定'],
  unmapped: ['unmapped', '未匹配'],
  ambiguous: ['ambiguous', '多个匹配'],
  untracked: ['not tracked', '未跟踪库存'],
  gone: ['gone', '已下架'],
}

const FLAG_LABELS: Record<string, [string, string]> = {
  insufficient_stock: ['insufficient stock', '库存不足'],
  unmapped_lines: ['unmapped lines', '商品未匹配'],
  unmapped_location: ['unmapped location', '位置未映射'],
  quantity_increased: ['quantity increased', '数量增加'],
  returned: ['given back after it left', '发货后退款'],
}

const ORDER_STATUS_LABELS: Record<string, [string, string]> = {
  open: ['open', '未完成'],
  fulfilled: ['fulfilled', '已发货'],
  cancelled: ['cancelled', '已取消'],
  collected: ['collected', '已自提'],
}

const DONE_MESSAGES: Record<string, [string, string]> = {
  bound: ['The listing is bound; its stock will be pushed.', '已绑定，库存将推送。'],
  unbound: ['The listing is unbound.', '已解除绑定。'],
  audit: ['An audit is queued.', '已排队核查。'],
  recover: ['Recovery is queued: webhooks, a poll of orders and an audit.', '已排队恢复：重设推送、拉取订单并核查。'],
}

/** The status chips of this page (the shell's stylesheet has the reconciliation's). */
const CSS = `
.chip-ok{background:#dff5e3;color:#17692a}.chip-pending{background:#fff1cc;color:#7a5600}.chip-error{background:#fde2e1;color:#a4231b}
.chip-drift{background:#f3d6f0;color:#7b1f72}.chip-unmapped{background:#e6e8eb;color:#4a5361}
tr.chosen th,tr.chosen td{background:#f0f6ff}nav.filter a{padding:2px 8px;border-radius:4px}nav.filter a.active{background:#1f2d3d;color:#fff;text-decoration:none}
.sync-actions{display:flex;gap:8px;margin:8px 0}
`

const statusChip = (s: SkuStatus, extra?: string) =>
  html`<span class="chip chip-${s}" data-status="${s}">${label(...STATUS_LABELS[s])}${extra ? ` · ${extra}` : ''}</span>`

const connectorTitle = (row: ConnectionRow) => connectorRegistry.get(row.connectorId)?.title ?? row.connectorId

const pathOf = (connectionId: string, q: Record<string, string | undefined> = {}) => {
  const qs = new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')).toString()
  return `/dashboard/stock-sync/${connectionId}${qs ? `?${qs}` : ''}`
}

function timeText(d: Date | null, timeZone: string): string {
  if (!d) return ''
  return new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d)
}

/** "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function ageText(seconds: number): string {
  if (seconds < 60) return `${seconds} s`
  const min = Math.floor(seconds / 60)
  if (min < 60) return `${min} min`
  const h = Math.floor(min / 60)
  if (h < 24) return `${h} h ${min % 60} min`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}

const marketplaceConnections = (c: C) => listConnections(c.var.hub.database.db, c.var.principal.merchantId, { family: 'marketplace' }, connectorRegistry)

/** The connection of the path, when it is the caller's and a marketplace one. */
async function channelOf(c: C, connectionId: string): Promise<{ row: ConnectionRow; ref: ChannelRef }> {
  const merchantId = c.var.principal.merchantId
  const row = await getConnectionRow(c.var.hub.database.db, merchantId, connectionId)
  if (connectorRegistry.get(row.connectorId)?.family !== 'marketplace') throw notFound('marketplace connection', connectionId)
  return { row, ref: { merchantId, connectionId: row.id } }
}

/** The filter of the SKU table from the query string; a bad value is refused rather than silently ignored. */
function filterOf(c: C): { status?: SkuStatus; sku?: string; after?: string } {
  const status = c.req.query('status') || undefined
  if (status !== undefined && !(SKU_STATUSES as string[]).includes(status)) throw badRequest('invalid_status', `status must be one of ${SKU_STATUSES.join(', ')}`)
  const sku = c.req.query('sku')?.trim().slice(0, 100) || undefined
  const after = c.req.query('after') || undefined
  if (after !== undefined) {
    const [, levelId] = after.split('\n')
    if (after.length > 400 || (levelId !== undefined && !isUuid(levelId))) throw badRequest('invalid_cursor', 'after must be the cursor of a previous page')
  }
  return { status: status as SkuStatus | undefined, sku, after }
}

async function skusOf(tx: Tx, merchantId: string, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map()
  const rows = await tx.select({ id: variants.id, sku: variants.sku }).from(variants).where(and(eq(variants.merchantId, merchantId), inArray(variants.id, [...new Set(ids)])))
  return new Map(rows.map((r) => [r.id, r.sku]))
}

function pickerTable(rows: { row: ConnectionRow; summary: SyncSummary }[], chosenId: string, tz: string): Html {
  return html`<table id="sync-connections">
<thead><tr><th>${label('Connection', '连接')}</th>${SKU_STATUSES.map((s) => html`<th class="num">${label(...STATUS_LABELS[s])}</th>`)}<th class="num">${label('Oldest pending', '最早待推送')}</th><th>${label('Last push', '最近推送')}</th><th class="num">${label('Open drift', '未修复偏差')}</th><th class="num">${label('Needs a person', '待人工处理')}</th></tr></thead>
<tbody>
${rows.map(
  ({ row, summary: s }) => html`<tr data-connection="${row.id}" class="${row.id === chosenId ? 'chosen' : ''}">
<th><a href="${pathOf(row.id)}">${row.name}</a><div class="small muted">${connectorTitle(row)}${row.enabled ? '' : html` · ${label('disabled', '已停用')}`}</div></th>
${SKU_STATUSES.map((st) => html`<td class="num" data-count="${st}">${s.levels[st]}</td>`)}
<td class="num" data-testid="oldest-pending">${s.oldestPendingSeconds > 0 ? ageText(s.oldestPendingSeconds) : '–'}</td>
<td data-testid="last-push">${s.lastPushedAt ? timeText(s.lastPushedAt, tz) : '–'}</td>
<td class="num" data-count="open-drift">${s.openDrift}</td>
<td class="num" data-count="needs-person">${s.listings.unmapped + s.listings.ambiguous}</td>
</tr>`,
)}
</tbody>
</table>`
}

function skuRow(c: C, r: SkuSyncRow, connectionId: string, locationNames: Map<string, string>, tz: string, mayManage: boolean): Html {
  const where = r.remoteLocationId ? locationNames.get(r.remoteLocationId) || r.remoteLocationId : ''
  return html`<tr data-sku="${r.sku}" data-status="${r.status}"${r.levelId ? html` data-level="${r.levelId}"` : ''}>
<td>${r.sku}</td>
<td>${r.externalId ?? ''}</td>
<td>${where}${where && where !== r.remoteLocationId ? html`<div class="small muted">${r.remoteLocationId}</div>` : ''}</td>
<td>${statusChip(r.status)}${r.pendingSince ? html`<div class="small muted">${label('since', '自')} ${timeText(r.pendingSince, tz)}</div>` : ''}</td>
<td class="num" data-testid="target">${r.target ?? ''}</td>
<td class="num" data-testid="pushed"><span class="qty">${r.lastPushed ?? ''}</span>${r.lastPushedAt ? html`<div class="small muted">${timeText(r.lastPushedAt, tz)}</div>` : ''}</td>
<td class="num" data-testid="remote"><span class="qty">${r.lastRemote ?? ''}</span>${r.lastRemoteAt ? html`<div class="small muted">${timeText(r.lastRemoteAt, tz)}</div>` : ''}</td>
<td class="neg" data-testid="error">${r.lastError ?? ''}</td>
<td>${mayManage && r.listingId
    ? html`<form method="post" action="/dashboard/stock-sync/${connectionId}/listings/${r.listingId}/unbind" class="inline"><input type="hidden" name="_csrf" value="${c.var.csrf}"><button type="submit">${label('Unbind', '解除绑定')}</button></form>`
    : ''}</td>
</tr>`
}

interface Alert {
  kind: 'error' | 'ok'
  message: string
  status?: number
}

async function syncPage(c: C, alert?: Alert): Promise<Response> {
  requirePermission(c, READ)
  const db = c.var.hub.database.db
  const merchant = await getMerchant(db, c.var.principal.merchantId)
  const tz = merchant.timeZone
  const now = c.var.hub.clock()
  const connections = await marketplaceConnections(c)
  const pathId = c.req.param('connectionId')
  const chosen = pathId ? await channelOf(c, pathId) : connections[0] ? { row: connections[0], ref: { merchantId: merchant.id, connectionId: connections[0].id } } : undefined
  const summaries = await Promise.all(connections.map(async (row) => ({ row, summary: await syncSummary(db, { merchantId: merchant.id, connectionId: row.id }, now) })))

  const head = html`<style>${raw(CSS)}</style><h1>${label('Marketplace stock sync', '电商库存同步')}</h1>`
  if (!chosen) {
    const body = html`${head}<p class="muted" data-testid="no-connections">${label('No marketplace is connected yet.', '尚未连接任何电商平台。')}</p>`
    return c.html(page({ title: 'Stock sync', user: pageUser(c), body }), 200, PAGE_HEADERS)
  }

  const { row: conn, ref } = chosen
  const mayManage = can(c, MANAGE)
  // On a form's error page the filter of the query string is not there; the table shows everything.
  const f = c.req.method === 'GET' ? filterOf(c) : {}
  const summary = summaries.find((s) => s.row.id === conn.id)?.summary ?? (await syncSummary(db, ref, now))
  const [skus, unmapped, ambiguous, drift, orders, locations] = await Promise.all([
    listSkuStatus(db, ref, { status: f.status, sku: f.sku, after: f.after, limit: PAGE_SIZE }),
    listChannelListings(db, ref, { state: 'unmapped', limit: LIST_LIMIT }),
    listChannelListings(db, ref, { state: 'ambiguous', limit: LIST_LIMIT }),
    listDrift(db, ref, { limit: LIST_LIMIT }),
    listChannelOrders(db, merchant.id, { connectionId: conn.id, flagged: true, limit: LIST_LIMIT }),
    listLocationMap(db, ref),
  ])
  const needsPerson = [...unmapped.items, ...ambiguous.items]
  const candidateSkus = await skusOf(db, merchant.id, needsPerson.flatMap((l) => l.candidates))
  const locationNames = new Map(locations.map((l) => [l.remoteLocationId, l.name]))
  const total = SKU_STATUSES.reduce((n, s) => n + (s === 'unmapped' ? 0 : summary.levels[s]), 0)
  const done = c.req.query('done')
  const flash = alert ?? (done && DONE_MESSAGES[done] ? { kind: 'ok' as const, message: say(...DONE_MESSAGES[done]) } : undefined)
  const csrf = c.var.csrf

  const filterLink = (s: SkuStatus | undefined, text: Html, n: number) =>
    html`<a href="${pathOf(conn.id, { status: s, sku: f.sku })}" class="${f.status === s ? 'active' : ''}" data-filter="${s ?? 'all'}">${text} (${n})</a>`

  const body = html`${head}
${pickerTable(summaries, conn.id, tz)}
<h2 id="connection-title">${conn.name} <span class="muted">${connectorTitle(conn)}</span></h2>
${flash ? html`<p class="alert alert-${flash.kind}" data-testid="flash">${flash.message}</p>` : ''}
${mayManage
  ? html`<div class="sync-actions">
<form method="post" action="/dashboard/stock-sync/${conn.id}/audit" class="inline"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit" class="primary" data-action="audit">${label('Run audit now', '立即核查')}</button></form>
<form method="post" action="/dashboard/stock-sync/${conn.id}/recover" class="inline"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit" data-action="recover">${label('Recover (re-assert webhooks, poll, audit)', '恢复（重设推送、拉取订单、核查）')}</button></form>
</div>`
  : html`<p class="muted small" data-testid="read-only">${label('Read only: binding listings and queueing syncs needs the permission connections.manage.', '只读：绑定商品和排队同步需要 connections.manage 权限。')}</p>`}

<h2>${label('SKUs', '商品库存')}</h2>
<nav class="range filter">
${filterLink(undefined, label('All', '全部'), total)}
${SKU_STATUSES.map((s) => filterLink(s, label(...STATUS_LABELS[s]), summary.levels[s]))}
<form method="get" action="${pathOf(conn.id)}">
${f.status ? html`<input type="hidden" name="status" value="${f.status}">` : ''}
<label>SKU <input name="sku" value="${f.sku ?? ''}" maxlength="100"></label>
<button type="submit">${label('Find', '查找')}</button>
${f.sku ? html`<a href="${pathOf(conn.id, { status: f.status })}">${label('Clear', '清除')}</a>` : ''}
</form>
</nav>
${skus.items.length === 0
  ? html`<p class="muted" data-testid="no-skus">${label('No SKU matches.', '没有符合条件的商品。')}</p>`
  : html`<table id="sku-status"><thead><tr><th>SKU</th><th>${label('Listing', '平台商品')}</th><th>${label('Remote location', '平台位置')}</th><th>${label('Status', '状态')}</th><th class="num">${label('Target', '目标')}</th><th class="num">${label('Last pushed', '最近推送')}</th><th class="num">${label('Last seen remotely', '平台数量')}</th><th>${label('Last error', '最近错误')}</th><th></th></tr></thead>
<tbody>${skus.items.map((r) => skuRow(c, r, conn.id, locationNames, tz, mayManage))}</tbody></table>`}
<p class="small">
${f.after ? html`<a href="${pathOf(conn.id, { status: f.status, sku: f.sku })}" data-testid="first-page">← ${label('First page', '第一页')}</a>` : ''}
${skus.nextCursor ? html`<a href="${pathOf(conn.id, { status: f.status, sku: f.sku, after: skus.nextCursor })}" data-testid="next-page">${label('Next page', '下一页')} →</a>` : ''}
</p>

<h2>${label('Needs a person', '待人工处理')}</h2>
${needsPerson.length === 0
  ? html`<p class="muted" data-testid="nothing-to-bind">${label('Every listing is bound.', '所有平台商品均已绑定。')}</p>`
  : html`<table id="needs-person"><thead><tr><th>${label('Title', '标题')}</th><th>${label('Listing', '平台商品')}</th><th>SKU</th><th>${label('Barcode', '条码')}</th><th>${label('State', '状态')}</th><th></th></tr></thead>
<tbody>${needsPerson.map((l) => {
      const candidates = l.candidates.map((id) => candidateSkus.get(id)).filter((s): s is string => s !== undefined)
      return html`<tr data-listing="${l.id}" data-state="${l.state}">
<td data-testid="title">${l.title}</td>
<td>${l.externalId}</td>
<td>${l.sku ?? ''}</td>
<td>${l.barcode ?? ''}</td>
<td>${labelOf(LISTING_STATE_LABELS, l.state)}${candidates.length ? html`<div class="small muted">${label('matches', '匹配')} ${candidates.join(', ')}</div>` : ''}${l.matchedBy === 'manual' ? html`<div class="small muted">${label('unbound by hand', '已手工解除')}</div>` : ''}</td>
<td>${mayManage
        ? html`<form method="post" action="/dashboard/stock-sync/${conn.id}/listings/${l.id}/bind" class="inline">
<input type="hidden" name="_csrf" value="${csrf}">
<label>SKU <input name="sku" maxlength="100" required value="${candidates.length === 1 ? candidates[0] : ''}"></label>
<button type="submit">${label('Bind', '绑定')}</button></form>`
        : ''}</td>
</tr>`
    })}</tbody></table>`}

<h2>${label('Drift found by audits', '核查发现的偏差')}</h2>
${drift.items.length === 0
  ? html`<p class="muted" data-testid="no-drift">${label('No drift found.', '未发现偏差。')}</p>`
  : html`<table id="drift"><thead><tr><th>SKU</th><th>${label('Remote location', '平台位置')}</th><th class="num">${label('Pushed', '已推送')}</th><th class="num">${label('Remote', '平台数量')}</th><th class="num">${label('Target', '目标')}</th><th>${label('Repaired', '已修复')}</th><th>${label('Found', '发现时间')}</th></tr></thead>
<tbody>${drift.items.map(
      (d) => html`<tr data-sku="${d.sku ?? ''}" data-repaired="${String(d.repaired)}"><td>${d.sku ?? ''}</td><td>${locationNames.get(d.remoteLocationId) || d.remoteLocationId}</td><td class="num">${d.lastPushed ?? ''}</td><td class="num">${d.remote}</td><td class="num">${d.target}</td><td>${d.repaired ? label('yes', '是') : label('no', '否')}</td><td>${timeText(d.foundAt, tz)}</td></tr>`,
    )}</tbody></table>`}

<h2>${label('Flagged online orders', '需关注的线上订单')}</h2>
${orders.items.length === 0
  ? html`<p class="muted" data-testid="no-flagged-orders">${label('No flagged order.', '没有需关注的订单。')}</p>`
  : html`<table id="flagged-orders"><thead><tr><th>${label('Order', '订单')}</th><th>${label('Flag', '标记')}</th><th>${label('Status', '状态')}</th><th>${label('Updated', '更新时间')}</th></tr></thead>
<tbody>${orders.items.map(
      (o) => html`<tr data-order="${o.id}" data-flag="${o.flag ?? ''}"><td>${o.name}${o.pickup ? html`<div class="small muted">${label('pickup', '自提')}</div>` : ''}</td><td class="neg">${labelOf(FLAG_LABELS, o.flag)}</td><td>${labelOf(ORDER_STATUS_LABELS, o.status)}</td><td>${timeText(o.remoteUpdatedAt, tz)}</td></tr>`,
    )}</tbody></table>`}`
  return c.html(page({ title: `Stock sync · ${conn.name}`, user: pageUser(c), body }), (alert?.status ?? 200) as 200, PAGE_HEADERS)
}


/** Binds a listing to the variant with the SKU typed in, or unbinds it; an expected refusal is shown on the page. */
async function bind(c: C, unbind: boolean): Promise<Response> {
  const actor = requirePermission(c, MANAGE)
  const { ref } = await channelOf(c, c.req.param('connectionId')!)
  const listingId = c.req.param('listingId')!
  if (!isUuid(listingId)) throw notFound('listing', listingId)
  const sku = formText(await readForm(c), 'sku').trim().slice(0, 100)
  const db = c.var.hub.database.db
  try {
    await db.transaction(async (tx) => {
      let variantId: string | null = null
      if (!unbind) {
        if (!sku) throw badRequest('sku_required', say('Enter the SKU of the variant to bind.', '请输入要绑定的商品 SKU。'))
        const [v] = await tx.select({ id: variants.id }).from(variants).where(and(eq(variants.merchantId, ref.merchantId), eq(variants.sku, sku)))
        if (!v) throw invalid('unknown_sku', say(`No product variant has the SKU "${sku}".`, `没有 SKU 为「${sku}」的商品。`))
        variantId = v.id
      }
      await bindListing(tx, ref, listingId, variantId, c.var.hub.clock())
      await queueChannelPush(tx, ref)
      await recordAudit(tx, actor, { action: variantId ? 'stock_sync.listing_bound' : 'stock_sync.listing_unbound', entityType: 'channel_listing', entityId: listingId, details: { connectionId: ref.connectionId, variantId, sku: variantId ? sku : undefined } })
    })
  } catch (e) {
    if (!isDomainError(e) || e.kind === 'forbidden' || e.kind === 'unauthorized') throw e
    return syncPage(c, refusal(e))
  }
  return c.redirect(`${pathOf(ref.connectionId, { done: unbind ? 'unbound' : 'bound' })}`, 303)
}

async function queueSync(c: C, action: 'audit' | 'recover'): Promise<Response> {
  const actor = requirePermission(c, MANAGE)
  const { ref } = await channelOf(c, c.req.param('connectionId')!)
  await c.var.hub.database.db.transaction(async (tx) => {
    if (action === 'audit') await queueAudit(tx, ref, true)
    else await queueRecover(tx, ref)
    await recordAudit(tx, actor, { action: `stock_sync.${action}_queued`, entityType: 'connection', entityId: ref.connectionId, details: {} })
  })
  return c.redirect(pathOf(ref.connectionId, { done: action }), 303)
}

export function registerStockSync(app: Hono<DashboardEnv>) {
  app.use('/stock-sync/*', requireSession(), requireCsrf())
  app.get('/stock-sync', (c) => syncPage(c))
  app.get('/stock-sync/:connectionId', (c) => syncPage(c))
  app.post('/stock-sync/:connectionId/audit', (c) => queueSync(c, 'audit'))
  app.post('/stock-sync/:connectionId/recover', (c) => queueSync(c, 'recover'))
  app.post('/stock-sync/:connectionId/listings/:listingId/bind', (c) => bind(c, false))
  app.post('/stock-sync/:connectionId/listings/:listingId/unbind', (c) => bind(c, true))
}
