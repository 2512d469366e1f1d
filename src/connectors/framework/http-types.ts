// The contract of the shared HTTP client every connection gets (DESIGN section 5): the policies a connector
// declares, the request a connector makes, and the classified error a job decides on.

export interface HttpPolicy {
  baseURL: string
  /** Sent with every request (authorization, API version). Values that come from secret fields are redacted in logs. */
  headers?: Record<string, string>
  /** Per attempt, in milliseconds (default 15 000). */
  timeoutMs?: number
  retry?: {
    /** Attempts in all, the first included (default 4). */
    maxAttempts?: number
    /** First backoff delay; doubles per attempt, with full jitter (default 500 ms). */
    baseDelayMs?: number
    /** Longest single wait, also for a Retry-After the vendor asks for (default 30 000 ms); longer waits fail as rate_limited. */
    maxDelayMs?: number
  }
  /** Client-side limit per connection: a token bucket of `perSecond` tokens, `burst` deep (default: perSecond). */
  rateLimit?: { perSecond: number; burst?: number }
  breaker?: {
    /** Consecutive failures (retryable or rate limited, after retries) that open the circuit (default 5). */
    threshold?: number
    /** How long the circuit stays open before one trial request is let through (default 30 000 ms). */
    halfOpenAfterMs?: number
  }
  /** Vendor headers telling when to come back, beyond the standard Retry-After. */
  rateLimitHeaders?: {
    /** Seconds to wait (e.g. `X-RateLimit-Reset-After`). */
    resetAfterSeconds?: string
    /** Epoch seconds at which the window resets (e.g. `X-RateLimit-Reset`). */
    resetAtEpochSeconds?: string
    /** Remaining calls in the window; at 0 the client waits for the reset before the next call. */
    remaining?: string
  }
  /**
   * Vendors that answer 200 with an error in the body (WeChat Pay v2 XML, TOP, Alipay) classify it here; returning
   * undefined keeps the status-based classification. With responseType 'file', `data` is the body's head and `file`
   * says how long the whole body is.
   */
  classify?: (res: { status: number; headers: Record<string, string>; data: unknown; file?: { size: number } }) => ErrorKind | 'ok' | Classified | undefined
}

/** A classification with the vendor's own error code and message (shown to merchants after redaction). */
export interface Classified {
  kind: ErrorKind | 'ok'
  vendorCode?: string
  message?: string
}

export type ErrorKind = 'retryable' | 'rate_limited' | 'auth_failed' | 'permanent' | 'circuit_open'

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** Relative to the policy's baseURL, or absolute (download URLs). */
  url: string
  params?: Record<string, string | number | boolean | undefined>
  headers?: Record<string, string>
  data?: unknown
  /** Names the call in the call log ("fetchSettlement", "inventorySetQuantities"). */
  operation?: string
  /**
   * Safe to send twice. GET/HEAD/PUT/DELETE default to true, POST/PATCH to false; a POST carrying the vendor's
   * idempotency key may say true. Only idempotent requests are retried after a timeout or a 5xx.
   */
  idempotent?: boolean
  /**
   * 'file': the body is written to a file of its own as it arrives (a bill of any size is never held whole): `file`
   * names it and `data` holds its first 64 KiB, enough to tell an error reply from the file. The caller owns a file
   * that came with an answer the classifier accepted; any other answer's file is removed at once.
   */
  responseType?: 'json' | 'text' | 'arraybuffer' | 'file'
  /** Overrides the policy timeout for this call (large file downloads). */
  timeoutMs?: number
  /** Cancels the call, its waits and its retries (a job shutting down). The abort reason is thrown as is. */
  signal?: AbortSignal
}

export interface HttpResponse<T = unknown> {
  status: number
  headers: Record<string, string>
  data: T
  /** With responseType 'file': where the body was written, and its size. */
  file?: { path: string; size: number }
}

export interface ConnectorHttp {
  request<T = unknown>(req: HttpRequest): Promise<HttpResponse<T>>
}

/** A failed vendor call, classified so a job knows whether to retry, wait, alert or give up. */
export class ConnectorError extends Error {
  readonly kind: ErrorKind
  readonly status?: number
  /** How long the vendor asked us to wait, when it said. */
  readonly retryAfterMs?: number
  /** The vendor's own error code (e.g. `THROTTLED`, `SYSTEMERROR`, `isv.invalid-signature`). */
  readonly vendorCode?: string
  /**
   * The vendor certainly did not act on the call: it was never sent, or the vendor refused it (a 4xx, a 503). False
   * where it may have: no answer, a timeout, a 500, an answer we could not read.
   */
  readonly notSent: boolean

  constructor(kind: ErrorKind, message: string, opts: { status?: number; retryAfterMs?: number; vendorCode?: string; notSent?: boolean; cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'ConnectorError'
    this.kind = kind
    this.status = opts.status
    this.retryAfterMs = opts.retryAfterMs
    this.vendorCode = opts.vendorCode
    this.notSent = opts.notSent ?? false
  }

  /** Worth trying again later (the job's own retry schedule). */
  get transient(): boolean {
    return this.kind === 'retryable' || this.kind === 'rate_limited' || this.kind === 'circuit_open'
  }
}
