// The finance dashboard under /dashboard: server-rendered pages with a cookie session, mounted beside the JSON API
// but outside its OpenAPI document. Errors become pages, not JSON.
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from '../env.ts'
import { localizeBody, toErrorResponse } from '../errors.ts'
import { currentLocale, withLocale } from '../../lib/i18n/context.ts'
import { errorPage, PAGE_HEADERS, say } from './layout.ts'
import { registerCampaigns } from './campaigns.ts'
import { registerDevices } from './devices.ts'
import { registerHome } from './home.ts'
import { registerJobs } from './jobs.ts'
import { registerReconciliation } from './reconciliation.ts'
import { registerStockSync } from './stock-sync.ts'
import { registerVouchers } from './vouchers.ts'
import { browserLocale, pageUser, registerSession, type DashboardEnv } from './session.ts'

/** Forms here are a few fields; nothing larger is read. */
const FORM_LIMIT = 64 * 1024

export function createDashboard(): Hono<DashboardEnv> {
  const app = new Hono<DashboardEnv>()
  app.use('*', browserLocale())
  app.use('*', bodyLimit({ maxSize: FORM_LIMIT, onError: (c) => c.html(errorPage(413, say('The form is too large.', '表单内容过大。')), 413, PAGE_HEADERS) }))
  registerSession(app)
  registerHome(app)
  registerReconciliation(app)
  registerStockSync(app)
  registerVouchers(app)
  registerCampaigns(app)
  registerDevices(app)
  registerJobs(app)
  app.all('*', (c) => c.html(errorPage(404, say(`There is no page ${c.req.path}.`, `没有页面 ${c.req.path}。`)), 404, PAGE_HEADERS))
  app.onError((err, c) =>
    withLocale(c.var.locale ?? currentLocale(), () => {
      if (err instanceof HTTPException && err.res) return err.getResponse()
      const mapped = toErrorResponse(err)
      const user = c.var.csrf ? pageUser(c) : undefined
      // The database gone in the middle of the page: a 503 to try again in a moment, as the API answers.
      if (mapped?.status === 503) (c.var.log ?? c.var.hub.logger).warn({ err }, 'dashboard page: the database was lost')
      if (mapped && (mapped.status < 500 || mapped.status === 503)) {
        const message = localizeBody(mapped.body, mapped.status, currentLocale(), mapped.params, 'keep').error.message
        return c.html(errorPage(mapped.status, message, user), mapped.status, { ...PAGE_HEADERS, ...mapped.headers })
      }
      ;(c.var.log ?? c.var.hub.logger).error({ err }, 'dashboard page failed')
      const requestId = c.var.requestId ?? 'unknown'
      return c.html(errorPage(500, say(`The page could not be shown (request ${requestId}).`, `页面无法显示（请求编号 ${requestId}）。`), user), 500, PAGE_HEADERS)
    }),
  )
  return app
}

export function register(app: OpenAPIHono<AppEnv>) {
  app.route('/dashboard', createDashboard() as unknown as Hono<AppEnv>)
}
