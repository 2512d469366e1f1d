// The few typed errors domain code throws. Each has a stable code; src/http/errors.ts maps kinds to HTTP statuses.

export type ErrorKind =
  | 'bad_request' // the request itself is malformed
  | 'invalid' // the input breaks a business rule
  | 'not_found'
  | 'conflict' // the state of a record forbids the change
  | 'forbidden' // the caller may not do this
  | 'unauthorized' // the caller is not known
  | 'rate_limited'
  | 'upstream' // a third party failed
  | 'unavailable' // our own database cannot be reached for now

export class DomainError extends Error {
  readonly kind: ErrorKind
  readonly code: string
  readonly details: unknown
  /** Seconds after which the caller may try again (rate limits, lockouts). */
  readonly retryAfter: number | undefined

  constructor(kind: ErrorKind, code: string, message: string, details?: unknown, retryAfter?: number) {
    super(message)
    this.name = 'DomainError'
    this.kind = kind
    this.code = code
    this.details = details
    this.retryAfter = retryAfter
  }
}

export const badRequest = (code: string, message: string, details?: unknown) =>
  new DomainError('bad_request', code, message, details)
export const invalid = (code: string, message: string, details?: unknown) =>
  new DomainError('invalid', code, message, details)
export const notFound = (what: string, id?: string) =>
  new DomainError('not_found', `${what}_not_found`, id ? `${what.replace(/_/g, ' ')} ${id} was not found` : `${what.replace(/_/g, ' ')} was not found`)
export const conflict = (code: string, message: string, details?: unknown) =>
  new DomainError('conflict', code, message, details)
export const forbidden = (code: string, message: string, details?: unknown) =>
  new DomainError('forbidden', code, message, details)
export const unauthorized = (code: string, message: string) => new DomainError('unauthorized', code, message)
export const rateLimited = (code: string, message: string, retryAfter: number) =>
  new DomainError('rate_limited', code, message, undefined, retryAfter)
export const unavailable = (code: string, message: string, retryAfter: number) =>
  new DomainError('unavailable', code, message, undefined, retryAfter)
export const upstream = (code: string, message: string, details?: unknown) =>
  new DomainError('upstream', code, message, details)

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError
