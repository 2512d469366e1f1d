import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type SeededMerchant } from '../helpers/api.ts'
import { drainJobs, makeDue, queuedJobs } from '../helpers/jobs.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { createConnection, deleteConnection, updateConnection } from '../../src/connectors/framework/connections.ts'
import { stripeSignature } from '../../src/connectors/payment/stripe/webhook.ts'
import { createProcessInboundTask } from '../../src/jobs/webhooks-inbound.ts'
import type { InboundHandlerContext } from '../../src/jobs/inbound-handlers.ts'
import { openDatabase } from '../../src/db/client.ts'
import { acceptInbound, decodeBody, encodeBody, INBOUND_BODY_LIMIT, INBOUND_MAX_ATTEMPTS, storableHeaders } from '../../src/webhooks/inbound.ts'

const SECRET_KEY = 'sk_test_51Hx9TopSecretKeyValue0123'
const WEBHOOK_SECRET = 'whsec_VeryPrivateSigningSecret9876'

let seq = 0
const eventId = () => `evt_${Date.now().toString(36)}_${++seq}`

function stripeEvent(id: string, type = 'payment_intent.succeeded', amount = 1999): string {
  return JSON.stringify({ id, object: 'event', type, created: Math.floor(Date.now() / 1000), livemode: false, data: { object: { id: `pi_${id}`, object: 'payment_intent', amount, currency: 'cny' } } })
}

function signedHeaders(body: string, opts: { secret?: string; at?: number } = {}): Record<string, string> {
  const t = opts.at ?? Math.floor(Date.now() / 1000)
  return { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${stripeSignature(opts.secret ?? WEBHOOK_SECRET, t, body)}` }
}

describe('inbound webhooks', () => {
  const hub = useTestHub()
  const api = () => createApi(hub)

  async function stripeConnection(m: SeededMerchant, name = `Stripe ${++seq}`) {
    return hub.database.db.transaction((tx) =>
      createConnection(tx, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'stripe', name, config: { secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET } }, new Date()),
    )
  }
  const deliver = (connectionId: string, body: string | Uint8Array, headers: Record<string, string>) => api().request('POST', `/webhooks/${connectionId}`, undefined, { raw: body, headers })

  const rowsOf = async (connectionId: string) =>
    (await hub.database.db.execute<any>(sql`select * from inbound_webhooks where connection_id = ${connectionId} order by received_at`)).rows
  const processJobs = async (connectionId: string) => (await queuedJobs(hub, 'webhooks.process')).filter((j) => j.payload.connectionId === connectionId)

  /** Runs due jobs, then waits until the worker has released them (it completes or fails a job just after runOnce resolves). */
  async function drain(opts: Parameters<typeof drainJobs>[1] = {}) {
    await drainJobs(hub, opts)
    for (let i = 0; i < 200 && (await queuedJobs(hub, 'webhooks.process')).some((j) => j.locked); i++) await new Promise((r) => setTimeout(r, 10))
  }

  /** A processing task whose handler for payment_intent.succeeded records its calls for one connection. */
  function countingTask(connectionId: string) {
    const calls: InboundHandlerContext[] = []
    const task = createProcessInboundTask({
      handlers: {
        stripe: {
          'payment_intent.succeeded': async (ctx) => {
            if (ctx.connection.row.id === connectionId) calls.push(ctx)
            // A real effect in the processing transaction: it commits with the status, or not at all.
            await ctx.tx.execute(sql`select pg_sleep(0.01)`)
          },
        },
      },
    })
    return { calls, task }
  }

  it('a signed event is stored with its headers (credentials removed), acknowledged and queued for processing', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const id = eventId()
    const body = stripeEvent(id)
    const r = await deliver(conn.id, body, { ...signedHeaders(body), authorization: 'Bearer tbk_sender_token_abcdefghijklmnop', cookie: 'sid=abc', 'user-agent': 'Stripe/1.0' })
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ received: true })

    const rows = await rowsOf(conn.id)
    expect(rows).toHaveLength(1)
    const row = rows[0]
    expect(row).toMatchObject({ merchant_id: m.merchantId, vendor_event_id: id, topic: 'payment_intent.succeeded', status: 'received', deliveries: 1, attempts: 0, body, body_encoding: 'utf8' })
    expect(row.headers['stripe-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/)
    expect(row.headers['user-agent']).toBe('Stripe/1.0')
    expect(row.headers.authorization).toBeUndefined()
    expect(row.headers.cookie).toBeUndefined()

    const jobs = await processJobs(conn.id)
    expect(jobs).toHaveLength(1)
    expect(jobs[0]!.payload).toEqual({ merchantId: m.merchantId, connectionId: conn.id, inboundId: row.id })
    expect(jobs[0]!.maxAttempts).toBe(INBOUND_MAX_ATTEMPTS)
  })

  it('an event holding a NUL or half a surrogate pair is refused (400), nothing stored', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    for (const [i, bad] of ['A\\u0000B', '\\ud800'].entries()) {
      const body = stripeEvent(eventId()).replace('"currency":"cny"', `"currency":"cny","description":"${bad}","n":${i}`)
      const r = await deliver(conn.id, body, signedHeaders(body))
      expect([r.status, r.body.error.code]).toEqual([400, 'invalid_payload'])
    }
    expect(await rowsOf(conn.id)).toEqual([])
  })

  it('a failure whose message holds a NUL is recorded (the reason stored, the event back for its retry)', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const body = stripeEvent(eventId())
    expect((await deliver(conn.id, body, signedHeaders(body))).status).toBe(200)
    const task = createProcessInboundTask({
      handlers: {
        stripe: {
          'payment_intent.succeeded': async () => {
            throw new Error('invalid byte sequence for encoding "UTF8": 0x00 in "A\0B"')
          },
        },
      },
    })
    await drain({ tasks: [task] })
    const [row] = await rowsOf(conn.id)
    expect(row).toMatchObject({ status: 'received', attempts: 1 })
    expect(row.last_error).toContain('"A\\0B"')
  })

  it('a processing connection lost midway records why (the database lost, not the failed rollback) and the retry processes it', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const body = stripeEvent(eventId())
    expect((await deliver(conn.id, body, signedHeaders(body))).status).toBe(200)
    let calls = 0
    const task = createProcessInboundTask({
      handlers: {
        stripe: {
          'payment_intent.succeeded': async (ctx) => {
            // The first attempt's connection is cut, as a database restart would; the transaction cannot even roll back.
            if (++calls === 1) await ctx.tx.execute(sql`select pg_terminate_backend(pg_backend_pid())`)
          },
        },
      },
    })
    await drain({ tasks: [task] })
    const [failed] = await rowsOf(conn.id)
    expect(failed).toMatchObject({ status: 'received', attempts: 1 })
    expect(failed.last_error).toMatch(/^the database connection was lost/)
    expect(failed.last_error).not.toContain('Failed query')
    await makeDue(hub, 'webhooks.process')
    await drain({ tasks: [task] })
    const [done] = await rowsOf(conn.id)
    expect(done).toMatchObject({ status: 'processed', attempts: 2, last_error: null })
  })

  it('a wrong or missing signature is refused with 401, stores nothing, queues nothing and logs a warning without secrets', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const body = stripeEvent(eventId())
    const jobsBefore = (await queuedJobs(hub, 'webhooks.process')).length

    const wrongSecret = await deliver(conn.id, body, signedHeaders(body, { secret: 'whsec_someoneElsesSecret' }))
    expect(wrongSecret.status).toBe(401)
    expect(wrongSecret.body.error.code).toBe('invalid_signature')

    const tampered = await deliver(conn.id, body.replace('1999', '9999'), signedHeaders(body))
    expect(tampered.status).toBe(401)

    const unsigned = await deliver(conn.id, body, { 'content-type': 'application/json' })
    expect(unsigned.status).toBe(401)
    expect(unsigned.body.error.code).toBe('invalid_signature')

    const garbage = await deliver(conn.id, body, { 'stripe-signature': 'v1=,t=,,=' })
    expect(garbage.status).toBe(401)

    expect(await rowsOf(conn.id)).toHaveLength(0)
    const anywhere = await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from inbound_webhooks where merchant_id = ${m.merchantId}`)
    expect(anywhere.rows[0]!.n).toBe(0)
    expect((await queuedJobs(hub, 'webhooks.process')).length).toBe(jobsBefore)

    const warnings = hub.logs.lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'warn' && l.connectionId === conn.id)
    expect(warnings.length).toBe(4)
    expect(warnings[0].msg).toMatch(/signature/)
    expect(hub.logs.text).not.toContain(WEBHOOK_SECRET)
  })

  it('a signature older than the tolerance is refused, so a captured request cannot be replayed later', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const body = stripeEvent(eventId())
    const stale = await deliver(conn.id, body, signedHeaders(body, { at: Math.floor(Date.now() / 1000) - 600 }))
    expect(stale.status).toBe(401)
    expect(stale.body.error.code).toBe('invalid_signature')
    const future = await deliver(conn.id, body, signedHeaders(body, { at: Math.floor(Date.now() / 1000) + 600 }))
    expect(future.status).toBe(401)
    expect(await rowsOf(conn.id)).toHaveLength(0)
  })

  it('an unknown, malformed or deleted connection answers 404 connection_not_found', async () => {
    const m = await seedMerchant(hub)
    const body = stripeEvent(eventId())
    const unknown = await deliver('0190c9a0-0000-7000-8000-000000000000', body, signedHeaders(body))
    expect(unknown.status).toBe(404)
    expect(unknown.body.error.code).toBe('connection_not_found')
    const malformed = await deliver('not-a-uuid', body, signedHeaders(body))
    expect(malformed.status).toBe(404)
    expect(malformed.body.error.code).toBe('connection_not_found')

    const conn = await stripeConnection(m)
    await hub.database.db.transaction((tx) => deleteConnection(tx, m.merchantId, conn.id, new Date()))
    const deleted = await deliver(conn.id, body, signedHeaders(body))
    expect(deleted.status).toBe(404)
    expect(deleted.body.error.code).toBe('connection_not_found')
  })

  it('a signed body that is not a Stripe event answers 400 and stores nothing; an oversized body answers 413', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const notJson = 'this is not json'
    const r = await deliver(conn.id, notJson, signedHeaders(notJson))
    expect(r.status).toBe(400)
    expect(r.body.error.code).toBe('invalid_payload')
    const noId = JSON.stringify({ type: 'charge.succeeded' })
    const r2 = await deliver(conn.id, noId, signedHeaders(noId))
    expect(r2.status).toBe(400)
    expect(r2.body.error.code).toBe('invalid_payload')

    const nul = JSON.stringify({ id: 'evt_\u0000x', type: 'charge.succeeded' })
    const r4 = await deliver(conn.id, nul, signedHeaders(nul))
    expect(r4.status).toBe(400)
    expect(r4.body.error.code).toBe('invalid_payload')
    // Half a surrogate pair, escaped: valid JSON, but no text PostgreSQL can hold.
    for (const lone of ['{"id":"evt_\\ud800x","type":"charge.succeeded"}', '{"id":"evt_1","type":"charge.\\udc00"}']) {
      const r5 = await deliver(conn.id, lone, signedHeaders(lone))
      expect([r5.status, r5.body.error.code]).toEqual([400, 'invalid_payload'])
    }

    const huge = stripeEvent(eventId()).replace('"livemode":false', `"pad":"${'x'.repeat(INBOUND_BODY_LIMIT)}","livemode":false`)
    const r3 = await deliver(conn.id, huge, { ...signedHeaders(huge), 'content-length': String(Buffer.byteLength(huge)) })
    expect(r3.status).toBe(413)
    expect(r3.body.error.code).toBe('payload_too_large')
    // Without a declared length (chunked), the limit holds while reading.
    const r5 = await deliver(conn.id, huge, signedHeaders(huge))
    expect(r5.status).toBe(413)
    expect(await rowsOf(conn.id)).toHaveLength(0)
  })

  it('the same event delivered three times at once and once more later is stored once, queued once and processed once', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const id = eventId()
    const body = stripeEvent(id)
    const answers = await Promise.all([0, 1, 2].map(() => deliver(conn.id, body, signedHeaders(body))))
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200])
    expect(answers.map((a) => a.body)).toEqual([{ received: true }, { received: true }, { received: true }])

    let rows = await rowsOf(conn.id)
    expect(rows).toHaveLength(1)
    expect(rows[0].deliveries).toBe(3)
    expect(await processJobs(conn.id)).toHaveLength(1)

    const { calls, task } = countingTask(conn.id)
    await drain({ tasks: [task] })
    expect(calls).toHaveLength(1)
    expect(calls[0]!.event).toMatchObject({ eventId: id, topic: 'payment_intent.succeeded' })
    expect(calls[0]!.merchantId).toBe(m.merchantId)
    rows = await rowsOf(conn.id)
    expect(rows[0]).toMatchObject({ status: 'processed', attempts: 1, last_error: null })
    expect(rows[0].processed_at).not.toBeNull()

    // The vendor retries once more after we processed it: acknowledged, counted, not processed again.
    const late = await deliver(conn.id, body, signedHeaders(body))
    expect(late.status).toBe(200)
    expect(await processJobs(conn.id)).toHaveLength(0)
    await drain({ tasks: [task] })
    expect(calls).toHaveLength(1)
    rows = await rowsOf(conn.id)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ deliveries: 4, status: 'processed', attempts: 1 })
    expect(new Date(rows[0].last_received_at).getTime()).toBeGreaterThanOrEqual(new Date(rows[0].received_at).getTime())
  })

  it('ten concurrent deliveries of one event (merged in one batch or racing in separate transactions) count ten and queue one job', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const body = stripeEvent(eventId())
    const answers = await Promise.all(Array.from({ length: 10 }, () => deliver(conn.id, body, signedHeaders(body))))
    expect(answers.every((a) => a.status === 200)).toBe(true)
    const rows = await rowsOf(conn.id)
    expect(rows).toHaveLength(1)
    expect(rows[0].deliveries).toBe(10)
    expect(await processJobs(conn.id)).toHaveLength(1)
  })

  it('two hub processes accepting the same events at the same time store and queue each once', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    // A second process: its own pool, so its own batches and transactions.
    const other = openDatabase(hub.url, { logger: hub.logger, max: 5 })
    try {
      const hubB = { config: hub.config, logger: hub.logger, secrets: hub.secrets, clock: hub.clock, database: other }
      const bodies = Array.from({ length: 10 }, () => stripeEvent(eventId()))
      const request = (b: string) => ({ rawBody: Buffer.from(b), headers: signedHeaders(b), url: `/webhooks/${conn.id}` })
      const results = await Promise.all(bodies.flatMap((b) => [acceptInbound(hub, conn.id, request(b)), acceptInbound(hubB, conn.id, request(b))]))
      expect(results.filter((r) => r.created)).toHaveLength(10)
      const rows = await rowsOf(conn.id)
      expect(rows).toHaveLength(10)
      expect(rows.every((r: any) => r.deliveries === 2)).toBe(true)
      expect(await processJobs(conn.id)).toHaveLength(10)
    } finally {
      await other.close()
    }
  })

  it('distinct events delivered concurrently are each stored and queued once', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const bodies = Array.from({ length: 20 }, () => stripeEvent(eventId()))
    const answers = await Promise.all([...bodies, ...bodies].map((b) => deliver(conn.id, b, signedHeaders(b))))
    expect(answers.every((a) => a.status === 200)).toBe(true)
    const rows = await rowsOf(conn.id)
    expect(rows).toHaveLength(20)
    expect(rows.every((r: any) => r.deliveries === 2)).toBe(true)
    expect(await processJobs(conn.id)).toHaveLength(20)
  })

  it('a topic without a handler is marked ignored by the real task list', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const body = stripeEvent(eventId(), 'customer.created')
    expect((await deliver(conn.id, body, signedHeaders(body))).status).toBe(200)
    await drain()
    const [row] = await rowsOf(conn.id)
    expect(row).toMatchObject({ status: 'ignored', attempts: 1 })
    expect(row.processed_at).not.toBeNull()
  })

  it('a disabled connection still stores events; processing is retried, ends failed after the last attempt, and a replay after re-enabling processes it', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const disable = (enabled: boolean) => hub.database.db.transaction((tx) => updateConnection(tx, connectorRegistry, hub.secrets, m.merchantId, conn.id, { enabled }, new Date()))

    // Accepted while enabled, then the connection is disabled before the worker gets to it.
    const body = stripeEvent(eventId())
    expect((await deliver(conn.id, body, signedHeaders(body))).status).toBe(200)
    await disable(false)
    // And one more arriving while disabled: stored all the same, nothing lost.
    const body2 = stripeEvent(eventId())
    expect((await deliver(conn.id, body2, signedHeaders(body2))).status).toBe(200)
    expect(await rowsOf(conn.id)).toHaveLength(2)

    const { calls, task } = countingTask(conn.id)
    await drain({ tasks: [task] })
    let rows = await rowsOf(conn.id)
    for (const row of rows) {
      expect(row).toMatchObject({ status: 'received', attempts: 1 })
      expect(row.last_error).toMatch(/disabled/)
    }
    let jobs = await processJobs(conn.id)
    expect(jobs).toHaveLength(2)
    expect(jobs.every((j) => j.attempts === 1 && j.runAt.getTime() > Date.now())).toBe(true)
    expect(jobs[0]!.lastError).toMatch(/disabled/)

    for (let i = 2; i <= INBOUND_MAX_ATTEMPTS; i++) {
      await makeDue(hub, 'webhooks.process')
      await drain({ tasks: [task], rounds: 1 })
      rows = await rowsOf(conn.id)
      expect(rows.map((r: any) => r.attempts)).toEqual([i, i])
      expect(rows.map((r: any) => r.status)).toEqual(i < INBOUND_MAX_ATTEMPTS ? ['received', 'received'] : ['failed', 'failed'])
    }
    jobs = await processJobs(conn.id)
    expect(jobs.every((j) => j.attempts === INBOUND_MAX_ATTEMPTS)).toBe(true)
    await makeDue(hub, 'webhooks.process')
    await drain({ tasks: [task] })
    expect(calls).toHaveLength(0)
    expect((await rowsOf(conn.id)).map((r: any) => r.attempts)).toEqual([INBOUND_MAX_ATTEMPTS, INBOUND_MAX_ATTEMPTS])

    // A replay before the connection is fixed fails again; after re-enabling it processes the event, once.
    const admin = api().as(m.adminToken)
    const target = rows[0].id
    await disable(true)
    const replayed = await admin.post(`/api/v1/inbound-webhooks/${target}/replay`)
    expect(replayed.status).toBe(202)
    expect(replayed.body).toMatchObject({ id: target, status: 'received', lastError: null })
    await drain({ tasks: [task] })
    expect(calls).toHaveLength(1)
    const after = await admin.get(`/api/v1/inbound-webhooks/${target}`)
    expect(after.body).toMatchObject({ status: 'processed', attempts: INBOUND_MAX_ATTEMPTS + 1, lastError: null })
    expect(after.body.processedAt).not.toBeNull()
    // The other one stays failed until it is replayed too.
    expect((await admin.get(`/api/v1/inbound-webhooks/${rows[1].id}`)).body.status).toBe('failed')

    // A processed event can be replayed as well (a handler changed); it runs again.
    expect((await admin.post(`/api/v1/inbound-webhooks/${target}/replay`)).status).toBe(202)
    await drain({ tasks: [task] })
    expect(calls).toHaveLength(2)
    expect((await admin.get(`/api/v1/inbound-webhooks/${target}`)).body.status).toBe('processed')

    const audit = await admin.get('/api/v1/audit?action=inbound_webhook.replayed')
    expect(audit.body.items.filter((a: any) => a.entityId === target)).toHaveLength(2)
  })

  it('a deleted connection fails processing with a clear error', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const body = stripeEvent(eventId())
    expect((await deliver(conn.id, body, signedHeaders(body))).status).toBe(200)
    await hub.database.db.transaction((tx) => deleteConnection(tx, m.merchantId, conn.id, new Date()))
    await drain()
    const [row] = await rowsOf(conn.id)
    expect(row).toMatchObject({ status: 'received', attempts: 1 })
    expect(row.last_error).toMatch(/deleted/)
  })

  it('a rotated webhook secret works at once although the connection is cached', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const first = stripeEvent(eventId())
    expect((await deliver(conn.id, first, signedHeaders(first))).status).toBe(200)
    const rotated = 'whsec_RotatedSecretNumberTwo'
    await hub.database.db.transaction((tx) => updateConnection(tx, connectorRegistry, hub.secrets, m.merchantId, conn.id, { config: { webhookSecret: rotated } }, new Date()))
    const second = stripeEvent(eventId())
    expect((await deliver(conn.id, second, signedHeaders(second, { secret: rotated }))).status).toBe(200)
    expect((await deliver(conn.id, second, signedHeaders(second))).status).toBe(401)
    expect(await rowsOf(conn.id)).toHaveLength(2)
  })

  it('lists with filters and cursor pages, shows one with headers and body, and needs the right permissions', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const other = await stripeConnection(m)
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const id = eventId()
      ids.push(id)
      const b = stripeEvent(id, i % 2 === 0 ? 'payment_intent.succeeded' : 'charge.refunded')
      expect((await deliver(conn.id, b, signedHeaders(b))).status).toBe(200)
    }
    const b = stripeEvent(eventId())
    expect((await deliver(other.id, b, signedHeaders(b))).status).toBe(200)

    const admin = api().as(m.adminToken)
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const q: string = `/api/v1/inbound-webhooks?connectionId=${conn.id}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
      const page = await admin.get(q)
      expect(page.status).toBe(200)
      seen.push(...page.body.items.map((i: any) => i.vendorEventId))
      cursor = page.body.nextCursor
      pages++
    } while (cursor)
    expect(pages).toBe(3)
    expect(seen).toEqual([...ids].reverse())

    const all = await admin.get('/api/v1/inbound-webhooks')
    expect(all.body.items).toHaveLength(6)
    const refunds = await admin.get(`/api/v1/inbound-webhooks?topic=charge.refunded`)
    expect(refunds.body.items.map((i: any) => i.vendorEventId).sort()).toEqual([ids[1], ids[3]].sort())
    const received = await admin.get(`/api/v1/inbound-webhooks?status=received&connectionId=${other.id}`)
    expect(received.body.items).toHaveLength(1)
    expect((await admin.get('/api/v1/inbound-webhooks?status=lost')).status).toBe(400)
    expect((await admin.get('/api/v1/inbound-webhooks?cursor=garbage')).status).toBe(400)
    expect((await admin.get('/api/v1/inbound-webhooks?connectionId=nope')).status).toBe(400)

    const one = await admin.get(`/api/v1/inbound-webhooks/${all.body.items[1].id}`)
    expect(one.status).toBe(200)
    expect(one.body.bodyEncoding).toBe('utf8')
    expect(JSON.parse(one.body.body).id).toBe(one.body.vendorEventId)
    expect(one.body.headers['stripe-signature']).toBeDefined()
    expect((await admin.get('/api/v1/inbound-webhooks/not-a-uuid')).status).toBe(400)

    const finance = await m.staff('finance')
    expect((await api().as(finance.token).get('/api/v1/inbound-webhooks')).status).toBe(200)
    expect((await api().as(finance.token).post(`/api/v1/inbound-webhooks/${all.body.items[0].id}/replay`)).status).toBe(403)
    const cashier = await m.staff('cashier')
    expect((await api().as(cashier.token).get('/api/v1/inbound-webhooks')).status).toBe(403)
    expect((await api().get('/api/v1/inbound-webhooks')).status).toBe(401)
  })

  it('merchant B can neither list, read nor replay merchant A’s webhooks', async () => {
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    const connA = await stripeConnection(a)
    const body = stripeEvent(eventId())
    expect((await deliver(connA.id, body, signedHeaders(body))).status).toBe(200)
    const [row] = await rowsOf(connA.id)

    const asB = api().as(b.adminToken)
    expect((await asB.get('/api/v1/inbound-webhooks')).body.items).toEqual([])
    expect((await asB.get(`/api/v1/inbound-webhooks?connectionId=${connA.id}`)).body.items).toEqual([])
    const read = await asB.get(`/api/v1/inbound-webhooks/${row.id}`)
    expect(read.status).toBe(404)
    expect(read.body.error.code).toBe('inbound_webhook_not_found')
    const replay = await asB.post(`/api/v1/inbound-webhooks/${row.id}/replay`)
    expect(replay.status).toBe(404)
    // A's event is untouched and A still sees it.
    const asA = api().as(a.adminToken)
    expect((await asA.get(`/api/v1/inbound-webhooks/${row.id}`)).body).toMatchObject({ status: 'received', attempts: 0 })
  })

  it('the connection secrets never appear in logs or in any response', async () => {
    const m = await seedMerchant(hub)
    const conn = await stripeConnection(m)
    const body = stripeEvent(eventId())
    const r = await deliver(conn.id, body, signedHeaders(body))
    const bad = await deliver(conn.id, body, signedHeaders(body, { secret: 'whsec_wrong' }))
    await drain()
    const admin = api().as(m.adminToken)
    const list = await admin.get('/api/v1/inbound-webhooks')
    const one = await admin.get(`/api/v1/inbound-webhooks/${list.body.items[0].id}`)
    const responses = JSON.stringify([r.body, bad.body, list.body, one.body])
    for (const s of [WEBHOOK_SECRET, SECRET_KEY]) {
      expect(responses).not.toContain(s)
      expect(hub.logs.text).not.toContain(s)
    }
    const jobErrors = await hub.database.db.execute<{ e: string | null }>(sql`select string_agg(last_error, ' ') as e from graphile_worker._private_jobs`)
    expect(jobErrors.rows[0]!.e ?? '').not.toContain(WEBHOOK_SECRET)
  })

  it('the endpoint is documented in the OpenAPI document as public', async () => {
    const doc = (await api().get('/openapi.json')).body
    const op = doc.paths['/webhooks/{connectionId}'].post
    expect(op.security).toEqual([])
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '404', '413']))
    expect(doc.paths['/api/v1/inbound-webhooks/{id}/replay'].post['x-permission']).toBe('webhooks.manage')
  })

  it('stores bodies that are not UTF-8 text as base64 and drops credential headers', () => {
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x41])
    const enc = encodeBody(binary)
    expect(enc.encoding).toBe('base64')
    expect(decodeBody(enc.body, enc.encoding).equals(binary)).toBe(true)
    const withNul = Buffer.from('a\u0000b')
    expect(encodeBody(withNul).encoding).toBe('base64')
    expect(encodeBody(Buffer.from('{"ok":"好"}'))).toEqual({ body: '{"ok":"好"}', encoding: 'utf8' })
    expect(storableHeaders({ authorization: 'Bearer x', 'x-api-key': 'k', cookie: 'c', 'x-shopify-hmac-sha256': 'h', 'content-type': 'application/json' })).toEqual({ 'x-shopify-hmac-sha256': 'h', 'content-type': 'application/json' })
  })
})
