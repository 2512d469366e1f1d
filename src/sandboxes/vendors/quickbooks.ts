// A QuickBooks Online simulator for msw: Intuit's OAuth 2.0 token endpoint (Basic client auth, rotating refresh
// tokens, one-hour access tokens) and the Accounting API v3 of one company (realm): journalentry with requestid replay,
// the query endpoint over Map-held accounts, departments, classes, customers, vendors, employees and journal entries,
// companyinfo and preferences (the closing date), the Fault envelopes, 429 throttling (per minute and concurrent),
// lost answers and outages.
// https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/journalentry,
// https://developer.intuit.com/app/developer/qbo/docs/develop/troubleshooting/error-codes,
// https://blogs.intuit.com/2015/04/06/15346/ (requestid), https://blogs.intuit.com/2016/08/08/idg-concurrent-api-use-changes-coming-soon/
import { randomBytes, randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { http, HttpResponse } from 'msw'

export const QBO_PRODUCTION = 'https://quickbooks.api.intuit.com'
export const INTUIT_TOKEN_URL = 'https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer'

export interface QuickBooksSandboxOptions {
  clientId: string
  clientSecret: string
  /** The refresh token of the company's consent, as the connection is configured. */
  refreshToken: string
  realmId: string
  baseUrl?: string
  tokenUrl?: string
  companyName?: string
  homeCurrency?: string
  now?: () => Date
  /** Access token lifetime (Intuit: 3600 s). */
  accessTokenSeconds?: number
  /** How long a refresh token keeps working once a refresh handed out its successor (0: retired at once). */
  rotatedGraceSeconds?: number
  /** Throttling per realm: 500 requests a minute and 10 at a time. */
  perMinute?: number
  concurrent?: number
  /** Time each API call takes, so concurrent calls overlap. */
  latencyMs?: number
}

export interface SimRequest {
  method: string
  path: string
  /** token, journalentry, query, companyinfo, preferences. */
  operation: string
  /** The query of a query call. */
  query?: string
  requestId?: string | null
  /** The raw JSON text of a journalentry post. */
  body?: string
  status: number
  answer: 'ok' | 'replayed' | 'fault' | 'unauthorized' | 'forbidden' | 'throttled' | 'down' | 'lost' | 'invalid_client' | 'invalid_grant'
  faultCodes?: string[]
}

export interface SimAccount {
  Id: string
  Name: string
  AcctNum?: string
  AccountType: string
  Classification: string
  Active: boolean
  FullyQualifiedName: string
}

export interface SimNamed {
  Id: string
  Name?: string
  DisplayName?: string
  Active: boolean
}

export type SimJournalEntry = Record<string, unknown> & { Id: string; DocNumber?: string; TxnDate: string; PrivateNote?: string; Line: SimLine[] }
export interface SimLine {
  Id: string
  Description?: string
  Amount: number
  DetailType: 'JournalEntryLineDetail'
  JournalEntryLineDetail: { PostingType: 'Debit' | 'Credit'; AccountRef: { value: string; name: string }; DepartmentRef?: { value: string; name?: string }; ClassRef?: { value: string; name?: string }; Entity?: { Type: string; EntityRef: { value: string; name?: string } } }
}

interface QboError {
  Message: string
  Detail: string
  code: string
  element?: string
}

const CLASSIFICATION: Record<string, string> = {
  Bank: 'Asset',
  'Other Current Asset': 'Asset',
  'Accounts Receivable': 'Asset',
  'Accounts Payable': 'Liability',
  'Other Current Liability': 'Liability',
  Income: 'Revenue',
  'Other Income': 'Revenue',
  'Cost of Goods Sold': 'Expense',
  Expense: 'Expense',
  'Other Expense': 'Expense',
  Equity: 'Equity',
}

const CURRENCY_NAMES: Record<string, string> = { USD: 'United States Dollar', CNY: 'Chinese Yuan Renminbi', GBP: 'British Pound Sterling', AUD: 'Australian Dollar' }

export function quickbooksSandbox(opts: QuickBooksSandboxOptions) {
  const base = opts.baseUrl ?? QBO_PRODUCTION
  const tokenUrl = opts.tokenUrl ?? INTUIT_TOKEN_URL
  const now = opts.now ?? (() => new Date())

  const state = {
    /** The company the consent is for: the connection may be pointed at another one, which answers 403 (003100). */
    realmId: opts.realmId,
    requests: [] as SimRequest[],
    /** Every call answers 503 while true. */
    down: false,
    /** The next this many API calls answer 429 ThrottleExceeded. */
    throttleNext: 0,
    /** The next this many journal entries are saved but their answer never arrives (the connection drops). */
    loseNextResponses: 0,
    latencyMs: opts.latencyMs ?? 0,
    perMinute: opts.perMinute ?? 500,
    concurrent: opts.concurrent ?? 10,
    /** Intuit hands out a new refresh token on every refresh when true. */
    rotateRefreshTokens: true,
    rotatedGraceSeconds: opts.rotatedGraceSeconds ?? 0,
    accessTokenSeconds: opts.accessTokenSeconds ?? 3600,
    /** "Close the books": a transaction dated on or before it is refused (6210). */
    bookCloseDate: null as string | null,
    /** "Warn if duplicate journal number is used": a second journal entry with the same DocNumber is refused (6140). */
    uniqueDocNumbers: true,
    multicurrency: false,
    homeCurrency: opts.homeCurrency ?? 'USD',
    accounts: new Map<string, SimAccount>(),
    departments: new Map<string, SimNamed>(),
    classes: new Map<string, SimNamed>(),
    customers: new Map<string, SimNamed>(),
    vendors: new Map<string, SimNamed>(),
    employees: new Map<string, SimNamed>(),
    journalEntries: new Map<string, SimJournalEntry>(),
    /** requestid → the answer given to the first request that carried it. */
    requestIds: new Map<string, { status: number; body: Record<string, unknown> }>(),
    /** Refresh tokens ever issued, with when a successor retired them and whether the consent was revoked. */
    refreshTokens: new Map<string, { retiredAt: number | null; revoked?: boolean }>([[opts.refreshToken, { retiredAt: null }]]),
    accessTokens: new Map<string, { expiresAt: number }>(),
    /** Times (ms) of the API calls of the last minute. */
    window: [] as number[],
    inFlight: 0,
  }

  let serial = 0
  const nextId = () => String(++serial + 40)
  const time = () => now().toISOString()
  const headers = () => ({ intuit_tid: randomUUID() })

  // ---- seeding and inspection ----

  function addAccount(a: { name: string; acctNum?: string; type: string; active?: boolean }): SimAccount {
    const account: SimAccount = { Id: nextId(), Name: a.name, ...(a.acctNum ? { AcctNum: a.acctNum } : {}), AccountType: a.type, Classification: CLASSIFICATION[a.type] ?? 'Asset', Active: a.active ?? true, FullyQualifiedName: a.name }
    state.accounts.set(account.Id, account)
    return account
  }
  const addNamed = (map: Map<string, SimNamed>, field: 'Name' | 'DisplayName') => (name: string, o: { active?: boolean } = {}): SimNamed => {
    const row: SimNamed = { Id: nextId(), [field]: name, Active: o.active ?? true }
    map.set(row.Id, row)
    return row
  }
  const addDepartment = addNamed(state.departments, 'Name')
  const addClass = addNamed(state.classes, 'Name')
  const addCustomer = addNamed(state.customers, 'DisplayName')
  const addVendor = addNamed(state.vendors, 'DisplayName')
  const addEmployee = addNamed(state.employees, 'DisplayName')

  /** Every access token stops working now (as an hour passing would do). */
  function expireAccessTokens() {
    for (const t of state.accessTokens.values()) t.expiresAt = 0
  }
  /** The company disconnected the app: every token, access and refresh, stops working. */
  function revokeConsent() {
    state.accessTokens.clear()
    for (const t of state.refreshTokens.values()) t.revoked = true
  }
  /** The refresh token a client must use now. */
  const currentRefreshToken = () => [...state.refreshTokens].filter(([, t]) => t.retiredAt === null && !t.revoked).map(([v]) => v).at(-1) ?? null
  /** Every token value handed out, for assertions that none leaked. */
  const issuedTokens = () => [...state.refreshTokens.keys(), ...state.accessTokens.keys()]
  const requestsFor = (operation: string) => state.requests.filter((r) => r.operation === operation)
  const journalEntriesByDocNumber = (docNumber: string) => [...state.journalEntries.values()].filter((je) => je.DocNumber === docNumber)

  // ---- answers ----

  const fault = (rec: SimRequest, status: number, type: string, errors: QboError[]) => {
    rec.answer = status === 429 ? 'throttled' : 'fault'
    rec.faultCodes = errors.map((e) => e.code)
    return HttpResponse.json({ Fault: { Error: errors, type }, time: time() }, { status, headers: headers() })
  }

  /** 401 comes in the lower-case envelope, as QuickBooks sends it. */
  const unauthorized = (rec: SimRequest) => {
    rec.answer = 'unauthorized'
    return HttpResponse.json(
      {
        warnings: null,
        intuitObject: null,
        fault: { error: [{ message: 'message=AuthenticationFailed; errorCode=003200; statusCode=401', detail: null, code: '3200', element: null }], type: 'AUTHENTICATION' },
        report: null,
        queryResponse: null,
        batchItemResponse: [],
        attachableResponse: [],
        syncErrorResponse: null,
        requestId: null,
        time: now().getTime(),
        status: null,
        cdcresponse: [],
      },
      { status: 401, headers: { ...headers(), 'www-authenticate': 'Bearer realm="Intuit", error="invalid_token"' } },
    )
  }

  const record = (request: Request, operation: string): SimRequest => {
    const rec: SimRequest = { method: request.method, path: new URL(request.url).pathname, operation, status: 0, answer: 'ok' }
    state.requests.push(rec)
    return rec
  }

  /** Outage, bearer token, realm and throttling checks, then the handler, with the call counted as in flight. */
  async function serve(request: Request, operation: string, realmId: string, handle: (rec: SimRequest) => Promise<Response> | Response): Promise<Response> {
    const rec = record(request, operation)
    const answer = await (async () => {
      if (state.down) {
        rec.answer = 'down'
        return new HttpResponse('<html><body><h1>503 Service Unavailable</h1></body></html>', { status: 503, headers: { 'content-type': 'text/html' } })
      }
      const auth = request.headers.get('authorization') ?? ''
      const token = auth.startsWith('Bearer ') ? auth.slice(7) : ''
      const held = state.accessTokens.get(token)
      if (!held || held.expiresAt <= now().getTime()) return unauthorized(rec)
      if (realmId !== state.realmId) {
        rec.answer = 'forbidden'
        return fault(rec, 403, 'SECURITY', [{ Message: 'message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403', Detail: 'The application is not authorized for this company', code: '003100' }])
      }
      const at = now().getTime()
      state.window = state.window.filter((t) => at - t < 60_000)
      if (state.throttleNext > 0 || state.window.length >= state.perMinute || state.inFlight >= state.concurrent) {
        if (state.throttleNext > 0) state.throttleNext--
        return fault(rec, 429, 'ThrottleExceeded', [{ Message: 'message=ThrottleExceeded; errorCode=003001; statusCode=429', Detail: 'The request limit was reached.  You can try again later', code: '3001' }])
      }
      state.window.push(at)
      state.inFlight++
      try {
        if (state.latencyMs > 0) await delay(state.latencyMs)
        return await handle(rec)
      } finally {
        state.inFlight--
      }
    })()
    rec.status = answer.status
    return answer
  }

  // ---- journal entries ----

  const invalidRef = (kind: string, id: unknown, element: string): QboError => ({ Message: 'Invalid Reference Id', Detail: `Invalid Reference Id : ${kind} element id ${String(id)} not found`, code: '2500', element })
  const business = (detail: string): QboError => ({ Message: 'A business validation error has occurred while processing your request', Detail: `Business Validation Error: ${detail}`, code: '6000' })

  /** The first problem QuickBooks would report, or the saved entry. */
  function createJournalEntry(b: Record<string, any>): { error: QboError } | { entry: SimJournalEntry } {
    const lines = Array.isArray(b.Line) ? (b.Line as Record<string, any>[]) : null
    if (!lines || lines.length === 0) return { error: { Message: 'Required param missing, need to supply the required value for the API', Detail: 'Required parameter Line is missing in the request', code: '2020', element: 'Line' } }
    if (b.DocNumber !== undefined && String(b.DocNumber).length > 21) {
      return { error: { Message: 'String length specified does not match the supported length', Detail: `String length is either shorter or longer than supported by specification. Min:0 Max:21 supported. Supplied length:${String(b.DocNumber).length}`, code: '2050', element: 'DocNumber' } }
    }
    const txnDate = b.TxnDate === undefined ? time().slice(0, 10) : String(b.TxnDate)
    if (!/^\d{4}-\d{2}-\d{2}$/.test(txnDate)) return { error: { Message: 'Request has invalid or unsupported property', Detail: `Property Name:Can not parse date ${txnDate} specified is unsupported or invalid`, code: '2010', element: 'TxnDate' } }
    const currency = b.CurrencyRef?.value ?? state.homeCurrency
    if (currency !== state.homeCurrency && !state.multicurrency) return { error: business(`Multicurrency is not turned on for this company; transactions are in ${state.homeCurrency}.`) }
    let debit = 0
    let credit = 0
    const saved: SimLine[] = []
    for (const [i, line] of lines.entries()) {
      const d = line.JournalEntryLineDetail as Record<string, any> | undefined
      if (line.DetailType !== 'JournalEntryLineDetail' || !d) return { error: { Message: 'Required param missing, need to supply the required value for the API', Detail: 'Required parameter Line.JournalEntryLineDetail is missing in the request', code: '2020', element: 'Line' } }
      if (d.PostingType !== 'Debit' && d.PostingType !== 'Credit') return { error: { Message: 'Required param missing, need to supply the required value for the API', Detail: 'Required parameter Line.JournalEntryLineDetail.PostingType is missing in the request', code: '2020', element: 'Line.JournalEntryLineDetail.PostingType' } }
      const amount = line.Amount
      if (typeof amount !== 'number' || !Number.isFinite(amount)) return { error: { Message: 'Request has invalid or unsupported property', Detail: `Property Name:Amount specified is unsupported or invalid`, code: '2010', element: 'Line.Amount' } }
      if (amount < 0) return { error: business('Journal entry amounts can not be negative; use the other PostingType.') }
      const cents = Math.round(amount * 100)
      if (Math.abs(amount * 100 - cents) > 1e-6) return { error: business(`The amount ${amount} has more decimals than the currency allows.`) }
      const account = state.accounts.get(String(d.AccountRef?.value))
      if (!account || !account.Active) return { error: invalidRef('Accounts', d.AccountRef?.value, 'Line.AccountRef') }
      const out: SimLine['JournalEntryLineDetail'] = { PostingType: d.PostingType, AccountRef: { value: account.Id, name: account.Name } }
      if (d.DepartmentRef) {
        const dep = state.departments.get(String(d.DepartmentRef.value))
        if (!dep?.Active) return { error: invalidRef('Departments', d.DepartmentRef.value, 'Line.DepartmentRef') }
        out.DepartmentRef = { value: dep.Id, name: dep.Name }
      }
      if (d.ClassRef) {
        const cls = state.classes.get(String(d.ClassRef.value))
        if (!cls?.Active) return { error: invalidRef('Classes', d.ClassRef.value, 'Line.ClassRef') }
        out.ClassRef = { value: cls.Id, name: cls.Name }
      }
      if (d.Entity) {
        const list = d.Entity.Type === 'Customer' ? state.customers : d.Entity.Type === 'Vendor' ? state.vendors : d.Entity.Type === 'Employee' ? state.employees : null
        const named = list?.get(String(d.Entity.EntityRef?.value))
        if (!named?.Active) return { error: invalidRef('Names', d.Entity.EntityRef?.value, 'Line.Entity') }
        out.Entity = { Type: d.Entity.Type, EntityRef: { value: named.Id, name: named.DisplayName } }
      }
      if (account.AccountType === 'Accounts Receivable' && out.Entity?.Type !== 'Customer') return { error: business('When you use Accounts Receivable, you must choose a customer in the Name field.') }
      if (account.AccountType === 'Accounts Payable' && out.Entity?.Type !== 'Vendor') return { error: business('When you use Accounts Payable, you must choose a supplier in the Name field.') }
      if (d.PostingType === 'Debit') debit += cents
      else credit += cents
      saved.push({ Id: String(i), ...(line.Description !== undefined ? { Description: String(line.Description) } : {}), Amount: amount, DetailType: 'JournalEntryLineDetail', JournalEntryLineDetail: out })
    }
    if (debit !== credit) return { error: business('Transaction must be balanced: the total of the debits must equal the total of the credits.') }
    if (state.bookCloseDate && txnDate <= state.bookCloseDate) {
      return { error: { Message: 'Account Period Closed, Cannot Update Through Services API', Detail: 'The account period has closed and the account books cannot be updated through through the QBO Services API. Please use the QBO website to make these changes.', code: '6210' } }
    }
    if (state.uniqueDocNumbers && b.DocNumber) {
      const taken = journalEntriesByDocNumber(String(b.DocNumber))[0]
      if (taken) return { error: { Message: 'Duplicate Document Number Error', Detail: `Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=${String(b.DocNumber)} is assigned to TxnType=Journal Entry with TxnId=${taken.Id}`, code: '6140' } }
    }
    const stamp = time()
    const entry: SimJournalEntry = {
      Adjustment: false,
      domain: 'QBO',
      sparse: false,
      Id: nextId(),
      SyncToken: '0',
      MetaData: { CreateTime: stamp, LastUpdatedTime: stamp },
      ...(b.DocNumber !== undefined ? { DocNumber: String(b.DocNumber) } : {}),
      TxnDate: txnDate,
      CurrencyRef: { value: currency, name: CURRENCY_NAMES[currency] ?? currency },
      ...(b.PrivateNote !== undefined ? { PrivateNote: String(b.PrivateNote) } : {}),
      Line: saved,
      TxnTaxDetail: {},
    }
    state.journalEntries.set(entry.Id, entry)
    return { entry }
  }

  // ---- the query language ----

  const LISTS: Record<string, () => Record<string, unknown>[]> = {
    journalentry: () => [...state.journalEntries.values()],
    account: () => [...state.accounts.values()] as unknown as Record<string, unknown>[],
    department: () => [...state.departments.values()] as unknown as Record<string, unknown>[],
    class: () => [...state.classes.values()] as unknown as Record<string, unknown>[],
    customer: () => [...state.customers.values()] as unknown as Record<string, unknown>[],
    vendor: () => [...state.vendors.values()] as unknown as Record<string, unknown>[],
    employee: () => [...state.employees.values()] as unknown as Record<string, unknown>[],
  }
  const ENTITY_NAMES: Record<string, string> = { journalentry: 'JournalEntry', account: 'Account', department: 'Department', class: 'Class', customer: 'Customer', vendor: 'Vendor', employee: 'Employee' }
  const STRING = String.raw`'(?:[^'\\]|\\.)*'`
  const CONDITION = new RegExp(String.raw`\s*([A-Za-z]+(?:\.[A-Za-z]+)?)\s*(=|<=|>=|<|>|\bin\b|\blike\b)\s*(${STRING}|\(\s*${STRING}(?:\s*,\s*${STRING})*\s*\)|true|false|-?\d+(?:\.\d+)?)\s*`, 'iy')
  const unquote = (s: string) => s.slice(1, -1).replace(/\\(.)/g, '$1')

  type Condition = { field: string; op: string; values: (string | boolean | number)[] }
  function parseWhere(where: string): Condition[] | null {
    const out: Condition[] = []
    let at = 0
    for (;;) {
      CONDITION.lastIndex = at
      const m = CONDITION.exec(where)
      if (!m) return null
      const raw = m[3]!
      const values = raw.startsWith('(') ? [...raw.matchAll(new RegExp(STRING, 'g'))].map((x) => unquote(x[0])) : raw.startsWith("'") ? [unquote(raw)] : /^(true|false)$/i.test(raw) ? [raw.toLowerCase() === 'true'] : [Number(raw)]
      out.push({ field: m[1]!, op: m[2]!.toLowerCase(), values })
      at = CONDITION.lastIndex
      if (at >= where.length) return out
      const and = /and\s+/iy
      and.lastIndex = at
      if (!and.exec(where)) return null
      at = and.lastIndex
    }
  }
  const valueAt = (row: Record<string, unknown>, field: string): unknown => field.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), row)
  const matches = (row: Record<string, unknown>, c: Condition) => {
    const v = valueAt(row, c.field)
    if (v === undefined) return false
    const want = c.values[0]
    switch (c.op) {
      case '=':
        return typeof want === 'string' ? String(v) === want : v === want
      case 'in':
        return c.values.includes(String(v))
      case 'like': {
        const pattern = new RegExp(`^${String(want).replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*')}$`)
        return pattern.test(String(v))
      }
      case '<':
        return String(v) < String(want)
      case '>':
        return String(v) > String(want)
      case '<=':
        return String(v) <= String(want)
      default:
        return String(v) >= String(want)
    }
  }

  function runQuery(rec: SimRequest, query: string): Response {
    const m = /^\s*select\s+\*\s+from\s+(\w+)(?:\s+where\s+(.+?))?(?:\s+orderby\s+([\w.]+)(?:\s+(asc|desc))?)?(?:\s+startposition\s+(\d+))?(?:\s+maxresults\s+(\d+))?\s*$/is.exec(query)
    const parseError = (detail: string) => fault(rec, 400, 'ValidationFault', [{ Message: 'Error parsing query', Detail: `QueryParserError: ${detail}`, code: '4000' }])
    if (!m) return parseError(`Encountered an unsupported statement in "${query}"`)
    const key = m[1]!.toLowerCase()
    const list = LISTS[key]
    if (!list) return parseError(`Invalid entity ${m[1]}`)
    const conditions = m[2] ? parseWhere(m[2]) : []
    if (!conditions) return parseError(`Encountered an unsupported where clause "${m[2]}"`)
    // Name lists and accounts answer active rows only, unless the query asks about Active.
    const activeOnly = key !== 'journalentry' && !conditions.some((c) => c.field.toLowerCase() === 'active')
    let rows = list().filter((r) => (!activeOnly || r.Active === true) && conditions.every((c) => matches(r, c)))
    if (m[3]) {
      const field = m[3]
      const dir = (m[4] ?? 'asc').toLowerCase() === 'desc' ? -1 : 1
      rows = rows.sort((a, b) => (String(valueAt(a, field)) < String(valueAt(b, field)) ? -dir : String(valueAt(a, field)) > String(valueAt(b, field)) ? dir : 0))
    }
    const start = Math.max(1, Number(m[5] ?? 1))
    const max = Math.min(1000, Number(m[6] ?? 100))
    rows = rows.slice(start - 1, start - 1 + max)
    return HttpResponse.json({ QueryResponse: rows.length ? { [ENTITY_NAMES[key]!]: rows, startPosition: start, maxResults: rows.length } : {}, time: time() }, { headers: headers() })
  }

  // ---- OAuth ----

  const randomToken = (prefix: string, bytes: number) => `${prefix}${randomBytes(bytes).toString('base64url')}`

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
        return HttpResponse.json({ error: 'invalid_client' }, { status: 401 })
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
      let refresh = presented
      if (state.rotateRefreshTokens) {
        refresh = randomToken('AB11', 36)
        state.refreshTokens.set(refresh, { retiredAt: null })
        for (const [value, t] of state.refreshTokens) if (value !== refresh && t.retiredAt === null) t.retiredAt = at
      }
      const access = randomToken('eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..', 96)
      state.accessTokens.set(access, { expiresAt: at + state.accessTokenSeconds * 1000 })
      return HttpResponse.json({ token_type: 'bearer', expires_in: state.accessTokenSeconds, refresh_token: refresh, x_refresh_token_expires_in: 8_726_400, access_token: access })
    })()
    rec.status = answer.status
    return answer
  }

  // ---- handlers ----

  const company = `${base}/v3/company/:realmId`
  const handlers = [
    http.post(tokenUrl, ({ request }) => token(request)),
    http.post(`${company}/journalentry`, ({ request, params }) =>
      serve(request, 'journalentry', String(params.realmId), async (rec) => {
        const requestId = new URL(request.url).searchParams.get('requestid')
        rec.requestId = requestId
        const text = await request.text()
        rec.body = text
        const prior = requestId ? state.requestIds.get(requestId) : undefined
        if (prior) {
          // "the service sends the same response as it did for the original request"
          rec.answer = 'replayed'
          return HttpResponse.json(prior.body, { status: prior.status, headers: headers() })
        }
        let body: Record<string, any>
        try {
          body = JSON.parse(text) as Record<string, any>
        } catch {
          return fault(rec, 400, 'ValidationFault', [{ Message: 'Request has invalid or unsupported property', Detail: 'Request body is not valid JSON', code: '2010' }])
        }
        const result = createJournalEntry(body)
        if ('error' in result) {
          const answer = { Fault: { Error: [result.error], type: 'ValidationFault' }, time: time() }
          if (requestId) state.requestIds.set(requestId, { status: 400, body: answer })
          return fault(rec, 400, 'ValidationFault', [result.error])
        }
        const answer = { JournalEntry: result.entry, time: time() }
        if (requestId) state.requestIds.set(requestId, { status: 200, body: answer })
        if (state.loseNextResponses > 0) {
          state.loseNextResponses--
          rec.answer = 'lost'
          return HttpResponse.error()
        }
        return HttpResponse.json(answer, { headers: headers() })
      }),
    ),
    http.get(`${company}/query`, ({ request, params }) =>
      serve(request, 'query', String(params.realmId), (rec) => {
        const query = new URL(request.url).searchParams.get('query') ?? ''
        rec.query = query
        return runQuery(rec, query)
      }),
    ),
    http.get(`${company}/companyinfo/:id`, ({ request, params }) =>
      serve(request, 'companyinfo', String(params.realmId), () =>
        HttpResponse.json(
          { CompanyInfo: { CompanyName: opts.companyName ?? 'Tillbridge Test Co', LegalName: opts.companyName ?? 'Tillbridge Test Co', Country: 'US', Id: '1', SyncToken: '3', domain: 'QBO', sparse: false }, time: time() },
          { headers: headers() },
        ),
      ),
    ),
    http.get(`${company}/preferences`, ({ request, params }) =>
      serve(request, 'preferences', String(params.realmId), () =>
        HttpResponse.json(
          {
            Preferences: {
              AccountingInfoPrefs: { UseAccountNumbers: true, TrackDepartments: true, ClassTrackingPerTxnLine: true, ...(state.bookCloseDate ? { BookCloseDate: state.bookCloseDate } : {}) },
              CurrencyPrefs: { MultiCurrencyEnabled: state.multicurrency, HomeCurrency: { value: state.homeCurrency } },
              domain: 'QBO',
              sparse: false,
              Id: '1',
              SyncToken: '7',
            },
            time: time(),
          },
          { headers: headers() },
        ),
      ),
    ),
  ]

  return { handlers, state, addAccount, addDepartment, addClass, addCustomer, addVendor, addEmployee, expireAccessTokens, revokeConsent, currentRefreshToken, issuedTokens, requestsFor, journalEntriesByDocNumber }
}
