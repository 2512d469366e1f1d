// Prometheus metrics of one hub. Each hub has its own registry (never prom-client's global one: tests open many hubs
// in one process), found through its database handle — the one object every view of a hub shares, the per-job hub
// of the worker included — so the HTTP layer, the worker and the connector client feed the same series.
//
// Two kinds of series:
// - counted in this process, as things happen: HTTP requests, job runs, connector call attempts. Counters of a
//   process start at zero and are summed across processes by Prometheus (`sum(rate(...))`);
// - read from the database at scrape time (queue depth, sync lag, webhook backlog, sales, device jobs): the same
//   numbers from whichever process is scraped, so take `max` across processes, not `sum`.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE

/** Outcomes of a vendor call attempt in the call log: 'ok' or the kind of error. */
type CallOutcome = string

export interface HubMetrics {
  registry: Registry
  /** Whether the process metrics (CPU, memory, event loop, GC) are collected into the registry yet. */
  processMetrics: boolean
  httpDuration: Histogram<'method' | 'route' | 'status'>
  httpRequests: Counter<'method' | 'route' | 'status'>
  jobs: Counter<'task' | 'outcome'>
  jobDuration: Histogram<'task'>
  connectorCalls: Counter<'connection' | 'connector' | 'outcome'>
  connectorCallErrors: Counter<'connection' | 'connector' | 'code'>
  /** Attempts per connection and outcome, as counted; labelled with the connector at scrape time. */
  callCounts: Map<string, Map<CallOutcome, number>>
  /** Connector id of each connection seen in callCounts (a connection never changes connector). */
  connectorOf: Map<string, string>
  queueDepth: Gauge<'task'>
  queueFailed: Gauge<'task'>
  queueOldestAge: Gauge
  stockSyncLag: Gauge<'connection' | 'connector'>
  webhookBacklog: Gauge<'direction'>
  salesCompleted: Counter
  deviceJobs: Gauge<'state'>
  databaseUp: Gauge
}

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const JOB_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

const byOwner = new WeakMap<object, HubMetrics>()

function createHubMetrics(): HubMetrics {
  const registry = new Registry()
  const registers = [registry]
  return {
    registry,
    processMetrics: false,
    httpDuration: new Histogram({
      name: 'tillbridge_http_request_duration_seconds',
      help: 'HTTP request duration by method, matched route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    }),
    httpRequests: new Counter({ name: 'tillbridge_http_requests_total', help: 'HTTP requests by method, matched route pattern and status', labelNames: ['method', 'route', 'status'], registers }),
    jobs: new Counter({ name: 'tillbridge_jobs_total', help: 'Job runs (attempts) finished in this process, by task and outcome (success or failure)', labelNames: ['task', 'outcome'], registers }),
    jobDuration: new Histogram({ name: 'tillbridge_job_duration_seconds', help: 'Duration of job runs in this process, by task', labelNames: ['task'], buckets: JOB_BUCKETS, registers }),
    connectorCalls: new Counter({
      name: 'tillbridge_connector_calls_total',
      help: 'Vendor call attempts made by this process (one per call log row), by connection, connector and outcome (ok or error)',
      labelNames: ['connection', 'connector', 'outcome'],
      registers,
    }),
    connectorCallErrors: new Counter({
      name: 'tillbridge_connector_call_errors_total',
      help: 'Failed vendor call attempts made by this process, by connection, connector and error kind (retryable, rate_limited, auth_failed, permanent, circuit_open)',
      labelNames: ['connection', 'connector', 'code'],
      registers,
    }),
    callCounts: new Map(),
    connectorOf: new Map(),
    queueDepth: new Gauge({ name: 'tillbridge_queue_depth', help: 'Jobs waiting to run (due now or scheduled, attempts left, not running), by task', labelNames: ['task'], registers }),
    queueFailed: new Gauge({ name: 'tillbridge_queue_failed_jobs', help: 'Jobs that used up their attempts and wait for a retry or cancel, by task', labelNames: ['task'], registers }),
    queueOldestAge: new Gauge({ name: 'tillbridge_queue_oldest_job_age_seconds', help: 'How long the most overdue runnable job has been due (0 when none is due)', registers }),
    stockSyncLag: new Gauge({
      name: 'tillbridge_stock_sync_lag_seconds',
      help: 'Age of the oldest stock change not yet pushed to the marketplace, per enabled connection with listings (0 when in sync)',
      labelNames: ['connection', 'connector'],
      registers,
    }),
    webhookBacklog: new Gauge({
      name: 'tillbridge_webhook_backlog',
      help: 'Inbound webhook events stored but not processed yet, and outbound deliveries pending',
      labelNames: ['direction'],
      registers,
    }),
    salesCompleted: new Counter({ name: 'tillbridge_sales_completed_total', help: 'Sales recorded (read from the database at scrape time; later voids included)', registers }),
    deviceJobs: new Gauge({ name: 'tillbridge_device_jobs', help: 'Device jobs that are open or need a decision, by state (queued, sent, failed, unknown)', labelNames: ['state'], registers }),
    databaseUp: new Gauge({ name: 'tillbridge_database_up', help: '1 when the scrape could read the database-backed series, 0 when it could not', registers }),
  }
}

/** The metrics of the hub that owns `owner` (its database handle), created on first use. */
export function metricsFor(owner: object): HubMetrics {
  let m = byOwner.get(owner)
  if (!m) byOwner.set(owner, (m = createHubMetrics()))
  return m
}

/**
 * Starts prom-client's process metrics in the hub's registry, on the first scrape: a hub nobody scrapes (most hubs
 * of a test run) starts no event-loop monitor or GC observer.
 */
export function ensureProcessMetrics(m: HubMetrics): void {
  if (m.processMetrics) return
  m.processMetrics = true
  collectDefaultMetrics({ register: m.registry })
}

/** Methods a label may name; anything else a client sends counts as 'other', so no caller can add series at will. */
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

export function observeHttpRequest(m: HubMetrics, r: { method: string; route: string; status: number; seconds: number }): void {
  const labels = { method: HTTP_METHODS.has(r.method) ? r.method : 'other', route: r.route, status: String(r.status) }
  m.httpRequests.inc(labels)
  m.httpDuration.observe(labels, r.seconds)
}

export function observeJob(m: HubMetrics, r: { task: string; ok: boolean; seconds: number }): void {
  m.jobs.inc({ task: r.task, outcome: r.ok ? 'success' : 'failure' })
  m.jobDuration.observe({ task: r.task }, r.seconds)
}

export function countConnectorCall(m: HubMetrics, connectionId: string, outcome: CallOutcome): void {
  let byOutcome = m.callCounts.get(connectionId)
  if (!byOutcome) m.callCounts.set(connectionId, (byOutcome = new Map()))
  byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1)
}

/** Writes the counted connector calls into their counters, with the connector ids known so far. */
export function publishConnectorCalls(m: HubMetrics): void {
  m.connectorCalls.reset()
  m.connectorCallErrors.reset()
  for (const [connection, byOutcome] of m.callCounts) {
    const connector = m.connectorOf.get(connection) ?? 'unknown'
    for (const [outcome, n] of byOutcome) {
      m.connectorCalls.inc({ connection, connector, outcome: outcome === 'ok' ? 'ok' : 'error' }, n)
      if (outcome !== 'ok') m.connectorCallErrors.inc({ connection, connector, code: outcome }, n)
    }
  }
}
