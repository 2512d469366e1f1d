// The demo drives the hub through its public HTTP API, in-process (app.request), as an integrator's script would:
// JSON in and out, a bearer API key, and a clear error when the hub refuses a call.
import type { App } from '../http/app.ts'

export interface DemoResponse<T = any> {
  status: number
  body: T
}

export class DemoApiError extends Error {
  readonly status: number
  readonly body: unknown
  constructor(method: string, path: string, status: number, body: unknown) {
    const e = (body as { error?: { code?: string; message?: string } } | null)?.error
    super(`${method} ${path} answered ${status}${e ? ` ${e.code}: ${e.message}` : ''}`)
    this.name = 'DemoApiError'
    this.status = status
    this.body = body
  }
}

export interface DemoApi {
  /** Any answer, as it came. */
  request<T = any>(method: string, path: string, body?: unknown, opts?: { raw?: string | Uint8Array; headers?: Record<string, string>; token?: string | null }): Promise<DemoResponse<T>>
  /** The body of a 2xx answer; anything else throws DemoApiError. */
  get<T = any>(path: string): Promise<T>
  post<T = any>(path: string, body?: unknown): Promise<T>
  patch<T = any>(path: string, body?: unknown): Promise<T>
  put<T = any>(path: string, body?: unknown): Promise<T>
}

export function demoApi(app: App, token: string | null): DemoApi {
  const request = async (method: string, path: string, body?: unknown, opts: { raw?: string | Uint8Array; headers?: Record<string, string>; token?: string | null } = {}) => {
    const headers: Record<string, string> = { ...opts.headers }
    const t = opts.token === undefined ? token : opts.token
    if (t) headers.authorization = `Bearer ${t}`
    let payload: string | Uint8Array | undefined
    if (opts.raw !== undefined) payload = opts.raw
    else if (body !== undefined) {
      payload = JSON.stringify(body)
      headers['content-type'] ??= 'application/json'
    }
    const res = await app.request(path, { method, headers, body: payload as RequestInit['body'] })
    const text = await res.text()
    const parsed = res.headers.get('content-type')?.includes('json') && text ? JSON.parse(text) : text
    return { status: res.status, body: parsed }
  }
  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await request(method, path, body)
    if (r.status < 200 || r.status > 299) throw new DemoApiError(method, path, r.status, r.body)
    return r.body
  }
  return {
    request,
    get: (p) => ok('GET', p),
    post: (p, b) => ok('POST', p, b ?? {}),
    patch: (p, b) => ok('PATCH', p, b ?? {}),
    put: (p, b) => ok('PUT', p, b ?? {}),
  }
}
