// The campaigns dashboard: every campaign with its delivery counts, coupons and attributed revenue, and a campaign's
// page — its results, its segment's rule in words with the count of members it matches now, the per-recipient
// deliveries (addresses masked) and the Send now / Cancel actions of the campaigns API. Reading needs members.read,
// as the API's reads; the actions need campaigns.manage.
import type { Context, Hono } from 'hono'
import { html, raw } from 'hono/html'
import { and, desc, eq, inArray, lt } from 'drizzle-orm'
import { parsePhoneNumberFromString } from 'libphonenumber-js/max'
import { connections } from '../../connectors/framework/schema.ts'
import { connectorRegistry } from '../../connectors/index.ts'
import type { SegmentRule } from '../../core/campaigns/rules.ts'
import { campaignDeliveries, type DeliveryStatus } from '../../core/campaigns/schema.ts'
import { campaignResults, cancelCampaign, getCampaign, getSegment, listCampaigns, previewSegment, type Campaign, type CampaignResults } from '../../core/campaigns/service.ts'
import { listTemplates } from '../../core/members/coupons.ts'
import { tiers } from '../../core/members/schema.ts'
import { getMerchant } from '../../core/merchants/service.ts'
import { recordAudit } from '../../core/staff/audit.ts'
import { listStores } from '../../core/stores/service.ts'
import type { Tx } from '../../db/client.ts'
import { keysetPage } from '../../db/page.ts'
import { startCampaignSend } from '../../jobs/campaigns.ts'
import { badRequest, conflict, isDomainError, notFound } from '../../lib/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { label, labelOf, money, page, PAGE_HEADERS, refusal, say, type Html } from './layout.ts'
import { can, pageUser, requireCsrf, requirePermission, requireSession, type DashboardEnv } from './session.ts'

type C = Context<DashboardEnv>

/** The campaigns API's permissions: reading campaigns and their deliveries, and sending or cancelling them. */
const READ = 'members.read'
const MANAGE = 'campaigns.manage'

/** Campaigns per page of the list; deliveries per page by default and at most (?limit=, as the API's). */
const CAMPAIGN_PAGE = 50
const DELIVERY_PAGE = 50
const DELIVERY_PAGE_MAX = 200

const DELIVERY_STATUSES: DeliveryStatus[] = ['pending', 'claimed', 'accepted', 'delivered', 'failed', 'unknown', 'suppressed', 'skipped']

const DELIVERY_LABELS: Record<DeliveryStatus, [string, string]> = {
  pending: ['pending', '待发送'],
  claimed: ['sending', '发送中'],
  accepted: ['accepted', '已受理'],
  delivered: ['delivered', '已送达'],
  failed: ['failed', '失败'],
  unknown: ['outcome unknown', '结果未知'],
  suppressed: ['suppressed', '已屏蔽'],
  skipped: ['skipped', '已跳过'],
}

export const CAMPAIGN_LABELS: Record<Campaign['status'], [string, string]> = {
  draft: ['draft', '草稿'],
  scheduled: ['scheduled', '已排期'],
  sending: ['sending', '发送中'],
  sent: ['sent', '已发送'],
  cancelled: ['cancelled', '已取消'],
}

const CHANNEL_LABELS: Record<string, [string, string]> = {
  sms: ['SMS', '短信'],
  email: ['email', '邮件'],
  wechat: ['WeChat', '微信'],
}

const DONE_MESSAGES: Record<string, [string, string]> = {
  queued: ['The campaign is queued to send.', '活动已排队发送。'],
  cancelled: ['The campaign is cancelled: nothing more is sent.', '活动已取消，不再发送。'],
}

const CSS = `
.chip-draft,.chip-pending,.chip-skipped{background:#e6e8eb;color:#4a5361}.chip-scheduled,.chip-claimed,.chip-accepted{background:#e3ecfb;color:#1d4f9c}
.chip-sending,.chip-unknown{background:#fff1cc;color:#7a5600}.chip-sent,.chip-delivered{background:#dff5e3;color:#17692a}
.chip-failed{background:#fde2e1;color:#a4231b}.chip-cancelled,.chip-suppressed{background:#f3d6f0;color:#7b1f72}
nav.filter a{padding:2px 8px;border-radius:4px}nav.filter a.active{background:#1f2d3d;color:#fff;text-decoration:none}
button.primary .zh{color:#dbe6ff}table.head th{width:200px}.campaign-actions{display:flex;gap:8px;margin:8px 0}.rule{font-family:ui-monospace,monospace;font-size:13px}
`

const chipOf = (labels: Record<string, [string, string]>, status: string) => {
  const l = labels[status] ?? [status, '']
  return html`<span class="chip chip-${status}" data-status="${status}">${label(l[0], l[1])}</span>`
}

const pathOf = (base: string, q: Record<string, string | undefined> = {}) => {
  const qs = new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')).toString()
  return `${base}${qs ? `?${qs}` : ''}`
}
const campaignPath = (id: string, q: Record<string, string | undefined> = {}) => pathOf(`/dashboard/campaigns/${id}`, q)

function timeText(d: Date | null, timeZone: string): string {
  if (!d) return ''
  return new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d)
}

/**
 * An address as staff may see it: enough to recognise, not enough to use. A phone keeps the first three and last four
 * digits of its national number (+8613900000001 → 139****0001), an email its first letter and domain, an openid its
 * ends.
 */
export function maskAddress(address: string | null, channel: string): string {
  if (!address) return ''
  if (channel === 'email') {
    const at = address.lastIndexOf('@')
    return at < 1 ? '****' : `${address[0]}***${address.slice(at)}`
  }
  if (channel === 'sms') {
    const national = parsePhoneNumberFromString(address)?.nationalNumber ?? address.replace(/\D/g, '')
    if (national.length >= 8) return `${national.slice(0, 3)}****${national.slice(-4)}`
    return national.length > 2 ? `****${national.slice(-2)}` : '****'
  }
  return address.length > 8 ? `${address.slice(0, 4)}****${address.slice(-4)}` : '****'
}

/** Messages handed to the vendor (whatever became of them), and those never sent (opted out, blocked, no address). */
export const sentCount = (r: CampaignResults) => r.counts.accepted + r.counts.delivered + r.counts.failed + r.counts.unknown
export const notSentCount = (r: CampaignResults) => r.counts.suppressed + r.counts.skipped

/** Names for the ids a rule may hold: tiers (by id or code), stores and coupon templates. */
export interface RuleNames {
  tiers: Map<string, string>
  stores: Map<string, string>
  templates: Map<string, string>
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']

/** A segment rule in words ("tagged vip and last bought more than 30 days ago"); amounts in the merchant's currency. */
export function ruleText(rule: SegmentRule, names: RuleNames, currency: string): string {
  const nested = (r: SegmentRule) => ('all' in r || 'any' in r ? `(${ruleText(r, names, currency)})` : ruleText(r, names, currency))
  const between = (what: string, min: number | undefined, max: number | undefined, fmt: (n: number) => string = String) =>
    min !== undefined && max !== undefined ? `${what} between ${fmt(min)} and ${fmt(max)}` : min !== undefined ? `${what} at least ${fmt(min)}` : max !== undefined ? `${what} at most ${fmt(max)}` : `${what} any`
  const orList = (xs: string[]) => (xs.length === 1 ? xs[0]! : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`)
  if ('all' in rule) return rule.all.map(nested).join(' and ')
  if ('any' in rule) return rule.any.map(nested).join(' or ')
  if ('not' in rule) return `not ${nested(rule.not)}`
  if ('tier' in rule) return `in tier ${orList(rule.tier.map((t) => names.tiers.get(t) ?? t))}`
  if ('tags' in rule) return `tagged ${rule.match === 'all' ? rule.tags.join(' and ') : orList(rule.tags)}`
  if ('store' in rule) return `registered at store ${orList(rule.store.map((s) => names.stores.get(s) ?? s))}`
  if ('birthdayMonth' in rule) return rule.birthdayMonth === 'current' ? 'birthday this month' : `birthday in ${MONTHS[rule.birthdayMonth - 1]}`
  if ('lastPurchase' in rule) {
    const lp = rule.lastPurchase
    if (lp.never) return 'never bought'
    const parts = [lp.before !== undefined ? `more than ${lp.before} days ago` : '', lp.after !== undefined ? `within the last ${lp.after} days` : ''].filter(Boolean)
    return parts.length ? `last bought ${parts.join(' and ')}` : 'bought at least once'
  }
  if ('spend' in rule) return `${between('spent', rule.spend.min, rule.spend.max, (n) => money(n, currency))} in the last ${rule.spend.days} days`
  if ('frequency' in rule) return `${between('purchases', rule.frequency.min, rule.frequency.max)} in the last ${rule.frequency.days} days`
  if ('rfm' in rule) {
    const words = { r: 'recency', f: 'frequency', m: 'monetary' } as const
    const parts = (['r', 'f', 'm'] as const).filter((k) => rule.rfm[k]).map((k) => `${words[k]} ${rule.rfm[k]![0]}–${rule.rfm[k]![1]}`)
    return `RFM quintiles ${parts.length ? parts.join(', ') : 'any'}`
  }
  if ('points' in rule) return between('points balance', rule.points.min, rule.points.max)
  if ('hasCoupon' in rule) {
    if (rule.hasCoupon === true) return 'holds an unused coupon'
    if (rule.hasCoupon === false) return 'holds no unused coupon'
    return `holds an unused coupon of ${names.templates.get(rule.hasCoupon.templateId) ?? rule.hasCoupon.templateId}`
  }
  return JSON.stringify(rule)
}

async function ruleNames(tx: Tx, merchantId: string): Promise<RuleNames> {
  const [tierRows, storeRows, templateRows] = await Promise.all([
    tx.select({ id: tiers.id, code: tiers.code, name: tiers.name }).from(tiers).where(eq(tiers.merchantId, merchantId)),
    listStores(tx, merchantId),
    listTemplates(tx, merchantId),
  ])
  const tierNames = new Map<string, string>()
  for (const t of tierRows) {
    tierNames.set(t.id, t.name)
    tierNames.set(t.code, t.name)
  }
  return { tiers: tierNames, stores: new Map(storeRows.map((s) => [s.id, `${s.code} ${s.name}`])), templates: new Map(templateRows.map((t) => [t.id, t.name])) }
}

function scheduleText(cp: Campaign, tz: string): Html {
  const quiet = html`<div class="small muted">${label('quiet', '免打扰')} ${cp.quietStart}–${cp.quietEnd}</div>`
  if (cp.schedule === 'at') return html`${label('at', '定时')} ${timeText(cp.sendAt, tz)}${quiet}`
  if (cp.schedule === 'daily') return html`${label('daily at', '每日')} ${cp.dailyAt ?? ''}${quiet}`
  return html`${label('on demand', '手动发送')}${quiet}`
}

/** Names of the campaigns' connections (a campaign whose connection was removed shows none). */
async function connectionNames(tx: Tx, merchantId: string, ids: string[]): Promise<Map<string, { name: string; connectorId: string }>> {
  const wanted = [...new Set(ids)]
  if (wanted.length === 0) return new Map()
  const rows = await tx
    .select({ id: connections.id, name: connections.name, connectorId: connections.connectorId })
    .from(connections)
    .where(and(eq(connections.merchantId, merchantId), inArray(connections.id, wanted)))
  return new Map(rows.map((r) => [r.id, { name: r.name, connectorId: r.connectorId }]))
}

interface Alert {
  kind: 'error' | 'ok'
  message: string
  status?: number
}

const flashOf = (c: C, alert?: Alert): Alert | undefined => {
  if (alert) return alert
  const done = c.req.query('done')
  return done && Object.hasOwn(DONE_MESSAGES, done) ? { kind: 'ok', message: say(...DONE_MESSAGES[done]!) } : undefined
}

async function listPage(c: C): Promise<Response> {
  requirePermission(c, READ)
  const db = c.var.hub.database.db
  const m = await getMerchant(db, c.var.principal.merchantId)
  const before = c.req.query('before')
  if (before !== undefined && !isUuid(before)) throw badRequest('invalid_cursor', 'before must be the cursor of a previous page')
  const list = await listCampaigns(db, m.id, { before, limit: CAMPAIGN_PAGE })
  const results = await Promise.all(list.items.map((cp) => campaignResults(db, cp)))
  const names = await connectionNames(db, m.id, list.items.map((cp) => cp.connectionId))

  const flash = flashOf(c)

  const body = html`<style>${raw(CSS)}</style>
<h1>${label('Member campaigns', '会员营销活动')}</h1>
${flash ? html`<p class="alert alert-${flash.kind}" data-testid="flash">${flash.message}</p>` : ''}
${can(c, MANAGE) ? '' : html`<p class="muted small" data-testid="read-only">${label('Read only: sending and cancelling campaigns needs the permission campaigns.manage.', '只读：发送和取消活动需要 campaigns.manage 权限。')}</p>`}
${list.items.length === 0
  ? html`<p class="muted" data-testid="no-campaigns">${label('No campaign yet.', '尚无营销活动。')}</p>`
  : html`<table id="campaigns">
<thead><tr><th>${label('Campaign', '活动')}</th><th>${label('Channel', '渠道')}</th><th>${label('Status', '状态')}</th><th>${label('Schedule', '发送计划')}</th>
<th class="num">${label('Sent', '已发送')}</th><th class="num">${label('Delivered', '已送达')}</th><th class="num">${label('Failed', '失败')}</th><th class="num">${label('Suppressed / skipped', '屏蔽/跳过')}</th>
<th class="num">${label('Coupons issued', '发券')}</th><th class="num">${label('Redeemed', '核销')}</th><th class="num">${label('Attributed revenue', '带来销售额')}</th></tr></thead>
<tbody>
${list.items.map((cp, i) => {
      const r = results[i]!
      const conn = names.get(cp.connectionId)
      return html`<tr data-campaign="${cp.id}" data-status="${cp.status}">
<th><a href="${campaignPath(cp.id)}" data-testid="name">${cp.name}</a>${conn ? html`<div class="small muted">${conn.name}</div>` : ''}</th>
<td>${labelOf(CHANNEL_LABELS, cp.channel)}</td>
<td>${chipOf(CAMPAIGN_LABELS, cp.status)}</td>
<td class="small">${scheduleText(cp, m.timeZone)}</td>
<td class="num" data-count="sent">${sentCount(r)}</td>
<td class="num" data-count="delivered">${r.counts.delivered}</td>
<td class="num" data-count="failed">${r.counts.failed}</td>
<td class="num" data-count="suppressed">${notSentCount(r)}</td>
<td class="num" data-count="coupons-issued">${r.couponsIssued}</td>
<td class="num" data-count="coupons-redeemed">${r.couponsRedeemed}</td>
<td class="num" data-testid="revenue">${money(r.attributedRevenue, m.currency)}<div class="small muted">${r.attributedSales} ${label('sales', '笔')}</div></td>
</tr>`
    })}
</tbody>
</table>`}
<p class="small">
${before ? html`<a href="/dashboard/campaigns" data-testid="first-page">← ${label('Newest', '最新')}</a>` : ''}
${list.nextCursor ? html`<a href="${pathOf('/dashboard/campaigns', { before: list.nextCursor })}" data-testid="next-page">${label('Older', '更早')} →</a>` : ''}
</p>`
  return c.html(page({ title: 'Campaigns', user: pageUser(c), body }), 200, PAGE_HEADERS)
}

interface DeliveryFilter {
  status?: DeliveryStatus
  after?: string
  limit: number
}

function filterOf(c: C): DeliveryFilter {
  const status = c.req.query('status') || undefined
  if (status !== undefined && !(DELIVERY_STATUSES as string[]).includes(status)) throw badRequest('invalid_status', `status must be one of ${DELIVERY_STATUSES.join(', ')}`)
  const after = c.req.query('after') || undefined
  if (after !== undefined && !isUuid(after)) throw badRequest('invalid_cursor', 'after must be the cursor of a previous page')
  const limitText = c.req.query('limit')
  const limit = limitText === undefined || limitText === '' ? DELIVERY_PAGE : Number(limitText)
  if (!Number.isInteger(limit) || limit < 1 || limit > DELIVERY_PAGE_MAX) throw badRequest('invalid_limit', `limit must be a whole number from 1 to ${DELIVERY_PAGE_MAX}`)
  return { status: status as DeliveryStatus | undefined, after, limit }
}

/** A page of a campaign's deliveries, newest id first (the API's order and cursor). */
async function deliveriesOf(tx: Tx, campaignId: string, f: DeliveryFilter) {
  const rows = await tx
    .select()
    .from(campaignDeliveries)
    .where(and(eq(campaignDeliveries.campaignId, campaignId), f.status ? eq(campaignDeliveries.status, f.status) : undefined, f.after ? lt(campaignDeliveries.id, f.after) : undefined))
    .orderBy(desc(campaignDeliveries.id))
    .limit(f.limit + 1)
  return keysetPage(rows, f.limit, (d) => d.id)
}

async function campaignPage(c: C, alert?: Alert): Promise<Response> {
  requirePermission(c, READ)
  const db = c.var.hub.database.db
  const m = await getMerchant(db, c.var.principal.merchantId)
  const id = c.req.param('id')!
  if (!isUuid(id)) throw notFound('campaign', id)
  const cp = await getCampaign(db, m.id, id)
  // On a form's error page the query string's filter is not there; the table shows the first page of all.
  const f = c.req.method === 'GET' ? filterOf(c) : { limit: DELIVERY_PAGE }
  const [results, segment, deliveries, names, conn] = await Promise.all([
    campaignResults(db, cp),
    getSegment(db, m.id, cp.segmentId),
    deliveriesOf(db, cp.id, f),
    ruleNames(db, m.id),
    connectionNames(db, m.id, [cp.connectionId]),
  ])
  const audience = await previewSegment(db, m.id, segment.rule, c.var.hub.clock(), 0)
  const connection = conn.get(cp.connectionId)
  const mayManage = can(c, MANAGE)
  const flash = flashOf(c, alert)
  const csrf = c.var.csrf
  const total = DELIVERY_STATUSES.reduce((n, s) => n + results.counts[s], 0)
  const filterLink = (s: DeliveryStatus | undefined, text: Html, n: number) =>
    html`<a href="${campaignPath(cp.id, { status: s, limit: f.limit !== DELIVERY_PAGE ? String(f.limit) : undefined })}" class="${f.status === s ? 'active' : ''}" data-filter="${s ?? 'all'}">${text} (${n})</a>`
  const pageQuery = { status: f.status, limit: f.limit !== DELIVERY_PAGE ? String(f.limit) : undefined }

  const body = html`<style>${raw(CSS)}</style>
<p class="small"><a href="/dashboard/campaigns" data-testid="back">← ${label('All campaigns', '全部活动')}</a></p>
<h1 id="campaign-name">${cp.name}</h1>
${flash ? html`<p class="alert alert-${flash.kind}" data-testid="flash">${flash.message}</p>` : ''}
${mayManage
  ? cp.status === 'cancelled'
    ? ''
    : html`<div class="campaign-actions">
<form method="post" action="/dashboard/campaigns/${cp.id}/send" class="inline"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit" class="primary" data-action="send">${label('Send now', '立即发送')}</button></form>
${cp.status === 'sent' ? '' : html`<form method="post" action="/dashboard/campaigns/${cp.id}/cancel" class="inline"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit" data-action="cancel">${label('Cancel', '取消活动')}</button></form>`}
</div>`
  : html`<p class="muted small" data-testid="read-only">${label('Read only: sending and cancelling campaigns needs the permission campaigns.manage.', '只读：发送和取消活动需要 campaigns.manage 权限。')}</p>`}
<table class="head" id="campaign-head">
<tr><th>${label('Status', '状态')}</th><td id="campaign-status">${chipOf(CAMPAIGN_LABELS, cp.status)}${cp.lastRunKey ? html` <span class="small muted">${label('last run', '最近一次')} ${cp.lastRunKey}</span>` : ''}</td></tr>
<tr><th>${label('Channel', '渠道')}</th><td data-testid="channel">${labelOf(CHANNEL_LABELS, cp.channel)}${connection ? html` · ${connection.name} <span class="muted">${connectorRegistry.get(connection.connectorId)?.title ?? connection.connectorId}</span>` : ''}</td></tr>
<tr><th>${label('Schedule', '发送计划')}</th><td data-testid="schedule">${scheduleText(cp, m.timeZone)}<div class="small muted">${label('at most', '每秒最多')} ${cp.ratePerSecond}/s · ${label('attribution', '归因期')} ${cp.attributionDays} ${label('days', '天')}</div></td></tr>
<tr><th>${label('Message', '消息')}</th><td class="small" data-testid="message">${Object.entries(cp.message).map(([k, v]) => html`<div><span class="muted">${k}:</span> ${v}</div>`)}</td></tr>
<tr><th>${label('Segment', '人群')}</th><td id="segment"><strong data-testid="segment-name">${segment.name}</strong>
<div class="rule" data-testid="segment-rule">${ruleText(segment.rule, names, m.currency)}</div>
<div class="small">${label('Members matching now', '当前符合人数')}: <span data-testid="segment-count">${audience.count}</span></div></td></tr>
</table>

<h2>${label('Results', '效果')}</h2>
<table id="results">
<thead><tr><th class="num">${label('Sent', '已发送')}</th>${DELIVERY_STATUSES.map((s) => html`<th class="num">${label(...DELIVERY_LABELS[s])}</th>`)}<th class="num">${label('Coupons issued', '发券')}</th><th class="num">${label('Redeemed', '核销')}</th><th class="num">${label('Attributed sales', '带来订单')}</th><th class="num">${label('Attributed revenue', '带来销售额')}</th></tr></thead>
<tbody><tr>
<td class="num" data-count="sent">${sentCount(results)}</td>
${DELIVERY_STATUSES.map((s) => html`<td class="num" data-count="${s}">${results.counts[s]}</td>`)}
<td class="num" data-count="coupons-issued">${results.couponsIssued}</td>
<td class="num" data-count="coupons-redeemed">${results.couponsRedeemed}</td>
<td class="num" data-count="attributed-sales">${results.attributedSales}</td>
<td class="num" data-testid="revenue">${money(results.attributedRevenue, m.currency)}</td>
</tr></tbody>
</table>
<p class="small muted">${label(`Sales of recipients within ${cp.attributionDays} days after their message count for the campaign.`, `收到消息后 ${cp.attributionDays} 天内的消费计入本活动。`)}</p>

<h2>${label('Recipients', '接收人')}</h2>
<nav class="range filter">
${filterLink(undefined, label('All', '全部'), total)}
${DELIVERY_STATUSES.map((s) => filterLink(s, label(...DELIVERY_LABELS[s]), results.counts[s]))}
</nav>
${deliveries.items.length === 0
  ? html`<p class="muted" data-testid="no-deliveries">${label('No recipient here.', '没有接收人。')}</p>`
  : html`<table id="deliveries"><thead><tr><th>${label('Address', '地址')}</th><th>${label('Status', '状态')}</th><th>${label('Reason', '原因')}</th><th>${label('Vendor code', '平台代码')}</th><th>${label('Sent', '发送时间')}</th><th>${label('Run', '批次')}</th></tr></thead>
<tbody>${deliveries.items.map(
      (d) => html`<tr data-delivery="${d.id}" data-status="${d.status}">
<td data-testid="address">${maskAddress(d.address, d.channel)}</td>
<td>${chipOf(DELIVERY_LABELS, d.status)}</td>
<td class="small" data-testid="reason">${d.reason ?? ''}</td>
<td class="small" data-testid="vendor-code">${d.vendorCode ?? ''}</td>
<td class="small">${timeText(d.sentAt, m.timeZone)}</td>
<td class="small">${d.runKey}</td>
</tr>`,
    )}</tbody></table>`}
<p class="small">
${f.after ? html`<a href="${campaignPath(cp.id, pageQuery)}" data-testid="first-page">← ${label('First page', '第一页')}</a>` : ''}
${deliveries.nextCursor ? html`<a href="${campaignPath(cp.id, { ...pageQuery, after: deliveries.nextCursor })}" data-testid="next-page">${label('Next page', '下一页')} →</a>` : ''}
</p>`
  return c.html(page({ title: `Campaign · ${cp.name}`, user: pageUser(c), body }), (alert?.status ?? 200) as 200, PAGE_HEADERS)
}

/** Sends the campaign now, as the API's send route: status 'sending' and a queued send job of this run. */
async function sendNow(c: C): Promise<Response> {
  const actor = requirePermission(c, MANAGE)
  const id = c.req.param('id')!
  if (!isUuid(id)) throw notFound('campaign', id)
  try {
    await c.var.hub.database.db.transaction((tx) => startCampaignSend(tx, actor, id, c.var.hub.clock(), { via: 'dashboard' }))
  } catch (e) {
    if (!isDomainError(e) || e.kind !== 'conflict') throw e
    return campaignPage(c, refusal(e))
  }
  return c.redirect(campaignPath(id, { done: 'queued' }), 303)
}

async function cancel(c: C): Promise<Response> {
  const actor = requirePermission(c, MANAGE)
  const id = c.req.param('id')!
  if (!isUuid(id)) throw notFound('campaign', id)
  try {
    await c.var.hub.database.db.transaction(async (tx) => {
      const row = await cancelCampaign(tx, actor.merchantId, id, c.var.hub.clock())
      await recordAudit(tx, actor, { action: 'campaign.cancelled', entityType: 'campaign', entityId: id, details: { from: row.status, via: 'dashboard' } })
    })
  } catch (e) {
    if (!isDomainError(e) || e.kind !== 'conflict') throw e
    return campaignPage(c, refusal(e))
  }
  return c.redirect(campaignPath(id, { done: 'cancelled' }), 303)
}

export function registerCampaigns(app: Hono<DashboardEnv>) {
  app.use('/campaigns/*', requireSession(), requireCsrf())
  app.get('/campaigns', (c) => listPage(c))
  app.get('/campaigns/:id', (c) => campaignPage(c))
  app.post('/campaigns/:id/send', (c) => sendNow(c))
  app.post('/campaigns/:id/cancel', (c) => cancel(c))
}
