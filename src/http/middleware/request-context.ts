// Gives each request an id (from X-Request-Id when the caller sent a sane one), a logger that carries it, and the
// hub's database; logs one line per request with its status and duration, and counts it for /metrics under the
// route pattern it matched.
import { randomUUID } from 'node:crypto'
import type { Context, MiddlewareHandler } from 'hono'
import { matchedRoutes } from 'hono/route'
import { metricsFor, observeHttpRequest } from '../../lib/metrics.ts'
import type { Hub } from '../../runtime.ts'
import type { AppEnv, AppOptions } from '../env.ts'
import { errorBody, localized } from '../errors.ts'

const SANE_ID = /^[A-Za-z0-9._:-]{8,128}$/

export function requestContext(hub: Hub, options: AppOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header('x-request-id')
    const requestId = incoming && SANE_ID.test(incoming) ? incoming : randomUUID()
    const log = hub.logger.child({ requestId })
    c.set('hub', hub)
    c.set('options', options)
    c.set('requestId', requestId)
    c.set('log', log)
    c.set('db', hub.database.db)
    const started = performance.now()
    await next()
    c.res.headers.set('X-Request-Id', requestId)
    const elapsed = performance.now() - started
    const ms = Math.round(elapsed * 10) / 10
    observeHttpRequest(metricsFor(hub.database), { method: c.req.method, route: routePattern(c), status: c.res.status, seconds: elapsed / 1000 })
    const principal = c.get('principal')
    const line = { method: c.req.method, path: c.req.path, status: c.res.status, ms, merchantId: principal?.merchantId, principal: principal?.id }
    if (c.res.status >= 500) log.error(line, 'request failed')
    else log.info(line, 'request')
  }
}

/**
 * The pattern of the route the request matched ('/api/v1/sales/:id'), never the raw path, so a metric has one series
 * per route: the last matched route that names a method (app.use middleware is 'ALL'), else the last one matched,
 * else 'unmatched'.
 */
function routePattern(c: Context<AppEnv>): string {
  const routes = matchedRoutes(c)
  const route = routes.findLast((r) => r.method !== 'ALL') ?? routes.findLast((r) => r.path !== '*' && r.path !== '/*')
  return route?.path ?? 'unmatched'
}

export const payloadTooLarge = (limit: number) => async (c: Context<AppEnv>) =>
  c.json(await localized(c, errorBody('payload_too_large', `the request body is larger than ${limit} bytes`, { limit }), 413), 413)
