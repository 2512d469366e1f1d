import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { http, HttpResponse } from 'msw'
import { Webhook } from 'standardwebhooks'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs, makeDue, queuedJobs } from '../helpers/jobs.ts'
import { deliver, fanOut } from '../../src/webhooks/outbound.ts'

const RECEIVER = 'https://receiver.example/hooks'
const HOUR = 3_600_000

/** One POST the receiver got, and whether its signature checked out with the subscription's secret. */
interface Received {
  hook: string
  headers: Record<string, string>
  body: string
  verified: boolean
}

describe('outbound webhooks', () => {
  const hub = useTestHub()
  const received: Received[] = []
  /** Per receiver path: the secret to verify with, and the statuses to answer in turn (the last one repeats). */
  const receivers = new Map<string, { secret: string; answers: number[]; bigBody?: boolean; retryAfter?: string[]; hold?: Promise<void>; anyTime?: boolean }>()

  const server = setupServer(
    http.post(`${RECEIVER}/:hook`, async ({ request, params }) => {
      const hook = String(params.hook)
      const body = await request.text()
      const headers = Object.fromEntries(request.headers)
      const r = receivers.get(hook)
      let verified = false
      try {
        if (r?.anyTime) {
          // The signature alone, for a test whose hub clock is days ahead of the receiver's (no 5-minute window).
          const signed = new Webhook(r.secret).sign(headers['webhook-id']!, new Date(Number(headers['webhook-timestamp']) * 1000), body)
          verified = headers['webhook-signature']!.split(' ').includes(signed)
        } else if (r) {
          new Webhook(r.secret).verify(body, headers)
          verified = true
        }
      } catch {
        verified = false
      }
      received.push({ hook, headers, body, verified })
      await r?.hold
      const status = !r ? 404 : r.answers.length > 1 ? r.answers.shift()! : r.answers[0]!
      if (!verified) return HttpResponse.json({ error: 'bad signature' }, { status: 401 })
      const retryAfter = r?.retryAfter?.shift()
      if (status >= 300) return HttpResponse.text(`receiver is down: ${'x'.repeat(3000)}`, { status, headers: retryAfter ? { 'retry-after': retryAfter } : {} })
      if (r?.bigBody) return HttpResponse.text(`accepted ${'y'.repeat(2 * 1024 * 1024)}`, { status })
      return HttpResponse.json({ ok: true }, { status })
    }),
  )
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())

  const callsTo = (hook: string) => received.filter((r) => r.hook === hook)

  async function shop() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1990, stock: 100 })
    const cashier = await m.staff('cashier')
    const till = createApi(hub).as(cashier.token)
    const admin = createApi(hub).as(m.adminToken)
    const sell = (quantity = 1) => till.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity }], tenders: [{ kind: 'card', amount: 1990 * quantity }] })
    return { m, store, item, admin, sell }
  }

  async function subscribe(admin: Api, hook: string, opts: { eventTypes?: string[]; answers?: number[]; bigBody?: boolean; retryAfter?: string[] } = {}) {
    const r = await admin.post('/api/v1/webhook-subscriptions', { url: `${RECEIVER}/${hook}`, eventTypes: opts.eventTypes ?? ['sale.completed'], description: `test ${hook}` })
    expect(r.status).toBe(201)
    receivers.set(hook, { secret: r.body.secret, answers: opts.answers ?? [200], bigBody: opts.bigBody, retryAfter: opts.retryAfter })
    return { id: r.body.subscription.id as string, secret: r.body.secret as string }
  }

  const deliveriesOf = async (admin: Api, subscriptionId: string) => {
    const r = await admin.get(`/api/v1/webhook-subscriptions/${subscriptionId}/deliveries`)
    expect(r.status).toBe(200)
    return r.body.items as any[]
  }

  const fanoutJobsOf = async (merchantId: string) => (await queuedJobs(hub, 'webhooks.fanout')).filter((j) => j.payload.merchantId === merchantId)

  it('a completed sale reaches the receiver signed per Standard Webhooks, verified by the reference library', async () => {
    const { m, admin, sell } = await shop()
    const sub = await subscribe(admin, 'sale-a')
    const sale = await sell(2)
    expect(sale.status).toBe(201)
    expect(await fanoutJobsOf(m.merchantId)).not.toHaveLength(0)

    await drainJobs(hub)
    const calls = callsTo('sale-a')
    expect(calls).toHaveLength(1)
    const call = calls[0]!
    expect(call.verified).toBe(true)
    expect(call.headers['content-type']).toBe('application/json')
    expect(call.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/)
    expect(Math.abs(Number(call.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60)
    expect(call.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/)
    const body = JSON.parse(call.body)
    expect(body).toMatchObject({ type: 'sale.completed', data: { id: sale.body.id, receiptNo: sale.body.receiptNo } })
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp)

    // Only the subscribed type: the sale's stock.changed event is not delivered here.
    const log = await deliveriesOf(admin, sub.id)
    expect(log).toHaveLength(1)
    expect(log[0]).toMatchObject({ eventType: 'sale.completed', status: 'succeeded', attempts: 1, lastStatusCode: 200, nextAttemptAt: null, messageId: call.headers['webhook-id'] })
    expect(log[0].deliveredAt).not.toBeNull()

    // A tampered body fails the same check the receiver made.
    expect(() => new Webhook(sub.secret).verify(call.body.replace('sale.completed', 'sale.refunded'), call.headers)).toThrow()
  })

  it('a subscription to * gets every event type, and the receipt of stock produces stock.changed', async () => {
    const { store, item, admin } = await shop()
    const sub = await subscribe(admin, 'all-b', { eventTypes: ['*'] })
    const receipt = await admin.post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ variantId: item.variantId, quantity: 5, unitCost: 900 }] })
    expect(receipt.status).toBeLessThan(300)
    await drainJobs(hub)
    const types = callsTo('all-b').map((c) => JSON.parse(c.body).type)
    expect(types).toContain('stock.changed')
    expect(callsTo('all-b').every((c) => c.verified)).toBe(true)
    const changed = callsTo('all-b').map((c) => JSON.parse(c.body)).find((b) => b.type === 'stock.changed')
    expect(changed.data).toMatchObject({ variantId: item.variantId, locationId: store.locationId, onHand: 105 })
    expect((await deliveriesOf(admin, sub.id)).every((d) => d.status === 'succeeded')).toBe(true)
  })

  it('a receiver failing twice and then answering 2xx gets three attempts, two of them logged as failures', async () => {
    const { m, admin, sell } = await shop()
    const sub = await subscribe(admin, 'flaky-c', { answers: [503, 503, 200] })
    await sell()
    await drainJobs(hub)
    expect(callsTo('flaky-c')).toHaveLength(1)
    let [d] = await deliveriesOf(admin, sub.id)
    expect(d).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 503 })

    await makeDue(hub, 'webhooks.deliver')
    await drainJobs(hub)
    await makeDue(hub, 'webhooks.deliver')
    await drainJobs(hub)

    const calls = callsTo('flaky-c')
    expect(calls).toHaveLength(3)
    expect(calls.every((c) => c.verified)).toBe(true)
    // The same message id on every attempt, so the receiver can tell a retry from a new event.
    expect(new Set(calls.map((c) => c.headers['webhook-id'])).size).toBe(1)

    const one = await admin.get(`/api/v1/webhook-deliveries/${d.id}`)
    expect(one.status).toBe(200)
    expect(one.body).toMatchObject({ status: 'succeeded', attempts: 3, lastStatusCode: 200, lastError: null, nextAttemptAt: null })
    expect(one.body.attemptLog).toHaveLength(2)
    expect(one.body.attemptLog.map((a: any) => [a.attempt, a.statusCode])).toEqual([
      [1, 503],
      [2, 503],
    ])
    for (const a of one.body.attemptLog) {
      expect(a.responseExcerpt.startsWith('receiver is down')).toBe(true)
      expect(Buffer.byteLength(a.responseExcerpt)).toBeLessThanOrEqual(1024)
      expect(a.durationMs).toBeGreaterThanOrEqual(0)
    }
    // A repeated job for a delivery that already succeeded sends nothing.
    ;[d] = await deliveriesOf(admin, sub.id)
    const again = await deliver(hub, { merchantId: m.merchantId, deliveryId: d.id })
    expect(again.outcome).toBe('skipped')
    expect(callsTo('flaky-c')).toHaveLength(3)
  })

  it('a receiver answering 429 or 503 with Retry-After is waited out, up to the schedule’s longest delay', async () => {
    const { admin, sell } = await shop()
    // Seconds, then an HTTP date 40 minutes on, then two days (more than the schedule's longest delay, 10 h).
    const inForty = new Date(Date.now() + 40 * 60_000).toUTCString()
    const sub = await subscribe(admin, 'throttled-r', { answers: [429, 503, 429, 500, 200], retryAfter: ['120', inForty, String(2 * 24 * 3600)] })
    await sell()
    const waits: number[] = []
    for (let i = 0; i < 4; i++) {
      const before = Date.now()
      if (i > 0) await makeDue(hub, 'webhooks.deliver')
      await drainJobs(hub)
      const [d] = await deliveriesOf(admin, sub.id)
      waits.push(Math.round((Date.parse(d.nextAttemptAt) - before) / 1000))
    }
    // 120 s instead of 5 s; 40 min instead of 5 min; 10 h (the cap) instead of 30 min; a 500's Retry-After-less
    // answer keeps the schedule (2 h).
    expect(waits[0]).toBeGreaterThanOrEqual(119)
    expect(waits[0]).toBeLessThan(130)
    expect(waits[1]).toBeGreaterThanOrEqual(39 * 60)
    expect(waits[1]).toBeLessThan(41 * 60)
    expect(waits[2]).toBeGreaterThanOrEqual(10 * 3600 - 5)
    expect(waits[2]).toBeLessThan(10 * 3600 + 5)
    expect(waits[3]).toBeGreaterThanOrEqual(2 * 3600 - 5)
    expect(waits[3]).toBeLessThan(2 * 3600 + 5)
  })

  it('a 2xx is a delivery, however large the body the receiver answers with: it is not sent again', async () => {
    const { admin, sell } = await shop()
    const sub = await subscribe(admin, 'chatty', { bigBody: true })
    await sell()
    await drainJobs(hub)
    const [d] = await deliveriesOf(admin, sub.id)
    expect(d).toMatchObject({ status: 'succeeded', attempts: 1, lastStatusCode: 200, lastError: null })
    await makeDue(hub, 'webhooks.deliver')
    await drainJobs(hub)
    expect(callsTo('chatty')).toHaveLength(1)
  })

  it('a receiver that never answers 2xx is parked after the 8th attempt, retried over more than a day', async () => {
    const { m, admin, sell } = await shop()
    const sub = await subscribe(admin, 'down-d', { answers: [500] })
    await sell()
    await drainJobs(hub)
    const [first] = await deliveriesOf(admin, sub.id)
    const expected = [5_000, 5 * 60_000, 30 * 60_000, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]
    const waits: number[] = []
    for (let attempt = 1; attempt <= 8; attempt++) {
      const d = (await admin.get(`/api/v1/webhook-deliveries/${first.id}`)).body
      expect(d.attempts).toBe(attempt)
      expect(d.attemptLog).toHaveLength(attempt)
      const last = d.attemptLog.at(-1)
      expect(last).toMatchObject({ attempt, statusCode: 500, error: 'receiver answered HTTP 500' })
      const jobs = (await queuedJobs(hub, 'webhooks.deliver')).filter((j) => j.payload.deliveryId === first.id)
      if (attempt < 8) {
        expect(d.status).toBe('pending')
        const wait = new Date(d.nextAttemptAt).getTime() - new Date(last.at).getTime()
        waits.push(wait)
        expect(jobs).toHaveLength(1)
        expect(jobs[0]!.runAt.getTime()).toBe(new Date(d.nextAttemptAt).getTime())
        expect(jobs[0]!.payload.merchantId).toBe(m.merchantId)
        await makeDue(hub, 'webhooks.deliver')
        await drainJobs(hub)
      } else {
        expect(d).toMatchObject({ status: 'failed', nextAttemptAt: null, lastStatusCode: 500 })
        expect(jobs).toHaveLength(0)
      }
    }
    expect(waits).toEqual(expected)
    expect(waits.reduce((a, b) => a + b, 0)).toBeGreaterThan(24 * HOUR)
    expect(callsTo('down-d')).toHaveLength(8)
    expect(callsTo('down-d').every((c) => c.verified)).toBe(true)
    expect(await deliveriesOf(admin, sub.id)).toMatchObject([{ status: 'failed', attempts: 8 }])
    // Parked means parked: nothing more runs, however long we wait.
    await makeDue(hub)
    await drainJobs(hub)
    expect(callsTo('down-d')).toHaveLength(8)

    // Replaying it once the receiver is back: one more attempt, the counter going on from 8.
    receivers.get('down-d')!.answers = [200]
    const replay = await admin.post(`/api/v1/webhook-deliveries/${first.id}/replay`)
    expect(replay.status).toBe(202)
    expect(replay.body).toMatchObject({ status: 'pending', attempts: 8 })
    const busy = await admin.post(`/api/v1/webhook-deliveries/${first.id}/replay`)
    expect(busy.status).toBe(409)
    expect(busy.body.error.code).toBe('delivery_pending')
    await drainJobs(hub)
    expect(callsTo('down-d')).toHaveLength(9)
    expect(callsTo('down-d').at(-1)!.verified).toBe(true)
    expect(callsTo('down-d').at(-1)!.headers['webhook-id']).toBe(first.messageId)
    expect((await admin.get(`/api/v1/webhook-deliveries/${first.id}`)).body).toMatchObject({ status: 'succeeded', attempts: 9 })

    // A succeeded delivery may be replayed too; a failed replay parks it again without a retry schedule.
    receivers.get('down-d')!.answers = [500]
    expect((await admin.post(`/api/v1/webhook-deliveries/${first.id}/replay`)).status).toBe(202)
    await drainJobs(hub)
    expect((await admin.get(`/api/v1/webhook-deliveries/${first.id}`)).body).toMatchObject({ status: 'failed', attempts: 10, nextAttemptAt: null })
    expect(callsTo('down-d')).toHaveLength(10)
  })

  it('a subscription whose receiver fails every attempt for 3 days is disabled, its waiting deliveries parked; enabled again, it delivers', async () => {
    const { m, store, item } = await shop()
    const t0 = new Date(Date.now() + HOUR)
    // The hub's clock moves on by days: each step signs in again at its time.
    const at = async (ms: number) => {
      hub.setNow(new Date(t0.getTime() + ms))
      return createApi(hub).as(await m.adminTokenNow())
    }
    try {
      let admin = await at(0)
      const sub = await subscribe(admin, 'failing-f', { answers: [500] })
      receivers.get('failing-f')!.anyTime = true
      const sell = (api: Api) => api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'card', amount: 1990 }] })
      const view = async () => (await admin.get(`/api/v1/webhook-subscriptions/${sub.id}`)).body
      expect((await sell(admin)).status).toBe(201)
      await drainJobs(hub)
      expect(await view()).toMatchObject({ enabled: true, disabledReason: null, failingSince: new Date(t0).toISOString() })

      // A day later it still fails; then one delivery gets through, and the count starts again.
      admin = await at(24 * HOUR)
      await sell(admin)
      await drainJobs(hub)
      expect(await view()).toMatchObject({ enabled: true, failingSince: new Date(t0).toISOString() })
      admin = await at(48 * HOUR)
      receivers.get('failing-f')!.answers = [200, 500]
      await sell(admin)
      await drainJobs(hub)
      expect(await view()).toMatchObject({ enabled: true, failingSince: null })
      await sell(admin)
      await drainJobs(hub)
      const since = new Date(t0.getTime() + 48 * HOUR).toISOString()
      expect(await view()).toMatchObject({ enabled: true, failingSince: since })

      // Just under 3 days of failing: still on. At 3 days: switched off, and what waited is parked.
      admin = await at(48 * HOUR + 72 * HOUR - 1000)
      await sell(admin)
      await drainJobs(hub)
      expect((await view()).enabled).toBe(true)
      admin = await at(48 * HOUR + 72 * HOUR)
      await sell(admin)
      await drainJobs(hub)
      expect(await view()).toMatchObject({ enabled: false, disabledReason: 'failing', failingSince: since })
      const log = await deliveriesOf(admin, sub.id)
      expect(log.filter((d) => d.status === 'pending')).toEqual([])
      expect(log.filter((d) => d.lastError === 'subscription disabled: its receiver failed every attempt for 3 days').length).toBeGreaterThan(0)
      const audit = await admin.get(`/api/v1/audit?action=webhook_subscription.disabled&entityId=${sub.id}`)
      expect(audit.body.items).toHaveLength(1)
      expect(audit.body.items[0].details).toMatchObject({ reason: 'failing', failingSince: since })
      const calls = callsTo('failing-f').length
      await sell(admin)
      await drainJobs(hub)
      expect(callsTo('failing-f')).toHaveLength(calls)

      // Switched on again by a person: the count is cleared, and new events are delivered.
      receivers.get('failing-f')!.answers = [200]
      const on = await admin.patch(`/api/v1/webhook-subscriptions/${sub.id}`, { enabled: true })
      expect(on.body).toMatchObject({ enabled: true, disabledReason: null, failingSince: null })
      await sell(admin)
      await drainJobs(hub)
      expect(callsTo('failing-f')).toHaveLength(calls + 1)
    } finally {
      hub.setNow(undefined)
    }
  })

  it('bulk replay sends the failed deliveries of a subscription again', async () => {
    const { admin, sell } = await shop()
    const sub = await subscribe(admin, 'bulk-e', { answers: [503] })
    await sell()
    await sell()
    await drainJobs(hub)
    expect(callsTo('bulk-e')).toHaveLength(2)

    // Disabled while retries wait: they are parked instead of sent.
    expect((await admin.patch(`/api/v1/webhook-subscriptions/${sub.id}`, { enabled: false })).body.enabled).toBe(false)
    await makeDue(hub, 'webhooks.deliver')
    await drainJobs(hub)
    expect(callsTo('bulk-e')).toHaveLength(2)
    const parked = await deliveriesOf(admin, sub.id)
    expect(parked).toMatchObject([
      { status: 'failed', lastError: 'subscription disabled' },
      { status: 'failed', lastError: 'subscription disabled' },
    ])
    const refused = await admin.post(`/api/v1/webhook-subscriptions/${sub.id}/replay`, { status: 'failed' })
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('subscription_disabled')

    await admin.patch(`/api/v1/webhook-subscriptions/${sub.id}`, { enabled: true })
    receivers.get('bulk-e')!.answers = [200]
    const future = await admin.post(`/api/v1/webhook-subscriptions/${sub.id}/replay`, { status: 'failed', since: new Date(Date.now() + HOUR).toISOString() })
    expect(future.body).toEqual({ count: 0, more: false })
    const bulk = await admin.post(`/api/v1/webhook-subscriptions/${sub.id}/replay`, { status: 'failed', since: new Date(Date.now() - HOUR).toISOString() })
    expect(bulk.status).toBe(200)
    expect(bulk.body).toEqual({ count: 2, more: false })
    await drainJobs(hub)
    expect(callsTo('bulk-e')).toHaveLength(4)
    expect(callsTo('bulk-e').slice(2).every((c) => c.verified)).toBe(true)
    expect((await deliveriesOf(admin, sub.id)).map((d) => [d.status, d.attempts])).toEqual([
      ['succeeded', 2],
      ['succeeded', 2],
    ])
    expect((await admin.get(`/api/v1/webhook-subscriptions/${sub.id}/deliveries?status=failed`)).body.items).toEqual([])
  })

  it('a sale refused for lack of stock is rolled back and delivers nothing; a committed one does', async () => {
    const { m, admin, sell } = await shop()
    const sub = await subscribe(admin, 'rollback-f')
    const refused = await sell(1000)
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('insufficient_stock')
    expect(await fanoutJobsOf(m.merchantId)).toEqual([])
    await drainJobs(hub)
    expect(await deliveriesOf(admin, sub.id)).toEqual([])
    expect(callsTo('rollback-f')).toHaveLength(0)

    expect((await sell(1)).status).toBe(201)
    expect((await fanoutJobsOf(m.merchantId)).length).toBeGreaterThan(0)
    await drainJobs(hub)
    expect(callsTo('rollback-f')).toHaveLength(1)
  })

  it('a merchant without an enabled subscription gets no fan-out job at all', async () => {
    const { m, admin, sell } = await shop()
    expect((await sell()).status).toBe(201)
    expect((await admin.get('/api/v1/events?type=sale.completed')).body.items).toHaveLength(1)
    expect(await fanoutJobsOf(m.merchantId)).toEqual([])

    const sub = await subscribe(admin, 'off-g')
    await admin.patch(`/api/v1/webhook-subscriptions/${sub.id}`, { enabled: false })
    expect((await sell()).status).toBe(201)
    expect(await fanoutJobsOf(m.merchantId)).toEqual([])

    await admin.patch(`/api/v1/webhook-subscriptions/${sub.id}`, { enabled: true })
    const deleted = await admin.delete(`/api/v1/webhook-subscriptions/${sub.id}`)
    expect(deleted.status).toBe(200)
    expect((await sell()).status).toBe(201)
    expect(await fanoutJobsOf(m.merchantId)).toEqual([])
    expect((await admin.get(`/api/v1/webhook-subscriptions/${sub.id}`)).status).toBe(404)
    expect((await admin.get('/api/v1/webhook-subscriptions')).body.items).toEqual([])
    expect(callsTo('off-g')).toHaveLength(0)
  })

  it('a deleted subscription parks its waiting deliveries at once, keeps its delivery log readable, and its deliveries cannot be replayed (409)', async () => {
    const { admin, sell } = await shop()
    const sub = await subscribe(admin, 'gone-h', { answers: [500] })
    await sell()
    await drainJobs(hub)
    expect((await deliveriesOf(admin, sub.id)).map((d) => [d.status, d.attempts])).toEqual([['pending', 1]])
    expect((await admin.delete(`/api/v1/webhook-subscriptions/${sub.id}`)).status).toBe(200)
    // Parked at once, not when its retry comes round hours later.
    expect((await deliveriesOf(admin, sub.id)).map((d) => [d.status, d.nextAttemptAt, d.lastError])).toEqual([['failed', null, 'subscription deleted']])
    // Its retry comes due, finds it parked, and sends nothing.
    await makeDue(hub, 'webhooks.deliver')
    await drainJobs(hub)
    expect(callsTo('gone-h')).toHaveLength(1)
    const log = await admin.get(`/api/v1/webhook-subscriptions/${sub.id}/deliveries`)
    expect(log.status).toBe(200)
    expect(log.body.items.map((d: any) => d.status)).toEqual(['failed'])
    const replay = await admin.post(`/api/v1/webhook-deliveries/${log.body.items[0].id}/replay`, {})
    expect([replay.status, replay.body.error?.code]).toEqual([409, 'subscription_deleted'])
  })

  it('a delivery whose job is cancelled through the job operations is parked, and can be replayed', async () => {
    const { admin, sell } = await shop()
    const sub = await subscribe(admin, 'cancelled-h', { answers: [500, 200] })
    await sell()
    await drainJobs(hub)
    const [waiting] = await deliveriesOf(admin, sub.id)
    expect([waiting.status, waiting.attempts]).toEqual(['pending', 1])
    const jobs = (await admin.get('/api/v1/jobs?task=webhooks.deliver')).body.items.filter((j: any) => j.record?.id === waiting.id)
    expect(jobs).toHaveLength(1)
    expect((await admin.post(`/api/v1/jobs/${jobs[0].id}/cancel`)).status).toBe(200)
    // Nothing will attempt it again: it says so, and a replay sends it.
    expect((await deliveriesOf(admin, sub.id)).map((d) => [d.status, d.nextAttemptAt, d.lastError])).toEqual([['failed', null, 'job cancelled']])
    const replay = await admin.post(`/api/v1/webhook-deliveries/${waiting.id}/replay`, {})
    expect(replay.status).toBe(202)
    await drainJobs(hub)
    expect((await deliveriesOf(admin, sub.id)).map((d) => [d.status, d.attempts])).toEqual([['succeeded', 2]])
    expect(callsTo('cancelled-h')).toHaveLength(2)
  })

  it('a delivery waiting on a slow receiver holds back no one: another merchant’s committed sale is in its feed at once, and a second send of it is skipped', async () => {
    const a = await shop()
    const b = await shop()
    let answer!: () => void
    const sub = await subscribe(a.admin, 'slow-h')
    receivers.get('slow-h')!.hold = new Promise<void>((r) => (answer = r))
    expect((await a.sell()).status).toBe(201)
    const draining = drainJobs(hub)
    try {
      for (let i = 0; i < 200 && callsTo('slow-h').length === 0; i++) await new Promise((r) => setTimeout(r, 20))
      expect(callsTo('slow-h')).toHaveLength(1)
      // A's receiver has the request and has not answered: B sells, and B's feed shows it.
      const sale = await b.sell()
      expect(sale.status).toBe(201)
      const feed = (await b.admin.get('/api/v1/events?type=sale.completed')).body.items
      expect(feed.map((e: any) => e.entityId)).toContain(sale.body.id)
      // The delivery being sent is not sent twice meanwhile.
      const [inFlight] = await deliveriesOf(a.admin, sub.id)
      expect(await deliver(hub, { merchantId: a.m.merchantId, deliveryId: inFlight.id })).toEqual({ outcome: 'skipped', reason: 'in_progress' })
    } finally {
      answer()
      await draining
    }
    expect(callsTo('slow-h')).toHaveLength(1)
    expect((await deliveriesOf(a.admin, sub.id)).map((d) => [d.status, d.attempts])).toEqual([['succeeded', 1]])
  })

  it('a subscription deleted while its delivery is being sent: a failed send is parked, not retried', async () => {
    const { admin, sell } = await shop()
    let answer!: () => void
    const sub = await subscribe(admin, 'gone-while-h', { answers: [500] })
    receivers.get('gone-while-h')!.hold = new Promise<void>((r) => (answer = r))
    await sell()
    const draining = drainJobs(hub)
    try {
      for (let i = 0; i < 200 && callsTo('gone-while-h').length === 0; i++) await new Promise((r) => setTimeout(r, 20))
      expect((await admin.delete(`/api/v1/webhook-subscriptions/${sub.id}`)).status).toBe(200)
    } finally {
      answer()
      await draining
    }
    const [d] = await deliveriesOf(admin, sub.id)
    expect([d.status, d.attempts, d.nextAttemptAt]).toEqual(['failed', 1, null])
    expect((await queuedJobs(hub, 'webhooks.deliver')).filter((j) => j.payload.deliveryId === d.id)).toEqual([])
  })

  it('fanning out the same events twice creates each delivery once', async () => {
    const { m, admin, sell } = await shop()
    const sub = await subscribe(admin, 'twice-h')
    await sell()
    const eventIds = (await fanoutJobsOf(m.merchantId)).flatMap((j) => j.payload.eventIds as number[])
    expect(eventIds.length).toBeGreaterThan(0)
    await drainJobs(hub)
    expect(await deliveriesOf(admin, sub.id)).toHaveLength(1)
    const again = await hub.database.db.transaction((tx) => fanOut(tx, { merchantId: m.merchantId, eventIds }, hub.clock()))
    expect(again).toBe(0)
    await drainJobs(hub)
    expect(await deliveriesOf(admin, sub.id)).toHaveLength(1)
    expect(callsTo('twice-h')).toHaveLength(1)
  })

  it("merchant B can neither see nor touch merchant A's subscriptions and deliveries", async () => {
    const a = await shop()
    const sub = await subscribe(a.admin, 'tenant-i')
    await a.sell()
    await drainJobs(hub)
    const [delivery] = await deliveriesOf(a.admin, sub.id)
    expect(delivery).toBeDefined()

    const b = await seedMerchant(hub)
    const other = createApi(hub).as(b.adminToken)
    expect((await other.get('/api/v1/webhook-subscriptions')).body.items).toEqual([])
    expect((await other.get(`/api/v1/webhook-subscriptions/${sub.id}`)).status).toBe(404)
    expect((await other.get(`/api/v1/webhook-subscriptions/${sub.id}/deliveries`)).status).toBe(404)
    expect((await other.patch(`/api/v1/webhook-subscriptions/${sub.id}`, { enabled: false })).status).toBe(404)
    expect((await other.post(`/api/v1/webhook-subscriptions/${sub.id}/rotate-secret`)).status).toBe(404)
    expect((await other.post(`/api/v1/webhook-subscriptions/${sub.id}/replay`, { status: 'failed' })).status).toBe(404)
    expect((await other.delete(`/api/v1/webhook-subscriptions/${sub.id}`)).status).toBe(404)
    expect((await other.get(`/api/v1/webhook-deliveries/${delivery.id}`)).status).toBe(404)
    expect((await other.post(`/api/v1/webhook-deliveries/${delivery.id}/replay`)).status).toBe(404)
    // Still A's, unchanged.
    expect((await a.admin.get(`/api/v1/webhook-subscriptions/${sub.id}`)).body).toMatchObject({ enabled: true })

    // Within A, staff without webhooks.manage are refused.
    const cashier = await a.m.staff('cashier')
    const denied = await createApi(hub).as(cashier.token).get('/api/v1/webhook-subscriptions')
    expect(denied.status).toBe(403)
  })

  it('the signing secret is shown once, sealed at rest, never logged nor returned again; rotation replaces it', async () => {
    const { m, admin, sell } = await shop()
    const created = await admin.post('/api/v1/webhook-subscriptions', { url: `${RECEIVER}/secret-j`, eventTypes: ['sale.completed', 'sale.refunded'] })
    expect(created.status).toBe(201)
    const secret: string = created.body.secret
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/)
    const bytes = Buffer.from(secret.slice('whsec_'.length), 'base64').length
    expect(bytes).toBeGreaterThanOrEqual(24)
    expect(bytes).toBeLessThanOrEqual(64)
    const id = created.body.subscription.id
    receivers.set('secret-j', { secret, answers: [200] })
    const raw = secret.slice('whsec_'.length)

    const shown = [
      await admin.get('/api/v1/webhook-subscriptions'),
      await admin.get(`/api/v1/webhook-subscriptions/${id}`),
      await admin.patch(`/api/v1/webhook-subscriptions/${id}`, { description: 'till sales' }),
    ]
    for (const r of shown) {
      expect(r.status).toBe(200)
      expect(JSON.stringify(r.body)).not.toContain(raw)
      expect(JSON.stringify(r.body)).not.toContain('whsec_')
      expect(JSON.stringify(r.body)).not.toContain('"secret"')
    }
    const row = await hub.database.db.execute(sql`select * from webhook_subscriptions where id = ${id}`)
    expect(JSON.stringify(row.rows)).not.toContain(raw)
    const audit = await hub.database.db.execute(sql`select * from audit_log where merchant_id = ${m.merchantId}`)
    expect(JSON.stringify(audit.rows)).not.toContain(raw)

    await sell()
    await drainJobs(hub)
    expect(callsTo('secret-j').at(-1)!.verified).toBe(true)

    const rotated = await admin.post(`/api/v1/webhook-subscriptions/${id}/rotate-secret`)
    expect(rotated.status).toBe(200)
    const next: string = rotated.body.secret
    expect(next).not.toBe(secret)
    receivers.set('secret-j', { secret: next, answers: [200] })
    await sell()
    await drainJobs(hub)
    const last = callsTo('secret-j').at(-1)!
    expect(last.verified).toBe(true)
    expect(() => new Webhook(secret).verify(last.body, last.headers)).toThrow()

    for (const s of [raw, next.slice('whsec_'.length)]) expect(hub.logs.text).not.toContain(s)
    const deliveries = await deliveriesOf(admin, id)
    expect(JSON.stringify(deliveries)).not.toContain(next.slice('whsec_'.length))
  })

  it('never sends to a link-local or cloud metadata address: refused at subscription, and not sent to one stored before', async () => {
    const { admin, sell } = await shop()
    const post = (url: string) => admin.post('/api/v1/webhook-subscriptions', { url, eventTypes: ['sale.completed'] })
    const refused = [
      'https://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://169.254.169.254/latest/meta-data/',
      // The same address written as a number, in hex, IPv4-mapped, with a trailing dot.
      'https://2852039166/',
      'https://0xA9FEA9FE/',
      'https://[::ffff:169.254.169.254]/',
      'https://169.254.169.254./',
      'https://100.100.100.200/latest/meta-data/', // Alibaba Cloud
      'https://169.254.0.23/', // Tencent Cloud
      'https://[fd00:ec2::254]/', // AWS over IPv6
      'https://[fe80::1]/hooks',
      'https://0.0.0.0/hooks',
      'https://metadata.google.internal/computeMetadata/v1/',
      'https://METADATA.tencentyun.com./',
    ]
    for (const url of refused) {
      const r = await post(url)
      expect([url, r.status, r.body.error?.code]).toEqual([url, 400, 'refused_address'])
    }
    // A shop's own network stays reachable (switched off here: nothing answers there in this test).
    for (const url of ['https://10.0.0.5/hooks', 'https://192.168.1.20:8443/hooks']) {
      expect((await admin.post('/api/v1/webhook-subscriptions', { url, eventTypes: ['sale.completed'], enabled: false })).status).toBe(201)
    }

    // A subscription whose address was stored before the rule (written here as it would have been): its deliveries
    // fail without a request, the reason logged.
    const sub = await subscribe(admin, 'legacy-m')
    await hub.database.db.execute(sql`update webhook_subscriptions set url = 'https://169.254.169.254/latest/meta-data/' where id = ${sub.id}`)
    const before = received.length
    expect((await sell()).status).toBe(201)
    await drainJobs(hub)
    expect(received.length).toBe(before)
    const [d] = await deliveriesOf(admin, sub.id)
    expect(d).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null, lastError: expect.stringContaining('not sent: the url points at 169.254.169.254') })
  })

  it('refuses bad subscriptions with clear 4xx codes and lists the event types', async () => {
    const { admin } = await shop()
    const types = await admin.get('/api/v1/webhook-event-types')
    expect(types.status).toBe(200)
    expect(types.body.items.map((t: any) => t.type)).toEqual(expect.arrayContaining(['sale.completed', 'sale.refunded', 'stock.changed', 'stock.low']))

    const post = (body: unknown) => admin.post('/api/v1/webhook-subscriptions', body)
    const cases: [unknown, number, string][] = [
      [{ url: 'http://receiver.example/hooks', eventTypes: ['sale.completed'] }, 400, 'insecure_url'],
      [{ url: 'ftp://receiver.example/hooks', eventTypes: ['sale.completed'] }, 400, 'invalid_url'],
      [{ url: 'not a url', eventTypes: ['sale.completed'] }, 400, 'invalid_url'],
      [{ url: 'https://user:pw@receiver.example/hooks', eventTypes: ['sale.completed'] }, 400, 'invalid_url'],
      [{ url: `${RECEIVER}/x`, eventTypes: ['sale.completd'] }, 400, 'unknown_event_type'],
      [{ url: `${RECEIVER}/x`, eventTypes: [] }, 400, 'validation_failed'],
      [{ url: `${RECEIVER}/x` }, 400, 'validation_failed'],
      [{ url: `${RECEIVER}/x`, eventTypes: ['*'], secret: 'whsec_mine' }, 400, 'validation_failed'],
    ]
    for (const [body, status, code] of cases) {
      const r = await post(body)
      expect([r.status, r.body.error?.code]).toEqual([status, code])
    }
    const local = await post({ url: 'http://localhost:8080/hooks', eventTypes: ['stock.low', 'stock.low'] })
    expect(local.status).toBe(201)
    expect(local.body.subscription.eventTypes).toEqual(['stock.low'])
    const allowed = await post({ url: 'http://10.0.0.5/hooks', eventTypes: ['*', 'stock.low'], allowInsecureHttp: true })
    expect(allowed.status).toBe(201)
    expect(allowed.body.subscription.eventTypes).toEqual(['*'])
    const badPatch = await admin.patch(`/api/v1/webhook-subscriptions/${local.body.subscription.id}`, { url: 'http://receiver.example/hooks' })
    expect([badPatch.status, badPatch.body.error.code]).toEqual([400, 'insecure_url'])
    const toMetadata = await admin.patch(`/api/v1/webhook-subscriptions/${local.body.subscription.id}`, { url: 'https://169.254.169.254/latest/meta-data/' })
    expect([toMetadata.status, toMetadata.body.error.code]).toEqual([400, 'refused_address'])
    const badStatus = await admin.get(`/api/v1/webhook-subscriptions/${local.body.subscription.id}/deliveries?status=lost`)
    expect(badStatus.status).toBe(400)
    const badId = await admin.get('/api/v1/webhook-deliveries/not-a-uuid')
    expect(badId.status).toBe(400)
  })
})
