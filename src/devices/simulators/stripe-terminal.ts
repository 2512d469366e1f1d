// Stripe Terminal's server-driven API as a plain `(Request) => Promise<Response>` function, wrapped as msw handlers
// for tests and served on a real local port for the demo. It keeps Stripe's rules that matter to a till: bearer
// `sk_test_` keys, form-encoded bodies (`metadata[k]`, `payment_method_types[]`), strict parameters, the error
// envelope, Idempotency-Key replay (same key and parameters: the stored answer; other parameters: idempotency_error),
// one action per reader (409 terminal_reader_busy), offline readers (terminal_reader_offline), PaymentIntents from
// requires_payment_method to succeeded or back with last_payment_error, and the test helper that presents a card
// (4000000000000002 declines, 4000000000009995 has insufficient funds, anything else approves). A card is authorised
// the moment it is presented; there is no visible `processing` step.
// https://docs.stripe.com/terminal/payments/collect-card-payment?terminal-sdk-platform=server-driven,
// https://docs.stripe.com/api/idempotent_requests, https://docs.stripe.com/terminal/references/testing
import { randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { http } from 'msw'

type Params = Record<string, string | string[] | Record<string, string>>

export interface SimReaderAction {
  type: 'process_payment_intent'
  status: 'in_progress' | 'succeeded' | 'failed'
  failure_code: string | null
  failure_message: string | null
  process_payment_intent: { payment_intent: string }
}

export interface SimReader {
  id: string
  object: 'terminal.reader'
  action: SimReaderAction | null
  device_type: 'simulated_wisepos_e'
  label: string
  livemode: false
  location: string | null
  metadata: Record<string, string>
  serial_number: string
  status: 'online' | 'offline'
}

interface CardDetails {
  brand: string
  last4: string
  exp_month: number
  exp_year: number
  funding: 'credit'
  read_method: 'contactless_emv'
}

export interface SimCharge {
  id: string
  object: 'charge'
  amount: number
  amount_captured: number
  captured: boolean
  created: number
  currency: string
  failure_code: string | null
  failure_message: string | null
  outcome: { type: 'authorized' | 'issuer_declined'; network_status: string; reason: string | null }
  paid: boolean
  payment_intent: string
  payment_method: string
  payment_method_details: { type: 'card_present'; card_present: CardDetails }
  status: 'succeeded' | 'failed'
}

export interface SimPaymentIntent {
  id: string
  object: 'payment_intent'
  amount: number
  amount_capturable: number
  amount_received: number
  canceled_at: number | null
  cancellation_reason: string | null
  capture_method: string
  client_secret: string
  created: number
  currency: string
  description: string | null
  last_payment_error: { type: 'card_error'; code: string; decline_code: string; message: string; charge: string; payment_method: { id: string; type: 'card_present'; card_present: CardDetails } } | null
  latest_charge: string | null
  livemode: false
  metadata: Record<string, string>
  payment_method: string | null
  payment_method_types: string[]
  status: 'requires_payment_method' | 'requires_capture' | 'succeeded' | 'canceled'
}

export interface SimRequest {
  method: string
  path: string
  idempotencyKey: string | null
  params: Params
}

/** The test cards that decline, with the decline code and message Stripe gives them. */
const DECLINING: Record<string, { declineCode: string; message: string }> = {
  '4000000000000002': { declineCode: 'generic_decline', message: 'Your card was declined.' },
  '4000000000009995': { declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' },
}
const CANCELABLE = new Set(['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing'])
const PI_PARAMS = new Set(['amount', 'currency', 'payment_method_types', 'capture_method', 'metadata', 'description', 'expand'])

interface Reply {
  status: number
  body: unknown
}
/** A request refused while its parameters are checked: Stripe stores no idempotent result for it. */
class Refused extends Error {
  readonly reply: Reply
  constructor(reply: Reply) {
    super('refused')
    this.reply = reply
  }
}

const stripeError = (status: number, type: string, message: string, extra: Record<string, unknown> = {}): Reply => ({
  status,
  body: { error: { type, message, ...extra, ...(extra.code ? { doc_url: `https://docs.stripe.com/error-codes/${String(extra.code).replace(/_/g, '-')}` } : {}) } },
})
const missing = (what: string, id: string, param: string) => stripeError(404, 'invalid_request_error', `No such ${what}: '${id}'`, { code: 'resource_missing', param })
const offline = () =>
  stripeError(400, 'invalid_request_error', 'Reader is currently offline, please ensure the reader is powered on and connected to the internet before retrying your request.', {
    code: 'terminal_reader_offline',
  })

/** `a=1&m[k]=v&l[]=x&l[0]=y` → { a: '1', m: { k: 'v' }, l: ['x', 'y'] }: the one level of nesting these endpoints use. */
function parseForm(entries: Iterable<[string, string]>): Params {
  const params: Params = {}
  for (const [key, value] of entries) {
    const m = /^([^[\]]+)\[([^[\]]*)\]$/.exec(key)
    if (!m) params[key] = value
    else if (m[2] === '' || /^\d+$/.test(m[2]!)) params[m[1]!] = [...((params[m[1]!] as string[] | undefined) ?? []), value]
    else params[m[1]!] = { ...((params[m[1]!] as Record<string, string> | undefined) ?? {}), [m[2]!]: value }
  }
  return params
}

const text = (p: Params, key: string) => (typeof p[key] === 'string' ? (p[key] as string) : undefined)
const list = (p: Params, key: string) => (Array.isArray(p[key]) ? (p[key] as string[]) : undefined)
const hash = (p: Params, key: string) => (p[key] && typeof p[key] === 'object' && !Array.isArray(p[key]) ? (p[key] as Record<string, string>) : undefined)

export interface StripeTerminalSimOptions {
  baseUrl?: string
}

export function stripeTerminalSimulator(opts: StripeTerminalSimOptions = {}) {
  const base = opts.baseUrl ?? 'https://api.stripe.com'
  const state = {
    /** Every request answers 503 api_error, as during an outage. */
    down: false,
    requests: [] as SimRequest[],
    readers: new Map<string, SimReader>(),
    paymentIntents: new Map<string, SimPaymentIntent>(),
    charges: new Map<string, SimCharge>(),
    idempotency: new Map<string, { fingerprint: string; reply: Reply }>(),
  }
  let serial = 0
  const newId = (prefix: string) => `${prefix}_3Sim${(++serial).toString(36).padStart(4, '0')}${randomUUID().replace(/-/g, '').slice(0, 16)}`
  const now = () => Math.floor(Date.now() / 1000)

  function addReader(id: string, reader: { label?: string; status?: 'online' | 'offline' } = {}): SimReader {
    const created: SimReader = {
      id,
      object: 'terminal.reader',
      action: null,
      device_type: 'simulated_wisepos_e',
      label: reader.label ?? id,
      livemode: false,
      location: null,
      metadata: {},
      serial_number: randomUUID(),
      status: reader.status ?? 'online',
    }
    state.readers.set(id, created)
    return created
  }

  const readerOr404 = (id: string) => {
    const reader = state.readers.get(id)
    if (!reader) throw new Refused(missing('terminal.reader', id, 'reader'))
    return reader
  }
  const intentOr404 = (id: string, param: string) => {
    const intent = state.paymentIntents.get(id)
    if (!intent) throw new Refused(missing('payment_intent', id, param))
    return intent
  }
  const unexpectedState = (intent: SimPaymentIntent, doing: string) =>
    stripeError(400, 'invalid_request_error', `You cannot ${doing} this PaymentIntent because it has a status of ${intent.status}.`, {
      code: 'payment_intent_unexpected_state',
      payment_intent: intent,
    })
  const withCharge = (intent: SimPaymentIntent, expand: string[]) =>
    expand.includes('latest_charge') && intent.latest_charge ? { ...intent, latest_charge: state.charges.get(intent.latest_charge) } : intent

  function createIntent(p: Params): Reply {
    const unknown = Object.keys(p).find((k) => !PI_PARAMS.has(k))
    if (unknown) throw new Refused(stripeError(400, 'invalid_request_error', `Received unknown parameter: ${unknown}`, { code: 'parameter_unknown', param: unknown }))
    const amount = text(p, 'amount')
    if (amount === undefined) throw new Refused(stripeError(400, 'invalid_request_error', 'Missing required param: amount.', { code: 'parameter_missing', param: 'amount' }))
    if (!/^\d+$/.test(amount) || Number(amount) < 1)
      throw new Refused(stripeError(400, 'invalid_request_error', 'Invalid positive integer', { code: 'parameter_invalid_integer', param: 'amount' }))
    const currency = text(p, 'currency')
    if (!currency || !/^[a-z]{3}$/.test(currency))
      throw new Refused(stripeError(400, 'invalid_request_error', 'Missing required param: currency.', { code: 'parameter_missing', param: 'currency' }))
    const captureMethod = text(p, 'capture_method') ?? 'automatic'
    if (!['automatic', 'automatic_async', 'manual'].includes(captureMethod))
      throw new Refused(stripeError(400, 'invalid_request_error', `Invalid capture_method: must be one of automatic, automatic_async, or manual`, { param: 'capture_method' }))
    const id = newId('pi')
    const intent: SimPaymentIntent = {
      id,
      object: 'payment_intent',
      amount: Number(amount),
      amount_capturable: 0,
      amount_received: 0,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: captureMethod,
      client_secret: `${id}_secret_${randomUUID().replace(/-/g, '')}`,
      created: now(),
      currency,
      description: text(p, 'description') ?? null,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: hash(p, 'metadata') ?? {},
      payment_method: null,
      payment_method_types: list(p, 'payment_method_types') ?? ['card'],
      status: 'requires_payment_method',
    }
    state.paymentIntents.set(id, intent)
    return { status: 200, body: intent }
  }

  function cancelIntent(id: string, p: Params): Reply {
    const intent = intentOr404(id, 'intent')
    if (!CANCELABLE.has(intent.status)) return unexpectedState(intent, 'cancel')
    intent.status = 'canceled'
    intent.canceled_at = now()
    intent.cancellation_reason = text(p, 'cancellation_reason') ?? null
    return { status: 200, body: intent }
  }

  function processIntent(readerId: string, p: Params): Reply {
    const reader = readerOr404(readerId)
    const intentId = text(p, 'payment_intent')
    if (!intentId) throw new Refused(stripeError(400, 'invalid_request_error', 'Missing required param: payment_intent.', { code: 'parameter_missing', param: 'payment_intent' }))
    const intent = intentOr404(intentId, 'payment_intent')
    if (reader.status === 'offline') return offline()
    if (reader.action?.status === 'in_progress')
      return stripeError(409, 'invalid_request_error', 'Reader is currently busy processing another request. Please reference the integration guide for recommendations on handling this error.', {
        code: 'terminal_reader_busy',
      })
    if (intent.status !== 'requires_payment_method') return unexpectedState(intent, 'process')
    if (!intent.payment_method_types.includes('card_present'))
      return stripeError(400, 'invalid_request_error', 'The PaymentIntent must include card_present in payment_method_types to be processed on a reader.', { param: 'payment_intent' })
    reader.action = { type: 'process_payment_intent', status: 'in_progress', failure_code: null, failure_message: null, process_payment_intent: { payment_intent: intent.id } }
    return { status: 200, body: reader }
  }

  function cancelAction(readerId: string): Reply {
    const reader = readerOr404(readerId)
    if (reader.status === 'offline') return offline()
    if (reader.action?.status === 'in_progress') reader.action = null
    return { status: 200, body: reader }
  }

  function presentCard(readerId: string, p: Params): Reply {
    const reader = readerOr404(readerId)
    if (reader.status === 'offline') return offline()
    const action = reader.action
    if (action?.status !== 'in_progress')
      return stripeError(400, 'invalid_request_error', 'The reader has no in-progress action to present a payment method to.', { param: 'reader' })
    const intent = intentOr404(action.process_payment_intent.payment_intent, 'payment_intent')
    const number = hash(p, 'card_present')?.number ?? '4242424242424242'
    const brand = number.startsWith('4') ? 'visa' : /^5[1-5]/.test(number) ? 'mastercard' : /^3[47]/.test(number) ? 'amex' : 'unknown'
    const card: CardDetails = { brand, last4: number.slice(-4), exp_month: 12, exp_year: new Date().getUTCFullYear() + 3, funding: 'credit', read_method: 'contactless_emv' }
    const decline = DECLINING[number]
    const manual = intent.capture_method === 'manual'
    const paymentMethod = newId('pm')
    const charge: SimCharge = {
      id: newId('ch'),
      object: 'charge',
      amount: intent.amount,
      amount_captured: decline || manual ? 0 : intent.amount,
      captured: !decline && !manual,
      created: now(),
      currency: intent.currency,
      failure_code: decline ? 'card_declined' : null,
      failure_message: decline?.message ?? null,
      outcome: decline
        ? { type: 'issuer_declined', network_status: 'declined_by_network', reason: decline.declineCode }
        : { type: 'authorized', network_status: 'approved_by_network', reason: null },
      paid: !decline,
      payment_intent: intent.id,
      payment_method: paymentMethod,
      payment_method_details: { type: 'card_present', card_present: card },
      status: decline ? 'failed' : 'succeeded',
    }
    state.charges.set(charge.id, charge)
    intent.latest_charge = charge.id
    if (decline) {
      intent.last_payment_error = {
        type: 'card_error',
        code: 'card_declined',
        decline_code: decline.declineCode,
        message: decline.message,
        charge: charge.id,
        payment_method: { id: paymentMethod, type: 'card_present', card_present: card },
      }
      reader.action = { ...action, status: 'failed', failure_code: 'card_declined', failure_message: decline.message }
    } else {
      intent.last_payment_error = null
      intent.payment_method = paymentMethod
      intent.status = manual ? 'requires_capture' : 'succeeded'
      intent.amount_capturable = manual ? intent.amount : 0
      intent.amount_received = manual ? 0 : intent.amount
      reader.action = { ...action, status: 'succeeded' }
    }
    return { status: 200, body: reader }
  }

  const routes: [method: string, path: RegExp, run: (m: RegExpExecArray, p: Params) => Reply][] = [
    ['POST', /^\/v1\/payment_intents$/, (_m, p) => createIntent(p)],
    ['GET', /^\/v1\/payment_intents\/([^/]+)$/, (m, p) => ({ status: 200, body: withCharge(intentOr404(m[1]!, 'intent'), list(p, 'expand') ?? []) })],
    ['POST', /^\/v1\/payment_intents\/([^/]+)\/cancel$/, (m, p) => cancelIntent(m[1]!, p)],
    ['GET', /^\/v1\/terminal\/readers\/([^/]+)$/, (m) => ({ status: 200, body: readerOr404(m[1]!) })],
    ['POST', /^\/v1\/terminal\/readers\/([^/]+)\/process_payment_intent$/, (m, p) => processIntent(m[1]!, p)],
    ['POST', /^\/v1\/terminal\/readers\/([^/]+)\/cancel_action$/, (m) => cancelAction(m[1]!)],
    ['POST', /^\/v1\/test_helpers\/terminal\/readers\/([^/]+)\/present_payment_method$/, (m, p) => presentCard(m[1]!, p)],
  ]

  function route(method: string, path: string, params: Params): Reply {
    for (const [m, pattern, run] of routes) {
      const match = m === method ? pattern.exec(path) : null
      if (match) return run(match, params)
    }
    return stripeError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`)
  }

  const respond = (reply: Reply, headers: Record<string, string> = {}) =>
    Response.json(reply.body, { status: reply.status, headers: { 'request-id': `req_${randomUUID().replace(/-/g, '').slice(0, 14)}`, ...headers } })

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url)
    const method = request.method.toUpperCase()
    const bodyText = method === 'POST' ? await request.text() : ''
    const params = parseForm(method === 'POST' ? new URLSearchParams(bodyText) : url.searchParams)
    const key = method === 'POST' ? request.headers.get('idempotency-key') : null
    state.requests.push({ method, path: url.pathname, idempotencyKey: key, params })

    if (state.down) return respond(stripeError(503, 'api_error', 'Stripe is temporarily unavailable. Please try again later.'))
    const auth = request.headers.get('authorization')
    if (!auth) return respond(stripeError(401, 'invalid_request_error', 'You did not provide an API key.'))
    if (!/^Bearer sk_test_\w+$/.test(auth)) return respond(stripeError(401, 'invalid_request_error', `Invalid API Key provided: ${auth.replace(/^Bearer\s+/, '').slice(0, 8)}****`))

    const fingerprint = `${method} ${url.pathname} ${[...new URLSearchParams(bodyText)].map(([k, v]) => `${k}=${v}`).sort().join('&')}`
    const keyHeaders: Record<string, string> = key ? { 'idempotency-key': key } : {}
    if (key) {
      const stored = state.idempotency.get(key)
      if (stored && stored.fingerprint !== fingerprint)
        return respond(
          stripeError(400, 'idempotency_error', `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`),
          keyHeaders,
        )
      if (stored) return respond(stored.reply, { ...keyHeaders, 'idempotent-replayed': 'true' })
    }
    let reply: Reply
    try {
      reply = route(method, url.pathname, params)
    } catch (e) {
      if (e instanceof Refused) return respond(e.reply, keyHeaders)
      throw e
    }
    // The answer is stored as sent: a replay shows the objects as they were then, not as they are now.
    if (key) state.idempotency.set(key, { fingerprint, reply: { status: reply.status, body: structuredClone(reply.body) } })
    return respond(reply, keyHeaders)
  }

  /** Serves the simulator on 127.0.0.1 (port 0: any free one) for the demo; the client's baseUrl is `url`. */
  function listen(port = 0): Promise<{ url: string; close(): Promise<void> }> {
    return new Promise((resolve) => {
      const server = serve({ fetch: handle, port, hostname: '127.0.0.1' }, (info: AddressInfo) =>
        resolve({
          url: `http://127.0.0.1:${info.port}`,
          close: () =>
            new Promise<void>((done) => {
              ;(server as Server).close(() => done())
              ;(server as Server).closeAllConnections()
            }),
        }),
      )
    })
  }

  return {
    state,
    handle,
    handlers: [http.all(`${base}/*`, ({ request }) => handle(request))],
    addReader,
    listen,
  }
}

export type StripeTerminalSimulator = ReturnType<typeof stripeTerminalSimulator>
