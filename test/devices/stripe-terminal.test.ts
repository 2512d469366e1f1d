import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { delay, http } from 'msw'
import { setupServer } from 'msw/node'
import { StripeTerminalError, stripeTerminal, type StripeTerminal } from '../../src/devices/terminal/stripe-terminal.ts'
import { stripeTerminalSimulator } from '../../src/devices/simulators/stripe-terminal.ts'

const KEY = 'sk_test_51TillbridgeTerminal000000'

/** The reader's test helper: the customer taps a card (Stripe's test numbers decide the outcome). */
async function presentCard(baseUrl: string, readerId: string, number?: string) {
  const res = await fetch(`${baseUrl}/v1/test_helpers/terminal/readers/${readerId}/present_payment_method`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': randomUUID() },
    body: new URLSearchParams(number ? { type: 'card_present', 'card_present[number]': number } : { type: 'card_present' }),
  })
  expect(res.status).toBe(200)
}

const refusal = async (p: Promise<unknown>): Promise<StripeTerminalError> => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(StripeTerminalError)
  return e as StripeTerminalError
}

describe('Stripe Terminal payments (server-driven)', () => {
  const base = 'https://api.stripe.com'
  const sim = stripeTerminalSimulator()
  const server = setupServer(...sim.handlers)
  const terminal = stripeTerminal({ secretKey: KEY })
  let n = 0
  /** A fresh online reader for each test, so no test sees another's action. */
  const reader = (status: 'online' | 'offline' = 'online') => sim.addReader(`tmr_Sim${++n}Till`, { label: `Till ${n}`, status }).id
  const start = (readerId: string, amount = 1280, key = randomUUID()) =>
    terminal.startPayment({ readerId, amount, currency: 'CNY', reference: `SH01T01-20260314-${String(n).padStart(6, '0')}`, idempotencyKey: key })

  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterEach(() => {
    server.resetHandlers()
    sim.state.down = false
  })
  afterAll(() => server.close())

  it('an approved payment goes from pending on the reader to approved with its charge and card', async () => {
    const readerId = reader()
    const key = randomUUID()
    const started = await start(readerId, 1280, key)
    expect(started).toEqual({ paymentIntentId: expect.stringMatching(/^pi_/), readerAction: { status: 'in_progress', type: 'process_payment_intent' } })

    const create = sim.state.requests.find((r) => r.method === 'POST' && r.path === '/v1/payment_intents' && r.idempotencyKey === key)
    expect(create?.params).toEqual({
      amount: '1280',
      currency: 'cny',
      'payment_method_types': ['card_present'],
      capture_method: 'automatic',
      metadata: { reference: expect.stringMatching(/^SH01T01-/) },
    })
    expect(sim.state.requests.filter((r) => r.method === 'POST').every((r) => r.idempotencyKey)).toBe(true)

    expect(await terminal.getPayment(readerId, started.paymentIntentId)).toMatchObject({
      state: 'pending',
      readerAction: { status: 'in_progress', type: 'process_payment_intent' },
      chargeId: null,
    })

    await presentCard(base, readerId)
    const paid = await terminal.getPayment(readerId, started.paymentIntentId)
    expect(paid).toEqual({
      paymentIntentId: started.paymentIntentId,
      state: 'approved',
      amount: 1280,
      currency: 'cny',
      failureCode: null,
      declineCode: null,
      failureMessage: null,
      chargeId: expect.stringMatching(/^ch_/),
      cardBrand: 'visa',
      last4: '4242',
      readerAction: { status: 'succeeded', type: 'process_payment_intent' },
    })
    expect(sim.state.paymentIntents.get(started.paymentIntentId)).toMatchObject({ status: 'succeeded', amount_received: 1280, latest_charge: paid.chargeId })
  })

  it('the declining test card leaves the payment declined with card_declined', async () => {
    const readerId = reader()
    const { paymentIntentId } = await start(readerId)
    await presentCard(base, readerId, '4000000000000002')
    expect(await terminal.getPayment(readerId, paymentIntentId)).toMatchObject({
      state: 'declined',
      failureCode: 'card_declined',
      declineCode: 'generic_decline',
      failureMessage: 'Your card was declined.',
      last4: '0002',
      readerAction: { status: 'failed', type: 'process_payment_intent' },
    })
    expect(sim.state.paymentIntents.get(paymentIntentId)).toMatchObject({ status: 'requires_payment_method', amount_received: 0 })
  })

  it('a payment cancelled before the card is presented ends canceled and frees the reader', async () => {
    const readerId = reader()
    const { paymentIntentId } = await start(readerId)
    expect(await terminal.cancelPayment(readerId, paymentIntentId)).toMatchObject({ state: 'canceled', readerAction: null })
    expect(sim.state.readers.get(readerId)?.action).toBeNull()
    expect(sim.state.paymentIntents.get(paymentIntentId)?.status).toBe('canceled')
    expect((await start(readerId)).readerAction.status).toBe('in_progress')
  })

  it('cancelling after the customer paid reports the payment approved, not canceled', async () => {
    const readerId = reader()
    const { paymentIntentId } = await start(readerId)
    await presentCard(base, readerId)
    expect(await terminal.cancelPayment(readerId, paymentIntentId)).toMatchObject({ state: 'approved', last4: '4242' })
    expect(sim.state.paymentIntents.get(paymentIntentId)?.status).toBe('succeeded')
  })

  it('a reader busy with another payment refuses the start with a typed error, and cancelling ours leaves the other alone', async () => {
    const readerId = reader()
    const first = await start(readerId)
    const e = await refusal(start(readerId, 990))
    expect(e).toMatchObject({ code: 'terminal_reader_busy', status: 409, outcomeUnknown: false, paymentIntentId: expect.stringMatching(/^pi_/) })

    expect(await terminal.cancelPayment(readerId, e.paymentIntentId!)).toMatchObject({ state: 'canceled', readerAction: null })
    expect(sim.state.readers.get(readerId)?.action).toMatchObject({ status: 'in_progress', process_payment_intent: { payment_intent: first.paymentIntentId } })
    expect(sim.state.requests.some((r) => r.path === `/v1/terminal/readers/${readerId}/cancel_action`)).toBe(false)
  })

  it('an offline reader refuses the start', async () => {
    const readerId = reader('offline')
    const e = await refusal(start(readerId))
    expect(e).toMatchObject({ code: 'terminal_reader_offline', status: 400, outcomeUnknown: false })
    expect(sim.state.paymentIntents.get(e.paymentIntentId!)?.status).toBe('requires_payment_method')
  })

  it('starting again with the same key returns the same PaymentIntent and never a second one', async () => {
    const readerId = reader()
    const key = randomUUID()
    const before = sim.state.paymentIntents.size
    const first = await start(readerId, 4500, key)
    const again = await start(readerId, 4500, key)
    expect(again).toEqual(first)
    expect(sim.state.paymentIntents.size).toBe(before + 1)
    expect(sim.state.readers.get(readerId)?.action).toMatchObject({ status: 'in_progress', process_payment_intent: { payment_intent: first.paymentIntentId } })

    const e = await refusal(start(readerId, 4600, key))
    expect(e).toMatchObject({ code: 'idempotency_error', status: 400 })
    expect(sim.state.paymentIntents.size).toBe(before + 1)
  })

  it('an unknown PaymentIntent is resource_missing', async () => {
    const e = await refusal(terminal.getPayment(reader(), 'pi_3SimDoesNotExist0000'))
    expect(e).toMatchObject({ code: 'resource_missing', status: 404 })
  })

  it('a secret key that is not a test key is refused', async () => {
    const e = await refusal(stripeTerminal({ secretKey: 'rk_live_nope' }).getPayment(reader(), 'pi_x'))
    expect(e).toMatchObject({ code: 'invalid_request_error', status: 401 })
  })

  it('Stripe down fails the start at once with an error that says the outcome is unknown', async () => {
    sim.state.down = true
    const started = performance.now()
    const e = await refusal(start(reader()))
    expect(e).toMatchObject({ code: 'api_error', status: 503, outcomeUnknown: true })
    expect(performance.now() - started).toBeLessThan(2000)
  })

  it('a Stripe that never answers fails after the client timeout instead of hanging', async () => {
    server.use(http.all(`${base}/*`, async () => delay('infinite')))
    const e = await refusal(stripeTerminal({ secretKey: KEY, timeoutMs: 300 }).startPayment({ readerId: reader(), amount: 100, currency: 'cny', reference: 'T', idempotencyKey: randomUUID() }))
    expect(e).toMatchObject({ code: 'timeout', status: null, outcomeUnknown: true })
  })
})

describe('the Stripe Terminal simulator served over HTTP for the demo', () => {
  it('takes a payment end to end on a local port', async () => {
    const sim = stripeTerminalSimulator()
    const readerId = sim.addReader('tmr_DemoTill1', { label: 'Demo till' }).id
    const served = await sim.listen()
    try {
      const terminal: StripeTerminal = stripeTerminal({ secretKey: KEY, baseUrl: served.url })
      const { paymentIntentId } = await terminal.startPayment({ readerId, amount: 2580, currency: 'CNY', reference: 'DEMO-1', idempotencyKey: randomUUID() })
      await presentCard(served.url, readerId)
      expect(await terminal.getPayment(readerId, paymentIntentId)).toMatchObject({ state: 'approved', amount: 2580, last4: '4242' })
    } finally {
      await served.close()
    }
  })
})
