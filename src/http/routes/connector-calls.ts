// The call log of a connection: every attempt of every vendor call, redacted when it was written, newest first.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { listCalls, type CallRow } from '../../connectors/framework/call-log.ts'
import { getConnectionRow } from '../../connectors/framework/connections.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, page } from '../route.ts'

const OUTCOMES = ['ok', 'retryable', 'rate_limited', 'auth_failed', 'permanent', 'circuit_open'] as const

export const ConnectorCallSchema = z
  .object({
    id: z.string().openapi({ description: 'Increasing with time; also the cursor of the next page' }),
    operation: z.string().nullable(),
    method: z.string(),
    url: z.string().openapi({ description: 'Secret query values masked as [REDACTED]' }),
    attempt: z.number().int().openapi({ description: '1 for the first try of a call, 2 for its first retry, …' }),
    statusCode: z.number().int().nullable(),
    outcome: z.enum(OUTCOMES),
    durationMs: z.number().int(),
    requestExcerpt: z.string().nullable().openapi({ description: 'Headers and body sent (at most 2 KB, credentials removed)' }),
    responseExcerpt: z.string().nullable().openapi({ description: 'Headers and body received (at most 2 KB, secrets masked)' }),
    error: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('ConnectorCall')

const view = (r: CallRow): z.infer<typeof ConnectorCallSchema> => ({
  id: String(r.id),
  operation: r.operation,
  method: r.method,
  url: r.url,
  attempt: r.attempt,
  statusCode: r.statusCode,
  outcome: r.outcome as (typeof OUTCOMES)[number],
  durationMs: r.durationMs,
  requestExcerpt: r.requestExcerpt,
  responseExcerpt: r.responseExcerpt,
  error: r.error,
  createdAt: r.createdAt.toISOString(),
})

const list = defineRoute({
  method: 'get',
  path: '/api/v1/connections/{id}/calls',
  tags: ['Connections'],
  summary: "A connection's call log, newest first",
  description: `One row per attempt sent to the vendor (and per call refused before sending: circuit open, rate limit). Kept for 30 days.`,
  access: 'connections.read',
  request: {
    params: IdParam,
    query: z.object({
      limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: 'Items per page (1–200)' }),
      cursor: z
        .string()
        .regex(/^[1-9]\d{0,15}$/, 'must be the nextCursor of a previous page')
        .optional()
        .openapi({ description: 'The `nextCursor` of the previous page' }),
      outcome: z.enum(OUTCOMES).optional(),
    }),
  },
  responses: { 200: json(page(ConnectorCallSchema)) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const { id } = c.req.valid('param')
    const q = c.req.valid('query')
    const merchantId = c.var.principal.merchantId
    await getConnectionRow(c.var.db, merchantId, id)
    const r = await listCalls(c.var.db, { merchantId, connectionId: id, outcome: q.outcome, limit: q.limit, cursor: q.cursor })
    return c.json({ items: r.items.map(view), nextCursor: r.nextCursor }, 200)
  })
}
