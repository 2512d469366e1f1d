// A card payment on a Stripe Terminal reader (BBPOS WisePOS E, S700) driven from the server (reference §5.4): create
// a card_present PaymentIntent, hand it to the reader with process_payment_intent, then read the reader's action and
// the intent until one of them says how it ended. Stripe's form-encoded API with a bearer secret key; every POST
// carries an Idempotency-Key.
//
// The caller's rules:
// - A payment is never sent twice. `startPayment` takes the caller's key (one per tender attempt, e.g.
//   `${orderId}:${tenderSeq}`) for the intent and derives the reader call's key from it, so repeating a start whose
//   answer was lost returns the same PaymentIntent and the same reader call instead of a second charge.
// - After any failure, and above all when `outcomeUnknown` (a timeout, a 5xx: Stripe may have acted), query
//   `getPayment` before trying again; Stripe stores the first answer to a key, errors included, so a new attempt
//   after an error needs a new key.
// - A start whose reader call had no clear answer leaves an unpaid intent that the reader may or may not hold.
//   `handOff` reads both again and, only while the intent waits for a card and the reader's action names another
//   intent or none, sends it to the reader again: under the start's key first (a 503 or a timeout stored nothing),
//   under a new key when Stripe replays a stored 5xx for it. An intent is paid once at most, and one the reader
//   holds is never sent again.
// - `cancelPayment` is a request: the customer may have paid a moment before, and the answer says what happened.
// https://docs.stripe.com/terminal/payments/collect-card-payment?terminal-sdk-platform=server-driven
import { randomUUID } from 'node:crypto'
import axios, { AxiosError, type AxiosInstance } from 'axios'
import { invalid } from '../../lib/errors.ts'
import { assertMinor } from '../../lib/money.ts'

export const STRIPE_API = 'https://api.stripe.com'

interface ReaderAction {
  type: string
  status: 'in_progress' | 'succeeded' | 'failed'
  failure_code: string | null
  failure_message: string | null
  process_payment_intent?: { payment_intent: string }
}
interface Reader {
  id: string
  status: 'online' | 'offline'
  action: ReaderAction | null
}
interface Charge {
  id: string
  payment_method_details?: { card_present?: { brand: string; last4: string } }
}
interface PaymentIntent {
  id: string
  status: string
  amount: number
  currency: string
  latest_charge: string | Charge | null
  last_payment_error: { code?: string; decline_code?: string; message?: string } | null
}

/** A Stripe error (`{error: {type, code, message}}`) or a failure to reach Stripe, with a stable `code`. */
export class StripeTerminalError extends Error {
  /** Stripe's `code` (terminal_reader_busy, terminal_reader_offline, resource_missing…), else its `type`; `unreachable` and `timeout` for the network. */
  readonly code: string
  readonly type: string
  /** The HTTP status, null when no answer came. */
  readonly status: number | null
  readonly declineCode: string | null
  /** Stripe may have carried the request out (a timeout, a 5xx): read the state before doing anything else. */
  readonly outcomeUnknown: boolean
  /** The PaymentIntent a failed start had already created (it stays unpaid; cancel it or start it again). */
  readonly paymentIntentId: string | null
  /** Stripe replayed the answer it stored for this idempotency key (`Idempotent-Replayed: true`): the key is spent. */
  readonly replayed: boolean

  constructor(message: string, fields: { code: string; type: string; status: number | null; declineCode?: string | null; outcomeUnknown: boolean; paymentIntentId?: string | null; replayed?: boolean }) {
    super(message)
    this.name = 'StripeTerminalError'
    this.code = fields.code
    this.type = fields.type
    this.status = fields.status
    this.declineCode = fields.declineCode ?? null
    this.outcomeUnknown = fields.outcomeUnknown
    this.paymentIntentId = fields.paymentIntentId ?? null
    this.replayed = fields.replayed ?? false
  }
}

export interface StartPayment {
  readerId: string
  /** Minor units, which are Stripe's smallest currency unit too. */
  amount: number
  currency: string
  /** Stored as metadata[reference]: the sale or payment number, for reconciliation. */
  reference: string
  idempotencyKey: string
}

export interface StartedPayment {
  paymentIntentId: string
  readerAction: { status: ReaderAction['status']; type: string }
}

export interface TerminalPayment {
  paymentIntentId: string
  state: 'pending' | 'approved' | 'declined' | 'canceled'
  amount: number
  currency: string
  failureCode: string | null
  declineCode: string | null
  failureMessage: string | null
  chargeId: string | null
  cardBrand: string | null
  last4: string | null
  /** The reader's action on this payment; null when the reader is not (or no longer) working on it. */
  readerAction: { status: ReaderAction['status']; type: string } | null
}

export interface HandOff {
  readerId: string
  paymentIntentId: string
  /** The key the payment was started with. */
  idempotencyKey: string
}

export interface StripeTerminalOptions {
  secretKey: string
  baseUrl?: string
  timeoutMs?: number
}

export interface StripeTerminal {
  /** Both steps of a start: `createIntent`, then `sendToReader`. */
  startPayment(input: StartPayment): Promise<StartedPayment>
  /** The first step of a start: the PaymentIntent alone, under the start's key (a repeat returns the same intent). */
  createIntent(input: StartPayment): Promise<{ paymentIntentId: string }>
  /** The second step: hands the intent to the reader under a key derived from the start's; an error names the intent. */
  sendToReader(input: HandOff): Promise<StartedPayment>
  getPayment(readerId: string, paymentIntentId: string): Promise<TerminalPayment>
  cancelPayment(readerId: string, paymentIntentId: string): Promise<TerminalPayment>
  handOff(input: HandOff): Promise<TerminalPayment>
}

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'])

function networkError(e: AxiosError): StripeTerminalError {
  const timedOut = e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT'
  return new StripeTerminalError(timedOut ? 'Stripe did not answer in time' : `Stripe could not be reached: ${e.message}`, {
    code: timedOut ? 'timeout' : 'unreachable',
    type: 'network_error',
    status: null,
    outcomeUnknown: !NOT_SENT.has(e.code ?? ''),
  })
}

function answerError(status: number, data: unknown, replayed: boolean): StripeTerminalError {
  const error = (data as { error?: { type?: string; code?: string; message?: string; decline_code?: string } } | null)?.error
  const type = error?.type ?? 'api_error'
  const code = error?.code ?? type
  return new StripeTerminalError(error?.message ?? `Stripe answered HTTP ${status}`, {
    code,
    type,
    status,
    declineCode: error?.decline_code,
    // idempotency_key_in_use: another request under this key is still running, and its outcome is not known yet.
    outcomeUnknown: status >= 500 || code === 'idempotency_key_in_use',
    replayed,
  })
}

const actionOf = (action: ReaderAction) => ({ status: action.status, type: action.type })
const isOn = (reader: Reader, paymentIntentId: string) => reader.action?.process_payment_intent?.payment_intent === paymentIntentId
/** The reader call of a start is keyed after the start's own key, so a repeated start repeats the same call. */
const handOffKey = (idempotencyKey: string) => `${idempotencyKey}:process`

/** One state from the reader's action and the intent: the intent's own end wins, then what the reader is doing. */
function paymentOf(reader: Reader, intent: PaymentIntent): TerminalPayment {
  const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null
  const card = charge?.payment_method_details?.card_present
  const action = isOn(reader, intent.id) ? reader.action : null
  const error = intent.last_payment_error
  const state: TerminalPayment['state'] =
    intent.status === 'succeeded'
      ? 'approved'
      : intent.status === 'canceled'
        ? 'canceled'
        : action?.status === 'in_progress'
          ? 'pending'
          : action?.status === 'failed' || error
            ? 'declined'
            : 'pending'
  const declined = state === 'declined'
  return {
    paymentIntentId: intent.id,
    state,
    amount: intent.amount,
    currency: intent.currency,
    failureCode: declined ? (error?.code ?? action?.failure_code ?? null) : null,
    declineCode: declined ? (error?.decline_code ?? null) : null,
    failureMessage: declined ? (error?.message ?? action?.failure_message ?? null) : null,
    chargeId: charge?.id ?? (typeof intent.latest_charge === 'string' ? intent.latest_charge : null),
    cardBrand: card?.brand ?? null,
    last4: card?.last4 ?? null,
    readerAction: action ? actionOf(action) : null,
  }
}

/** The intent still waits for a card and the reader's action is not on it: no reader is collecting this payment. */
const waitingForReader = (reader: Reader, intent: PaymentIntent) => intent.status === 'requires_payment_method' && !intent.last_payment_error && !isOn(reader, intent.id)

export function stripeTerminal(opts: StripeTerminalOptions): StripeTerminal {
  const http: AxiosInstance = axios.create({
    baseURL: opts.baseUrl ?? STRIPE_API,
    timeout: opts.timeoutMs ?? 15_000,
    headers: { Authorization: `Bearer ${opts.secretKey}` },
    validateStatus: () => true,
  })

  async function call<T>(method: 'GET' | 'POST', path: string, params: [string, string][], idempotencyKey?: string): Promise<T> {
    const form = new URLSearchParams(params).toString()
    let res
    try {
      res = await http.request({
        method,
        url: path,
        ...(method === 'GET'
          ? { params: new URLSearchParams(params) }
          : { data: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Idempotency-Key': idempotencyKey ?? randomUUID() } }),
      })
    } catch (e) {
      if (e instanceof AxiosError) throw networkError(e)
      throw e
    }
    if (res.status >= 400) throw answerError(res.status, res.data, res.headers['idempotent-replayed'] === 'true')
    return res.data as T
  }

  const readerPath = (readerId: string) => `/v1/terminal/readers/${encodeURIComponent(readerId)}`
  const intentPath = (id: string) => `/v1/payment_intents/${encodeURIComponent(id)}`

  const read = (readerId: string, paymentIntentId: string) =>
    Promise.all([call<Reader>('GET', readerPath(readerId), []), call<PaymentIntent>('GET', intentPath(paymentIntentId), [['expand[]', 'latest_charge']])])

  async function getPayment(readerId: string, paymentIntentId: string): Promise<TerminalPayment> {
    const [reader, intent] = await read(readerId, paymentIntentId)
    return paymentOf(reader, intent)
  }

  async function createIntent(input: StartPayment): Promise<{ paymentIntentId: string }> {
    assertMinor(input.amount)
    if (input.amount <= 0) throw invalid('amount_not_positive', 'a card payment needs a positive amount')
    const intent = await call<PaymentIntent>(
      'POST',
      '/v1/payment_intents',
      [
        ['amount', String(input.amount)],
        ['currency', input.currency.toLowerCase()],
        ['payment_method_types[]', 'card_present'],
        ['capture_method', 'automatic'],
        ['metadata[reference]', input.reference],
      ],
      input.idempotencyKey,
    )
    return { paymentIntentId: intent.id }
  }

  async function sendToReader({ readerId, paymentIntentId, idempotencyKey }: HandOff): Promise<StartedPayment> {
    try {
      const reader = await call<Reader>('POST', `${readerPath(readerId)}/process_payment_intent`, [['payment_intent', paymentIntentId]], handOffKey(idempotencyKey))
      return { paymentIntentId, readerAction: actionOf(reader.action!) }
    } catch (e) {
      if (!(e instanceof StripeTerminalError)) throw e
      throw new StripeTerminalError(e.message, { code: e.code, type: e.type, status: e.status, declineCode: e.declineCode, outcomeUnknown: e.outcomeUnknown, paymentIntentId, replayed: e.replayed })
    }
  }

  return {
    async startPayment(input) {
      const { paymentIntentId } = await createIntent(input)
      return sendToReader({ readerId: input.readerId, paymentIntentId, idempotencyKey: input.idempotencyKey })
    },

    createIntent,
    sendToReader,

    getPayment,

    /** Sends an unpaid intent that no reader is collecting to the reader again; otherwise only reads it. */
    async handOff({ readerId, paymentIntentId, idempotencyKey }) {
      const [reader, intent] = await read(readerId, paymentIntentId)
      if (!waitingForReader(reader, intent)) return paymentOf(reader, intent)
      const process = (key: string) => call<Reader>('POST', `${readerPath(readerId)}/process_payment_intent`, [['payment_intent', paymentIntentId]], key)
      try {
        try {
          await process(handOffKey(idempotencyKey))
        } catch (e) {
          // Stripe answers a key with its first answer forever, 500s included; the caller has just seen that the
          // reader does not hold this intent, so a new key cannot put it there twice.
          if (!(e instanceof StripeTerminalError && e.replayed && e.outcomeUnknown)) throw e
          await process(`${handOffKey(idempotencyKey)}:${randomUUID()}`)
        }
      } catch (e) {
        if (!(e instanceof StripeTerminalError) || e.outcomeUnknown) throw e
        // A refusal (terminal_reader_busy above all) may come from a concurrent read that handed this very intent
        // over a moment before: it only counts while the reader is still not on this intent.
        const [readerNow, intentNow] = await read(readerId, paymentIntentId)
        if (!waitingForReader(readerNow, intentNow)) return paymentOf(readerNow, intentNow)
        throw e
      }
      return getPayment(readerId, paymentIntentId)
    },

    /** Stops the reader if it is still collecting this payment (never another one), then cancels the intent unless it was paid. */
    async cancelPayment(readerId, paymentIntentId) {
      const reader = await call<Reader>('GET', readerPath(readerId), [])
      if (isOn(reader, paymentIntentId) && reader.action?.status === 'in_progress') await call('POST', `${readerPath(readerId)}/cancel_action`, [])
      try {
        await call('POST', `${intentPath(paymentIntentId)}/cancel`, [])
      } catch (e) {
        // Already paid, canceled or declined-and-canceled: the state below says which.
        if (!(e instanceof StripeTerminalError && e.code === 'payment_intent_unexpected_state')) throw e
      }
      return getPayment(readerId, paymentIntentId)
    },
  }
}
