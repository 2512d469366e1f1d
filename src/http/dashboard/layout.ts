// The dashboard's page shell and the few pieces every page shares: labels in the reader's language (English,
// Simplified, or Traditional derived from the Simplified text), money from integer minor units, status chips.
// Server-rendered HTML only: no scripts, no CDN.
import { html, raw } from 'hono/html'
import type { HtmlEscapedString } from 'hono/utils/html'
import { currentLocale, pick } from '../../lib/i18n/context.ts'
import type { Locale } from '../../lib/i18n/locale.ts'
import { formatMoney } from '../../lib/money.ts'
import type { DomainError } from '../../lib/errors.ts'
import { localizeBody, toErrorResponse } from '../errors.ts'

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>

/** Headers for every dashboard page: nothing cached, nothing framed, no script runs, forms post only here. */
export const PAGE_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
}

const CSS = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;color:#1c2430;background:#f5f6f8}
header.top{display:flex;gap:16px;align-items:center;padding:10px 20px;background:#1f2d3d;color:#fff}
header.top a{color:#fff;text-decoration:none}header.top .who{margin-left:auto;display:flex;gap:10px;align-items:center}
main{padding:16px 20px;max-width:1500px}h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:20px 0 8px}
.zh{color:#5b6675;font-size:.92em}
table{border-collapse:collapse;background:#fff}th,td{border:1px solid #dde1e6;padding:6px 8px;vertical-align:top;text-align:left}
th{background:#eef1f5;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
a.cell{display:block;color:inherit;text-decoration:none;min-width:170px}a.cell:hover{background:#f0f6ff}
.chip{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.chip-balanced{background:#dff5e3;color:#17692a}.chip-exceptions{background:#fde2e1;color:#a4231b}
.chip-not_ready{background:#fff1cc;color:#7a5600}.chip-fetch_failed{background:#f3d6f0;color:#7b1f72}.chip-not_run{background:#e6e8eb;color:#4a5361}
.state-open{color:#a4231b;font-weight:600}.state-resolved{color:#17692a;font-weight:600}
.muted{color:#6b7684}.small{font-size:12px}.neg{color:#a4231b}
.alert{padding:8px 12px;border-radius:6px;margin:8px 0}.alert-error{background:#fde2e1;color:#7d1a14}.alert-ok{background:#dff5e3;color:#17692a}.alert-info{background:#fff4d6;color:#6b4e00}
form.inline{display:inline}button,input,select{font:inherit}button{cursor:pointer;padding:3px 10px;border:1px solid #9aa5b1;border-radius:4px;background:#fff}
button.primary{background:#1f6feb;color:#fff;border-color:#1f6feb}
details.resolve{margin-top:4px}details.resolve summary{cursor:pointer;color:#1f6feb}
.resolve-form{display:grid;grid-template-columns:auto 1fr;gap:4px 8px;align-items:center;padding:8px;background:#f7f9fb;border:1px solid #dde1e6;margin-top:4px;min-width:360px}
.resolve-form .actions{grid-column:1/3;display:flex;flex-wrap:wrap;gap:4px}
.login{max-width:360px;margin:60px auto;background:#fff;padding:24px;border:1px solid #dde1e6;border-radius:8px}
.login label{display:block;margin:10px 0 4px}.login input{width:100%;padding:6px}
nav.range{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin-bottom:12px}
`

/**
 * A label in the language of the request (set per request by the dashboard's session middleware): `en` for English,
 * `zh` for Simplified Chinese, `zh` turned Traditional for zh-TW.
 */
export const label = (en: string, zh: string) => html`${pick(en, zh)}`

/** The same choice as plain text, for messages built as strings. */
export const say = (en: string, zh: string): string => pick(en, zh)

/** The languages a person can choose, each named in itself. */
/**
 * A refusal shown on a page: its status and its message in the reader's language, as the API gives it (a code the
 * catalog lacks gets the sentence for its kind before the English); a message a page wrote in the reader's language
 * already (said) is kept.
 */
export function refusal(e: DomainError): { kind: 'error'; message: string; status: number } {
  const mapped = toErrorResponse(e)!
  const said = /[\u3400-\u9fff]/.test(mapped.body.error.message)
  return { kind: 'error', message: localizeBody(mapped.body, mapped.status, currentLocale(), mapped.params, said ? 'keep' : 'explain').error.message, status: mapped.status }
}

export const LANGUAGE_NAMES: Record<Locale, string> = { 'zh-CN': '简体中文', 'zh-TW': '繁體中文', en: 'English' }

export interface PageOptions {
  title: string
  /** The signed-in user, with the CSRF token of their session for the sign-out form. */
  user?: { email: string; role: string; csrf: string; next?: string; locale?: Locale | null }
  body: Html
}

export function page(o: PageOptions): Html {
  return html`<!doctype html>
<html lang="${currentLocale()}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · Tillbridge</title>
<style>${raw(CSS)}</style>
</head>
<body>
<header class="top">
<a href="/dashboard"><strong>Tillbridge</strong></a>
${o.user ? html`<a href="/dashboard">${label('Home', '首页')}</a>` : ''}
${o.user ? html`<a href="/dashboard/reconciliation">${label('Reconciliation', '对账')}</a>` : ''}
${o.user ? html`<a href="/dashboard/stock-sync">${label('Stock sync', '库存同步')}</a>` : ''}
${o.user ? html`<a href="/dashboard/vouchers">${label('Vouchers', '凭证')}</a>` : ''}
${o.user ? html`<a href="/dashboard/campaigns">${label('Campaigns', '营销活动')}</a>` : ''}
${o.user ? html`<a href="/dashboard/devices">${label('Devices', '设备')}</a>` : ''}
${o.user ? html`<a href="/dashboard/jobs">${label('Jobs', '任务')}</a>` : ''}
${o.user
  ? html`<span class="who"><span>${o.user.email} (${o.user.role})</span>
${languageForm(o.user)}
<form class="inline" method="post" action="/dashboard/logout"><input type="hidden" name="_csrf" value="${o.user.csrf}"><button type="submit">${label('Sign out', '退出')}</button></form></span>`
  : ''}
</header>
<main>
${o.body}
</main>
</body>
</html>`
}

/**
 * The header's language switcher: the user's own language, or (empty) their merchant's. Its fields join the form by
 * its id (form="…"), so the sign-out form stays the one form element holding a CSRF field, where scripts and tests
 * look for the session's token.
 */
function languageForm(user: NonNullable<PageOptions['user']>): Html {
  const own = user.locale ?? ''
  const option = (value: string, name: string) => html`<option value="${value}"${own === value ? ' selected' : ''}>${name}</option>`
  return html`<span class="lang" data-testid="language"><form id="language-form" class="inline" method="post" action="/dashboard/locale"></form><input type="hidden" form="language-form" name="_csrf" value="${user.csrf}"><input type="hidden" form="language-form" name="next" value="${user.next ?? ''}">
<select form="language-form" name="locale" aria-label="${say('Language', '语言')}">${option('', say('Merchant default', '商户默认'))}${(Object.keys(LANGUAGE_NAMES) as Locale[]).map((l) => option(l, LANGUAGE_NAMES[l]))}</select>
<button form="language-form" type="submit">${label('Change', '切换')}</button></span>`
}

/**
 * Integer minor units for people in the merchant's currency ("¥1,234.56", "HK$1,234.56", "US$12.00", "UAH 12.00",
 * "JP¥1,235"); exact, never through a float. Written the same for every reader (zh-CN conventions: CNY is plain ¥,
 * other dollars and yen say whose), so amounts read alike whatever language the page is in.
 */
export const money = (minor: number | null | undefined, currency: string) => (minor === null || minor === undefined ? '' : formatMoney(minor, currency, 'zh-CN'))

export type ChipStatus = 'balanced' | 'exceptions' | 'not_ready' | 'fetch_failed' | 'not_run'

export const CHIP_LABELS: Record<ChipStatus, [string, string]> = {
  balanced: ['balanced', '已平'],
  exceptions: ['exceptions', '有差异'],
  not_ready: ['bill not ready', '账单未出'],
  fetch_failed: ['fetch failed', '获取失败'],
  not_run: ['not run', '未对账'],
}

export const chip = (status: ChipStatus, extra?: string) =>
  html`<span class="chip chip-${status}" data-status="${status}">${label(...CHIP_LABELS[status])}${extra ? ` · ${extra}` : ''}</span>`

export const OUTCOME_LABELS: Record<string, [string, string]> = {
  matched: ['matched', '已匹配'],
  missing_in_channel: ['missing in channel', '渠道缺失'],
  missing_in_pos: ['missing in POS', '收银缺失'],
  amount_diff: ['amount difference', '金额差异'],
  fee_diff: ['fee difference', '手续费差异'],
  status_diff: ['status difference', '状态差异'],
  duplicate: ['duplicate', '重复'],
  timing: ['timing (carried over)', '跨日待核'],
  currency_diff: ['currency difference', '币种差异'],
  unknown_merchant_ref: ['unknown merchant reference', '未知商户单号'],
}

export const STATE_LABELS: Record<string, [string, string]> = {
  open: ['open', '未处理'],
  resolved: ['resolved', '已处理'],
  auto: ['matched automatically', '自动匹配'],
}

export const RESOLUTION_LABELS: Record<string, [string, string]> = {
  matched_by_hand: ['matched by hand', '手工匹配'],
  merged: ['merged into a hand match', '已并入手工匹配'],
  accept_channel: ['channel accepted', '以渠道为准'],
  accept_pos: ['POS accepted', '以收银为准'],
  write_off: ['written off', '核销入账'],
  expect_next_day: ['expected next day', '次日再核'],
  ignored: ['ignored', '已忽略'],
}

export const labelOf = (labels: Record<string, [string, string]>, key: string | null) => {
  if (!key) return ''
  const l = labels[key]
  return l ? label(l[0], l[1]) : key
}

export function errorPage(status: number, message: string, user?: PageOptions['user']): Html {
  const [en, zh] = status === 403 ? ['Not allowed', '无权限'] : status === 404 ? ['Not found', '未找到'] : status >= 500 ? ['Something went wrong', '出错了'] : ['Cannot do that', '无法执行']
  return page({
    title: say(en, zh),
    user,
    body: html`<h1>${label(en, zh)}</h1><p class="alert alert-error" data-testid="error">${message}</p><p><a href="/dashboard">${label('Back to the dashboard', '返回首页')}</a></p>`,
  })
}
