// The dashboard's home page (/dashboard): today's and the last seven days' sales with charts, then one section per
// dashboard page — reconciliation by channel, stock sync by marketplace, voucher days by store, the last campaigns,
// devices that need a person — and the background jobs that failed. A section is shown only to a role that may read
// what it summarises (the permission of its page, or for sales of the reports API), so a cashier sees no finance figure.
import type { Context, Hono } from 'hono'
import { html, raw } from 'hono/html'
import { listConnections, type ConnectionRow } from '../../connectors/framework/connections.ts'
import { connectorRegistry } from '../../connectors/index.ts'
import { syncSummary } from '../../core/channel-stock/queries.ts'
import { listCampaigns, type CampaignResults } from '../../core/campaigns/service.ts'
import { listDevices } from '../../core/devices/registry.ts'
import { getMerchant, type Merchant } from '../../core/merchants/service.ts'
import { getSettings } from '../../core/merchants/settings.ts'
import type { Permission } from '../../core/staff/permissions.ts'
import { listStores } from '../../core/stores/service.ts'
import { listVouchers, type VoucherRow } from '../../core/vouchers/service.ts'
import type { DeviceStatus } from '../../devices/types.ts'
import { listJobs } from '../../jobs/operations.ts'
import { sum } from '../../lib/money.ts'
import { addDays, businessDate } from '../../lib/time.ts'
import { barChart, CHART_COLORS, CHART_CSS, columnChart, lineChart, type Datum } from './charts.ts'
import { CAMPAIGN_LABELS, sentCount } from './campaigns.ts'
import { BADGE_LABELS, deviceBadge } from './devices.ts'
import { deliveryCounts, deviceAttention, failedVoucherIds, lastRuns, refundsOfDay, salesByDayAndStore, salesByHour, salesByTender } from './home-queries.ts'
import { chip, label, money, page, PAGE_HEADERS, say, type Html } from './layout.ts'
import { openExceptionAges } from './queries.ts'
import { chipStatus } from './reconciliation.ts'
import { ageText } from './stock-sync.ts'
import { cellStatus, type CellStatus } from './vouchers.ts'
import { can, pageUser, requireCsrf, requireSession, type DashboardEnv } from './session.ts'

type C = Context<DashboardEnv>

/** What each section needs: the permission(s) of the page or API it summarises (any one of them). */
export const SECTION_PERMISSIONS: Record<string, readonly Permission[]> = {
  sales: ['reports.read'],
  reconciliation: ['finance.export', 'reports.read'],
  'stock-sync': ['connections.read'],
  vouchers: ['finance.export', 'reports.read'],
  campaigns: ['members.read'],
  devices: ['devices.use'],
  jobs: ['jobs.manage'],
}

/** Days of the sales charts (today included), voucher days shown (up to yesterday), campaigns listed. */
const SALES_DAYS = 7
const VOUCHER_DAYS = 3
const CAMPAIGNS_SHOWN = 5
/** The devices page's window: jobs older than this are not counted. */
const DEVICE_WINDOW_DAYS = 7
const JOBS_SHOWN = 10
const ERROR_SHOWN = 240

const TENDER_LABELS: Record<string, [string, string]> = {
  cash: ['Cash', '现金'],
  card: ['Card', '银行卡'],
  wechat: ['WeChat Pay', '微信支付'],
  alipay: ['Alipay', '支付宝'],
  unionpay_qr: ['UnionPay QR', '云闪付'],
  coupon_voucher: ['Coupon voucher', '代金券'],
  on_account: ['On account', '挂账'],
  stored_value: ['Stored value', '储值'],
  points: ['Points', '积分'],
}

const VOUCHER_LABELS: Record<CellStatus, [string, string]> = {
  built: ['built', '已生成'],
  exported: ['exported', '已导出'],
  failed: ['export failed', '导出失败'],
  corrected: ['corrected', '已更正'],
  blocked: ['blocked', '科目缺失'],
  none: ['none', '无凭证'],
}



const CSS = `
section.home{margin:18px 0 26px}section.home h2{display:flex;gap:12px;align-items:baseline;margin:0 0 10px}
section.home h2 a.more{font-size:13px;font-weight:400}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:12px}
.kpi{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 14px;min-width:180px}
.kpi .kpi-label{color:#5b6675;font-size:12px}.kpi .kpi-value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(560px,100%),1fr));gap:12px}
.chip-built{background:#e3ecfb;color:#1d4f9c}.chip-exported,.chip-sent,.chip-ok{background:#dff5e3;color:#17692a}
.chip-failed,.chip-paper_end,.chip-cover_open,.chip-error{background:#fde2e1;color:#a4231b}.chip-corrected,.chip-cancelled,.chip-offline,.chip-unreachable{background:#f3d6f0;color:#7b1f72}
.chip-blocked,.chip-sending,.chip-paper_near_end,.chip-unknown{background:#fff1cc;color:#7a5600}.chip-none,.chip-draft{background:#e6e8eb;color:#4a5361}.chip-scheduled{background:#e3ecfb;color:#1d4f9c}
td.error{max-width:520px;word-break:break-word}
${CHART_CSS}`

const chipOf = (labels: Record<string, [string, string]>, key: string) => {
  const l = labels[key] ?? [key, key]
  return html`<span class="chip chip-${key}" data-status="${key}">${label(...l)}</span>`
}

function timeText(d: Date | null, timeZone: string): string {
  if (!d) return ''
  return new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(d)
}

const connectorTitle = (row: Pick<ConnectionRow, 'connectorId'>) => connectorRegistry.get(row.connectorId)?.title ?? row.connectorId
const familyOf = (row: ConnectionRow) => connectorRegistry.get(row.connectorId)?.family

interface Ctx {
  c: C
  m: Merchant
  today: string
  now: Date
  connections: ConnectionRow[]
}

/** A section with its heading and the link to its page. */
function section(id: string, title: [string, string], link: { href: string; text: [string, string] } | null, body: Html): Html {
  return html`<section class="home" id="section-${id}" data-section="${id}">
<h2>${label(...title)}${link ? html` <a class="more" href="${link.href}" data-testid="link-${id}">${label(...link.text)} →</a>` : ''}</h2>
${body}</section>`
}

const kpi = (id: string, title: [string, string], value: string, note?: Html) =>
  html`<div class="kpi" data-kpi="${id}"><div class="kpi-label">${label(...title)}</div><div class="kpi-value" data-testid="${id}">${value}</div>${note ? html`<div class="small muted">${note}</div>` : ''}</div>`

async function salesSection({ c, m, today }: Ctx): Promise<Html> {
  const db = c.var.hub.database.db
  const from = addDays(today, -(SALES_DAYS - 1))
  const [byDay, byHour, byTender, refunds, stores] = await Promise.all([
    salesByDayAndStore(db, m.id, from, today),
    salesByHour(db, m.id, today, m.timeZone),
    salesByTender(db, m.id, from, today),
    refundsOfDay(db, m.id, today),
    listStores(db, m.id),
  ])
  const cur = m.currency
  const fmt = (n: number) => money(n, cur)
  // Axis ticks are round amounts: "¥200" rather than "¥200.00".
  const tick = (n: number) => fmt(n).replace(/\.0+$/, '')
  const todayRows = byDay.filter((r) => r.businessDate === today)
  const todayAmount = sum(todayRows.map((r) => r.amount))
  const todayCount = todayRows.reduce((a, r) => a + r.count, 0)
  const weekAmount = sum(byDay.map((r) => r.amount))
  const weekCount = byDay.reduce((a, r) => a + r.count, 0)

  const hours: Datum[] = Array.from({ length: 24 }, (_, h) => {
    const hh = `${String(h).padStart(2, '0')}:00`
    const amount = byHour.find((r) => r.hour === h)?.amount ?? 0
    return { key: String(h), label: hh, value: amount, text: fmt(amount) }
  })
  const days: Datum[] = []
  for (let d = from; d <= today; d = addDays(d, 1)) {
    const amount = sum(byDay.filter((r) => r.businessDate === d).map((r) => r.amount))
    days.push({ key: d, label: d.slice(5), value: amount, text: fmt(amount) })
  }
  const tenders: Datum[] = byTender.map((t) => {
    const l = TENDER_LABELS[t.kind] ?? [t.kind, '']
    return { key: t.kind, label: say(...l) || t.kind, value: t.amount, text: fmt(t.amount) }
  })
  const storeTotals = new Map<string, number>()
  for (const r of byDay) storeTotals.set(r.storeId, sum([storeTotals.get(r.storeId) ?? 0, r.amount]))
  const storeBars: Datum[] = stores
    .filter((s) => storeTotals.has(s.id))
    .map((s) => ({ key: s.id, label: `${s.code} ${s.name}`, value: storeTotals.get(s.id)!, text: fmt(storeTotals.get(s.id)!) }))

  const empty = say('No sales yet', '暂无销售')
  const amountName = say('Sales', '销售额')
  const describe = (what: [string, string]) => (top: Datum, count: number) => say(`${count} ${what[0]} with sales; the most: ${top.label}, ${top.text}.`, `${count} 个${what[1]}有销售；最高：${top.label}，${top.text}。`)
  const body = html`<div class="kpis">
${kpi('today-total', ['Sales today', '今日销售额'], fmt(todayAmount), label(`${todayCount} sales`, `${todayCount} 笔`))}
${kpi('today-count', ['Transactions today', '今日笔数'], String(todayCount))}
${kpi('today-refunds', ['Refunds today', '今日退款'], fmt(refunds.amount), label(`${refunds.count} refunds`, `${refunds.count} 笔`))}
${kpi('week-total', [`Last ${SALES_DAYS} days`, `近 ${SALES_DAYS} 天`], fmt(weekAmount), label(`${weekCount} sales`, `${weekCount} 笔`))}
</div>
<div class="charts">
${columnChart({ id: 'chart-hours', title: say('Sales by hour today', '今日分时销售'), data: hours, color: CHART_COLORS.hours, format: tick, categoryName: say('Hour', '时段'), valueName: amountName, empty, describe: describe(['hours', '时段']), labelEvery: 3 })}
${lineChart({ id: 'chart-days', title: say(`Daily sales, last ${SALES_DAYS} days`, `近 ${SALES_DAYS} 天每日销售`), data: days, color: CHART_COLORS.days, format: tick, categoryName: say('Day', '日期'), valueName: amountName, empty, describe: describe(['days', '日期']) })}
${barChart({ id: 'chart-tenders', title: say(`By payment method, last ${SALES_DAYS} days`, `近 ${SALES_DAYS} 天按支付方式`), data: tenders, color: CHART_COLORS.tenders, format: tick, categoryName: say('Payment method', '支付方式'), valueName: amountName, empty, describe: describe(['payment methods', '支付方式']) })}
${barChart({ id: 'chart-stores', title: say(`By store, last ${SALES_DAYS} days`, `近 ${SALES_DAYS} 天按门店`), data: storeBars, color: CHART_COLORS.stores, format: tick, categoryName: say('Store', '门店'), valueName: amountName, empty, describe: describe(['stores', '门店']) })}
</div>`
  return section('sales', ['Sales', '销售'], null, body)
}

async function reconciliationSection({ c, m, today, connections }: Ctx): Promise<Html> {
  const db = c.var.hub.database.db
  const payment = connections.filter((k) => familyOf(k) === 'payment')
  const [runs, ages] = await Promise.all([lastRuns(db, m.id, payment.map((k) => k.id)), openExceptionAges(db, m.id, today)])
  const link = { href: '/dashboard/reconciliation', text: ['Open reconciliation', '进入对账'] as [string, string] }
  if (payment.length === 0) return section('reconciliation', ['Reconciliation', '渠道对账'], link, html`<p class="muted" data-testid="empty">${label('No payment channel is connected yet.', '尚未连接任何支付渠道。')}</p>`)
  const body = html`<table id="home-recon">
<thead><tr><th>${label('Channel', '渠道')}</th><th>${label('Last reconciled day', '最近对账日')}</th><th>${label('Status', '状态')}</th><th class="num">${label('Open exceptions', '未处理异常')}</th><th>${label('Run at', '对账时间')}</th></tr></thead>
<tbody>${payment.map((k) => {
    const run = runs.get(k.id)
    const a = ages.get(k.id)
    const open = a ? a.upTo1 + a.upTo3 + a.over3 : 0
    return html`<tr data-connection="${k.id}"><th>${k.name}<div class="small muted">${connectorTitle(k)}</div></th>
<td>${run ? html`<a href="/dashboard/reconciliation/${k.id}/${run.businessDate}" data-testid="day">${run.businessDate}</a>` : html`<span class="muted">${label('never', '从未')}</span>`}</td>
<td>${chip(chipStatus(run?.status ?? null, open))}${run?.error ? html`<div class="small neg">${run.error}</div>` : ''}</td>
<td class="num${open > 0 ? ' neg' : ''}" data-count="open">${open}</td>
<td class="small">${run ? timeText(run.startedAt, m.timeZone) : ''}</td></tr>`
  })}</tbody></table>`
  return section('reconciliation', ['Reconciliation', '渠道对账'], link, body)
}

async function stockSyncSection({ c, m, now, connections }: Ctx): Promise<Html> {
  const db = c.var.hub.database.db
  const shops = connections.filter((k) => familyOf(k) === 'marketplace')
  const link = { href: '/dashboard/stock-sync', text: ['Open stock sync', '进入库存同步'] as [string, string] }
  if (shops.length === 0) return section('stock-sync', ['Stock sync', '库存同步'], link, html`<p class="muted" data-testid="empty">${label('No marketplace is connected yet.', '尚未连接任何电商平台。')}</p>`)
  const summaries = await Promise.all(shops.map((k) => syncSummary(db, { merchantId: m.id, connectionId: k.id }, now)))
  const body = html`<table id="home-stock-sync">
<thead><tr><th>${label('Marketplace', '平台')}</th><th class="num">${label('Pending', '待推送')}</th><th class="num">${label('Errors', '错误')}</th><th class="num">${label('Open drift', '未修复偏差')}</th><th class="num">${label('Needs a person', '待人工处理')}</th><th class="num">${label('Oldest pending', '最早待推送')}</th><th>${label('Last push', '最近推送')}</th></tr></thead>
<tbody>${shops.map((k, i) => {
    const s = summaries[i]!
    const needsPerson = s.listings.unmapped + s.listings.ambiguous
    return html`<tr data-connection="${k.id}"><th><a href="/dashboard/stock-sync/${k.id}">${k.name}</a><div class="small muted">${connectorTitle(k)}${k.enabled ? '' : html` · ${label('disabled', '已停用')}`}</div></th>
<td class="num" data-count="pending">${s.levels.pending}</td>
<td class="num${s.levels.error > 0 ? ' neg' : ''}" data-count="error">${s.levels.error}</td>
<td class="num${s.openDrift > 0 ? ' neg' : ''}" data-count="drift">${s.openDrift}</td>
<td class="num" data-count="needs-person">${needsPerson}</td>
<td class="num">${s.oldestPendingSeconds > 0 ? ageText(s.oldestPendingSeconds) : '–'}</td>
<td data-testid="last-push">${s.lastPushedAt ? timeText(s.lastPushedAt, m.timeZone) : '–'}</td></tr>`
  })}</tbody></table>`
  return section('stock-sync', ['Stock sync', '库存同步'], link, body)
}

async function vouchersSection({ c, m, today }: Ctx): Promise<Html> {
  const db = c.var.hub.database.db
  const to = addDays(today, -1)
  const from = addDays(to, -(VOUCHER_DAYS - 1))
  const days: string[] = []
  for (let d = to; d >= from; d = addDays(d, -1)) days.push(d)
  const [settings, vouchers, stores] = await Promise.all([getSettings(db, m.id), listVouchers(db, m.id, { from, to, limit: 5000 }), listStores(db, m.id)])
  const failed = await failedVoucherIds(db, m.id, vouchers.map((v) => v.id))
  const byCell = new Map<string, VoucherRow[]>()
  for (const v of vouchers) {
    const key = `${v.storeId ?? ''}|${v.businessDate}`
    byCell.set(key, [...(byCell.get(key) ?? []), v])
  }
  const withVouchers = new Set(vouchers.map((v) => v.storeId))
  const rows =
    settings.vouchers.grouping === 'merchant'
      ? [{ id: '', name: label('All stores', '全部门店') }]
      : stores.filter((s) => s.status === 'active' || withVouchers.has(s.id)).map((s) => ({ id: s.id, name: html`${s.code} <span class="muted">${s.name}</span>` }))
  const link = { href: '/dashboard/vouchers', text: ['Open vouchers', '进入凭证'] as [string, string] }
  if (rows.length === 0) return section('vouchers', ['Accounting vouchers', '记账凭证'], link, html`<p class="muted" data-testid="empty">${label('No store yet.', '尚无门店。')}</p>`)
  const body = html`<table id="home-vouchers">
<thead><tr><th>${label('Store', '门店')}</th>${days.map((d) => html`<th>${d}</th>`)}</tr></thead>
<tbody>${rows.map(
    (r) => html`<tr data-store="${r.id}"><th>${r.name}</th>${days.map((d) => {
      const status = cellStatus(byCell.get(`${r.id}|${d}`) ?? [], failed)
      return html`<td data-date="${d}">${chipOf(VOUCHER_LABELS, status)}</td>`
    })}</tr>`,
  )}</tbody></table>`
  return section('vouchers', ['Accounting vouchers', '记账凭证'], link, body)
}

async function campaignsSection({ c, m }: Ctx): Promise<Html> {
  const db = c.var.hub.database.db
  const list = await listCampaigns(db, m.id, { limit: CAMPAIGNS_SHOWN })
  const counts = await deliveryCounts(db, list.items.map((cp) => cp.id))
  const link = { href: '/dashboard/campaigns', text: ['Open campaigns', '进入营销活动'] as [string, string] }
  if (list.items.length === 0) return section('campaigns', ['Campaigns', '营销活动'], link, html`<p class="muted" data-testid="empty">${label('No campaign yet.', '尚无营销活动。')}</p>`)
  const body = html`<table id="home-campaigns">
<thead><tr><th>${label('Campaign', '活动')}</th><th>${label('Status', '状态')}</th><th class="num">${label('Sent', '已发送')}</th><th class="num">${label('Delivered', '已送达')}</th><th class="num">${label('Failed', '失败')}</th></tr></thead>
<tbody>${list.items.map((cp) => {
    const n = counts.get(cp.id) ?? {}
    const results: CampaignResults = {
      counts: { pending: 0, claimed: 0, accepted: 0, delivered: 0, failed: 0, unknown: 0, suppressed: 0, skipped: 0, ...n },
      couponsIssued: 0,
      couponsRedeemed: 0,
      attributedSales: 0,
      attributedRevenue: 0,
    }
    return html`<tr data-campaign="${cp.id}"><th><a href="/dashboard/campaigns/${cp.id}" data-testid="name">${cp.name}</a></th>
<td>${chipOf(CAMPAIGN_LABELS, cp.status)}</td>
<td class="num" data-count="sent">${sentCount(results)}</td>
<td class="num" data-count="delivered">${results.counts.delivered}</td>
<td class="num${results.counts.failed > 0 ? ' neg' : ''}" data-count="failed">${results.counts.failed}</td></tr>`
  })}</tbody></table>`
  return section('campaigns', ['Campaigns', '营销活动'], link, body)
}

async function devicesSection({ c, m, now }: Ctx): Promise<Html> {
  const db = c.var.hub.database.db
  const [devices, stores] = await Promise.all([listDevices(db, m.id), listStores(db, m.id)])
  const since = new Date(now.getTime() - DEVICE_WINDOW_DAYS * 86_400_000)
  const attention = await deviceAttention(db, m.id, devices.map((d) => d.id), since)
  const storeNames = new Map(stores.map((s) => [s.id, `${s.code} ${s.name}`]))
  const link = { href: '/dashboard/devices', text: ['Open devices', '进入设备'] as [string, string] }
  if (devices.length === 0) return section('devices', ['Devices', '设备'], link, html`<p class="muted" data-testid="empty">${label('No device is registered.', '尚未登记设备。')}</p>`)
  const rows = devices
    .filter((d) => d.enabled)
    .map((d) => ({ d, badge: deviceBadge(d.status as Partial<DeviceStatus> | null), jobs: attention.get(d.id) ?? { failed: 0, unknown: 0 } }))
    .filter((r) => r.badge !== 'ok' || r.jobs.failed > 0 || r.jobs.unknown > 0)
  const summary = html`<p data-testid="devices-summary" data-devices="${devices.length}" data-attention="${rows.length}">${label(`Devices: ${devices.length} · needing attention: ${rows.length}`, `设备 ${devices.length} 台 · 需处理 ${rows.length} 台`)}</p>`
  const body =
    rows.length === 0
      ? html`${summary}<p class="muted" data-testid="empty">${label('Every device is fine.', '所有设备正常。')}</p>`
      : html`${summary}<table id="home-devices">
<thead><tr><th>${label('Device', '设备')}</th><th>${label('Store', '门店')}</th><th>${label('Status', '状态')}</th><th class="num">${label('Failed jobs', '失败任务')}</th><th class="num">${label('Outcome unknown', '结果未知')}</th></tr></thead>
<tbody>${rows.map(
          (r) => html`<tr data-device="${r.d.id}" data-badge="${r.badge}"><th>${r.d.name}</th><td>${storeNames.get(r.d.storeId) ?? ''}</td><td>${chipOf(BADGE_LABELS, r.badge)}</td>
<td class="num${r.jobs.failed > 0 ? ' neg' : ''}" data-count="failed">${r.jobs.failed}</td><td class="num${r.jobs.unknown > 0 ? ' neg' : ''}" data-count="unknown">${r.jobs.unknown}</td></tr>`,
        )}</tbody></table>
<p class="small muted">${label(`Jobs of the last ${DEVICE_WINDOW_DAYS} days.`, `近 ${DEVICE_WINDOW_DAYS} 天的任务。`)}</p>`
  return section('devices', ['Devices', '设备'], link, body)
}

/** Jobs whose every attempt failed, and how many wait for another attempt; the jobs page has them all. */
async function jobsSection({ c, m, connections }: Ctx): Promise<Html> {
  const db = c.var.hub.database.db
  const [failed, retrying] = await Promise.all([listJobs(db, m.id, { state: 'failed', limit: JOBS_SHOWN }), listJobs(db, m.id, { state: 'retrying', limit: JOBS_SHOWN })])
  const names = new Map(connections.map((k) => [k.id, k.name]))
  const retryingText = retrying.items.length === 0 ? '' : html`<p class="small muted" data-testid="retrying">${label(
    `${retrying.items.length}${retrying.nextCursor ? '+' : ''} more failed at least once and will be tried again.`,
    `另有 ${retrying.items.length}${retrying.nextCursor ? '+' : ''} 个任务失败后将重试。`,
  )}</p>`
  const link = { href: '/dashboard/jobs', text: ['Open jobs', '进入任务'] as [string, string] }
  if (failed.items.length === 0) return section('jobs', ['Failed background jobs', '失败的后台任务'], link, html`<p class="muted" data-testid="empty">${label('No job has failed.', '没有失败的任务。')}</p>${retryingText}`)
  const body = html`<table id="home-jobs">
<thead><tr><th>${label('Job', '任务')}</th><th>${label('Connection', '连接')}</th><th class="num">${label('Attempts', '尝试次数')}</th><th>${label('Last error', '最近错误')}</th><th>${label('Failed at', '失败时间')}</th></tr></thead>
<tbody>${failed.items.map(
    (j) => html`<tr data-job="${j.id}"><th>${j.task}<div class="small muted">#${j.id}</div></th><td>${j.connectionId ? (names.get(j.connectionId) ?? j.connectionId) : ''}</td><td class="num">${j.attempts}</td>
<td class="small neg error" data-testid="last-error">${(j.lastError ?? '').slice(0, ERROR_SHOWN)}</td><td class="small">${timeText(j.updatedAt, m.timeZone)}</td></tr>`,
  )}</tbody></table>
${failed.nextCursor ? html`<p class="small muted">${label(`Showing the ${JOBS_SHOWN} newest.`, `仅显示最新 ${JOBS_SHOWN} 个。`)}</p>` : ''}${retryingText}`
  return section('jobs', ['Failed background jobs', '失败的后台任务'], link, body)
}

const SECTIONS: [keyof typeof SECTION_PERMISSIONS, (x: Ctx) => Promise<Html>][] = [
  ['sales', salesSection],
  ['reconciliation', reconciliationSection],
  ['stock-sync', stockSyncSection],
  ['vouchers', vouchersSection],
  ['campaigns', campaignsSection],
  ['devices', devicesSection],
  ['jobs', jobsSection],
]

async function homePage(c: C): Promise<Response> {
  const db = c.var.hub.database.db
  const m = await getMerchant(db, c.var.principal.merchantId)
  const now = c.var.hub.clock()
  const today = businessDate(now, m.timeZone)
  const shown = SECTIONS.filter(([id]) => SECTION_PERMISSIONS[id]!.some((p) => can(c, p)))
  const connections = shown.some(([id]) => id === 'reconciliation' || id === 'stock-sync' || id === 'jobs') ? await listConnections(db, m.id) : []
  const ctx: Ctx = { c, m, today, now, connections }
  const sections = await Promise.all(shown.map(([, render]) => render(ctx)))
  const body = html`<style>${raw(CSS)}</style>
<h1>${label('Overview', '概览')} <span class="small muted">${m.name}</span></h1>
<p class="muted small" data-testid="today">${label('Today', '今日')} ${today} · ${m.timeZone} · ${m.currency}</p>
${sections.length === 0 ? html`<p class="muted" data-testid="nothing">${label('Nothing here is open to your role.', '您的角色没有可查看的内容。')}</p>` : sections}`
  return c.html(page({ title: say('Home', '首页'), user: pageUser(c), body }), 200, PAGE_HEADERS)
}

export function registerHome(app: Hono<DashboardEnv>) {
  app.get('/', requireSession(), requireCsrf(), (c) => homePage(c))
}
