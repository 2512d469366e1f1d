// A card payment on a Stripe Terminal reader through the hub's API: the hub records the payment before calling
// Stripe, starts it on the reader, reads the outcome (approved, declined) and cancels on request; a repeated start
// with the same Idempotency-Key is the same payment, never a second charge. Stripe is the simulated API (msw).
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { http, HttpResponse } from 'msw'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'
import { stripeTerminalSimulator } from '../../src/devices/simulators/stripe-terminal.ts'

const KEY = 'sk_test_51TillbridgeHubTerminal0000'
const READER = 'tmr_FDOt2wlRZEdpd7'

describe('terminal payments', () => {
  const hub = useTestHub()
  const sim = stripeTerminalSimulator()
  const server = setupServer(...sim.handlers)
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())

  async function terminal() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const cashier = createApi(hub).as((await m.staff('cashier')).token)
    const conn = await admin.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe', config: { secretKey: KEY } })
    expect(conn.status).toBe(201)
    const readerId = `${READER}${Math.random().toString(36).slice(2, 8)}`
    sim.addReader(readerId, { label: 'Till 1 reader' })
    const device = await admin.post('/api/v1/devices', { storeId: store.storeId, registerId: store.registerId, name: 'Card reader', kind: 'card_terminal', driver: 'stripe_terminal', address: readerId, connectionId: conn.body.id })
    expect(device.status).toBe(201)
    expect(device.body.route).toBe('hub')
    const start = (amount: number, key = randomUUID()) => cashier.post(`/api/v1/devices/${device.body.id}/payments`, { amount, reference: 'S1-01-0001' }, { headers: { 'idempotency-key': key } })
    return { cashier, readerId, start, deviceId: device.body.id }
  }

  /** The next reader call answers `status` without reaching the simulated Stripe, unless `reach` (Stripe acted, the answer was lost). */
  const nextReaderCall = (readerId: string, status: number, opts: { reach?: boolean; headers?: Record<string, string> } = {}) => {
    const keys: (string | null)[] = []
    server.use(
      http.post(
        `https://api.stripe.com/v1/terminal/readers/${readerId}/process_payment_intent`,
        async ({ request }) => {
          keys.push(request.headers.get('idempotency-key'))
          if (opts.reach) await sim.handle(request)
          return HttpResponse.json({ error: { type: 'api_error', message: 'An unknown error occurred' } }, { status, headers: opts.headers })
        },
        { once: true },
      ),
    )
    return keys
  }
  const readerCalls = (readerId: string) => sim.state.requests.filter((r) => r.method === 'POST' && r.path === `/v1/terminal/readers/${readerId}/process_payment_intent`)

  const present = async (readerId: string, number?: string) => {
    const res = await fetch(`https://api.stripe.com/v1/test_helpers/terminal/readers/${readerId}/present_payment_method`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(number ? { type: 'card_present', 'card_present[number]': number } : { type: 'card_present' }),
    })
    expect(res.status).toBe(200)
  }

  it('approves: pending on the reader until the card is presented, then approved with the charge and card', async () => {
    const t = await terminal()
    const started = await t.start(12_345)
    expect(started.status).toBe(201)
    expect(started.body).toMatchObject({ state: 'pending', amount: 12_345, currency: 'CNY' })
    expect(started.body.vendorPaymentId).toMatch(/^pi_/)
    const intent = sim.state.paymentIntents.get(started.body.vendorPaymentId)!
    expect(intent).toMatchObject({ amount: 12_345, currency: 'cny', payment_method_types: ['card_present'] })
    expect((await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)).body.state).toBe('pending')
    await present(t.readerId)
    const done = await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)
    expect(done.body).toMatchObject({ state: 'approved', last4: '4242' })
    expect(done.body.vendorChargeId).toMatch(/^ch_/)
  })

  it('declines with the card’s reason', async () => {
    const t = await terminal()
    const started = await t.start(5_000)
    await present(t.readerId, '4000000000000002')
    const after = await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)
    expect(after.body).toMatchObject({ state: 'declined' })
    expect(after.body.failureCode).toBe('generic_decline')
  })

  it('cancels a payment the customer has not paid yet; the reader stops', async () => {
    const t = await terminal()
    const started = await t.start(8_800)
    const canceled = await t.cashier.post(`/api/v1/terminal-payments/${started.body.id}/cancel`)
    expect(canceled.status).toBe(200)
    expect(canceled.body.state).toBe('canceled')
    expect(sim.state.readers.get(t.readerId)!.action?.status).not.toBe('in_progress')
    expect(sim.state.paymentIntents.get(started.body.vendorPaymentId)!.status).toBe('canceled')
  })

  /** Holds the next POST to `url` (Stripe's) until `release`; `reached` settles once Stripe has been called. */
  const holdNext = (url: string) => {
    let entered!: () => void
    const reached = new Promise<void>((r) => (entered = r))
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    server.use(
      http.post(
        url,
        async ({ request }) => {
          entered()
          await gate
          return sim.handle(request)
        },
        { once: true },
      ),
    )
    return { reached, release }
  }
  const paymentIdOf = async (key: string) => {
    const rows = await hub.database.db.execute<{ id: string }>(sql`select id from terminal_payments where idempotency_key = ${key}`)
    return rows.rows[0]!.id
  }
  /** The customer taps a card, whatever the reader is doing: the HTTP status of the simulated reader's answer. */
  const tap = async (readerId: string) =>
    (
      await fetch(`https://api.stripe.com/v1/test_helpers/terminal/readers/${readerId}/present_payment_method`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ type: 'card_present' }),
      })
    ).status

  it('a cancel while the start is still creating the PaymentIntent: the answer is cancel_requested, the start cancels the intent instead of handing it to the reader, and the payment ends canceled', async () => {
    const t = await terminal()
    const key = randomUUID()
    const held = holdNext('https://api.stripe.com/v1/payment_intents')
    const startP = t.start(6_600, key)
    await held.reached
    const id = await paymentIdOf(key)

    const canceled = await t.cashier.post(`/api/v1/terminal-payments/${id}/cancel`)
    expect(canceled.status).toBe(200)
    expect(canceled.body).toMatchObject({ state: 'cancel_requested', vendorPaymentId: null })
    held.release()
    const started = await startP
    expect(started.status).toBe(201)
    expect(started.body).toMatchObject({ state: 'canceled', failureCode: 'canceled_before_start' })
    expect(started.body.vendorPaymentId).toMatch(/^pi_/)

    expect(sim.state.paymentIntents.get(started.body.vendorPaymentId)!.status).toBe('canceled')
    expect(readerCalls(t.readerId)).toHaveLength(0)
    expect(sim.state.readers.get(t.readerId)!.action).toBeNull()
    expect(await tap(t.readerId)).toBe(400)
    const after = await t.cashier.get(`/api/v1/terminal-payments/${id}`)
    expect(after.body).toMatchObject({ state: 'canceled', vendorPaymentId: started.body.vendorPaymentId })
  })

  it('a cancel after a start whose PaymentIntent answer was lost: the next read finds the intent under the same key and cancels it', async () => {
    const t = await terminal()
    server.use(http.post('https://api.stripe.com/v1/payment_intents', () => HttpResponse.json({ error: { type: 'api_error', message: 'An unknown error occurred' } }, { status: 503 }), { once: true }))
    const started = await t.start(6_700)
    expect(started.body).toMatchObject({ state: 'pending', vendorPaymentId: null, failureCode: 'outcome_unknown' })

    const canceled = await t.cashier.post(`/api/v1/terminal-payments/${started.body.id}/cancel`)
    expect(canceled.body).toMatchObject({ state: 'cancel_requested', vendorPaymentId: null })
    const read = await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)
    expect(read.body).toMatchObject({ state: 'canceled' })
    expect(sim.state.paymentIntents.get(read.body.vendorPaymentId)!.status).toBe('canceled')
    expect(readerCalls(t.readerId)).toHaveLength(0)
  })

  it('a cancel while the start is handing the intent to the reader: the intent is canceled at Stripe, the reader never collects it', async () => {
    const t = await terminal()
    const key = randomUUID()
    const { reached, release } = holdNext(`https://api.stripe.com/v1/terminal/readers/${t.readerId}/process_payment_intent`)
    const startP = t.start(6_800, key)
    await reached
    const id = await paymentIdOf(key)

    const canceled = await t.cashier.post(`/api/v1/terminal-payments/${id}/cancel`)
    expect(canceled.body.state).toBe('canceled')
    release()
    const started = await startP
    expect(started.body.state).toBe('canceled')
    expect(sim.state.paymentIntents.get(started.body.vendorPaymentId)!.status).toBe('canceled')
    expect(sim.state.readers.get(t.readerId)!.action?.status).not.toBe('in_progress')
    expect((await t.cashier.get(`/api/v1/terminal-payments/${id}`)).body.state).toBe('canceled')
  })

  it('a repeated start with the same key is the same payment: one PaymentIntent, no second charge', async () => {
    const t = await terminal()
    const key = randomUUID()
    const first = await t.start(4_200, key)
    const intentsBefore = sim.state.paymentIntents.size
    const again = await t.start(4_200, key)
    expect(again.status).toBe(200)
    expect(again.body.id).toBe(first.body.id)
    expect(sim.state.paymentIntents.size).toBe(intentsBefore)
    // The key with another payment (amount or reference) is refused as on every route: 422 idempotency_key_reused.
    const other = await t.start(9_999, key)
    expect([other.status, other.body.error.code]).toEqual([422, 'idempotency_key_reused'])
    const otherReference = await t.cashier.post(`/api/v1/devices/${t.deviceId}/payments`, { amount: 4_200, reference: 'S1-01-0002' }, { headers: { 'idempotency-key': key } })
    expect([otherReference.status, otherReference.body.error.code]).toEqual([422, 'idempotency_key_reused'])
    const noKey = await t.cashier.post(`/api/v1/devices/${t.deviceId}/payments`, { amount: 100, reference: 'x' })
    expect(noKey.status).toBe(400)
    expect(noKey.body.error.code).toBe('idempotency_key_required')
    // A key every other route refuses (over 255 characters, or not visible ASCII) is refused here too, before Stripe.
    for (const bad of ['k'.repeat(256), 'x'.repeat(4000), 'tab\there']) {
      const r = await t.cashier.post(`/api/v1/devices/${t.deviceId}/payments`, { amount: 100, reference: 'x' }, { headers: { 'idempotency-key': bad } })
      expect([r.status, r.body.error.code]).toEqual([400, 'invalid_idempotency_key'])
    }
    expect(sim.state.paymentIntents.size).toBe(intentsBefore)
  })

  it('a busy reader refuses: the payment ends failed with the reason, and a new attempt needs a new key', async () => {
    const t = await terminal()
    await t.start(1_000)
    const second = await t.start(2_000)
    expect(second.status).toBe(201)
    expect(second.body).toMatchObject({ state: 'failed', failureCode: 'terminal_reader_busy' })
  })

  it('a reader call answered 503: the next read hands the payment to the reader again under the same key, and the card is collected', async () => {
    const t = await terminal()
    const lost = nextReaderCall(t.readerId, 503)
    const started = await t.start(3_000)
    expect(started.status).toBe(201)
    expect(started.body).toMatchObject({ state: 'pending', failureCode: 'outcome_unknown' })
    expect(started.body.vendorPaymentId).toMatch(/^pi_/)
    expect(sim.state.readers.get(t.readerId)!.action).toBeNull()
    const intentsBefore = sim.state.paymentIntents.size

    const read = await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)
    expect(read.status).toBe(200)
    expect(read.body).toMatchObject({ state: 'pending', failureCode: null })
    expect(sim.state.readers.get(t.readerId)!.action).toMatchObject({ status: 'in_progress', process_payment_intent: { payment_intent: started.body.vendorPaymentId } })
    expect(readerCalls(t.readerId).map((r) => r.idempotencyKey)).toEqual(lost)

    // once the reader holds it, reads only read
    expect((await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)).body.state).toBe('pending')
    expect(readerCalls(t.readerId)).toHaveLength(1)
    await present(t.readerId)
    const done = await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)
    expect(done.body).toMatchObject({ state: 'approved', last4: '4242' })
    expect(sim.state.paymentIntents.size).toBe(intentsBefore)
  })

  it('a reader call that reached the reader but whose answer was lost: the next read only reads, the payment is not sent twice', async () => {
    const t = await terminal()
    nextReaderCall(t.readerId, 503, { reach: true })
    const started = await t.start(3_100)
    expect(started.body).toMatchObject({ state: 'pending', failureCode: 'outcome_unknown' })
    const calls = readerCalls(t.readerId).length

    const read = await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)
    expect(read.body).toMatchObject({ state: 'pending', failureCode: null })
    expect(readerCalls(t.readerId)).toHaveLength(calls)
    await present(t.readerId)
    expect((await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)).body.state).toBe('approved')
    expect(readerCalls(t.readerId)).toHaveLength(calls)
  })

  it('a reader call whose 500 Stripe replays for its key: the next read hands the payment over under a new key', async () => {
    const t = await terminal()
    nextReaderCall(t.readerId, 500)
    const started = await t.start(3_200)
    expect(started.body).toMatchObject({ state: 'pending', failureCode: 'outcome_unknown' })
    const replayed = nextReaderCall(t.readerId, 500, { headers: { 'idempotent-replayed': 'true' } })

    const read = await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)
    expect(read.body).toMatchObject({ state: 'pending', failureCode: null })
    expect(sim.state.readers.get(t.readerId)!.action).toMatchObject({ status: 'in_progress', process_payment_intent: { payment_intent: started.body.vendorPaymentId } })
    const [again] = readerCalls(t.readerId)
    expect(again!.idempotencyKey).not.toBe(replayed[0])
    await present(t.readerId)
    expect((await t.cashier.get(`/api/v1/terminal-payments/${started.body.id}`)).body.state).toBe('approved')
  })

  it('a reader call answered 503 and the reader has since taken another payment: the read ends it failed as busy, the other payment keeps the reader', async () => {
    const t = await terminal()
    nextReaderCall(t.readerId, 503)
    const lost = await t.start(3_300)
    expect(lost.body.state).toBe('pending')
    const other = await t.start(3_400)
    expect(other.body.state).toBe('pending')

    const read = await t.cashier.get(`/api/v1/terminal-payments/${lost.body.id}`)
    expect(read.status).toBe(200)
    expect(read.body).toMatchObject({ state: 'failed', failureCode: 'terminal_reader_busy' })
    expect(sim.state.readers.get(t.readerId)!.action).toMatchObject({ status: 'in_progress', process_payment_intent: { payment_intent: other.body.vendorPaymentId } })
    await present(t.readerId)
    expect((await t.cashier.get(`/api/v1/terminal-payments/${other.body.id}`)).body.state).toBe('approved')
    expect((await t.cashier.get(`/api/v1/terminal-payments/${lost.body.id}`)).body.state).toBe('failed')
  })
})
