// Gives each request an id (from X-Request-Id when the caller sent a sane one), a logger that carries it, and the
// hub's database; logs one line per request with its status and duration.
import { randomUUID } from 'node:crypto'
import type { Context, MiddlewareHandler } from 'hono'
import type { Hub } from '../../runtime.ts'
import type { AppEnv, AppOptions } from '../env.ts'
import { errorBody } from '../errors.ts'

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
    const ms = Math.round((performance.now() - started) * 10) / 10
    const principal = c.get('principal')
    const line = { method: c.req.method, path: c.req.path, status: c.res.status, ms, merchantId: principal?.merchantId, principal: principal?.id }
    if (c.res.status >= 500) log.error(line, 'request failed')
    else log.info(line, 'request')
  }
}

export const payloadTooLarge = (limit: number) => (c: Context) =>
  c.json(errorBody('payload_too_large', `the request body is larger than ${limit} bytes`, { limit }), 413)
