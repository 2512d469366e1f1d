// What each request carries through the middleware chain.
import type { Logger } from '../lib/logger.ts'
import type { Tx } from '../db/client.ts'
import type { Hub } from '../runtime.ts'
import type { Principal, LoginPolicy } from '../core/staff/auth.ts'
import type { PinPolicy } from '../core/staff/pins.ts'

export interface WorkerStatus {
  isRunning(): boolean
}

export interface AppOptions {
  /** The worker running in this process, if any (the `serve` command). */
  worker?: WorkerStatus
  loginPolicy?: LoginPolicy
  /** Throttling of till PINs (sign-in, time clock, approver PINs) and the lifetime of PIN sessions. */
  pinPolicy?: PinPolicy
  /** 'operations': only /health and /metrics, what a worker process serves on METRICS_PORT. Default: everything. */
  routes?: 'all' | 'operations'
}

export interface AppEnv {
  Variables: {
    hub: Hub
    options: AppOptions
    requestId: string
    log: Logger
    /** The database handle of this request: inside its transaction for mutating routes, the pool otherwise. */
    db: Tx
    principal: Principal
    /**
     * Set by a route whose response shows a secret once (an API key, a signing secret): stored under its
     * Idempotency-Key sealed, and replayed only to the caller who made the request (see unit-of-work.ts).
     */
    secretShownOnce?: boolean
  }
}
