// A Stripe simulator for msw: bearer secret-key auth, Stripe's error envelope, the balance object, and the balance
// transactions list with its real paging (newest first, `limit`, `starting_after`, `has_more`), `created[…]` filters,
// `expand[]=data.source`, strict parameter checking and a 429 with Retry-After on demand.
// https://docs.stripe.com/api/errors, https://docs.stripe.com/api/balance/balance_object,
// https://docs.stripe.com/api/balance_transactions/list, https://docs.stripe.com/api/pagination
import { http, HttpResponse } from 'msw'

export interface StripeSandboxOptions {
  baseUrl?: string
  secretKey: string
  livemode?: boolean
}

const stripeError = (status: number, type: string, message: string, code?: string, headers: Record<string, string> = {}) =>
  HttpResponse.json(
    { error: { type, message, ...(code ? { code, doc_url: `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}` } : {}), request_log_url: 'https://dashboard.stripe.com/test/logs/req_sim' } },
    { status, headers: { 'request-id': `req_${Math.random().toString(36).slice(2, 16)}`, ...headers } },
  )

type StripeObject = Record<string, unknown> & { id: string; object: string }

export interface SimBalanceTransaction {
  id: string
  object: 'balance_transaction'
  amount: number
  available_on: number
  created: number
  currency: string
  description: string | null
  exchange_rate: null
  fee: number
  fee_details: { amount: number; application: null; currency: string; description: string; type: string }[]
  net: number
  reporting_category: string
  source: string | null
  status: 'available' | 'pending'
  type: string
}

const seconds = (t: Date | number) => (typeof t === 'number' ? t : Math.floor(t.getTime() / 1000))
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export function stripeSandbox(opts: StripeSandboxOptions) {
  const base = opts.baseUrl ?? 'https://api.stripe.com'
  const state = {
    requests: [] as { method: string; path: string; authorization: string | null; version: string | null; query: URLSearchParams }[],
    down: false,
    /** The next this many balance-transaction list calls are refused with 429 and Retry-After. */
    rateLimitNext: 0,
    retryAfterSeconds: 1,
    balanceTransactions: [] as SimBalanceTransaction[],
    objects: new Map<string, StripeObject>(),
    /** The balance transactions each automatic payout paid out, its own included. */
    paidOut: new Map<string, Set<string>>(),
  }
  let serial = 0
  /** Stripe-shaped ids (`txn_3Sim…`), unique within the sandbox. */
  const newId = (prefix: string) => {
    serial++
    let tail = ''
    for (let i = 0, n = serial * 2654435761; i < 14; i++, n = Math.floor(n / 7) + i * 13) tail += ALPHABET[n % ALPHABET.length]
    return `${prefix}_3Sim${serial.toString(36).padStart(6, '0')}${tail}`
  }

  const authorised = (req: Request) => {
    const auth = req.headers.get('authorization')
    const url = new URL(req.url)
    state.requests.push({ method: req.method, path: url.pathname, authorization: auth, version: req.headers.get('stripe-version'), query: url.searchParams })
    if (auth !== `Bearer ${opts.secretKey}`) {
      const shown = auth?.replace(/^Bearer\s+/, '') ?? ''
      return stripeError(401, 'invalid_request_error', `Invalid API Key provided: ${shown.slice(0, 8)}${'*'.repeat(Math.max(0, shown.length - 12))}${shown.slice(-4)}`)
    }
    return null
  }

  function addTxn(t: Omit<SimBalanceTransaction, 'id' | 'object' | 'net' | 'exchange_rate' | 'fee_details' | 'available_on' | 'status'> & { available_on?: number; status?: 'available' | 'pending' }) {
    const txn: SimBalanceTransaction = {
      id: newId('txn'),
      object: 'balance_transaction',
      exchange_rate: null,
      fee_details: t.fee ? [{ amount: t.fee, application: null, currency: t.currency, description: 'Stripe processing fees', type: 'stripe_fee' }] : [],
      net: t.amount - t.fee,
      available_on: t.available_on ?? t.created + 2 * 86_400,
      status: t.status ?? 'available',
      ...t,
    }
    state.balanceTransactions.push(txn)
    return txn
  }

  /** A card payment: the charge, its PaymentIntent and its balance transaction (amount and fee in minor units). */
  function addCharge(p: { amount: number; fee: number; created: Date | number; currency?: string; metadata?: Record<string, string>; paymentIntent?: string | null }) {
    const currency = p.currency ?? 'usd'
    const created = seconds(p.created)
    const chargeId = newId('ch')
    const pi = p.paymentIntent === undefined ? newId('pi') : p.paymentIntent
    const txn = addTxn({ amount: p.amount, fee: p.fee, currency, created, description: 'Payment', reporting_category: 'charge', source: chargeId, type: 'charge' })
    const charge: StripeObject = {
      id: chargeId,
      object: 'charge',
      amount: p.amount,
      amount_captured: p.amount,
      amount_refunded: 0,
      balance_transaction: txn.id,
      billing_details: { email: 'customer@example.com', name: 'Jenny Rosen', address: null, phone: null },
      created,
      currency,
      livemode: opts.livemode ?? false,
      metadata: p.metadata ?? {},
      paid: true,
      payment_intent: pi,
      payment_method_details: { type: 'card_present', card_present: { brand: 'visa', last4: '4242' } },
      refunded: false,
      status: 'succeeded',
    }
    state.objects.set(chargeId, charge)
    return { txn, charge }
  }

  /** A refund of a charge: a negative balance transaction; `fee` negative when Stripe gives fees back. */
  function addRefund(p: { charge: StripeObject; amount: number; created: Date | number; fee?: number; metadata?: Record<string, string> }) {
    const created = seconds(p.created)
    const currency = String(p.charge.currency)
    const refundId = newId('re')
    const txn = addTxn({ amount: -p.amount, fee: p.fee ?? 0, currency, created, description: 'REFUND FOR CHARGE', reporting_category: 'refund', source: refundId, type: 'refund' })
    state.objects.set(refundId, {
      id: refundId,
      object: 'refund',
      amount: p.amount,
      balance_transaction: txn.id,
      charge: p.charge.id,
      created,
      currency,
      metadata: p.metadata ?? {},
      payment_intent: p.charge.payment_intent ?? null,
      reason: 'requested_by_customer',
      status: 'succeeded',
    })
    p.charge.amount_refunded = Number(p.charge.amount_refunded) + p.amount
    return { txn, refundId }
  }

  /**
   * An automatic payout to the bank: the balance goes down by `amount`. `paidOut`: the balance transactions it pays out
   * (listed by `payout=`); given, the payout's amount is their net.
   */
  function addPayout(p: { amount?: number; created: Date | number; currency?: string; status?: string; paidOut?: SimBalanceTransaction[] }) {
    const created = seconds(p.created)
    const currency = p.currency ?? 'usd'
    const payoutId = newId('po')
    const amount = p.amount ?? (p.paidOut ?? []).reduce((a, t) => a + t.net, 0)
    const txn = addTxn({ amount: -amount, fee: 0, currency, created, description: 'STRIPE PAYOUT', reporting_category: 'payout', source: payoutId, type: 'payout' })
    // Stripe lists the payout's own balance transaction among those of the payout.
    state.paidOut.set(payoutId, new Set([...(p.paidOut ?? []).map((t) => t.id), txn.id]))
    state.objects.set(payoutId, {
      id: payoutId,
      object: 'payout',
      amount,
      arrival_date: created + 86_400,
      automatic: true,
      balance_transaction: txn.id,
      created,
      currency,
      destination: 'ba_1SimBankAccount0000000',
      metadata: {},
      method: 'standard',
      status: p.status ?? 'paid',
      type: 'bank_account',
    })
    return { txn, payoutId }
  }

  /** A fee Stripe bills apart from any payment (Radar, Terminal hardware, billing): no source. */
  function addStripeFee(p: { amount: number; created: Date | number; currency?: string; description?: string }) {
    return addTxn({ amount: -p.amount, fee: 0, currency: p.currency ?? 'usd', created: seconds(p.created), description: p.description ?? 'Radar for Fraud Teams', reporting_category: 'fee', source: null, type: 'stripe_fee' })
  }

  function addAdjustment(p: { amount: number; created: Date | number; currency?: string; reportingCategory?: string; description?: string }) {
    return addTxn({
      amount: p.amount,
      fee: 0,
      currency: p.currency ?? 'usd',
      created: seconds(p.created),
      description: p.description ?? 'Adjustment',
      reporting_category: p.reportingCategory ?? 'other_adjustment',
      source: null,
      type: 'adjustment',
    })
  }

  const LIST_PARAMS = new Set(['created[gt]', 'created[gte]', 'created[lt]', 'created[lte]', 'created', 'currency', 'ending_before', 'limit', 'payout', 'source', 'starting_after', 'type', 'expand[]'])
  const EXPANDABLE = new Set(['data.source'])

  function listBalanceTransactions(url: URL) {
    const q = url.searchParams
    for (const key of q.keys()) {
      if (!LIST_PARAMS.has(key)) return stripeError(400, 'invalid_request_error', `Received unknown parameter: ${key}`, 'parameter_unknown')
    }
    const int = (name: string): number | undefined | Response => {
      const v = q.get(name)
      if (v === null) return undefined
      if (!/^-?\d+$/.test(v)) return stripeError(400, 'invalid_request_error', `Invalid integer: ${v}`, 'parameter_invalid_integer')
      return Number(v)
    }
    const bounds: Record<string, number | undefined> = {}
    for (const op of ['gt', 'gte', 'lt', 'lte']) {
      const v = int(`created[${op}]`)
      if (v instanceof Response) return v
      bounds[op] = v
    }
    const limitParam = int('limit')
    if (limitParam instanceof Response) return limitParam
    const limit = limitParam ?? 10
    if (limit < 1 || limit > 100) return stripeError(400, 'invalid_request_error', `Invalid limit: must be between 1 and 100`, 'parameter_invalid_integer')
    const expand = q.getAll('expand[]')
    for (const e of expand) if (!EXPANDABLE.has(e)) return stripeError(400, 'invalid_request_error', `This property cannot be expanded (${e}).`, 'parameter_invalid_string')

    const payout = q.get('payout')
    if (payout && !state.paidOut.has(payout)) return stripeError(404, 'invalid_request_error', `No such payout: '${payout}'`, 'resource_missing')
    // Newest first, as Stripe lists.
    const all = state.balanceTransactions
      .filter(
        (t) =>
          (bounds.gt === undefined || t.created > bounds.gt) &&
          (bounds.gte === undefined || t.created >= bounds.gte) &&
          (bounds.lt === undefined || t.created < bounds.lt) &&
          (bounds.lte === undefined || t.created <= bounds.lte) &&
          (!q.get('type') || t.type === q.get('type')) &&
          (!q.get('payout') || (state.paidOut.get(q.get('payout')!)?.has(t.id) ?? false)) &&
          (!q.get('currency') || t.currency === q.get('currency')),
      )
      .sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    let from = 0
    const after = q.get('starting_after')
    if (after) {
      const i = all.findIndex((t) => t.id === after)
      if (i < 0) return stripeError(400, 'invalid_request_error', `No such balance transaction: '${after}'`, 'resource_missing')
      from = i + 1
    }
    const page = all.slice(from, from + limit)
    const data = page.map((t) => (expand.includes('data.source') && t.source ? { ...t, source: state.objects.get(t.source) ?? t.source } : t))
    return HttpResponse.json({ object: 'list', data, has_more: from + limit < all.length, url: '/v1/balance_transactions' })
  }

  const handlers = [
    http.get(`${base}/v1/balance`, ({ request }) => {
      if (state.down) return stripeError(500, 'api_error', 'An unknown error occurred')
      const refused = authorised(request)
      if (refused) return refused
      return HttpResponse.json({
        object: 'balance',
        livemode: opts.livemode ?? false,
        available: [{ amount: 1520, currency: 'usd', source_types: { card: 1520 } }],
        pending: [{ amount: 0, currency: 'usd', source_types: { card: 0 } }],
      })
    }),
    http.get(`${base}/v1/balance_transactions`, ({ request }) => {
      if (state.down) return stripeError(500, 'api_error', 'An unknown error occurred')
      const refused = authorised(request)
      if (refused) return refused
      if (state.rateLimitNext > 0) {
        state.rateLimitNext--
        return stripeError(429, 'invalid_request_error', 'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.', 'rate_limit', {
          'retry-after': String(state.retryAfterSeconds),
          'stripe-should-retry': 'true',
        })
      }
      return listBalanceTransactions(new URL(request.url))
    }),
  ]
  return { handlers, state, addCharge, addRefund, addPayout, addStripeFee, addAdjustment }
}
