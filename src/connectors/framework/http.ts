// The shared HTTP client every connection gets (DESIGN section 5): per-attempt timeouts, retries with exponential
// backoff and full jitter for requests safe to repeat, Retry-After and vendor rate headers, a client-side token
// bucket and a circuit breaker per connection, classified errors, and a redacted call log row per attempt.
//
// Words used below:
// - attempt: one request on the network (or refused before it: circuit open, local rate limit);
// - not sent: the vendor cannot have acted (connection refused, unknown host, 429), so even a POST may be repeated;
// - connection state: the token bucket, breaker and vendor hold-off of one connection, shared by every client
//   created for that connection id in this process.
import os from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import axios, { AxiosError, type AxiosResponse } from 'axios'
import {
  BrokenCircuitError,
  CircuitBreakerPolicy,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  fullJitterGenerator,
  handleWhen,
  type IBackoff,
} from 'cockatiel'
import type { Database } from '../../db/client.ts'
import type { Logger } from '../../lib/logger.ts'
import { spool } from '../../lib/spool.ts'
import type { Clock } from '../../runtime.ts'
import { createRedactor, recordCall, type CallOutcome } from './call-log.ts'
import { ConnectorError, type Classified, type ConnectorHttp, type ErrorKind, type HttpPolicy, type HttpRequest, type HttpResponse } from './http-types.ts'
import { parseRetryAfter } from '../../lib/retry-after.ts'
import { ADDRESS_REFUSED, guardedAgents, refusedHost } from '../../lib/net-guard.ts'

export const HTTP_DEFAULTS = { timeoutMs: 15_000, maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000, threshold: 5, halfOpenAfterMs: 30_000 } as const

const SAFE_TO_REPEAT = new Set<HttpRequest['method']>(['GET', 'HEAD', 'PUT', 'DELETE'])
/** Failures that happen before a byte reaches the vendor. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'])
/** Request mistakes of ours: repeating them cannot help. */
const BAD_REQUEST_CODES = new Set(['ERR_INVALID_URL', 'ERR_BAD_OPTION', 'ERR_BAD_OPTION_VALUE', 'ERR_NOT_SUPPORT', 'ERR_FORM_DATA_DEPTH_EXCEEDED'])

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>

export interface ConnectorHttpOptions {
  /** The hub's database: call log rows go through its pool, never through the caller's transaction. */
  database: Database
  logger: Logger
  clock: Clock
  merchantId: string
  connectionId: string
  policy: HttpPolicy
  /** Values masked wherever they would be logged (the connection's secret config values). */
  secretValues: string[]
  /** Waits between attempts and for the rate limits; injectable so tests can observe them. */
  sleep?: Sleep
  /** Where downloads (responseType 'file') are written; default the system's temporary directory. */
  downloadDir?: string
}

// ---- connection state ----------------------------------------------------------------------------------------

interface TokenBucket {
  perSecond: number
  burst: number
  tokens: number
  last: number
}

interface ConnectionState {
  breaker: CircuitBreakerPolicy
  breakerKey: string
  /** Date.now() when the circuit last opened (cockatiel measures the open period on the wall clock too). */
  openedAt: number
  halfOpenAfterMs: number
  bucket?: TokenBucket
  /** performance.now() until which the vendor told us to hold off. */
  blockedUntil: number
}

const states = new Map<string, ConnectionState>()

/** Errors that refused a call before the network: they say nothing about the vendor's health. */
const refusedLocally = new WeakSet<ConnectorError>()

function stateFor(connectionId: string, policy: HttpPolicy): ConnectionState {
  const threshold = policy.breaker?.threshold ?? HTTP_DEFAULTS.threshold
  const halfOpenAfterMs = policy.breaker?.halfOpenAfterMs ?? HTTP_DEFAULTS.halfOpenAfterMs
  const breakerKey = `${threshold}/${halfOpenAfterMs}`
  let state = states.get(connectionId)
  if (!state || state.breakerKey !== breakerKey) {
    const breaker = circuitBreaker(
      handleWhen((e) => e instanceof ConnectorError && (e.kind === 'retryable' || e.kind === 'rate_limited') && !refusedLocally.has(e)),
      { halfOpenAfter: halfOpenAfterMs, breaker: new ConsecutiveBreaker(threshold) },
    )
    const next: ConnectionState = { breaker, breakerKey, openedAt: 0, halfOpenAfterMs, bucket: state?.bucket, blockedUntil: state?.blockedUntil ?? 0 }
    breaker.onBreak(() => (next.openedAt = Date.now()))
    states.set(connectionId, next)
    state = next
  }
  const limit = policy.rateLimit
  if (!limit || !(limit.perSecond > 0)) state.bucket = undefined
  else {
    const burst = Math.max(1, limit.burst ?? limit.perSecond)
    if (!state.bucket) state.bucket = { perSecond: limit.perSecond, burst, tokens: burst, last: performance.now() }
    else Object.assign(state.bucket, { perSecond: limit.perSecond, burst })
  }
  return state
}

/** Takes a token; returns how long to wait for it. The debt is kept, so concurrent callers queue up in order. */
function reserveToken(bucket: TokenBucket, now: number): number {
  bucket.tokens = Math.min(bucket.burst, bucket.tokens + ((now - bucket.last) * bucket.perSecond) / 1000)
  bucket.last = now
  bucket.tokens -= 1
  return bucket.tokens >= 0 ? 0 : Math.ceil((-bucket.tokens * 1000) / bucket.perSecond)
}

// ---- headers and classification ------------------------------------------------------------------------------

export { parseRetryAfter }

/** How long the vendor asks us to wait, from Retry-After or its own rate-limit headers. */
function vendorWait(policy: HttpPolicy, headers: Record<string, string>, now: Date): number | undefined {
  const retryAfter = parseRetryAfter(headers['retry-after'], now)
  if (retryAfter !== undefined) return retryAfter
  const names = policy.rateLimitHeaders
  const after = names?.resetAfterSeconds ? Number(headers[names.resetAfterSeconds.toLowerCase()]) : NaN
  if (Number.isFinite(after) && after >= 0) return Math.ceil(after * 1000)
  const at = names?.resetAtEpochSeconds ? Number(headers[names.resetAtEpochSeconds.toLowerCase()]) : NaN
  if (Number.isFinite(at) && at > 0) return Math.max(0, Math.ceil(at * 1000 - now.getTime()))
  return undefined
}

function classifyStatus(status: number): ErrorKind | 'ok' {
  if (status < 400) return 'ok'
  if (status === 401 || status === 403) return 'auth_failed'
  if (status === 429) return 'rate_limited'
  if (status === 408 || status === 425 || status >= 500) return 'retryable'
  return 'permanent'
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined)

/** The vendor's error code and message from the common body shapes ({error:{code,message}}, {code,message}, {errcode,errmsg}). */
function vendorDetails(data: unknown): { vendorCode?: string; message?: string } {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return {}
  const d = data as Record<string, unknown>
  const e = d.error && typeof d.error === 'object' ? (d.error as Record<string, unknown>) : undefined
  return {
    vendorCode: str(e?.code) ?? str(e?.type) ?? str(d.code) ?? str(d.error_code) ?? str(d.errcode),
    message: str(e?.message) ?? str(d.message) ?? str(d.msg) ?? str(d.errmsg) ?? str(d.error_description) ?? (typeof d.error === 'string' ? d.error : undefined),
  }
}

function normaliseHeaders(h: AxiosResponse['headers'] | undefined): Record<string, string> {
  const raw = (h && typeof (h as { toJSON?: unknown }).toJSON === 'function' ? (h as { toJSON(): Record<string, unknown> }).toJSON() : h) ?? {}
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (v !== undefined && v !== null) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v)
  return out
}

/** How much of a downloaded body stays in memory: enough to tell a vendor's error reply from the file. */
const DOWNLOAD_HEAD_BYTES = 64 * 1024

const DIAGNOSTIC_HEADER = /^(content-type|content-length|retry-after|date|x-request-id|request-id|x-amzn-requestid|.*ratelimit.*|.*rate-limit.*)$/

// ---- the client ----------------------------------------------------------------------------------------------

interface Attempt {
  outcome: CallOutcome
  status?: number
  response?: HttpResponse
  /** Already redacted. */
  error?: string
  vendorCode?: string
  retryAfterMs?: number
  notSent?: boolean
  cause?: unknown
}

/**
 * Connections to vendors go only to addresses that are not link-local or cloud metadata (an integrator types some
 * vendor addresses in: a WooCommerce site's); one pair of keep-alive agents for every connection.
 */
const VENDOR_AGENTS = guardedAgents()

export function createConnectorHttp(opts: ConnectorHttpOptions): ConnectorHttp {
  const { policy, logger, clock, merchantId, connectionId, database } = opts
  const sleep: Sleep = opts.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }))
  const redactor = createRedactor(opts.secretValues)
  const maxAttempts = Math.max(1, policy.retry?.maxAttempts ?? HTTP_DEFAULTS.maxAttempts)
  const maxDelayMs = policy.retry?.maxDelayMs ?? HTTP_DEFAULTS.maxDelayMs
  const backoff = new ExponentialBackoff({ generator: fullJitterGenerator, initialDelay: policy.retry?.baseDelayMs ?? HTTP_DEFAULTS.baseDelayMs, maxDelay: maxDelayMs })
  const client = axios.create({ baseURL: policy.baseURL, headers: policy.headers, ...VENDOR_AGENTS })
  const extraDiagnostic = new Set(Object.values(policy.rateLimitHeaders ?? {}).map((n) => n.toLowerCase()))

  const diagnosticHeaders = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).filter(([k]) => DIAGNOSTIC_HEADER.test(k) || extraDiagnostic.has(k)))

  async function send(req: HttpRequest, params: Record<string, string | number | boolean> | undefined, signal: AbortSignal | undefined): Promise<Attempt> {
    // An address given as a link-local or metadata address is not resolved, so the agents' check never sees it.
    const refused = refusedHost(client.getUri({ url: req.url }))
    if (refused) return { outcome: 'permanent', error: `not sent: the address is ${refused}`, notSent: true, cause: Object.assign(new Error(`not sent: ${refused}`), { code: ADDRESS_REFUSED }) }
    const controller = new AbortController()
    let timedOut = false
    const timeoutMs = req.timeoutMs ?? policy.timeoutMs ?? HTTP_DEFAULTS.timeoutMs
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, timeoutMs)
    const onAbort = () => controller.abort()
    signal?.addEventListener('abort', onAbort, { once: true })
    const download = req.responseType === 'file' ? (opts.downloadDir ?? path.join(os.tmpdir(), 'tillbridge-downloads')) : undefined
    try {
      const res = await client.request({
        method: req.method,
        url: req.url,
        params,
        headers: req.headers,
        data: req.data,
        responseType: download ? 'stream' : ((req.responseType ?? 'json') as 'json' | 'text' | 'arraybuffer'),
        signal: controller.signal,
        validateStatus: () => true,
      })
      const response: HttpResponse = { status: res.status, headers: normaliseHeaders(res.headers), data: res.data }
      // Within the timeout: a download is complete once its last byte is on disk (a cut-off one leaves no file).
      const saved = download ? await spool(res.data as Readable, download, DOWNLOAD_HEAD_BYTES) : undefined
      if (saved) Object.assign(response, { data: saved.head, file: { path: saved.path, size: saved.size } })
      const result = classifyResponse(response)
      if (saved && result.outcome !== 'ok') await saved.discard()
      return result
    } catch (e) {
      if (signal?.aborted) throw signal.reason
      // The axios error carries the request config (headers with credentials): only a masked copy goes on.
      const code = (e instanceof AxiosError ? e.code : undefined) ?? (e as { code?: string }).code
      const sysCode = (e as { cause?: { code?: string } }).cause?.code
      const cause = (message: string) => Object.assign(new Error(message), { code: sysCode ?? code })
      if (timedOut) return { outcome: 'retryable', error: `no complete answer within ${timeoutMs} ms`, cause: cause('timeout') }
      const message = redactor.text(e instanceof Error ? e.message : String(e))
      if (code && BAD_REQUEST_CODES.has(code)) return { outcome: 'permanent', error: `the request could not be built: ${message}`, cause: cause(message) }
      const notSent = NOT_SENT_CODES.has(code ?? '') || NOT_SENT_CODES.has(sysCode ?? '')
      return { outcome: 'retryable', error: `network error: ${message}`, notSent, cause: cause(message) }
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  function classifyResponse(response: HttpResponse): Attempt {
    let verdict: Classified
    try {
      const custom = policy.classify?.(response)
      verdict = custom === undefined ? { kind: classifyStatus(response.status) } : typeof custom === 'string' ? { kind: custom } : custom
    } catch (e) {
      verdict = { kind: 'permanent', message: `the answer could not be read: ${e instanceof Error ? e.message : String(e)}` }
    }
    if (verdict.kind === 'ok') return { outcome: 'ok', status: response.status, response }
    const found = vendorDetails(response.data)
    const vendorCode = verdict.vendorCode ?? found.vendorCode
    const vendorMessage = verdict.message ?? found.message
    const retryAfterMs = verdict.kind === 'rate_limited' || verdict.kind === 'retryable' ? vendorWait(policy, response.headers, clock()) : undefined
    const detail = [vendorCode, vendorMessage ? redactor.text(vendorMessage).slice(0, 300) : undefined].filter(Boolean).join(': ')
    return {
      outcome: verdict.kind,
      status: response.status,
      response,
      vendorCode: vendorCode ? redactor.text(vendorCode).slice(0, 100) : undefined,
      retryAfterMs,
      // A 429 (or a body saying "throttled") means the vendor refused the call without acting on it.
      notSent: verdict.kind === 'rate_limited',
      error: `answered ${response.status}${detail ? ` (${detail})` : ''}`,
    }
  }

  /** A 429's wait, or the vendor's "no calls left in this window", holds off every caller of the connection. */
  function noteHoldOff(state: ConnectionState, result: Attempt) {
    const headers = result.response?.headers
    if (!headers) return
    let wait = result.outcome === 'rate_limited' ? result.retryAfterMs : undefined
    const name = policy.rateLimitHeaders?.remaining?.toLowerCase()
    if (wait === undefined && name && headers[name] !== undefined && Number(headers[name]) <= 0) wait = vendorWait(policy, headers, clock())
    if (wait !== undefined) state.blockedUntil = Math.max(state.blockedUntil, performance.now() + wait)
  }

  async function request<T = unknown>(req: HttpRequest): Promise<HttpResponse<T>> {
    const state = stateFor(connectionId, policy)
    const idempotent = req.idempotent ?? SAFE_TO_REPEAT.has(req.method)
    const params = req.params ? (Object.fromEntries(Object.entries(req.params).filter(([, v]) => v !== undefined)) as Record<string, string | number | boolean>) : undefined
    const url = redactor.url(client.getUri({ url: req.url, params }))
    const where = `${req.method} ${url.split('?')[0]}`
    const requestExcerpt = redactor.excerpt({ headers: { ...policy.headers, ...req.headers }, body: req.data })
    const base = { merchantId, connectionId, operation: req.operation, method: req.method, url }
    const fields = { connectionId, operation: req.operation, method: req.method, url }

    // Whether any attempt of this call so far may have been acted on (not refused by the vendor, not kept back here).
    let mayHaveActed = false
    const refuse = async (kind: ErrorKind, attempt: number, message: string, retryAfterMs?: number) => {
      await recordCall(database, logger, { ...base, attempt, outcome: kind, durationMs: 0, requestExcerpt, error: `not sent: ${message}`, at: clock() })
      logger.warn({ ...fields, kind, retryAfterMs }, `vendor call not sent: ${message}`)
      const err = new ConnectorError(kind, `${where} was not sent: ${message}`, { retryAfterMs, notSent: !mayHaveActed })
      refusedLocally.add(err)
      return err
    }

    /**
     * Waits out the backoff (`pause`), the vendor's hold-off and a token of the bucket (together, not one after the
     * other), or refuses when the hold-off or the bucket would make that longer than maxDelayMs.
     */
    const waitTurn = async (attempt: number, pause: number) => {
      const now = performance.now()
      const held = Math.max(0, state.blockedUntil - now)
      if (held > maxDelayMs) throw await refuse('rate_limited', attempt, `the vendor asked to wait ${Math.ceil(held)} ms`, Math.ceil(held))
      let wait = Math.max(pause, held)
      if (state.bucket) {
        const forToken = reserveToken(state.bucket, now)
        if (forToken > maxDelayMs) {
          state.bucket.tokens += 1
          throw await refuse('rate_limited', attempt, `the client-side rate limit of ${state.bucket.perSecond}/s is saturated`, forToken)
        }
        wait = Math.max(wait, forToken)
      }
      // A retry always goes through sleep, even when the jitter drew 0, so a caller's abort stops it there.
      if (wait > 0 || attempt > 1) await sleep(wait, req.signal)
    }

    const attempts = async (): Promise<HttpResponse<T>> => {
      let step: IBackoff<unknown> | undefined
      let pause = 0
      for (let attempt = 1; ; attempt++) {
        await waitTurn(attempt, pause)
        const started = performance.now()
        let result: Attempt
        try {
          result = await send(req, params, req.signal)
        } catch (reason) {
          await recordCall(database, logger, { ...base, attempt, outcome: 'retryable', durationMs: performance.now() - started, requestExcerpt, error: 'cancelled by the caller', at: clock() })
          throw reason
        }
        const durationMs = performance.now() - started
        const body = result.response?.file ? `[${result.response.file.size} bytes, written to a file]` : result.response?.data
        const responseExcerpt = result.response ? redactor.excerpt({ headers: diagnosticHeaders(result.response.headers), body }) : null
        await recordCall(database, logger, { ...base, attempt, statusCode: result.status, outcome: result.outcome, durationMs, requestExcerpt, responseExcerpt, error: result.error, at: clock() })
        noteHoldOff(state, result)
        if (result.outcome === 'ok') return result.response as HttpResponse<T>

        const kind = result.outcome as ErrorKind
        // A vendor's refusal (a 4xx, a 503) or a call that never went was not acted on; anything else may have been.
        const refused = result.status !== undefined && (result.status === 503 || (result.status >= 400 && result.status < 500))
        if (!result.notSent && !refused) mayHaveActed = true
        const fail = (retryAfterMs = result.retryAfterMs) =>
          new ConnectorError(kind, `${where}: ${result.error}`, { status: result.status, retryAfterMs, vendorCode: result.vendorCode, notSent: !mayHaveActed, cause: result.cause })
        const repeatable = (kind === 'retryable' || kind === 'rate_limited') && (idempotent || result.notSent)
        if (!repeatable || attempt >= maxAttempts) {
          logger.warn({ ...fields, attempt, status: result.status, kind, vendorCode: result.vendorCode }, `vendor call failed: ${where}: ${result.error}`)
          throw fail()
        }
        step = step ? step.next(undefined) : backoff.next()
        const waitMs = result.retryAfterMs ?? step.duration
        if (waitMs > maxDelayMs) {
          logger.warn({ ...fields, attempt, status: result.status, kind, retryAfterMs: waitMs }, `vendor call failed: ${where} asks to wait longer than ${maxDelayMs} ms`)
          throw fail(waitMs)
        }
        logger.info({ ...fields, attempt, status: result.status, kind, waitMs }, `vendor call failed; retrying: ${where}: ${result.error}`)
        pause = waitMs
      }
    }

    let outcome: { response: HttpResponse<T> } | { error: ConnectorError }
    try {
      // Auth and permanent failures come back as values: the vendor answered, which is health as far as the breaker
      // is concerned (they neither open the circuit nor keep it open).
      outcome = await state.breaker.execute(async () => {
        try {
          return { response: await attempts() }
        } catch (e) {
          if (e instanceof ConnectorError && (e.kind === 'auth_failed' || e.kind === 'permanent')) return { error: e }
          throw e
        }
      }, req.signal)
    } catch (e) {
      if (e instanceof BrokenCircuitError) {
        const retryAfterMs = Math.max(0, state.openedAt + state.halfOpenAfterMs - Date.now())
        throw await refuse('circuit_open', 1, 'the circuit is open after repeated failures of this connection', retryAfterMs)
      }
      throw e
    }
    if ('error' in outcome) throw outcome.error
    return outcome.response
  }

  return { request }
}
