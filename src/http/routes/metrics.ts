// GET /metrics: the hub's Prometheus metrics in the text exposition format. What this process counted (HTTP
// requests, job runs, vendor call attempts, process metrics) plus gauges read from the database at scrape time, in
// one short read-only transaction: queue depth and age, stock sync lag, webhook backlog, sales and device jobs.
// With METRICS_TOKEN set the scraper must send it as a bearer token; unset, the endpoint is open.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { unauthorized } from '../../lib/errors.ts'
import { ensureProcessMetrics, metricsFor, METRICS_CONTENT_TYPE, publishConnectorCalls, type HubMetrics } from '../../lib/metrics.ts'
import type { AppEnv } from '../env.ts'

/** Device job states that are open or wait for a person; done and dropped only grow and are left out. */
const DEVICE_JOB_STATES = ['queued', 'sent', 'failed', 'unknown'] as const

/** A scrape gives up on the database after this long and reports tillbridge_database_up 0. */
const SCRAPE_STATEMENT_TIMEOUT_MS = 5000

interface DatabaseReading {
  queue: { task: string; waiting: number; failed: number; oldest: number }[]
  lag: { connection: string; connector: string; lag: number }[]
  inbound: number
  outbound: number
  sales: number
  deviceJobs: Record<string, number>
  connectors: { id: string; connector: string }[]
}

async function readDatabase(tx: Tx, unknownConnections: string[]): Promise<DatabaseReading> {
  await tx.execute(sql.raw(`set local statement_timeout = ${SCRAPE_STATEMENT_TIMEOUT_MS}`))
  // One pass over the jobs, grouped by task; every task the queue has known shows, at 0 when it has no job.
  // graphile-worker treats a lock older than four hours as abandoned: such a job is runnable again.
  const queue = await tx.execute<{ task: string; waiting: number; failed: number; oldest: number }>(sql`
    select t.identifier as task, coalesce(q.waiting, 0)::int as waiting, coalesce(q.failed, 0)::int as failed, coalesce(q.oldest, 0)::float8 as oldest
    from graphile_worker._private_tasks t
    left join (
      select task_id,
             count(*) filter (where runnable) as waiting,
             count(*) filter (where attempts >= max_attempts and locked_at is null) as failed,
             extract(epoch from now() - min(run_at) filter (where runnable and run_at <= now())) as oldest
      from (select task_id, run_at, attempts, max_attempts, locked_at,
                   attempts < max_attempts and (locked_at is null or locked_at < now() - interval '4 hours') as runnable
            from graphile_worker._private_jobs) j
      group by task_id
    ) q on q.task_id = t.id`)
  // Pending changes are noted by the stock trigger (channel_stock_changes) and then marked on the levels
  // (dirty_since) by the push job; the oldest of either is how far the marketplace is behind.
  const lag = await tx.execute<{ connection: string; connector: string; lag: number }>(sql`
    select c.id::text as connection, c.connector_id as connector,
           coalesce(extract(epoch from now() - least(
             (select min(s.changed_at) from channel_stock_changes s where s.connection_id = c.id),
             (select min(l.dirty_since) from channel_levels l where l.connection_id = c.id and l.dirty_since is not null))), 0)::float8 as lag
    from connections c
    where c.enabled and c.deleted_at is null and exists (select 1 from channel_levels l where l.connection_id = c.id)`)
  const totals = await tx.execute<{ inbound: number; outbound: number; sales: number }>(sql`
    select (select count(*) from inbound_webhooks where status in ('received', 'processing'))::int as inbound,
           (select count(*) from webhook_deliveries where status = 'pending')::int as outbound,
           (select count(*) from sales)::float8 as sales`)
  const devices = await tx.execute<{ state: string; n: number }>(sql`
    select state, count(*)::int as n from device_jobs where state in ('queued', 'sent', 'failed', 'unknown') group by state`)
  const connectors = unknownConnections.length
    ? await tx.execute<{ id: string; connector: string }>(sql`
        select id::text as id, connector_id as connector from connections where id = any(${sql.param(unknownConnections)}::uuid[])`)
    : { rows: [] }
  const t = totals.rows[0]!
  return {
    queue: queue.rows,
    lag: lag.rows,
    inbound: t.inbound,
    outbound: t.outbound,
    sales: Number(t.sales),
    deviceJobs: Object.fromEntries(devices.rows.map((r) => [r.state, r.n])),
    connectors: connectors.rows,
  }
}

/** Replaces the database-backed series at once (no await in between), so a concurrent scrape never sees half. */
function apply(m: HubMetrics, r: DatabaseReading | undefined): void {
  for (const g of [m.queueDepth, m.queueFailed, m.queueOldestAge, m.stockSyncLag, m.webhookBacklog, m.deviceJobs]) g.reset()
  m.salesCompleted.reset()
  m.databaseUp.set(r ? 1 : 0)
  if (r) {
    let oldest = 0
    for (const q of r.queue) {
      m.queueDepth.set({ task: q.task }, q.waiting)
      m.queueFailed.set({ task: q.task }, q.failed)
      oldest = Math.max(oldest, q.oldest)
    }
    m.queueOldestAge.set(oldest)
    for (const l of r.lag) m.stockSyncLag.set({ connection: l.connection, connector: l.connector }, l.lag)
    m.webhookBacklog.set({ direction: 'inbound' }, r.inbound)
    m.webhookBacklog.set({ direction: 'outbound' }, r.outbound)
    m.salesCompleted.inc(r.sales)
    for (const s of DEVICE_JOB_STATES) m.deviceJobs.set({ state: s }, r.deviceJobs[s] ?? 0)
    for (const c of r.connectors) m.connectorOf.set(c.id, c.connector)
  }
  publishConnectorCalls(m)
}

const digest = (s: string) => createHash('sha256').update(s).digest()

function checkToken(expected: string | undefined, header: string | undefined): void {
  if (!expected) return
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '')
  if (!match) throw unauthorized('unauthenticated', 'send the metrics token as "Authorization: Bearer <METRICS_TOKEN>"')
  if (!timingSafeEqual(digest(match[1]!), digest(expected))) throw unauthorized('invalid_token', 'the metrics token is wrong')
}

export function register(app: OpenAPIHono<AppEnv>) {
  app.get('/metrics', async (c) => {
    const hub = c.var.hub
    checkToken(hub.config.metricsToken, c.req.header('authorization'))
    const m = metricsFor(hub.database)
    ensureProcessMetrics(m)
    const unknown = [...m.callCounts.keys()].filter((id) => !m.connectorOf.has(id))
    let reading: DatabaseReading | undefined
    try {
      reading = await hub.database.db.transaction((tx) => readDatabase(tx, unknown), { accessMode: 'read only' })
    } catch (err) {
      c.var.log.warn({ err }, 'metrics: the database-backed series could not be read')
    }
    apply(m, reading)
    return c.body(await m.registry.metrics(), 200, { 'content-type': METRICS_CONTENT_TYPE })
  })
}
