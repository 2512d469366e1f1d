// A card payment on a Stripe Terminal reader through the hub's API: the hub records the payment before calling
// Stripe, starts it on the reader, reads the outcome (approved, declined) and cancels on request; a repeated start
// with the same Idempotency-Key is the same payment, never a second charge. Stripe is the simulated API (msw).
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
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

  it('a repeated start with the same key is the same payment: one PaymentIntent, no second charge', async () => {
    const t = await terminal()
    const key = randomUUID()
    const first = await t.start(4_200, key)
    const intentsBefore = sim.state.paymentIntents.size
    const again = await t.start(4_200, key)
    expect(again.status).toBe(200)
    expect(again.body.id).toBe(first.body.id)
    expect(sim.state.paymentIntents.size).toBe(intentsBefore)
    const other = await t.start(9_999, key)
    expect(other.status).toBe(409)
    expect(other.body.error.code).toBe('idempotency_key_reused')
    const noKey = await t.cashier.post(`/api/v1/devices/${t.deviceId}/payments`, { amount: 100, reference: 'x' })
    expect(noKey.status).toBe(400)
    expect(noKey.body.error.code).toBe('idempotency_key_required')
  })

  it('a busy reader refuses: the payment ends failed with the reason, and a new attempt needs a new key', async () => {
    const t = await terminal()
    await t.start(1_000)
    const second = await t.start(2_000)
    expect(second.status).toBe(201)
    expect(second.body).toMatchObject({ state: 'failed', failureCode: 'terminal_reader_busy' })
  })
})
