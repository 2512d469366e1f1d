import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { delay, http, HttpResponse, passthrough } from 'msw'
import { asc, eq } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { seedMerchant } from '../helpers/api.ts'
import { openDatabase } from '../../src/db/client.ts'
import { createConnectorHttp, parseRetryAfter, type Sleep } from '../../src/connectors/framework/http.ts'
import { ConnectorError, type HttpPolicy } from '../../src/connectors/framework/http-types.ts'
import { createRedactor, listCalls, purgeCalls } from '../../src/connectors/framework/call-log.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { createConnection, loadConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { purge } from '../../src/jobs/maintenance.ts'
import type { JobContext } from '../../src/jobs/task.ts'
import { rejection } from '../helpers/connections.ts'

const BASE = 'https://api.vendor.test'

/** Answers each request with the next of `statuses` (the last one repeats) and counts what reached the server. */
function sequence(method: 'get' | 'post', path: string, answers: (number | (() => Response | Promise<Response>))[]) {
  const seen: Request[] = []
  const handler = http[method](`${BASE}${path}`, async ({ request }) => {
    seen.push(request.clone())
    const next = answers[Math.min(seen.length - 1, answers.length - 1)]!
    return typeof next === 'number' ? HttpResponse.json({ n: seen.length }, { status: next }) : next()
  })
  return { handler, seen }
}

const caught = (p: Promise<unknown>) => rejection(p, ConnectorError)

describe('the shared connector HTTP client', () => {
  const hub = useTestHub()
  const server = setupServer()
  let merchantId: string
  beforeAll(async () => {
    server.listen({ onUnhandledFrame: 'error' })
    merchantId = (await seedMerchant(hub)).merchantId
  })
  afterEach(() => server.resetHandlers())
  afterAll(() => server.close())

  /** A client on a fresh connection id; waits are recorded and skipped unless `realSleep`. */
  function harness(policy: Partial<HttpPolicy> = {}, opts: { realSleep?: boolean; connectionId?: string; secretValues?: string[]; clock?: () => Date; downloadDir?: string } = {}) {
    const connectionId = opts.connectionId ?? randomUUID()
    const waits: number[] = []
    const sleep: Sleep = async (ms, signal) => {
      waits.push(ms)
      if (opts.realSleep) await new Promise((r) => setTimeout(r, ms))
      signal?.throwIfAborted()
    }
    const client = createConnectorHttp({
      database: hub.database,
      logger: hub.logger,
      clock: opts.clock ?? hub.clock,
      merchantId,
      connectionId,
      policy: { baseURL: BASE, ...policy, retry: { baseDelayMs: 5, maxDelayMs: 5000, ...policy.retry } },
      secretValues: opts.secretValues ?? [],
      sleep,
      downloadDir: opts.downloadDir,
    })
    const rows = () => hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))
    return { client, connectionId, waits, rows }
  }

  it('writes a download to a file as it arrives: the answer holds its head, failed attempts leave nothing on disk', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-downloads-'))
    try {
      const body = Buffer.alloc(300_000)
      for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 9)) & 0xff
      const s = sequence('get', '/v1/bill', [500, 503, () => new HttpResponse(body, { status: 200, headers: { 'content-type': 'application/gzip' } })])
      server.use(s.handler)
      const h = harness({}, { downloadDir: dir })
      const res = await h.client.request<Buffer>({ method: 'GET', url: '/v1/bill', responseType: 'file', operation: 'downloadBill' })
      expect(s.seen).toHaveLength(3)
      expect(res.status).toBe(200)
      expect(res.file).toEqual({ path: expect.stringContaining(dir), size: 300_000 })
      expect(Buffer.compare(fs.readFileSync(res.file!.path), body)).toBe(0)
      expect(Buffer.compare(res.data, body.subarray(0, 64 * 1024))).toBe(0)
      // The two 5xx answers were written too, and removed: only the bill is there, now the caller's.
      expect(fs.readdirSync(dir)).toEqual([path.basename(res.file!.path)])
      const rows = await h.rows()
      expect(rows.map((r) => r.outcome)).toEqual(['retryable', 'retryable', 'ok'])
      expect(JSON.stringify(rows[2]!.responseExcerpt)).toContain('[300000 bytes, written to a file]')
      fs.rmSync(res.file!.path)
      // A refusal: thrown, and nothing stays on disk.
      server.use(sequence('get', '/v1/gone', [404]).handler)
      expect(await caught(h.client.request({ method: 'GET', url: '/v1/gone', responseType: 'file' }))).toMatchObject({ kind: 'permanent', status: 404 })
      expect(fs.readdirSync(dir)).toEqual([])
      // A download that stalls halfway: cut off at the timeout, retried, and its part removed each time.
      const stalled = () => new HttpResponse(new ReadableStream({ start: (c) => c.enqueue(body.subarray(0, 1000)) }), { status: 200 })
      server.use(sequence('get', '/v1/stalls', [stalled]).handler)
      const slow = await caught(h.client.request({ method: 'GET', url: '/v1/stalls', responseType: 'file', timeoutMs: 200 }))
      expect(slow).toMatchObject({ kind: 'retryable' })
      expect(slow.message).toContain('no complete answer within 200 ms')
      expect(fs.readdirSync(dir)).toEqual([])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('retries a GET after two 500s and succeeds, logging one row per attempt', async () => {
    const s = sequence('get', '/v1/things', [500, 500, 200])
    server.use(s.handler)
    const h = harness({ retry: { baseDelayMs: 1000 } })
    const res = await h.client.request<{ n: number }>({ method: 'GET', url: '/v1/things', params: { page: 2 }, operation: 'listThings' })
    expect(res).toMatchObject({ status: 200, data: { n: 3 } })
    expect(s.seen).toHaveLength(3)
    const rows = await h.rows()
    expect(rows.map((r) => [r.attempt, r.statusCode, r.outcome])).toEqual([
      [1, 500, 'retryable'],
      [2, 500, 'retryable'],
      [3, 200, 'ok'],
    ])
    expect(rows.every((r) => r.operation === 'listThings' && r.method === 'GET' && r.url === `${BASE}/v1/things?page=2` && r.merchantId === merchantId)).toBe(true)
    expect(rows[2]!.responseExcerpt).toContain('"n":3')
    // Exponential backoff with full jitter: the nth wait is drawn from [0, base × 2^(n-1)).
    expect(h.waits).toHaveLength(2)
    expect(h.waits[0]).toBeGreaterThanOrEqual(0)
    expect(h.waits[0]).toBeLessThan(1000)
    expect(h.waits[1]).toBeGreaterThanOrEqual(0)
    expect(h.waits[1]).toBeLessThan(2000)
  })

  it('gives up after maxAttempts and fails as retryable with the status', async () => {
    const s = sequence('get', '/v1/down', [503])
    server.use(s.handler)
    const h = harness({ retry: { maxAttempts: 3 } })
    const e = await caught(h.client.request({ method: 'GET', url: '/v1/down' }))
    expect(e).toMatchObject({ kind: 'retryable', status: 503, transient: true })
    expect(s.seen).toHaveLength(3)
    expect(await h.rows()).toHaveLength(3)
  })

  it('honours a 429 Retry-After in seconds, even for a POST the vendor refused', async () => {
    const s = sequence('post', '/v1/orders', [() => HttpResponse.json({ error: { code: 'THROTTLED' } }, { status: 429, headers: { 'retry-after': '2' } }), 201])
    server.use(s.handler)
    const h = harness()
    const res = await h.client.request({ method: 'POST', url: '/v1/orders', data: { qty: 1 } })
    expect(res.status).toBe(201)
    expect(s.seen).toHaveLength(2)
    expect(h.waits).toEqual([2000])
    expect((await h.rows()).map((r) => r.outcome)).toEqual(['rate_limited', 'ok'])
  })

  it('honours a Retry-After given as an HTTP date, measured on the hub clock', async () => {
    const now = new Date('2025-03-01T08:00:00Z')
    const s = sequence('get', '/v1/dated', [() => new HttpResponse(null, { status: 503, headers: { 'retry-after': new Date(now.getTime() + 3000).toUTCString() } }), 200])
    server.use(s.handler)
    const h = harness({}, { clock: () => now })
    await h.client.request({ method: 'GET', url: '/v1/dated' })
    expect(h.waits).toEqual([3000])
    expect(parseRetryAfter('1.5', now)).toBe(1500)
    expect(parseRetryAfter('not a date', now)).toBeUndefined()
  })

  it('fails fast as rate_limited with retryAfterMs when the vendor asks for a wait beyond maxDelayMs', async () => {
    const s = sequence('get', '/v1/slow-down', [() => new HttpResponse(null, { status: 429, headers: { 'retry-after': '120' } })])
    server.use(s.handler)
    const h = harness({ retry: { maxDelayMs: 1000 } })
    const e = await caught(h.client.request({ method: 'GET', url: '/v1/slow-down' }))
    expect(e).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 120_000 })
    expect(s.seen).toHaveLength(1)
    expect(h.waits).toEqual([])
    // The connection is held off: the next call is refused without reaching the vendor.
    const again = await caught(h.client.request({ method: 'GET', url: '/v1/slow-down' }))
    expect(again.kind).toBe('rate_limited')
    expect(again.retryAfterMs).toBeGreaterThan(100_000)
    expect(s.seen).toHaveLength(1)
  })

  it("waits for the vendor's window to reset when its rate headers say no calls are left", async () => {
    const s = sequence('get', '/v1/windowed', [() => HttpResponse.json({}, { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset-after': '1.5' } }), 200])
    server.use(s.handler)
    const h = harness({ rateLimitHeaders: { remaining: 'X-RateLimit-Remaining', resetAfterSeconds: 'X-RateLimit-Reset-After' } })
    await h.client.request({ method: 'GET', url: '/v1/windowed' })
    expect(h.waits).toEqual([])
    await h.client.request({ method: 'GET', url: '/v1/windowed' })
    expect(h.waits).toHaveLength(1)
    expect(h.waits[0]).toBeGreaterThan(1400)
    expect(h.waits[0]).toBeLessThanOrEqual(1500)
  })

  it('does not repeat a POST that timed out: exactly one request reaches the vendor', async () => {
    const seen: string[] = []
    server.use(
      http.post(`${BASE}/v1/charges`, async () => {
        seen.push('charge')
        await delay(400)
        return HttpResponse.json({ id: 'ch_1' })
      }),
    )
    const h = harness({ timeoutMs: 60 })
    const e = await caught(h.client.request({ method: 'POST', url: '/v1/charges', data: { amount: 100 } }))
    expect(e.kind).toBe('retryable')
    expect(e.message).toMatch(/no complete answer within 60 ms/)
    expect(seen).toEqual(['charge'])
    const rows = await h.rows()
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ outcome: 'retryable', statusCode: null, attempt: 1 })
    expect(rows[0]!.durationMs).toBeGreaterThanOrEqual(50)
  })

  it('does not repeat a POST answered with a 5xx, but fails it as retryable for the job to decide', async () => {
    const s = sequence('post', '/v1/refunds', [502, 200])
    server.use(s.handler)
    const h = harness()
    const e = await caught(h.client.request({ method: 'POST', url: '/v1/refunds' }))
    expect(e).toMatchObject({ kind: 'retryable', status: 502 })
    expect(s.seen).toHaveLength(1)
  })

  it('says whether the vendor may have acted on a failed call: not after a refusal (4xx, 503) or a connection refused, maybe after no reply, a 500 or a timeout anywhere in the retries', async () => {
    const failing = async (answers: (number | (() => Response))[], idempotent = false) => {
      const s = sequence('post', '/v1/entries', answers)
      server.use(s.handler)
      const h = harness({ retry: { maxAttempts: 3 } })
      return caught(h.client.request({ method: 'POST', url: '/v1/entries', idempotent }))
    }
    expect(await failing([503])).toMatchObject({ status: 503, notSent: true })
    expect(await failing([409])).toMatchObject({ status: 409, notSent: true })
    expect(await failing([500])).toMatchObject({ status: 500, notSent: false })
    expect(await failing([() => HttpResponse.error()])).toMatchObject({ kind: 'retryable', notSent: false })
    // An idempotent call retried: a first attempt with no reply may have been taken, whatever the last one heard.
    expect(await failing([() => HttpResponse.error(), 503], true)).toMatchObject({ status: 503, notSent: false })
    expect(await failing([503, 503, 503], true)).toMatchObject({ status: 503, notSent: true })
  })

  it('repeats a POST marked idempotent after a timeout and after a 5xx', async () => {
    let n = 0
    server.use(
      http.post(`${BASE}/v1/payouts`, async () => {
        n++
        if (n === 1) await delay(400)
        if (n === 2) return HttpResponse.json({}, { status: 500 })
        return HttpResponse.json({ id: 'po_1' }, { status: 201 })
      }),
    )
    const h = harness({ timeoutMs: 60 })
    const res = await h.client.request({ method: 'POST', url: '/v1/payouts', headers: { 'idempotency-key': 'payout-42' }, idempotent: true })
    expect(res).toMatchObject({ status: 201, data: { id: 'po_1' } })
    expect(n).toBe(3)
    expect((await h.rows()).map((r) => r.outcome)).toEqual(['retryable', 'retryable', 'ok'])
  })

  it('repeats a POST whose connection was refused, since nothing reached the vendor', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port
        srv.close(() => resolve(p))
      })
    })
    const closed = `http://127.0.0.1:${port}`
    server.use(http.all(`${closed}/*`, () => passthrough()))
    const h = harness({ baseURL: closed, retry: { maxAttempts: 3 } })
    const e = await caught(h.client.request({ method: 'POST', url: '/v1/orders' }))
    expect([e.kind, e.notSent]).toEqual(['retryable', true])
    const rows = await h.rows()
    expect(rows.map((r) => r.attempt)).toEqual([1, 2, 3])
    expect(rows[0]!.error).toMatch(/ECONNREFUSED/)
  })

  it('fails a 401 as auth_failed after one attempt, with the vendor code', async () => {
    const s = sequence('get', '/v1/balance', [() => HttpResponse.json({ error: { type: 'invalid_request_error', code: 'api_key_expired', message: 'Expired API Key provided' } }, { status: 401 })])
    server.use(s.handler)
    const h = harness()
    const e = await caught(h.client.request({ method: 'GET', url: '/v1/balance' }))
    expect(e).toMatchObject({ kind: 'auth_failed', status: 401, vendorCode: 'api_key_expired', transient: false })
    expect(e.message).toContain('Expired API Key provided')
    expect(s.seen).toHaveLength(1)
    expect((await h.rows()).map((r) => r.outcome)).toEqual(['auth_failed'])
  })

  it('fails a 400 as permanent without retrying', async () => {
    const s = sequence('get', '/v1/bad', [400])
    server.use(s.handler)
    const h = harness()
    const e = await caught(h.client.request({ method: 'GET', url: '/v1/bad' }))
    expect(e).toMatchObject({ kind: 'permanent', status: 400 })
    expect(s.seen).toHaveLength(1)
  })

  it("lets the connector classify a 200 that carries the vendor's error", async () => {
    const s = sequence('get', '/pay/query', [() => HttpResponse.json({ return_code: 'FAIL', err_code: 'SYSTEMERROR' }), () => HttpResponse.json({ return_code: 'SUCCESS' })])
    server.use(s.handler)
    const h = harness({
      classify: ({ data }) => {
        const d = data as { return_code?: string; err_code?: string }
        if (d.return_code === 'SUCCESS') return 'ok'
        return d.err_code === 'SYSTEMERROR' ? { kind: 'retryable', vendorCode: d.err_code } : { kind: 'permanent', vendorCode: d.err_code }
      },
    })
    const res = await h.client.request<{ return_code: string }>({ method: 'GET', url: '/pay/query' })
    expect(res.data.return_code).toBe('SUCCESS')
    expect((await h.rows()).map((r) => [r.statusCode, r.outcome])).toEqual([
      [200, 'retryable'],
      [200, 'ok'],
    ])
  })

  it('opens the circuit after N failing calls, refuses without touching the network, and closes after a trial success', async () => {
    let failing = true
    let hits = 0
    server.use(
      http.get(`${BASE}/v1/flaky`, () => {
        hits++
        return failing ? HttpResponse.json({}, { status: 500 }) : HttpResponse.json({ ok: true })
      }),
    )
    const policy = { retry: { maxAttempts: 2 }, breaker: { threshold: 2, halfOpenAfterMs: 400 } }
    const h = harness(policy)
    for (let i = 0; i < 2; i++) expect((await caught(h.client.request({ method: 'GET', url: '/v1/flaky' }))).kind).toBe('retryable')
    expect(hits).toBe(4)

    const open = await caught(h.client.request({ method: 'GET', url: '/v1/flaky' }))
    expect(open).toMatchObject({ kind: 'circuit_open', transient: true })
    expect(open.retryAfterMs).toBeGreaterThan(0)
    expect(open.retryAfterMs).toBeLessThanOrEqual(400)
    // Another client of the same connection shares the breaker.
    const sibling = harness(policy, { connectionId: h.connectionId })
    expect((await caught(sibling.client.request({ method: 'GET', url: '/v1/flaky' }))).kind).toBe('circuit_open')
    expect(hits).toBe(4)
    expect((await h.rows()).filter((r) => r.outcome === 'circuit_open')).toHaveLength(2)

    failing = false
    await new Promise((r) => setTimeout(r, 450))
    expect((await h.client.request({ method: 'GET', url: '/v1/flaky' })).status).toBe(200)
    expect((await sibling.client.request({ method: 'GET', url: '/v1/flaky' })).status).toBe(200)
    expect(hits).toBe(6)
  })

  it('does not count auth or permanent failures toward opening the circuit', async () => {
    const s = sequence('get', '/v1/mixed', [500, 401, 500, 400, 500, 403, 403, 200])
    server.use(s.handler)
    const h = harness({ retry: { maxAttempts: 1 }, breaker: { threshold: 2, halfOpenAfterMs: 60_000 } })
    const kinds: string[] = []
    for (let i = 0; i < 8; i++) {
      try {
        await h.client.request({ method: 'GET', url: '/v1/mixed' })
        kinds.push('ok')
      } catch (e) {
        kinds.push((e as ConnectorError).kind)
      }
    }
    expect(kinds).toEqual(['retryable', 'auth_failed', 'retryable', 'permanent', 'retryable', 'auth_failed', 'auth_failed', 'ok'])
    expect(s.seen).toHaveLength(8)
  })

  it('spaces calls with a token bucket shared by every client of the connection', async () => {
    server.use(http.get(`${BASE}/v1/limited`, () => HttpResponse.json({})))
    // Recorded: a burst of 2, then one token every 100 ms, reserved in order by concurrent callers.
    const a = harness({ rateLimit: { perSecond: 10, burst: 2 } })
    const b = harness({ rateLimit: { perSecond: 10, burst: 2 } }, { connectionId: a.connectionId })
    await Promise.all([0, 1, 2, 3, 4].map((i) => (i % 2 ? a : b).client.request({ method: 'GET', url: '/v1/limited' })))
    const waits = [...a.waits, ...b.waits].sort((x, y) => x - y)
    expect(waits).toHaveLength(3)
    expect(waits[0]).toBeGreaterThan(50)
    expect(waits[0]).toBeLessThanOrEqual(100)
    expect(waits[2]).toBeGreaterThan(250)
    expect(waits[2]).toBeLessThanOrEqual(300)

    // Measured: 20 per second with no burst spaces four calls over at least 150 ms.
    const c = harness({ rateLimit: { perSecond: 20, burst: 1 } }, { realSleep: true })
    const started = performance.now()
    for (let i = 0; i < 4; i++) await c.client.request({ method: 'GET', url: '/v1/limited' })
    expect(performance.now() - started).toBeGreaterThanOrEqual(140)
  })

  it("stops a call and its retries when the caller's signal aborts", async () => {
    let hits = 0
    server.use(
      http.get(`${BASE}/v1/long`, async () => {
        hits++
        await delay(500)
        return HttpResponse.json({})
      }),
    )
    const h = harness({ timeoutMs: 5000 })
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('worker shutting down')), 50)
    await expect(h.client.request({ method: 'GET', url: '/v1/long', signal: controller.signal })).rejects.toThrow('worker shutting down')
    expect(hits).toBe(1)
    expect((await h.rows()).map((r) => r.error)).toEqual(['cancelled by the caller'])
  })

  it('keeps the log of a call when the caller rolls its transaction back, and never fails a call for the log', async () => {
    server.use(http.get(`${BASE}/v1/ping`, () => HttpResponse.json({ pong: true })))
    const h = harness()
    await hub.database.db
      .transaction(async () => {
        await h.client.request({ method: 'GET', url: '/v1/ping' })
        throw new Error('roll back')
      })
      .catch(() => {})
    expect(await h.rows()).toHaveLength(1)

    const closedDb = openDatabase(hub.url, { logger: hub.logger, max: 1 })
    await closedDb.close()
    const broken = createConnectorHttp({ database: closedDb, logger: hub.logger, clock: hub.clock, merchantId, connectionId: randomUUID(), policy: { baseURL: BASE }, secretValues: [] })
    expect((await broken.request({ method: 'GET', url: '/v1/ping' })).data).toEqual({ pong: true })
    expect(hub.logs.text).toContain('could not write the connector call log')
  })

  it('keeps secrets out of call log rows, logs and errors', async () => {
    const KEY = 'sk_test_51HttpSecretKey0000000000'
    const SIGN = 'a9f3c2e1d0b8f7e6'
    const { merchantId: mid } = await seedMerchant(hub)
    const row = await createConnection(hub.database.db, connectorRegistry, hub.secrets, mid, { connectorId: 'stripe', name: 'Stripe', config: { secretKey: KEY, baseUrl: BASE } }, new Date())
    const loaded = await loadConnection(hub.database.db, connectorRegistry, hub.secrets, row.id, mid)
    const policy = typeof loaded.connector.http === 'function' ? loaded.connector.http(loaded.config) : loaded.connector.http
    expect(policy.headers?.authorization).toBe(`Bearer ${KEY}`)
    const seenAuth: (string | null)[] = []
    server.use(
      http.post(`${BASE}/v1/echo`, ({ request }) => {
        seenAuth.push(request.headers.get('authorization'))
        return HttpResponse.json({ received: KEY, sign: SIGN, nested: { note: `key was ${KEY}` } })
      }),
      http.get(`${BASE}/v1/refuse`, () => HttpResponse.json({ error: { code: 'invalid', message: `Invalid API Key provided: ${KEY}` } }, { status: 401 })),
    )
    const client = createConnectorHttp({ database: hub.database, logger: hub.logger, clock: hub.clock, merchantId: mid, connectionId: row.id, policy, secretValues: loaded.secretValues })
    await client.request({ method: 'POST', url: '/v1/echo', params: { sign: SIGN, page: 1 }, headers: { 'x-api-key': KEY }, data: { password: 'hunter22', note: `copy of ${KEY}`, form: `client_secret=${KEY}` } })
    expect(seenAuth).toEqual([`Bearer ${KEY}`])
    const e = await caught(client.request({ method: 'GET', url: '/v1/refuse', params: { sign: SIGN } }))
    expect(e.kind).toBe('auth_failed')
    expect(e.message).not.toContain(KEY)

    const rows = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, row.id))
    expect(rows).toHaveLength(2)
    const stored = JSON.stringify(rows)
    expect(stored).not.toContain(KEY)
    expect(stored).not.toContain(SIGN)
    expect(stored).not.toContain('hunter22')
    expect(stored).not.toMatch(/authorization/i)
    expect(rows[0]!.url).toBe(`${BASE}/v1/echo?sign=[REDACTED]&page=1`)
    expect(rows[0]!.requestExcerpt).toContain('stripe-version')
    expect(rows[0]!.responseExcerpt).toContain('[REDACTED]')
    expect(hub.logs.text).not.toContain(KEY)
    expect(hub.logs.text).not.toContain(SIGN)
  })

  it('redacts XML elements, form bodies and URL-encoded secret values', () => {
    const r = createRedactor(['s3cr3t/value+x'])
    expect(r.url('https://v.test/a?access_token=abc&q=s3cr3t%2Fvalue%2Bx')).toBe('https://v.test/a?access_token=[REDACTED]&q=[REDACTED]')
    const x = r.excerpt({ body: '<xml><appid>wx1</appid><sign>ABCDEF</sign></xml>' })!
    expect(x).toContain('<sign>[REDACTED]</sign>')
    expect(x).toContain('<appid>wx1</appid>')
    expect(r.excerpt({ body: 'amount=100&client_secret=zzz' })).toContain('client_secret=[REDACTED]')
    expect(r.excerpt({ body: Buffer.alloc(10) })).toContain('[10 bytes]')
    expect(r.excerpt({ body: 'x'.repeat(10_000) })!.length).toBeLessThanOrEqual(2048)
  })

  it('lists calls newest first with a cursor and purges those past their retention', async () => {
    server.use(http.get(`${BASE}/v1/page`, () => HttpResponse.json({})), http.get(`${BASE}/v1/gone`, () => HttpResponse.json({}, { status: 404 })))
    const old = new Date(Date.now() - 40 * 86_400_000)
    const connectionId = randomUUID()
    const oldClient = harness({}, { connectionId, clock: () => old })
    await oldClient.client.request({ method: 'GET', url: '/v1/page', operation: 'old' })
    const h = harness({}, { connectionId })
    for (let i = 0; i < 3; i++) await h.client.request({ method: 'GET', url: '/v1/page', operation: `p${i}` })
    await caught(h.client.request({ method: 'GET', url: '/v1/gone', operation: 'missing' }))

    const first = await listCalls(hub.database.db, { merchantId, connectionId, limit: 2 })
    expect(first.items.map((r) => r.operation)).toEqual(['missing', 'p2'])
    const second = await listCalls(hub.database.db, { merchantId, connectionId, limit: 10, cursor: first.nextCursor! })
    expect(second.items.map((r) => r.operation)).toEqual(['p1', 'p0', 'old'])
    expect(second.nextCursor).toBeNull()
    expect((await listCalls(hub.database.db, { merchantId, connectionId, limit: 10, outcome: 'permanent' })).items.map((r) => r.operation)).toEqual(['missing'])
    expect((await listCalls(hub.database.db, { merchantId: randomUUID(), connectionId, limit: 10 })).items).toEqual([])

    await purgeCalls(hub.database.db, new Date(Date.now() - 50 * 86_400_000))
    expect(await h.rows()).toHaveLength(5)
    await purge.run({}, { hub } as unknown as JobContext)
    expect((await h.rows()).map((r) => r.operation)).toEqual(['p0', 'p1', 'p2', 'missing'])
  })
})
