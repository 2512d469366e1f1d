// Liveness and readiness: 200 when the database answers and a worker is alive, 503 otherwise.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { sql } from 'drizzle-orm'
import { anyWorkerAlive } from '../../jobs/worker.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json } from '../route.ts'

const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    database: z.object({ status: z.enum(['up', 'down']), latencyMs: z.number().optional(), error: z.string().optional() }),
    worker: z.object({ status: z.enum(['up', 'down']), mode: z.enum(['in-process', 'external']) }),
  })
  .openapi('Health')

const health = defineRoute({
  method: 'get',
  path: '/health',
  tags: ['Operations'],
  summary: 'Database and worker status',
  access: 'public',
  responses: { 200: json(HealthSchema, 'Both up'), 503: json(HealthSchema, 'Something is down') },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(health, async (c) => {
    const hub = c.var.hub
    const started = performance.now()
    let database: z.infer<typeof HealthSchema>['database']
    let workerUp = false
    const inProcess = c.var.options.worker
    try {
      await hub.database.db.execute(sql`select 1`)
      database = { status: 'up', latencyMs: Math.round((performance.now() - started) * 10) / 10 }
      workerUp = inProcess ? inProcess.isRunning() : await anyWorkerAlive(hub)
    } catch (e) {
      database = { status: 'down', error: (e as Error).message.slice(0, 200) }
    }
    const body = {
      status: database.status === 'up' && workerUp ? ('ok' as const) : ('degraded' as const),
      database,
      worker: { status: workerUp ? ('up' as const) : ('down' as const), mode: inProcess ? ('in-process' as const) : ('external' as const) },
    }
    return body.status === 'ok' ? c.json(body, 200) : c.json(body, 503)
  })
}
