// Removes secrets from anything that may be logged or stored for diagnosis (logs, call logs, error details).

const SECRET_NAME = /pass(word|wd|phrase)?|secret|token|authorization|cookie|signature|^sign$|credential|pin$|key$/i
// Names ending in "key" that are identifiers, not credentials.
const NOT_SECRET = new Set(['idempotencykey', 'idempotency_key', 'jobkey', 'job_key', 'primarykey', 'sortkey', 'publickey', 'public_key'])
export const REDACTED = '[REDACTED]'

export function isSecretKey(key: string): boolean {
  return SECRET_NAME.test(key) && !NOT_SECRET.has(key.toLowerCase())
}

/** A deep copy of `value` with every property whose name looks secret replaced by a marker. */
export function redact(value: unknown, extraKeys: readonly string[] = [], depth = 0): unknown {
  if (depth > 12 || value === null || typeof value !== 'object') return value
  if (value instanceof Date) return value
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`
  if (Array.isArray(value)) return value.map((v) => redact(v, extraKeys, depth + 1))
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown; detail?: unknown; cause?: unknown }
    return {
      type: e.name,
      message: redactText(e.message),
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
      ...(typeof e.detail === 'string' ? { detail: redactText(e.detail) } : {}),
      stack: e.stack ? redactText(e.stack) : undefined,
      ...(e.cause !== undefined ? { cause: redact(e.cause, extraKeys, depth + 1) } : {}),
    }
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretKey(k) || extraKeys.includes(k) ? REDACTED : redact(v, extraKeys, depth + 1)
  }
  return out
}

const TOKEN_PATTERNS: RegExp[] = [
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi,
  /\btb[ks]_[A-Za-z0-9_-]{16,}/g,
  /\b(password|secret|token|api[_-]?key|sign|signature|access_token|client_secret)=([^&\s"]+)/gi,
  /(postgres(?:ql)?:\/\/[^:/\s]+:)[^@\s]+@/gi,
]

/** Masks credentials that appear inside free text: bearer tokens, our own key formats, `secret=` query values, URL passwords. */
export function redactText(text: string): string {
  let out = text
  out = out.replace(TOKEN_PATTERNS[0]!, (_m, scheme: string) => `${scheme} ${REDACTED}`)
  out = out.replace(TOKEN_PATTERNS[1]!, REDACTED)
  out = out.replace(TOKEN_PATTERNS[2]!, (_m, k: string) => `${k}=${REDACTED}`)
  out = out.replace(TOKEN_PATTERNS[3]!, (_m, head: string) => `${head}${REDACTED}@`)
  return out
}
