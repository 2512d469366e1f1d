// The finance dashboard under /dashboard: server-rendered pages with a cookie session, mounted beside the JSON API
// but outside its OpenAPI document. Errors become pages, not JSON.
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from '../env.ts'
import { toErrorResponse } from '../errors.ts'
import { errorPage, PAGE_HEADERS } from './layout.ts'
import { registerCampaigns } from './campaigns.ts'
import { registerDevices } from './devices.ts'
import { registerReconciliation } from './reconciliation.ts'
import { registerStockSync } from './stock-sync.ts'
import { registerVouchers } from './vouchers.ts'
import { HOME, pageUser, registerSession, type DashboardEnv } from './session.ts'

/** Forms here are a few fields; nothing larger is read. */
const FORM_LIMIT = 64 * 1024

export function createDashboard(): Hono<DashboardEnv> {
  const app = new Hono<DashboardEnv>()
  app.use('*', bodyLimit({ maxSize: FORM_LIMIT, onError: (c) => c.html(errorPage(413, 'The form is too large.'), 413, PAGE_HEADERS) }))
  app.get('/', (c) => c.redirect(HOME, 303))
  registerSession(app)
  registerReconciliation(app)
  registerStockSync(app)
  registerVouchers(app)
  registerCampaigns(app)
  registerDevices(app)
  app.all('*', (c) => c.html(errorPage(404, `There is no page ${c.req.path}.`), 404, PAGE_HEADERS))
  app.onError((err, c) => {
    if (err instanceof HTTPException && err.res) return err.getResponse()
    const mapped = toErrorResponse(err)
    const user = c.var.csrf ? pageUser(c) : undefined
    if (mapped && mapped.status < 500) return c.html(errorPage(mapped.status, mapped.body.error.message, user), mapped.status, { ...PAGE_HEADERS, ...mapped.headers })
    ;(c.var.log ?? c.var.hub.logger).error({ err }, 'dashboard page failed')
    return c.html(errorPage(500, `The page could not be shown (request ${c.var.requestId ?? 'unknown'}).`, user), 500, PAGE_HEADERS)
  })
  return app
}

export function register(app: OpenAPIHono<AppEnv>) {
  app.route('/dashboard', createDashboard() as unknown as Hono<AppEnv>)
}
