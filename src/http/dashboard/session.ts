// Staff sign-in for the dashboard: the session token of the ordinary password login, kept in an HttpOnly SameSite=Lax
// cookie, and a CSRF token per session (a MAC of the session id) that every form carries and every POST must return.
// The sign-in form itself is protected by a double-submit token, so no one can sign a browser into another account.
// Each request is rendered in one language: the user's own, else their merchant's, else (signed out) the browser's.
import type { Context, Hono, MiddlewareHandler } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { html } from 'hono/html'
import { randomBytes } from 'node:crypto'
import { authenticate, DEFAULT_LOGIN_POLICY, login, logout, SESSION_PREFIX, type Principal } from '../../core/staff/auth.ts'
import { clientAddress } from '../client-address.ts'
import { actorCan } from '../../core/staff/actor.ts'
import { callerLocale, setUserLocale } from '../../core/staff/locale.ts'
import type { Permission } from '../../core/staff/permissions.ts'
import { badRequest, forbidden, isDomainError } from '../../lib/errors.ts'
import { withLocale } from '../../lib/i18n/context.ts'
import { fromAcceptLanguage, isLocale, type Locale } from '../../lib/i18n/locale.ts'
import { safeEqual } from '../../lib/secrets.ts'
import type { AppEnv } from '../env.ts'
import { toErrorResponse } from '../errors.ts'
import { label, page, PAGE_HEADERS, say, type PageOptions } from './layout.ts'
import { formText, readForm } from '../form.ts'

export const SESSION_COOKIE = 'tb_dashboard'
const LOGIN_COOKIE = 'tb_dashboard_login'
const CSRF_PURPOSE = 'dashboard-csrf'
export const HOME = '/dashboard'

export type DashboardEnv = AppEnv & {
  Variables: AppEnv['Variables'] & {
    csrf: string
    /** The language this request is rendered in. */
    locale: Locale
    /** The signed-in user's own language; null while they follow their merchant's. */
    userLocale: Locale | null
  }
}

/** Cookies are Secure when the hub is reached over https: its PUBLIC_URL says so (a proxy in front may speak plain http
 * to it), or the request came so. */
const isHttps = (c: Context<DashboardEnv>) =>
  c.var.hub.config.publicUrl.startsWith('https:') || new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https'

/** The CSRF token of a session: derived, so nothing is stored, and useless without the hub's key. */
export const csrfToken = (c: Context<DashboardEnv>, sessionId: string) => c.var.hub.secrets.mac(CSRF_PURPOSE, sessionId)

/** Where the language form comes back to: this page for a GET, else the page the form was posted from. */
function backPath(c: Context<DashboardEnv>): string {
  const url = new URL(c.req.url)
  if (c.req.method === 'GET') return url.pathname + url.search
  const referer = c.req.header('referer')
  if (!referer) return HOME
  try {
    const r = new URL(referer)
    return r.origin === url.origin ? r.pathname + r.search : HOME
  } catch {
    return HOME
  }
}

/** Who the page is shown to, for the header's language and sign-out forms. */
export const pageUser = (c: Context<DashboardEnv>): PageOptions['user'] => {
  const p = c.var.principal
  return p ? { email: p.name, role: p.role, csrf: c.var.csrf, next: safeNext(backPath(c)), locale: c.var.userLocale ?? null } : undefined
}

/**
 * The language of a signed-out page (the sign-in form, errors before sign-in): what the browser asks for in
 * Accept-Language, else English (as the API answers a caller it does not know). requireSession replaces it by the
 * signed-in user's.
 */
export function browserLocale(): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    const locale = fromAcceptLanguage(c.req.header('accept-language')) ?? 'en'
    c.set('locale', locale)
    return withLocale(locale, next)
  }
}

/** Only paths of the dashboard itself are followed after sign-in (never another site). */
export function safeNext(next: string | undefined | null): string {
  if (!next || !next.startsWith('/dashboard') || next.startsWith('//') || /[\\\s]/.test(next)) return HOME
  return next
}

/** A browser sends the session cookie; a page without one goes to the sign-in form and comes back after. */
export function requireSession(): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    const token = getCookie(c, SESSION_COOKIE)
    const principal = token && token.startsWith(SESSION_PREFIX) && token.length < 200 ? await authenticate(c.var.hub.database.db, token, c.var.hub.clock()) : undefined
    if (!principal || principal.type !== 'user' || !principal.sessionId) {
      if (token) deleteCookie(c, SESSION_COOKIE, { path: '/dashboard' })
      const back = c.req.method === 'GET' ? new URL(c.req.url).pathname + new URL(c.req.url).search : HOME
      return c.redirect(`/dashboard/login?next=${encodeURIComponent(safeNext(back))}`, 303)
    }
    principal.requestId = c.var.requestId
    c.set('principal', principal)
    c.set('csrf', csrfToken(c, principal.sessionId))
    const locale = await callerLocale(c.var.hub.database.db, { merchantId: principal.merchantId, userId: principal.id })
    c.set('locale', locale.effective)
    c.set('userLocale', locale.user)
    return withLocale(locale.effective, next)
  }
}

/** Every POST of a signed-in page must carry its session's CSRF token in the `_csrf` field. */
export function requireCsrf(): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next()
    const form = await readForm(c)
    const given = typeof form._csrf === 'string' ? form._csrf : ''
    const principal = c.var.principal
    const ok = given !== '' && principal.sessionId !== undefined && c.var.hub.secrets.macs(CSRF_PURPOSE, principal.sessionId).some((m) => safeEqual(m, given))
    if (!ok) throw forbidden('csrf_failed', 'The form has expired or did not come from this dashboard; reload the page and try again')
    return next()
  }
}

/** Whether the signed-in user may do something, by the merchant's role matrix (as the API's guard decides). */
export const can = (c: Context<DashboardEnv>, permission: Permission) => actorCan(c.var.principal, permission).ok

/** The same permission check as the API: one of `permissions` (reading needs finance.export or reports.read). */
export function requirePermission(c: Context<DashboardEnv>, ...permissions: Permission[]): Principal {
  const principal = c.var.principal
  if (!permissions.some((p) => can(c, p))) {
    throw forbidden('permission_denied', `Role ${principal.role} lacks permission ${permissions.join(' or ')}`, { permission: permissions.join('|'), role: principal.role })
  }
  return principal
}

function loginPage(c: Context<DashboardEnv>, opts: { token: string; next: string; email?: string; error?: string }) {
  return page({
    title: say('Sign in', '登录'),
    body: html`<form class="login" method="post" action="/dashboard/login">
<h1>${label('Sign in', '登录')}</h1>
${opts.error ? html`<p class="alert alert-error" data-testid="login-error">${opts.error}</p>` : ''}
<input type="hidden" name="_login" value="${opts.token}">
<input type="hidden" name="next" value="${opts.next}">
<label for="email">${label('Email', '邮箱')}</label>
<input id="email" name="email" type="email" autocomplete="username" required value="${opts.email ?? ''}">
<label for="password">${label('Password', '密码')}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<p><button class="primary" type="submit">${label('Sign in', '登录')}</button></p>
</form>`,
  })
}

/** The sign-in token of this browser (double-submit: an HttpOnly cookie and the same value in the form). */
function loginToken(c: Context<DashboardEnv>): string {
  const existing = getCookie(c, LOGIN_COOKIE)
  if (existing && /^[A-Za-z0-9_-]{32,64}$/.test(existing)) return existing
  const token = randomBytes(24).toString('base64url')
  setCookie(c, LOGIN_COOKIE, token, { path: '/dashboard/login', httpOnly: true, sameSite: 'Lax', secure: isHttps(c), maxAge: 3600 })
  return token
}

export function registerSession(app: Hono<DashboardEnv>) {
  app.get('/login', async (c) => {
    const body = loginPage(c, { token: loginToken(c), next: safeNext(c.req.query('next')) })
    return c.html(body, 200, PAGE_HEADERS)
  })

  app.post('/login', async (c) => {
    const form = await readForm(c)
    const text = (k: string) => formText(form, k)
    const next = safeNext(text('next'))
    const email = text('email').trim().slice(0, 320)
    const password = text('password').slice(0, 1024)
    const cookie = getCookie(c, LOGIN_COOKIE)
    if (!cookie || !safeEqual(cookie, text('_login'))) {
      return c.html(loginPage(c, { token: loginToken(c), next, email, error: say('The sign-in form expired; please sign in again.', '登录表单已过期，请重新登录。') }), 403, PAGE_HEADERS)
    }
    if (!email || !password) return c.html(loginPage(c, { token: cookie, next, email, error: say('Enter your email and password.', '请输入邮箱和密码。') }), 400, PAGE_HEADERS)
    try {
      const policy = c.var.options.loginPolicy ?? DEFAULT_LOGIN_POLICY
      const now = c.var.hub.clock()
      const r = await login(c.var.hub.database.db, { email, password }, policy, now, clientAddress(c))
      deleteCookie(c, LOGIN_COOKIE, { path: '/dashboard/login' })
      setCookie(c, SESSION_COOKIE, r.token, {
        path: '/dashboard',
        httpOnly: true,
        sameSite: 'Lax',
        secure: isHttps(c),
        maxAge: Math.max(1, Math.floor((r.expiresAt.getTime() - now.getTime()) / 1000)),
      })
      return c.redirect(next, 303)
    } catch (e) {
      if (!isDomainError(e) || (e.kind !== 'unauthorized' && e.kind !== 'rate_limited')) throw e
      const mapped = toErrorResponse(e)!
      const wait = Math.max(1, Math.ceil((e.retryAfter ?? 60) / 60))
      const message =
        e.code === 'login_throttled'
          ? say(`Too many failed sign-ins from this address; try again in ${wait} minute(s).`, `此地址登录失败次数过多，请 ${wait} 分钟后再试。`)
          : e.kind === 'rate_limited'
          ? say(`Too many failed sign-ins; try again in ${wait} minute(s).`, `登录失败次数过多，请 ${wait} 分钟后再试。`)
          : say('Email or password is wrong.', '邮箱或密码错误。')
      return c.html(loginPage(c, { token: cookie, next, email, error: message }), mapped.status as 401 | 429, { ...PAGE_HEADERS, ...mapped.headers })
    }
  })

  // The header's language switcher: the user's own language, or (empty) their merchant's again.
  app.post('/locale', requireSession(), requireCsrf(), async (c) => {
    const form = await readForm(c)
    const value = typeof form.locale === 'string' ? form.locale : ''
    if (value !== '' && !isLocale(value)) throw badRequest('invalid_locale', say('Choose one of the listed languages.', '请选择列出的语言之一。'))
    const principal = c.var.principal
    await c.var.hub.database.db.transaction((tx) => setUserLocale(tx, principal, principal.id, value === '' ? null : value))
    return c.redirect(safeNext(typeof form.next === 'string' ? form.next : HOME), 303)
  })

  app.post('/logout', requireSession(), requireCsrf(), async (c) => {
    await logout(c.var.hub.database.db, c.var.principal)
    deleteCookie(c, SESSION_COOKIE, { path: '/dashboard' })
    return c.redirect('/dashboard/login', 303)
  })
}
