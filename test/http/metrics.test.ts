import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { http, HttpResponse } from 'msw'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs, makeDue } from '../helpers/jobs.ts'
import { createWooConnection, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, WOO_SITE } from '../helpers/channels.ts'
import { wooSandbox } from '../../src/sandboxes/vendors/woocommerce.ts'
import { syncListings } from '../../src/jobs/stock-sync.ts'
import { enqueue } from '../../src/db/enqueue.ts'
import { createConnection, loadConnection } from '../../src/connectors/framework/connections.ts'
import { connectorContext } from '../../src/connectors/framework/context.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { ConfigError, loadConfig } from '../../src/lib/config.ts'

const RECEIVER = 'https://receiver.example/metrics-hooks'
const STRIPE = 'https://api.stripe.metrics.test'
const METRICS_TOKEN = 'scrape-token-0123456789abcdef'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/**
 * Reads the Prometheus text exposition format strictly: every sample belongs to a family declared by `# TYPE` before
 * it (histograms through their _bucket/_sum/_count series), label values are quoted and escaped, values are numbers.
 */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|[Nn]a[Nn]|\+Inf|-Inf))(?: -?\d+)?$/
  // Values are read as Prometheus reads them (Go's ParseFloat): prom-client writes an empty histogram's mean as "Nan".
  for (const line of text.split('\n')) {
    if (line === '') continue
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (type) {
      expect(types.has(type[1]!), `family ${type[1]} declared twice`).toBe(false)
      types.set(type[1]!, type[2]!)
      continue
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue
    const m = sampleLine.exec(line)
    expect(m, `not a valid exposition line: ${line}`).not.toBeNull()
    const name = m![1]!
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '')
    expect(types.has(family), `sample ${name} has no # TYPE before it`).toBe(true)
    if (family !== name) expect(['histogram', 'summary']).toContain(types.get(family))
    const labels: Record<string, string> = {}
    for (const l of (m![2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c))
    samples.push({ name, labels, value: /^nan$/i.test(m![3]!) ? Number.NaN : Number(m![3]) })
  }
  return { types, samples }
}

/** The value of the one sample of `name` whose labels include `labels`, or 0 when there is none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  expect(found.length, `more than one ${name} sample matches ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1)
  return found[0]?.value ?? 0
}

const sumOf = (samples: Sample[], name: string) => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0)

async function scrape(api: Api, token?: string) {
  const r = await api.get('/metrics', token ? { token } : {})
  expect(r.status).toBe(200)
  expect(r.headers.get('content-type')).toContain('text/plain')
  expect(r.headers.get('content-type')).toContain('version=0.0.4')
  return parseExposition(r.body as string)
}

describe('GET /metrics', () => {
  const hub = useTestHub()
  const receiver = setupServer(
    http.post(`${RECEIVER}/:hook`, () => HttpResponse.text('receiver is down', { status: 503 })),
    http.get(`${STRIPE}/v1/balance`, () => HttpResponse.json({ object: 'balance', livemode: false, available: [], pending: [] })),
    http.get(`${STRIPE}/v1/charges/missing`, () => HttpResponse.json({ error: { code: 'resource_missing', message: 'No such charge' } }, { status: 404 })),
  )
  beforeAll(() => receiver.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => receiver.close())

  it('exposes every family in the Prometheus text format, with the process metrics, and needs no token when none is configured', async () => {
    const { types, samples } = await scrape(createApi(hub))
    expect(Object.fromEntries([...types].filter(([n]) => n.startsWith('tillbridge_')))).toEqual({
      tillbridge_http_request_duration_seconds: 'histogram',
      tillbridge_http_requests_total: 'counter',
      tillbridge_jobs_total: 'counter',
      tillbridge_job_duration_seconds: 'histogram',
      tillbridge_connector_calls_total: 'counter',
      tillbridge_connector_call_errors_total: 'counter',
      tillbridge_queue_depth: 'gauge',
      tillbridge_queue_failed_jobs: 'gauge',
      tillbridge_queue_oldest_job_age_seconds: 'gauge',
      tillbridge_stock_sync_lag_seconds: 'gauge',
      tillbridge_webhook_backlog: 'gauge',
      tillbridge_sales_completed_total: 'counter',
      tillbridge_device_jobs: 'gauge',
      tillbridge_database_up: 'gauge',
    })
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter')
    expect(types.get('nodejs_eventloop_lag_seconds')).toBe('gauge')
    expect(valueOf(samples, 'tillbridge_database_up')).toBe(1)
    expect(samples.filter((s) => s.name === 'tillbridge_device_jobs').map((s) => s.labels.state).sort()).toEqual(['failed', 'queued', 'sent', 'unknown'])
    expect(samples.filter((s) => s.name === 'tillbridge_webhook_backlog').map((s) => s.labels.direction).sort()).toEqual(['inbound', 'outbound'])
  })

  it('moves the request, sale, queue and job series when a sale is made and its jobs run', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1990, stock: 10 })
    const cashier = await m.staff('cashier')
    const admin = createApi(hub).as(m.adminToken)
    const sub = await admin.post('/api/v1/webhook-subscriptions', { url: `${RECEIVER}/down`, eventTypes: ['sale.completed'] })
    expect(sub.status).toBe(201)
    await drainJobs(hub)
    const scraper = createApi(hub)

    const before = (await scrape(scraper)).samples
    const sale = await createApi(hub)
      .as(cashier.token)
      .post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 5000 }] })
    expect(sale.status).toBe(201)
    const refused = await createApi(hub).as(cashier.token).post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1 }] })
    expect(refused.status).toBe(422)
    await admin.get(`/api/v1/sales/${sale.body.id}`)

    const queued = (await scrape(scraper)).samples
    const salesRoute = { method: 'POST', route: '/api/v1/sales' }
    expect(valueOf(queued, 'tillbridge_http_requests_total', { ...salesRoute, status: '201' }) - valueOf(before, 'tillbridge_http_requests_total', { ...salesRoute, status: '201' })).toBe(1)
    expect(valueOf(queued, 'tillbridge_http_requests_total', { ...salesRoute, status: '422' }) - valueOf(before, 'tillbridge_http_requests_total', { ...salesRoute, status: '422' })).toBe(1)
    expect(valueOf(queued, 'tillbridge_http_request_duration_seconds_count', { ...salesRoute, status: '201' })).toBe(valueOf(queued, 'tillbridge_http_requests_total', { ...salesRoute, status: '201' }))
    // The route pattern, never the raw path: one series for every sale id.
    expect(valueOf(queued, 'tillbridge_http_requests_total', { method: 'GET', route: '/api/v1/sales/:id', status: '200' })).toBe(1)
    expect(queued.some((s) => s.labels.route?.includes(sale.body.id))).toBe(false)
    expect(valueOf(queued, 'tillbridge_sales_completed_total') - valueOf(before, 'tillbridge_sales_completed_total')).toBe(1)
    expect(valueOf(queued, 'tillbridge_queue_depth', { task: 'webhooks.fanout' })).toBeGreaterThan(valueOf(before, 'tillbridge_queue_depth', { task: 'webhooks.fanout' }))
    expect(sumOf(queued, 'tillbridge_queue_depth')).toBeGreaterThan(sumOf(before, 'tillbridge_queue_depth'))

    await drainJobs(hub)
    const after = (await scrape(scraper)).samples
    expect(valueOf(after, 'tillbridge_queue_depth', { task: 'webhooks.fanout' })).toBe(0)
    const fanouts = (s: Sample[]) => valueOf(s, 'tillbridge_jobs_total', { task: 'webhooks.fanout', outcome: 'success' })
    expect(fanouts(after)).toBeGreaterThan(fanouts(queued))
    expect(valueOf(after, 'tillbridge_job_duration_seconds_count', { task: 'webhooks.fanout' })).toBe(
      valueOf(after, 'tillbridge_jobs_total', { task: 'webhooks.fanout', outcome: 'success' }) + valueOf(after, 'tillbridge_jobs_total', { task: 'webhooks.fanout', outcome: 'failure' }),
    )
    // The receiver is down: the delivery waits for its retry, and shows as outbound backlog.
    expect(valueOf(after, 'tillbridge_webhook_backlog', { direction: 'outbound' })).toBe(valueOf(before, 'tillbridge_webhook_backlog', { direction: 'outbound' }) + 1)
  })

  it('counts a job that fails by its task, and keeps it as failed in the queue', async () => {
    const before = (await scrape(createApi(hub))).samples
    await hub.database.db.transaction((tx) => enqueue(tx, 'webhooks.deliver', { deliveryId: 'not-a-uuid' }, { maxAttempts: 1 }))
    await drainJobs(hub)
    const after = (await scrape(createApi(hub))).samples
    const failures = (s: Sample[]) => valueOf(s, 'tillbridge_jobs_total', { task: 'webhooks.deliver', outcome: 'failure' })
    expect(failures(after) - failures(before)).toBe(1)
    expect(valueOf(after, 'tillbridge_queue_failed_jobs', { task: 'webhooks.deliver' }) - valueOf(before, 'tillbridge_queue_failed_jobs', { task: 'webhooks.deliver' })).toBe(1)
  })

  it('reports how long the most overdue job has waited', async () => {
    await drainJobs(hub)
    const idle = (await scrape(createApi(hub))).samples
    expect(valueOf(idle, 'tillbridge_queue_oldest_job_age_seconds')).toBeLessThan(5)
    await hub.database.db.transaction((tx) => enqueue(tx, 'maintenance.purge', {}, { runAt: new Date(Date.now() - 120_000) }))
    const late = (await scrape(createApi(hub))).samples
    expect(valueOf(late, 'tillbridge_queue_oldest_job_age_seconds')).toBeGreaterThanOrEqual(120)
    expect(valueOf(late, 'tillbridge_queue_depth', { task: 'maintenance.purge' })).toBe(1)
    await drainJobs(hub)
    const done = (await scrape(createApi(hub))).samples
    expect(valueOf(done, 'tillbridge_queue_oldest_job_age_seconds')).toBeLessThan(5)
    expect(valueOf(done, 'tillbridge_queue_depth', { task: 'maintenance.purge' })).toBe(0)
  })

  it('counts vendor call attempts per connection and connector, errors by kind', async () => {
    const m = await seedMerchant(hub)
    const row = await createConnection(hub.database.db, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'stripe', name: 'Stripe metrics', config: { secretKey: 'sk_test_51MetricsKey000000000000000', baseUrl: STRIPE } }, new Date())
    const loaded = await loadConnection(hub.database.db, connectorRegistry, hub.secrets, row.id, m.merchantId)
    const ctx = connectorContext(hub, loaded)
    for (let i = 0; i < 3; i++) await ctx.http.request({ method: 'GET', url: '/v1/balance', operation: 'check' })
    await expect(ctx.http.request({ method: 'GET', url: '/v1/charges/missing', operation: 'getCharge' })).rejects.toBeInstanceOf(ConnectorError)

    const { samples } = await scrape(createApi(hub))
    const of = { connection: row.id, connector: 'stripe' }
    expect(valueOf(samples, 'tillbridge_connector_calls_total', { ...of, outcome: 'ok' })).toBe(3)
    expect(valueOf(samples, 'tillbridge_connector_calls_total', { ...of, outcome: 'error' })).toBe(1)
    expect(valueOf(samples, 'tillbridge_connector_call_errors_total', { ...of, code: 'permanent' })).toBe(1)
  })

  it('shows how far a marketplace is behind the till, and how the stock push went', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { sku: `LAG-${Date.now()}`, price: 1990, stock: 10 })
    const woo = wooSandbox({ siteUrl: WOO_SITE, consumerKey: WOO_KEY, consumerSecret: WOO_SECRET, webhookSecret: WOO_HOOK_SECRET, now: new Date() })
    woo.addProduct({ sku: item.sku, stock: 10 })
    receiver.use(...woo.handlers)
    const connection = await createWooConnection(hub, m.merchantId, { locationIds: [store.locationId] })
    await syncListings(hub, { merchantId: m.merchantId, connectionId: connection }, 'import')
    await makeDue(hub)
    await drainJobs(hub)
    const lag = async () => valueOf((await scrape(createApi(hub))).samples, 'tillbridge_stock_sync_lag_seconds', { connection, connector: 'woocommerce' })
    expect(await lag()).toBe(0)

    const sale = await createApi(hub).as(m.adminToken).post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 3980 }] })
    expect(sale.status).toBe(201)
    await new Promise((r) => setTimeout(r, 300))
    expect(await lag()).toBeGreaterThanOrEqual(0.3)

    await makeDue(hub)
    await drainJobs(hub)
    const { samples } = await scrape(createApi(hub))
    expect(valueOf(samples, 'tillbridge_stock_sync_lag_seconds', { connection, connector: 'woocommerce' })).toBe(0)
    expect(valueOf(samples, 'tillbridge_jobs_total', { task: 'stock.push', outcome: 'success' })).toBeGreaterThanOrEqual(1)
    expect(valueOf(samples, 'tillbridge_connector_calls_total', { connection, connector: 'woocommerce', outcome: 'ok' })).toBeGreaterThanOrEqual(2)
    expect(woo.state.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/batch'))).toHaveLength(1)
  })

  it('logs every request with its request id, and every line of a job with the job id and task', async () => {
    const r = await createApi(hub).get('/metrics', { headers: { 'x-request-id': 'metrics-test-request-1' } })
    expect(r.headers.get('x-request-id')).toBe('metrics-test-request-1')
    const lines = () => hub.logs.lines.map((l) => JSON.parse(l) as Record<string, any>)
    expect(lines().filter((l) => l.msg === 'request' && l.path === '/metrics' && l.requestId === 'metrics-test-request-1')).toHaveLength(1)
    const requestLines = lines().filter((l) => l.msg === 'request' || l.msg === 'request failed')
    expect(requestLines.length).toBeGreaterThan(10)
    expect(requestLines.every((l) => typeof l.requestId === 'string' && l.requestId.length >= 8)).toBe(true)

    const jobId = await hub.database.db.transaction((tx) => enqueue(tx, 'maintenance.purge', {}))
    await drainJobs(hub)
    const purged = lines().filter((l) => l.msg === 'purged expired records')
    expect(purged.length).toBeGreaterThanOrEqual(1)
    expect(purged.every((l) => /^[1-9]\d*$/.test(l.jobId) && l.task === 'maintenance.purge')).toBe(true)
    expect(purged.filter((l) => l.jobId === jobId)).toEqual([expect.objectContaining({ task: 'maintenance.purge', attempt: 1 })])
    expect(lines().filter((l) => l.msg === 'job done' && l.jobId === jobId)).toEqual([expect.objectContaining({ task: 'maintenance.purge', ok: true })])
  })
})

describe('GET /metrics with METRICS_TOKEN set', () => {
  const hub = useTestHub({ config: { metricsToken: METRICS_TOKEN } })

  it('refuses a short or spaced token at start without echoing it', () => {
    for (const bad of ['too-short', 'has a space in the middle of it']) {
      let error: unknown
      try {
        loadConfig({ METRICS_TOKEN: bad })
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^METRICS_TOKEN must /)])
      expect((error as ConfigError).message).not.toContain(bad)
    }
    expect(loadConfig({ METRICS_TOKEN }).metricsToken).toBe(METRICS_TOKEN)
    expect(loadConfig({}).metricsToken).toBeUndefined()
  })

  it('answers 401 without the token or with a wrong one, and the metrics with it', async () => {
    const api = createApi(hub)
    const none = await api.get('/metrics')
    expect(none.status).toBe(401)
    expect(none.body.error.code).toBe('unauthenticated')
    const wrong = await api.get('/metrics', { token: `${METRICS_TOKEN}x` })
    expect(wrong.status).toBe(401)
    expect(wrong.body.error.code).toBe('invalid_token')
    const { samples } = await scrape(api, METRICS_TOKEN)
    expect(valueOf(samples, 'tillbridge_http_requests_total', { method: 'GET', route: '/metrics', status: '401' })).toBe(2)
  })
})
