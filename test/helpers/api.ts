// Drives the HTTP app in-process (app.request) with JSON in and out, and seeds merchants with signed-in staff.
import { createApp, type App } from '../../src/http/app.ts'
import type { AppOptions } from '../../src/http/env.ts'
import type { Hub } from '../../src/runtime.ts'
import { createMerchantWithAdmin } from '../../src/core/merchants/onboard.ts'
import { createUser } from '../../src/core/staff/users.ts'
import { DEFAULT_LOGIN_POLICY, login } from '../../src/core/staff/auth.ts'
import { systemActor } from '../../src/core/staff/actor.ts'
import { users } from '../../src/core/staff/schema.ts'
import { eq } from 'drizzle-orm'
import type { Role } from '../../src/core/staff/permissions.ts'

export interface ApiResponse<T = any> {
  status: number
  body: T
  headers: Headers
}

export interface RequestOptions {
  token?: string | null
  headers?: Record<string, string>
  /** Sent as is instead of JSON-encoding `body`. */
  raw?: string | Uint8Array
}

export interface Api {
  app: App
  request<T = any>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<ApiResponse<T>>
  get<T = any>(path: string, opts?: RequestOptions): Promise<ApiResponse<T>>
  post<T = any>(path: string, body?: unknown, opts?: RequestOptions): Promise<ApiResponse<T>>
  patch<T = any>(path: string, body?: unknown, opts?: RequestOptions): Promise<ApiResponse<T>>
  put<T = any>(path: string, body?: unknown, opts?: RequestOptions): Promise<ApiResponse<T>>
  delete<T = any>(path: string, opts?: RequestOptions): Promise<ApiResponse<T>>
  /** The same client, signed in with `token`. */
  as(token: string | null): Api
}

export function createApi(hub: Hub, options: AppOptions = {}, app: App = createApp(hub, options), token: string | null = null): Api {
  const request = async (method: string, path: string, body?: unknown, opts: RequestOptions = {}) => {
    const headers: Record<string, string> = { ...opts.headers }
    const t = opts.token === undefined ? token : opts.token
    if (t) headers.authorization = `Bearer ${t}`
    let payload: RequestInit['body']
    if (opts.raw !== undefined) payload = opts.raw as RequestInit['body']
    else if (body !== undefined) {
      payload = JSON.stringify(body)
      headers['content-type'] ??= 'application/json'
    }
    const res = await app.request(path, { method, headers, body: payload })
    const text = await res.text()
    let parsed: unknown = text
    if (res.headers.get('content-type')?.includes('json') && text) parsed = JSON.parse(text)
    return { status: res.status, body: parsed as any, headers: res.headers }
  }
  const api: Api = {
    app,
    request,
    get: (p, o) => request('GET', p, undefined, o),
    post: (p, b, o) => request('POST', p, b, o),
    patch: (p, b, o) => request('PATCH', p, b, o),
    put: (p, b, o) => request('PUT', p, b, o),
    delete: (p, o) => request('DELETE', p, undefined, o),
    as: (t) => createApi(hub, options, app, t),
  }
  return api
}

export interface SeededMerchant {
  merchantId: string
  adminId: string
  adminEmail: string
  adminToken: string
  password: string
  /** Adds a user with `role` to the merchant and signs them in. */
  staff(role: Role, email?: string): Promise<{ id: string; email: string; token: string }>
  /** A new session of the admin, signed in at the hub's clock: for a test that has moved the clock past adminToken's twelve hours. */
  adminTokenNow(): Promise<string>
}

let counter = 0
const unique = () => `${process.pid}-${Date.now().toString(36)}-${++counter}`

export interface SeedMerchantOptions {
  name?: string
  currency?: string
  timeZone?: string
  /** The merchant's locale (receipts, and its users' language until they choose); zh-CN when not given. */
  locale?: string
  /** The language its admin and every user added with staff() chose for themselves; none when not given. */
  userLocale?: string
}

export async function seedMerchant(hub: Hub, opts: SeedMerchantOptions = {}): Promise<SeededMerchant> {
  const password = 'correct-horse-1'
  const adminEmail = `admin-${unique()}@example.com`
  const { merchant, user } = await hub.database.db.transaction((tx) =>
    createMerchantWithAdmin(tx, { name: opts.name ?? `Shop ${unique()}`, currency: opts.currency, timeZone: opts.timeZone, locale: opts.locale, admin: { email: adminEmail, password } }),
  )
  const adminToken = (await login(hub.database.db, { email: adminEmail, password })).token
  const chooseLocale = async (userId: string) => {
    if (opts.userLocale) await hub.database.db.update(users).set({ locale: opts.userLocale as 'en' }).where(eq(users.id, userId))
  }
  await chooseLocale(user.id)
  return {
    merchantId: merchant.id,
    adminId: user.id,
    adminEmail,
    adminToken,
    password,
    async staff(role, email = `${role}-${unique()}@example.com`) {
      const u = await createUser(hub.database.db, systemActor(merchant.id), { email, name: role, role, password })
      await chooseLocale(u.id)
      const { token } = await login(hub.database.db, { email, password })
      return { id: u.id, email, token }
    },
    async adminTokenNow() {
      return (await login(hub.database.db, { email: adminEmail, password }, DEFAULT_LOGIN_POLICY, hub.clock())).token
    },
  }
}
