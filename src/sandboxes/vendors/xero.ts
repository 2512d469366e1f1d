// A Xero simulator for msw: the identity server's token endpoint (Basic client auth, refresh tokens rotated on every
// use with a grace period for the previous one, 30-minute access tokens) and the Accounting API 2.0 of one
// organisation (tenant): ManualJournals (PUT/POST with Idempotency-Key replay, GET with a `where` filter), Organisation
// with its lock dates, TrackingCategories, the ValidationException envelope, 429s with Retry-After and
// X-Rate-Limit-Problem after the minute, day and concurrent limits, lost answers and outages.
// https://developer.xero.com/documentation/api/accounting/manualjournals, https://developer.xero.com/faq/limits,
// https://developer.xero.com/documentation/guides/oauth2/auth-flow
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { http, HttpResponse } from 'msw'

export const XERO_API = 'https://api.xero.com'
export const XERO_TOKEN_URL = 'https://identity.xero.com/connect/token'

export interface XeroSandboxOptions {
  clientId: string
  clientSecret: string
  /** The refresh token of the organisation's consent, as the connection is configured. */
  refreshToken: string
  tenantId: string
  organisationName?: string
  baseCurrency?: string
  baseUrl?: string
  tokenUrl?: string
  now?: () => Date
  /** Access token lifetime (Xero: 1800 s). */
  accessTokenSeconds?: number
  /** How long the previous refresh token keeps working after a rotation (Xero: 30 minutes). */
  rotatedGraceSeconds?: number
  /** How long a stored Idempotency-Key answer is replayed. */
  idempotencySeconds?: number
  /** Per-organisation limits: 60 calls a minute, 5 000 a day, 5 at a time. */
  perMinute?: number
  perDay?: number
  concurrent?: number
  latencyMs?: number
}

export interface SimRequest {
  method: string
  path: string
  /** token, ManualJournals, Organisation, TrackingCategories. */
  operation: string
  where?: string | null
  idempotencyKey?: string | null
  /** The raw JSON text of a PUT/POST. */
  body?: string
  status: number
  answer: 'ok' | 'replayed' | 'invalid' | 'unauthorized' | 'forbidden' | 'throttled' | 'down' | 'lost' | 'bad_request' | 'invalid_client' | 'invalid_grant'
  validationErrors?: string[]
}

export interface SimAccount {
  AccountID: string
  Code: string
  Name: string
  Type: string
  Status: 'ACTIVE' | 'ARCHIVED'
}

export interface SimTrackingCategory {
  TrackingCategoryID: string
  Name: string
  Status: 'ACTIVE' | 'ARCHIVED'
  Options: { TrackingOptionID: string; Name: string; Status: 'ACTIVE' | 'ARCHIVED' }[]
}

export interface SimJournalLine {
  Description?: string
  TaxType: string
  LineAmount: number
  AccountCode: string
  AccountID: string
  Tracking: { Name: string; Option: string; TrackingCategoryID: string; TrackingOptionID: string }[]
  IsBlank: boolean
  TaxAmount: number
}

export interface SimManualJournal {
  ManualJournalID: string
  Date: string
  Status: string
  LineAmountTypes: string
  Narration: string
  JournalLines: SimJournalLine[]
  ShowOnCashBasisReports: boolean
  HasAttachments: boolean
  UpdatedDateUTC: string
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
/** Xero's JSON date. */
const jsonDate = (ms: number) => `/Date(${ms}+0000)/`
const dayMs = (iso: string) => Date.parse(`${iso}T00:00:00Z`)
/** A date as Xero writes it in messages: 31-Jul-2013. */
const messageDate = (iso: string) => `${iso.slice(8, 10)}-${MONTHS[Number(iso.slice(5, 7)) - 1]}-${iso.slice(0, 4)}`
const money = (cents: number) => `${cents < 0 ? '-' : ''}${Math.floor(Math.abs(cents) / 100).toLocaleString('en-US')}.${String(Math.abs(cents) % 100).padStart(2, '0')}`

export function xeroSandbox(opts: XeroSandboxOptions) {
  const base = opts.baseUrl ?? XERO_API
  const tokenUrl = opts.tokenUrl ?? XERO_TOKEN_URL
  const now = opts.now ?? (() => new Date())

  const state = {
    requests: [] as SimRequest[],
    /** Every call answers 503 while true. */
    down: false,
    /** The next this many API calls answer 429 for `throttleProblem`, asking to wait `retryAfterSeconds`. */
    throttleNext: 0,
    throttleProblem: 'minute' as 'minute' | 'day' | 'concurrent',
    retryAfterSeconds: 1,
    /** The next this many manual journals are saved but their answer never arrives (the connection drops). */
    loseNextResponses: 0,
    latencyMs: opts.latencyMs ?? 0,
    perMinute: opts.perMinute ?? 60,
    perDay: opts.perDay ?? 5000,
    concurrent: opts.concurrent ?? 5,
    accessTokenSeconds: opts.accessTokenSeconds ?? 1800,
    rotatedGraceSeconds: opts.rotatedGraceSeconds ?? 1800,
    idempotencySeconds: opts.idempotencySeconds ?? 360,
    /** The organisation the consent covers: a connection pointed at another one is refused (403). */
    tenantId: opts.tenantId,
    baseCurrency: opts.baseCurrency ?? 'NZD',
    /** Lock dates (YYYY-MM-DD): the period lock (all users but advisers) and the end of year lock (all users). */
    periodLockDate: null as string | null,
    endOfYearLockDate: null as string | null,
    accounts: new Map<string, SimAccount>(),
    trackingCategories: new Map<string, SimTrackingCategory>(),
    manualJournals: new Map<string, SimManualJournal>(),
    idempotency: new Map<string, { hash: string; status: number; body: Record<string, unknown>; at: number }>(),
    refreshTokens: new Map<string, { retiredAt: number | null; revoked?: boolean }>([[opts.refreshToken, { retiredAt: null }]]),
    accessTokens: new Map<string, { expiresAt: number }>(),
    /** Times (ms) of the API calls of the last minute and of the last day. */
    minute: [] as number[],
    day: [] as number[],
    inFlight: 0,
  }

  // ---- seeding and inspection ----

  function addAccount(a: { code: string; name: string; type: string; status?: 'ACTIVE' | 'ARCHIVED' }): SimAccount {
    const account: SimAccount = { AccountID: randomUUID(), Code: a.code, Name: a.name, Type: a.type, Status: a.status ?? 'ACTIVE' }
    state.accounts.set(a.code, account)
    return account
  }
  function addTrackingCategory(name: string, options: string[], o: { status?: 'ACTIVE' | 'ARCHIVED' } = {}): SimTrackingCategory {
    const category: SimTrackingCategory = { TrackingCategoryID: randomUUID(), Name: name, Status: o.status ?? 'ACTIVE', Options: options.map((n) => ({ TrackingOptionID: randomUUID(), Name: n, Status: 'ACTIVE' })) }
    state.trackingCategories.set(name, category)
    return category
  }
  function expireAccessTokens() {
    for (const t of state.accessTokens.values()) t.expiresAt = 0
  }
  /** The organisation disconnected the app: every token stops working. */
  function revokeConsent() {
    state.accessTokens.clear()
    for (const t of state.refreshTokens.values()) t.revoked = true
  }
  const currentRefreshToken = () => [...state.refreshTokens].filter(([, t]) => t.retiredAt === null && !t.revoked).map(([v]) => v).at(-1) ?? null
  const issuedTokens = () => [...state.refreshTokens.keys(), ...state.accessTokens.keys()]
  const requestsFor = (operation: string) => state.requests.filter((r) => r.operation === operation)
  /** Journals whose Narration starts with `[reference]`, as our connector writes it. */
  const journalsFor = (reference: string) => [...state.manualJournals.values()].filter((j) => j.Narration.startsWith(`[${reference}]`))

  // ---- answers ----

  const envelope = (extra: Record<string, unknown>) => ({ Id: randomUUID(), Status: 'OK', ProviderName: 'Tillbridge', DateTimeUTC: jsonDate(now().getTime()), ...extra })
  const problem = (status: number, title: string, detail: string, headers: Record<string, string> = {}) =>
    HttpResponse.json({ Type: null, Title: title, Status: status, Detail: detail, Instance: randomUUID(), Extensions: {} }, { status, headers })

  const record = (request: Request, operation: string): SimRequest => {
    const rec: SimRequest = { method: request.method, path: new URL(request.url).pathname, operation, status: 0, answer: 'ok' }
    state.requests.push(rec)
    return rec
  }

  function limitHeaders(at: number): Record<string, string> {
    return {
      'x-daylimit-remaining': String(Math.max(0, state.perDay - state.day.length)),
      'x-minlimit-remaining': String(Math.max(0, state.perMinute - state.minute.length)),
      'x-appminlimit-remaining': '9999',
      'xero-correlation-id': randomUUID(),
      date: new Date(at).toUTCString(),
    }
  }

  /** Outage, bearer token, tenant and limit checks, then the handler, with the call counted as in flight. */
  async function serve(request: Request, operation: string, handle: (rec: SimRequest) => Promise<Response> | Response): Promise<Response> {
    const rec = record(request, operation)
    const answer = await (async (): Promise<Response> => {
      if (state.down) {
        rec.answer = 'down'
        return new HttpResponse('The Xero API is temporarily unavailable', { status: 503, headers: { 'content-type': 'text/plain' } })
      }
      const at = now().getTime()
      const auth = request.headers.get('authorization') ?? ''
      const held = state.accessTokens.get(auth.startsWith('Bearer ') ? auth.slice(7) : '')
      if (!held || held.expiresAt <= at) {
        rec.answer = 'unauthorized'
        const detail = held ? `TokenExpired: token expired at ${new Date(held.expiresAt).toUTCString()}` : 'AuthenticationUnsuccessful'
        return problem(401, 'Unauthorized', detail, { 'www-authenticate': `Bearer error="invalid_token"` })
      }
      if (request.headers.get('xero-tenant-id') !== state.tenantId) {
        rec.answer = 'forbidden'
        return problem(403, 'Forbidden', 'AuthenticationUnsuccessful')
      }
      state.minute = state.minute.filter((t) => at - t < 60_000)
      state.day = state.day.filter((t) => at - t < 86_400_000)
      const throttled = (limit: 'minute' | 'day' | 'concurrent', retryAfter: number) => {
        rec.answer = 'throttled'
        return new HttpResponse(null, { status: 429, headers: { ...limitHeaders(at), 'retry-after': String(retryAfter), 'x-rate-limit-problem': limit } })
      }
      if (state.throttleNext > 0) {
        state.throttleNext--
        return throttled(state.throttleProblem, state.retryAfterSeconds)
      }
      if (state.day.length >= state.perDay) return throttled('day', Math.ceil((state.day[0]! + 86_400_000 - at) / 1000))
      if (state.minute.length >= state.perMinute) return throttled('minute', Math.ceil((state.minute[0]! + 60_000 - at) / 1000))
      if (state.inFlight >= state.concurrent) return throttled('concurrent', 1)
      state.minute.push(at)
      state.day.push(at)
      state.inFlight++
      try {
        if (state.latencyMs > 0) await delay(state.latencyMs)
        const res = await handle(rec)
        // A dropped connection (Response.error()) has no headers to add.
        if (res.type !== 'error') for (const [k, v] of Object.entries(limitHeaders(at))) if (!res.headers.has(k)) res.headers.set(k, v)
        return res
      } finally {
        state.inFlight--
      }
    })()
    rec.status = answer.status
    return answer
  }

  // ---- manual journals ----

  interface Checked {
    journal?: SimManualJournal
    errors: string[]
    lineErrors: string[][]
  }

  function check(j: Record<string, any>): Checked {
    const errors: string[] = []
    const rawLines = Array.isArray(j.JournalLines) ? (j.JournalLines as Record<string, any>[]) : []
    const lineErrors: string[][] = rawLines.map(() => [])
    const narration = typeof j.Narration === 'string' ? j.Narration.trim() : ''
    if (!narration) errors.push('Narration must be supplied')
    const date = typeof j.Date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(j.Date) && !Number.isNaN(dayMs(j.Date)) ? (j.Date as string) : null
    if (!date) errors.push('A valid Date must be supplied')
    const status = j.Status ?? 'DRAFT'
    if (status !== 'DRAFT' && status !== 'POSTED') errors.push(`Status '${String(status)}' is not valid for a new manual journal`)
    const lineAmountTypes = j.LineAmountTypes ?? 'NoTax'
    if (!['NoTax', 'Exclusive', 'Inclusive'].includes(lineAmountTypes)) errors.push(`LineAmountTypes '${String(lineAmountTypes)}' is not valid`)
    if (rawLines.length < 2) errors.push('Journals must have at least two journal lines')
    let total = 0
    const lines: SimJournalLine[] = []
    for (const [i, l] of rawLines.entries()) {
      const account = state.accounts.get(String(l.AccountCode))
      if (!account) lineErrors[i]!.push(`Account code '${String(l.AccountCode)}' is not a valid code for this document.`)
      else if (account.Status !== 'ACTIVE') lineErrors[i]!.push(`Account code '${account.Code}' has been archived, or has been deleted. Each line item must reference a valid account.`)
      const amount = l.LineAmount
      const cents = typeof amount === 'number' ? Math.round(amount * 100) : NaN
      if (typeof amount !== 'number' || Math.abs(amount * 100 - cents) > 1e-6) lineErrors[i]!.push('The LineAmount must be a number with at most two decimals')
      else total += cents
      const tracking: SimJournalLine['Tracking'] = []
      const requested = Array.isArray(l.Tracking) ? (l.Tracking as { Name?: string; Option?: string }[]) : []
      if (requested.length > 2) lineErrors[i]!.push('A line can have at most two tracking categories')
      for (const t of requested) {
        const category = state.trackingCategories.get(String(t.Name))
        const option = category?.Options.find((o) => o.Name === t.Option && o.Status === 'ACTIVE')
        if (!category || category.Status !== 'ACTIVE') lineErrors[i]!.push(`The TrackingCategory '${String(t.Name)}' does not exist.`)
        else if (!option) lineErrors[i]!.push(`The TrackingOption '${String(t.Option)}' does not exist for TrackingCategory '${category.Name}'.`)
        else tracking.push({ Name: category.Name, Option: option.Name, TrackingCategoryID: category.TrackingCategoryID, TrackingOptionID: option.TrackingOptionID })
      }
      lines.push({ ...(l.Description !== undefined ? { Description: String(l.Description) } : {}), TaxType: 'NONE', LineAmount: amount, AccountCode: String(l.AccountCode), AccountID: account?.AccountID ?? '', Tracking: tracking, IsBlank: false, TaxAmount: 0 })
    }
    if (status === 'POSTED' && total !== 0) {
      const debits = lines.filter((l) => l.LineAmount > 0).reduce((s, l) => s + Math.round(l.LineAmount * 100), 0)
      errors.push(`The total debits (${money(debits)}) must equal total credits (${money(debits - total)})`)
    }
    if (status === 'POSTED' && date) {
      if (state.periodLockDate && date <= state.periodLockDate) errors.push(`The document date cannot be before the period lock date, currently set at ${messageDate(state.periodLockDate)}`)
      if (state.endOfYearLockDate && date <= state.endOfYearLockDate) errors.push(`The document date cannot be before the end of year lock date, currently set at ${messageDate(state.endOfYearLockDate)}`)
    }
    if (errors.length || lineErrors.some((e) => e.length)) return { errors, lineErrors }
    const stamp = jsonDate(now().getTime())
    return {
      errors,
      lineErrors,
      journal: {
        ManualJournalID: randomUUID(),
        Date: jsonDate(dayMs(date!)),
        Status: status,
        LineAmountTypes: lineAmountTypes,
        Narration: narration,
        JournalLines: lines,
        ShowOnCashBasisReports: j.ShowOnCashBasisReports ?? true,
        HasAttachments: false,
        UpdatedDateUTC: stamp,
      },
    }
  }

  async function createJournals(request: Request, rec: SimRequest): Promise<Response> {
    const text = await request.text()
    rec.body = text
    const key = request.headers.get('idempotency-key')
    rec.idempotencyKey = key
    const hash = createHash('sha256').update(`${request.method} ${new URL(request.url).pathname}\n${text}`).digest('hex')
    const at = now().getTime()
    if (key !== null) {
      if (key.length > 128) {
        rec.answer = 'bad_request'
        return problem(400, 'Bad Request', 'The Idempotency-Key header must be at most 128 characters')
      }
      const prior = state.idempotency.get(key)
      if (prior && at - prior.at < state.idempotencySeconds * 1000) {
        if (prior.hash !== hash) {
          rec.answer = 'bad_request'
          return problem(400, 'Bad Request', `Idempotency Key ${key} is used with a different request.`)
        }
        rec.answer = 'replayed'
        return HttpResponse.json(prior.body, { status: prior.status })
      }
    }
    let body: { ManualJournals?: Record<string, any>[] }
    try {
      body = JSON.parse(text) as typeof body
    } catch {
      rec.answer = 'bad_request'
      return HttpResponse.json({ ErrorNumber: 14, Type: 'PostDataInvalidException', Message: 'The JSON in the request body could not be read' }, { status: 400 })
    }
    const submitted = Array.isArray(body.ManualJournals) ? body.ManualJournals : []
    const checked = submitted.map(check)
    let status = 200
    let answer: Record<string, unknown>
    if (submitted.length === 0 || checked.some((c) => !c.journal)) {
      // summarizeErrors (the default): nothing is saved when one journal fails.
      status = 400
      rec.answer = 'invalid'
      rec.validationErrors = checked.flatMap((c) => [...c.errors, ...c.lineErrors.flat()])
      answer = {
        ErrorNumber: 10,
        Type: 'ValidationException',
        Message: 'A validation exception occurred',
        Elements: submitted.map((j, i) => ({
          ...j,
          JournalLines: (Array.isArray(j.JournalLines) ? j.JournalLines : []).map((l: Record<string, unknown>, n: number) => ({ ...l, ValidationErrors: (checked[i]!.lineErrors[n] ?? []).map((Message) => ({ Message })) })),
          ValidationErrors: checked[i]!.errors.map((Message) => ({ Message })),
        })),
      }
    } else {
      for (const c of checked) state.manualJournals.set(c.journal!.ManualJournalID, c.journal!)
      answer = envelope({ ManualJournals: checked.map((c) => c.journal) })
    }
    if (key !== null) state.idempotency.set(key, { hash, status, body: answer, at })
    if (status === 200 && state.loseNextResponses > 0) {
      state.loseNextResponses--
      rec.answer = 'lost'
      return HttpResponse.error()
    }
    return HttpResponse.json(answer, { status })
  }

  // ---- the where filter ----

  const STRING = String.raw`"(?:[^"\\]|\\.)*"`
  const DATETIME = String.raw`DateTime\(\s*(\d{4})\s*,\s*(\d{1,2})\s*,\s*(\d{1,2})\s*\)`
  const CONDITION = new RegExp(String.raw`\s*(\w+)(?:\.(StartsWith|Contains|EndsWith)\(\s*(${STRING})\s*\)|\s*(==|!=|>=|<=|>|<)\s*(${STRING}|${DATETIME}))\s*`, 'y')
  const unquote = (s: string) => s.slice(1, -1).replace(/\\(.)/g, '$1')
  type Condition = (j: SimManualJournal) => boolean

  function parseWhere(where: string): Condition[] | null {
    const out: Condition[] = []
    let at = 0
    for (;;) {
      CONDITION.lastIndex = at
      const m = CONDITION.exec(where)
      if (!m) return null
      const field = m[1]!
      const read = (j: SimManualJournal): string => (field === 'Date' ? new Date(Number(/\d+/.exec(j.Date)![0])).toISOString().slice(0, 10) : String((j as unknown as Record<string, unknown>)[field] ?? ''))
      if (m[2]) {
        const arg = unquote(m[3]!)
        const method = m[2]
        out.push((j) => (method === 'StartsWith' ? read(j).startsWith(arg) : method === 'EndsWith' ? read(j).endsWith(arg) : read(j).includes(arg)))
      } else {
        const op = m[4]!
        const value = m[5]!.startsWith('"') ? unquote(m[5]!) : `${m[6]}-${m[7]!.padStart(2, '0')}-${m[8]!.padStart(2, '0')}`
        out.push((j) => {
          const v = read(j)
          return op === '==' ? v === value : op === '!=' ? v !== value : op === '>=' ? v >= value : op === '<=' ? v <= value : op === '>' ? v > value : v < value
        })
      }
      at = CONDITION.lastIndex
      if (at >= where.length) return out
      const and = /(&&|AND)\s*/y
      and.lastIndex = at
      if (!and.exec(where)) return null
      at = and.lastIndex
    }
  }

  function listJournals(request: Request, rec: SimRequest): Response {
    const url = new URL(request.url)
    const where = url.searchParams.get('where')
    rec.where = where
    const conditions = where ? parseWhere(where) : []
    if (!conditions) {
      rec.answer = 'bad_request'
      return HttpResponse.json({ ErrorNumber: 16, Type: 'QueryParseException', Message: `No property or field exists in type 'ManualJournal' for the expression: ${where}` }, { status: 400 })
    }
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1))
    const found = [...state.manualJournals.values()].filter((j) => conditions.every((c) => c(j)))
    return HttpResponse.json(envelope({ ManualJournals: found.slice((page - 1) * 100, page * 100) }))
  }

  // ---- OAuth ----

  async function token(request: Request): Promise<Response> {
    const rec = record(request, 'token')
    const answer = await (async () => {
      if (state.down) {
        rec.answer = 'down'
        return new HttpResponse('Service Unavailable', { status: 503 })
      }
      const expected = `Basic ${Buffer.from(`${opts.clientId}:${opts.clientSecret}`).toString('base64')}`
      if (request.headers.get('authorization') !== expected) {
        rec.answer = 'invalid_client'
        return HttpResponse.json({ error: 'invalid_client' }, { status: 400 })
      }
      const form = new URLSearchParams(await request.text())
      if (form.get('grant_type') !== 'refresh_token') return HttpResponse.json({ error: 'unsupported_grant_type' }, { status: 400 })
      const presented = form.get('refresh_token') ?? ''
      const held = state.refreshTokens.get(presented)
      const at = now().getTime()
      if (!held || held.revoked || (held.retiredAt !== null && at >= held.retiredAt + state.rotatedGraceSeconds * 1000)) {
        rec.answer = 'invalid_grant'
        return HttpResponse.json({ error: 'invalid_grant' }, { status: 400 })
      }
      const refresh = randomBytes(32).toString('hex')
      state.refreshTokens.set(refresh, { retiredAt: null })
      for (const [value, t] of state.refreshTokens) if (value !== refresh && t.retiredAt === null) t.retiredAt = at
      const access = `eyJhbGciOiJSUzI1NiIsImtpZCI6IjFDQUY4RTY2NzcyRDZEQzAyOEQ2NzI2RkQwMjYxNTgxNTcwRUZDMTkifQ.${randomBytes(96).toString('base64url')}`
      state.accessTokens.set(access, { expiresAt: at + state.accessTokenSeconds * 1000 })
      return HttpResponse.json({ access_token: access, expires_in: state.accessTokenSeconds, token_type: 'Bearer', refresh_token: refresh, scope: 'accounting.transactions accounting.settings.read offline_access' })
    })()
    rec.status = answer.status
    return answer
  }

  // ---- handlers ----

  const api = `${base}/api.xro/2.0`
  const handlers = [
    http.post(tokenUrl, ({ request }) => token(request)),
    http.put(`${api}/ManualJournals`, ({ request }) => serve(request, 'ManualJournals', (rec) => createJournals(request, rec))),
    http.post(`${api}/ManualJournals`, ({ request }) => serve(request, 'ManualJournals', (rec) => createJournals(request, rec))),
    http.get(`${api}/ManualJournals`, ({ request }) => serve(request, 'ManualJournals', (rec) => listJournals(request, rec))),
    http.get(`${api}/ManualJournals/:id`, ({ request, params }) =>
      serve(request, 'ManualJournals', (rec) => {
        const journal = state.manualJournals.get(String(params.id))
        if (!journal) {
          rec.answer = 'bad_request'
          return HttpResponse.json({ Title: 'Not Found', Status: 404, Detail: 'Resource not found' }, { status: 404 })
        }
        return HttpResponse.json(envelope({ ManualJournals: [journal] }))
      }),
    ),
    http.get(`${api}/Organisation`, ({ request }) =>
      serve(request, 'Organisation', () =>
        HttpResponse.json(
          envelope({
            Organisations: [
              {
                APIKey: '',
                Name: opts.organisationName ?? 'Tillbridge Demo Ltd',
                LegalName: opts.organisationName ?? 'Tillbridge Demo Ltd',
                PaysTax: true,
                Version: 'NZ',
                OrganisationType: 'COMPANY',
                BaseCurrency: state.baseCurrency,
                CountryCode: 'NZ',
                IsDemoCompany: false,
                OrganisationStatus: 'ACTIVE',
                FinancialYearEndDay: 31,
                FinancialYearEndMonth: 3,
                ...(state.periodLockDate ? { PeriodLockDate: jsonDate(dayMs(state.periodLockDate)) } : {}),
                ...(state.endOfYearLockDate ? { EndOfYearLockDate: jsonDate(dayMs(state.endOfYearLockDate)) } : {}),
                OrganisationID: state.tenantId,
                Timezone: 'NEWZEALANDSTANDARDTIME',
                ShortCode: '!Tb4Xr',
                CreatedDateUTC: jsonDate(Date.UTC(2024, 0, 8)),
              },
            ],
          }),
        ),
      ),
    ),
    http.get(`${api}/TrackingCategories`, ({ request }) =>
      serve(request, 'TrackingCategories', () =>
        HttpResponse.json(envelope({ TrackingCategories: [...state.trackingCategories.values()].filter((c) => c.Status === 'ACTIVE').map((c) => ({ ...c, Options: c.Options.filter((o) => o.Status === 'ACTIVE') })) })),
      ),
    ),
  ]

  return { handlers, state, addAccount, addTrackingCategory, expireAccessTokens, revokeConsent, currentRefreshToken, issuedTokens, requestsFor, journalsFor }
}
