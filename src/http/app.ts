// The HTTP application: request context, every route module, the OpenAPI document and reference page, and the
// one error handler. Built as a value so tests drive it in-process through app.request().
import { OpenAPIHono, type Hook } from '@hono/zod-openapi'
import type { Hub } from '../runtime.ts'
import type { AppEnv, AppOptions } from './env.ts'
import { errorBody, internalError, localized, safeMessage, toErrorResponse } from './errors.ts'
import { renderDocsPage } from './docs-page.ts'
import { requestContext } from './middleware/request-context.ts'
import * as apiKeys from './routes/api-keys.ts'
import * as audit from './routes/audit.ts'
import * as auth from './routes/auth.ts'
import * as health from './routes/health.ts'
import * as metrics from './routes/metrics.ts'
import * as me from './routes/me.ts'
import * as merchant from './routes/merchant.ts'
import * as users from './routes/users.ts'
import * as stores from './routes/stores.ts'
import * as events from './routes/events.ts'
import * as catalog from './routes/catalog.ts'
import * as imports from './routes/imports.ts'
import * as stock from './routes/stock.ts'
import * as sales from './routes/sales.ts'
import * as promotions from './routes/promotions.ts'
import * as cashSessions from './routes/cash-sessions.ts'
import * as roles from './routes/roles.ts'
import * as approvals from './routes/approvals.ts'
import * as timeclock from './routes/timeclock.ts'
import * as registers from './routes/registers.ts'
import * as reports from './routes/reports.ts'
import * as members from './routes/members.ts'
import * as loyalty from './routes/loyalty.ts'
import * as memberReports from './routes/member-reports.ts'
import * as webhooksInbound from './routes/webhooks-inbound.ts'
import * as inboundWebhooks from './routes/inbound-webhooks.ts'
import * as stockSync from './routes/stock-sync.ts'
import * as vouchersRoutes from './routes/vouchers.ts'
import * as campaignsRoutes from './routes/campaigns.ts'
import * as devicesRoutes from './routes/devices.ts'
import * as terminalPayments from './routes/terminal-payments.ts'
import * as webhookSubscriptions from './routes/webhook-subscriptions.ts'
import * as jobs from './routes/jobs.ts'
import * as connectorCalls from './routes/connector-calls.ts'
import * as connectionsRoutes from './routes/connections.ts'
import * as reconciliation from './routes/reconciliation.ts'
import * as dashboard from './dashboard/index.ts'

const routeModules: { register(app: OpenAPIHono<AppEnv>): void }[] = [health, metrics, auth, me, merchant, users, apiKeys, audit, events, stores, catalog, imports, stock, promotions, cashSessions, sales, roles, approvals, timeclock, registers, members, loyalty, reports, memberReports, webhooksInbound, inboundWebhooks, webhookSubscriptions, jobs, connectorCalls, connectionsRoutes, reconciliation, stockSync, vouchersRoutes, campaignsRoutes, devicesRoutes, terminalPayments, dashboard]

type Issue = { path: PropertyKey[]; message: string; code?: string }

const describeIssue = (target: string, i: Issue) => `${[target, ...i.path.map(String)].join('.')}: ${i.message}`

const validationHook: Hook<any, AppEnv, any, any> = async (result, c) => {
  if (result.success) return
  const issues = (result.error.issues as Issue[]).map((i) => ({ path: [result.target, ...i.path.map(String)].join('.'), message: i.message, code: i.code }))
  const first = result.error.issues[0] as Issue | undefined
  const message = first ? `invalid request: ${describeIssue(result.target, first)}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}` : 'invalid request'
  return c.json(await localized(c, errorBody('validation_failed', message, { issues }), 400), 400)
}

export const API_INFO = {
  title: 'Tillbridge',
  version: '0.1.0',
  description: 'Integration hub for physical retail: POS core, settlement reconciliation, stock sync, accounting vouchers, campaigns and devices.',
}

export function createApp(hub: Hub, options: AppOptions = {}) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  app.use('*', requestContext(hub, options))
  for (const m of options.routes === 'operations' ? [health, metrics] : routeModules) m.register(app)

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'A session token (POST /api/v1/auth/login) or an API key',
  })
  let doc: ReturnType<typeof app.getOpenAPI31Document> | undefined
  const document = () => (doc ??= app.getOpenAPI31Document({ openapi: '3.1.0', info: API_INFO }))
  app.get('/openapi.json', (c) => c.json(document()))
  app.get('/docs', (c) => c.html(renderDocsPage(document())))

  app.notFound(async (c) => {
    const params = { method: c.req.method, path: c.req.path }
    return c.json(await localized(c, errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404, params), 404)
  })
  app.onError(async (err, c) => {
    const mapped = toErrorResponse(err)
    if (mapped) {
      if (mapped.status >= 500) c.var.log?.error({ err }, safeMessage(err))
      return c.json(await localized(c, mapped.body, mapped.status, mapped.params), mapped.status, mapped.headers)
    }
    const requestId = c.var.requestId ?? 'unknown'
    ;(c.var.log ?? hub.logger).error({ err }, 'unhandled error')
    const e = internalError(requestId)
    return c.json(await localized(c, e.body, e.status, { requestId }), e.status)
  })
  return app
}

export type App = ReturnType<typeof createApp>
