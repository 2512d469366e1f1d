// A Kingdee K/3 Cloud (金蝶云星空) WebAPI simulator for msw: ValidateUser / LoginByAppSecret with the LoginResponse
// body and the kdservice-sessionid + ASP.NET_SessionId cookies, sessions that can be expired (会话信息已丢失, MsgCode 1),
// DynamicFormService.Save of GL_VOUCHER with base-data verification (accounts, 核算维度 values, 账簿, 凭证字, 币别),
// closed periods, balance check, per-entry Errors, SuccessEntitys and NeedReturnData, and ExecuteBillQuery over the
// saved vouchers with a small FilterString evaluator. Knobs: `down` (503 from IIS), 429 from a gateway, MsgCode 14
// throttling, and a Save whose reply is lost after the voucher was saved.
import { randomBytes } from 'node:crypto'
import { http, HttpResponse } from 'msw'

const STUB = 'Kingdee.BOS.WebApi.ServicesStub'
const PATHS = {
  ValidateUser: `${STUB}.AuthService.ValidateUser.common.kdsvc`,
  LoginByAppSecret: `${STUB}.AuthService.LoginByAppSecret.common.kdsvc`,
  Save: `${STUB}.DynamicFormService.Save.common.kdsvc`,
  ExecuteBillQuery: `${STUB}.DynamicFormService.ExecuteBillQuery.common.kdsvc`,
} as const
export type KingdeeService = keyof typeof PATHS

export interface KingdeeSandboxOptions {
  /** Without the /k3cloud path (default https://k3cloud.example.com). */
  serverUrl?: string
  acctId: string
  username: string
  password?: string
  app?: { appId: string; appSecret: string }
  /** 账簿 numbers (default ['001']). */
  accountBooks?: string[]
  /** 凭证字 numbers (default PRE001 = 记). */
  voucherGroups?: Record<string, string>
  /** 币别 numbers (default PRE001 = CNY). */
  currencies?: string[]
  /** BOS extension fields added to GL_VOUCHER's head (e.g. F_TB_ExtNo). */
  customFields?: string[]
}

export interface SimKingdeeRequest {
  service: KingdeeService
  body: unknown
  /** The session the call carried (cookie or kdservice-sessionid header), if any. */
  sessionId: string | null
  answer: 'ok' | 'login_failed' | 'session_lost' | 'rejected' | 'query_error' | 'down' | 'rate_limited' | 'throttled' | 'reply_lost'
}

export interface SimEntry {
  explanation: string
  account: string
  /** Flex slot (FFLEX5) → number. */
  detail: Record<string, string>
  currency: string
  /** Fen. */
  debit: number
  credit: number
  amountFor: number
}

export interface SimVoucher {
  id: number
  /** 凭证号, per book, period and 凭证字. */
  groupNo: number
  book: string
  date: string
  year: number
  period: number
  group: string
  attachments: number
  custom: Record<string, string>
  entries: SimEntry[]
  /** The Model as received. */
  model: Record<string, unknown>
}

type KdError = { FieldName: string | null; Message: string; DIndex: number }

const status = (p: { ok: boolean; msgCode?: number; errors?: KdError[]; entities?: { Id: number; Number: string; DIndex: number }[] }) => ({
  ErrorCode: p.ok ? 0 : 500,
  IsSuccess: p.ok,
  Errors: p.errors ?? [],
  SuccessEntitys: p.entities ?? [],
  SuccessMessages: [],
  MsgCode: p.msgCode ?? 0,
})

const SESSION_LOST: KdError = { FieldName: null, Message: '会话信息已丢失，请重新登录', DIndex: 0 }

/** Decimal yuan (string or number, at most 2 places) as fen, without floating point; null when malformed. */
function toFen(v: unknown): number | null {
  if (v === undefined || v === null || v === '') return 0
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : ''
  const m = /^(-)?(\d+)(?:\.(\d{1,2}))?$/.exec(s)
  if (!m) return null
  const fen = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'))
  return m[1] ? -fen : fen
}

const fenText = (fen: number) => `${fen < 0 ? '-' : ''}${Math.floor(Math.abs(fen) / 100)}.${String(Math.abs(fen) % 100).padStart(2, '0')}`

const numberOf = (v: unknown): string | undefined => {
  if (v && typeof v === 'object' && 'FNumber' in v) {
    const n = (v as { FNumber: unknown }).FNumber
    return typeof n === 'string' || typeof n === 'number' ? String(n) : undefined
  }
  return undefined
}

// ---- FilterString: `field op literal` joined by `and` (what the connector sends, and a bit more) -------------------

type Condition = { field: string; op: '=' | '<>' | '>=' | '<=' | '>' | '<' | 'like'; value: string }

function parseFilter(filter: string): Condition[] | string {
  const out: Condition[] = []
  let i = 0
  const src = filter.trim()
  const skip = () => {
    while (i < src.length && /\s/.test(src[i]!)) i++
  }
  while (i < src.length) {
    skip()
    const field = /^[A-Za-z_][\w.]*/.exec(src.slice(i))
    if (!field) return `过滤条件语法错误，位置 ${i}`
    i += field[0].length
    skip()
    const op = /^(<>|>=|<=|=|>|<|like\b)/i.exec(src.slice(i))
    if (!op) return `过滤条件语法错误，位置 ${i}`
    i += op[0].length
    skip()
    let value = ''
    if (src[i] === "'") {
      i++
      for (;;) {
        if (i >= src.length) return '过滤条件中的字符串没有结束'
        if (src[i] === "'" && src[i + 1] === "'") {
          value += "'"
          i += 2
        } else if (src[i] === "'") {
          i++
          break
        } else value += src[i++]
      }
    } else {
      const num = /^-?\d+(\.\d+)?/.exec(src.slice(i))
      if (!num) return `过滤条件语法错误，位置 ${i}`
      value = num[0]
      i += num[0].length
    }
    out.push({ field: field[0], op: op[0].toLowerCase() as Condition['op'], value })
    skip()
    if (i < src.length) {
      const and = /^and\b/i.exec(src.slice(i))
      if (!and) return `过滤条件只支持 and，位置 ${i}`
      i += and[0].length
    }
  }
  return out
}

/** SQL Server LIKE: % and _ wildcards, [x] a literal x. */
function likeToRegExp(pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!
    if (ch === '%') re += '.*'
    else if (ch === '_') re += '.'
    else if (ch === '[' && pattern[i + 2] === ']') {
      re += pattern[i + 1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      i += 2
    } else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`, 's')
}

export function kingdeeSandbox(opts: KingdeeSandboxOptions) {
  const base = `${opts.serverUrl ?? 'https://k3cloud.example.com'}/k3cloud`
  const books = new Set(opts.accountBooks ?? ['001'])
  const groups = opts.voucherGroups ?? { PRE001: '记' }
  const currencies = new Set(opts.currencies ?? ['PRE001'])
  const customFields = new Set(opts.customFields ?? [])

  const state = {
    requests: [] as SimKingdeeRequest[],
    /** IIS answers 503 to everything. */
    down: false,
    /** A gateway in front answers the next this many calls with 429 and Retry-After. */
    rateLimitNext: 0,
    retryAfterSeconds: 0,
    /** The next this many Save/ExecuteBillQuery calls are refused with MsgCode 14 (调用限制). */
    throttleNext: 0,
    /** The same, for Saves only. */
    throttleSavesNext: 0,
    /** The next this many calls carrying a session are answered 会话信息已丢失 whatever the session. */
    sessionLostNext: 0,
    /** The next this many Saves save the voucher, then the connection drops before the reply. */
    loseNextSaveReply: 0,
    sessions: new Map<string, { acctId: string; username: string; aspNetSessionId: string }>(),
    accounts: new Map<string, { name: string; audited: boolean }>(),
    /** 核算维度 values by flex slot (FFLEX5 → numbers). */
    dimensionValues: new Map<string, Set<string>>(),
    /** Periods up to and including this one (YYYY-MM) are closed (期末结账). */
    closedThrough: null as string | null,
    vouchers: new Map<number, SimVoucher>(),
  }
  let nextId = 100_100
  const groupNumbers = new Map<string, number>()

  const addAccount = (code: string, name: string, o: { audited?: boolean } = {}) => state.accounts.set(code, { name, audited: o.audited ?? true })
  const addDimensionValue = (slot: string, number: string) => {
    let set = state.dimensionValues.get(slot)
    if (!set) state.dimensionValues.set(slot, (set = new Set()))
    set.add(number)
  }
  /** Closes every period up to year/period (inclusive). */
  const closePeriodsThrough = (year: number, period: number) => (state.closedThrough = `${year}-${String(period).padStart(2, '0')}`)
  /** Drops every session, as an IIS recycle or the session timeout does. */
  const expireSessions = () => state.sessions.clear()
  const vouchers = () => [...state.vouchers.values()]
  const requestsOf = (service: KingdeeService) => state.requests.filter((r) => r.service === service)

  const sessionOf = (req: Request): string | null => {
    const cookie = req.headers.get('cookie') ?? ''
    const m = /(?:^|;\s*)kdservice-sessionid=([^;]+)/i.exec(cookie)
    return m?.[1] ?? req.headers.get('kdservice-sessionid')
  }

  const log = (service: KingdeeService, body: unknown, sessionId: string | null, answer: SimKingdeeRequest['answer']) => state.requests.push({ service, body, sessionId, answer })

  /** What every call meets before the service: an outage, the gateway's 429, a missing or lost session. */
  function gate(service: KingdeeService, body: unknown, sessionId: string | null, needsSession: boolean): Response | null {
    if (state.down) {
      log(service, body, sessionId, 'down')
      return new HttpResponse('<html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>HTTP Error 503. The service is unavailable.</p></body></html>', {
        status: 503,
        headers: { 'content-type': 'text/html; charset=us-ascii' },
      })
    }
    if (state.rateLimitNext > 0) {
      state.rateLimitNext--
      log(service, body, sessionId, 'rate_limited')
      return new HttpResponse('<html><body><h1>429 Too Many Requests</h1></body></html>', { status: 429, headers: { 'content-type': 'text/html', 'retry-after': String(state.retryAfterSeconds) } })
    }
    const lostAnyway = needsSession && state.sessionLostNext > 0
    if (lostAnyway) state.sessionLostNext--
    if (needsSession && (lostAnyway || !sessionId || !state.sessions.has(sessionId))) {
      log(service, body, sessionId, 'session_lost')
      const reply = { Result: { ResponseStatus: status({ ok: false, msgCode: 1, errors: [SESSION_LOST] }) } }
      return HttpResponse.json(service === 'ExecuteBillQuery' ? [[reply]] : reply)
    }
    const throttled = needsSession && (state.throttleNext > 0 || (service === 'Save' && state.throttleSavesNext > 0))
    if (throttled) {
      if (state.throttleNext > 0) state.throttleNext--
      else state.throttleSavesNext--
      log(service, body, sessionId, 'throttled')
      const reply = { Result: { ResponseStatus: status({ ok: false, msgCode: 14, errors: [{ FieldName: null, Message: '接口调用次数超出限制，请稍后再试', DIndex: 0 }] }) } }
      return HttpResponse.json(service === 'ExecuteBillQuery' ? [[reply]] : reply)
    }
    return null
  }

  async function readJson(req: Request): Promise<unknown> {
    try {
      return JSON.parse(await req.text())
    } catch {
      return undefined
    }
  }

  function loginHandler(service: 'ValidateUser' | 'LoginByAppSecret') {
    return http.post(`${base}/${PATHS[service]}`, async ({ request }) => {
      const body = await readJson(request)
      const refused = gate(service, body, null, false)
      if (refused) return refused
      const params = (body as { parameters?: unknown[] } | undefined)?.parameters ?? []
      const [acctId, username] = params as string[]
      const okCredentials =
        service === 'ValidateUser'
          ? opts.password !== undefined && params[2] === opts.password
          : opts.app !== undefined && params[2] === opts.app.appId && params[3] === opts.app.appSecret
      const failure = (message: string) => {
        log(service, body, null, 'login_failed')
        return HttpResponse.json({ Message: message, MessageCode: 'CheckPasswordPolicy', LoginResultType: 0, Context: null, KDSVCSessionId: null, FormId: null, RedirectFormParam: null, FormInputObject: null, ErrorStackTrace: null, Lcid: 0, AccessToken: null, KdAccessResult: null, IsSuccessByAPI: false })
      }
      if (acctId !== opts.acctId) return failure(`数据中心[${String(acctId)}]不存在或已停用`)
      if (username !== opts.username || !okCredentials) return failure(service === 'ValidateUser' ? '用户名或密码错误！' : '第三方系统登录授权验证失败：应用ID或应用密钥错误')
      const sessionId = randomBytes(16).toString('hex')
      const aspNetSessionId = randomBytes(12).toString('base64url')
      state.sessions.set(sessionId, { acctId, username, aspNetSessionId })
      log(service, body, null, 'ok')
      const headers = new Headers({ 'content-type': 'application/json; charset=utf-8' })
      headers.append('set-cookie', `kdservice-sessionid=${sessionId}; path=/`)
      headers.append('set-cookie', `ASP.NET_SessionId=${aspNetSessionId}; path=/; HttpOnly; SameSite=Lax`)
      return new HttpResponse(
        JSON.stringify({
          Message: null,
          MessageCode: 'CheckPasswordPolicy',
          LoginResultType: 1,
          Context: { UserLocale: 'zh-CN', LogLocale: 'zh-CN', DBid: acctId, DatabaseType: 3, SessionId: sessionId, UserId: 100_008, UserName: username, DataCenterName: '模拟数据中心', UserToken: randomBytes(16).toString('hex'), CurrentOrganizationInfo: { ID: 1, AcctOrgType: '1', Name: '总公司' } },
          KDSVCSessionId: sessionId,
          FormId: null,
          RedirectFormParam: null,
          FormInputObject: null,
          ErrorStackTrace: null,
          Lcid: params[params.length - 1] ?? 2052,
          AccessToken: null,
          KdAccessResult: null,
          IsSuccessByAPI: true,
        }),
        { headers },
      )
    })
  }

  function validate(model: Record<string, unknown>): { errors: KdError[]; msgCode: number; voucher?: Omit<SimVoucher, 'id' | 'groupNo'> } {
    const errors: KdError[] = []
    let msgCode = 0
    const fail = (code: number, FieldName: string | null, Message: string) => {
      if (!msgCode) msgCode = code
      errors.push({ FieldName, Message, DIndex: 0 })
    }
    const book = numberOf(model.FAccountBookID)
    if (!book) fail(11, 'FAccountBookID', '字段“账簿”是必录项')
    else if (!books.has(book)) fail(9, 'FAccountBookID', `账簿编码“${book}”不存在或未审核`)
    const date = typeof model.FDate === 'string' ? model.FDate.slice(0, 10) : ''
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) fail(11, 'FDate', '字段“日期”是必录项')
    const group = numberOf(model.FVOUCHERGROUPID) ?? ''
    if (!groups[group]) fail(9, 'FVOUCHERGROUPID', `凭证字编码“${group}”不存在或未审核`)
    const [year, month] = date.split('-').map(Number) as [number, number]
    if (date && state.closedThrough && date.slice(0, 7) <= state.closedThrough) fail(11, 'FDate', `凭证日期${date}所在的会计期间${year}年第${month}期已结账，不能新增凭证`)
    if (model.FYEAR !== undefined && (model.FYEAR !== year || model.FPERIOD !== month)) fail(11, 'FPERIOD', `会计年度/期间(${String(model.FYEAR)}/${String(model.FPERIOD)})与凭证日期${date}不一致`)
    const rows = Array.isArray(model.FEntity) ? (model.FEntity as Record<string, unknown>[]) : []
    if (rows.length === 0) fail(11, 'FEntity', '凭证分录不能为空')
    const entries: SimEntry[] = []
    let debits = 0
    let credits = 0
    rows.forEach((row, i) => {
      const at = `第${i + 1}行分录：`
      const code = numberOf(row.FACCOUNTID)
      const account = code ? state.accounts.get(code) : undefined
      if (!code) fail(11, 'FACCOUNTID', `${at}字段“科目编码”是必录项`)
      else if (!account || !account.audited) fail(9, 'FACCOUNTID', `${at}科目编码“${code}”不存在或未审核`)
      const detail: Record<string, string> = {}
      const flex = row.FDetailID && typeof row.FDetailID === 'object' ? (row.FDetailID as Record<string, unknown>) : {}
      for (const [key, value] of Object.entries(flex)) {
        const slot = /^FDETAILID__(FFLEX\d+)$/i.exec(key)?.[1]?.toUpperCase()
        const n = numberOf(value)
        if (!slot || !n) {
          fail(9, 'FDetailID', `${at}核算维度字段“${key}”不存在`)
          continue
        }
        if (!state.dimensionValues.get(slot)?.has(n)) fail(9, 'FDetailID', `${at}核算维度(${slot})编码“${n}”不存在或未审核`)
        detail[slot] = n
      }
      const currency = numberOf(row.FCURRENCYID) ?? 'PRE001'
      if (!currencies.has(currency)) fail(9, 'FCURRENCYID', `${at}币别编码“${currency}”不存在或未审核`)
      const debit = toFen(row.FDEBIT)
      const credit = toFen(row.FCREDIT)
      const amountFor = toFen(row.FAMOUNTFOR)
      if (debit === null || credit === null || amountFor === null) {
        fail(11, 'FDEBIT', `${at}金额格式不正确`)
        return
      }
      if ((debit === 0) === (credit === 0)) fail(11, 'FDEBIT', `${at}借方金额和贷方金额必须且只能录入一个`)
      if (amountFor !== debit + credit && row.FEXCHANGERATE === 1) fail(11, 'FAMOUNTFOR', `${at}原币金额与本位币金额不一致`)
      debits += debit
      credits += credit
      entries.push({ explanation: typeof row.FEXPLANATION === 'string' ? row.FEXPLANATION : '', account: code ?? '', detail, currency, debit, credit, amountFor })
    })
    if (errors.length === 0 && debits !== credits) fail(11, 'FEntity', `借贷不平衡：借方合计${fenText(debits)}，贷方合计${fenText(credits)}`)
    if (errors.length) return { errors, msgCode }
    const custom: Record<string, string> = {}
    for (const f of customFields) if (typeof model[f] === 'string') custom[f] = model[f] as string
    return {
      errors,
      msgCode,
      voucher: { book: book!, date, year, period: month, group, attachments: Number(model.FATTACHMENTS ?? 0), custom, entries, model },
    }
  }

  const saveHandler = http.post(`${base}/${PATHS.Save}`, async ({ request }) => {
    const body = (await readJson(request)) as { formid?: unknown; data?: unknown } | undefined
    const sessionId = sessionOf(request)
    const refused = gate('Save', body, sessionId, true)
    if (refused) return refused
    const reject = (msgCode: number, errors: KdError[]) => {
      log('Save', body, sessionId, 'rejected')
      return HttpResponse.json({ Result: { ResponseStatus: status({ ok: false, msgCode, errors }) } })
    }
    const data = typeof body?.data === 'string' ? (JSON.parse(body.data) as Record<string, unknown>) : (body?.data as Record<string, unknown> | undefined)
    if (body?.formid !== 'GL_VOUCHER') return reject(5, [{ FieldName: null, Message: `业务对象“${String(body?.formid)}”不存在`, DIndex: 0 }])
    const model = data?.Model as Record<string, unknown> | undefined
    if (!model || typeof model !== 'object' || Array.isArray(model)) return reject(8, [{ FieldName: null, Message: '参数Model不能为空', DIndex: 0 }])
    const checked = validate(model)
    if (!checked.voucher) return reject(checked.msgCode, checked.errors)

    // A Model with FVOUCHERID updates (and replaces) that voucher, as the real server does.
    const existingId = Number(model.FVOUCHERID ?? 0)
    const existing = existingId ? state.vouchers.get(existingId) : undefined
    const key = `${checked.voucher.book}/${checked.voucher.year}/${checked.voucher.period}/${checked.voucher.group}`
    const groupNo = existing?.groupNo ?? (groupNumbers.get(key) ?? 0) + 1
    if (!existing) groupNumbers.set(key, groupNo)
    const voucher: SimVoucher = { id: existing?.id ?? nextId++, groupNo, ...checked.voucher }
    state.vouchers.set(voucher.id, voucher)

    if (state.loseNextSaveReply > 0) {
      state.loseNextSaveReply--
      log('Save', body, sessionId, 'reply_lost')
      return HttpResponse.error()
    }
    log('Save', body, sessionId, 'ok')
    const wanted = Array.isArray(data?.NeedReturnFields) ? (data.NeedReturnFields as string[]) : []
    const returned: Record<string, unknown> = {}
    if (wanted.includes('FVOUCHERID')) returned.FVOUCHERID = voucher.id
    if (wanted.includes('FVOUCHERGROUPNO')) returned.FVOUCHERGROUPNO = String(voucher.groupNo)
    return HttpResponse.json({
      Result: {
        ResponseStatus: status({ ok: true, entities: [{ Id: voucher.id, Number: String(voucher.groupNo), DIndex: 0 }] }),
        Id: voucher.id,
        Number: String(voucher.groupNo),
        NeedReturnData: [returned],
      },
    })
  })

  /** A query's value of `field` for a voucher (and one of its entries). */
  function fieldValue(v: SimVoucher, e: SimEntry | undefined, field: string): string | number | undefined {
    switch (field.toUpperCase()) {
      case 'FVOUCHERID':
        return v.id
      case 'FVOUCHERGROUPNO':
        return String(v.groupNo)
      case 'FDATE':
        return `${v.date}T00:00:00`
      case 'FYEAR':
        return v.year
      case 'FPERIOD':
        return v.period
      case 'FACCOUNTBOOKID.FNUMBER':
        return v.book
      case 'FVOUCHERGROUPID.FNUMBER':
        return v.group
      case 'FEXPLANATION':
        return e?.explanation
      case 'FACCOUNTID.FNUMBER':
        return e?.account
      case 'FDEBIT':
        return e ? fenText(e.debit) : undefined
      case 'FCREDIT':
        return e ? fenText(e.credit) : undefined
    }
    if (customFields.has(field)) return v.custom[field] ?? ''
    return undefined
  }
  const ENTRY_FIELDS = new Set(['FEXPLANATION', 'FACCOUNTID.FNUMBER', 'FDEBIT', 'FCREDIT'])
  const knownField = (f: string) => customFields.has(f) || ENTRY_FIELDS.has(f.toUpperCase()) || ['FVOUCHERID', 'FVOUCHERGROUPNO', 'FDATE', 'FYEAR', 'FPERIOD', 'FACCOUNTBOOKID.FNUMBER', 'FVOUCHERGROUPID.FNUMBER'].includes(f.toUpperCase())

  function matches(actual: string | number | undefined, c: Condition): boolean {
    if (actual === undefined) return false
    const a = String(actual)
    // Dates compare on their day, as SQL Server compares a datetime with '2026-11-20'.
    const left = /^\d{4}-\d{2}-\d{2}T00:00:00$/.test(a) && /^\d{4}-\d{2}-\d{2}$/.test(c.value) ? a.slice(0, 10) : a
    if (c.op === 'like') return likeToRegExp(c.value).test(left)
    const cmp = typeof actual === 'number' ? actual - Number(c.value) : left < c.value ? -1 : left > c.value ? 1 : 0
    return c.op === '=' ? cmp === 0 : c.op === '<>' ? cmp !== 0 : c.op === '>=' ? cmp >= 0 : c.op === '<=' ? cmp <= 0 : c.op === '>' ? cmp > 0 : cmp < 0
  }

  const queryHandler = http.post(`${base}/${PATHS.ExecuteBillQuery}`, async ({ request }) => {
    const body = (await readJson(request)) as { data?: unknown } | undefined
    const sessionId = sessionOf(request)
    const refused = gate('ExecuteBillQuery', body, sessionId, true)
    if (refused) return refused
    const fault = (msgCode: number, message: string) => {
      log('ExecuteBillQuery', body, sessionId, 'query_error')
      return HttpResponse.json([[{ Result: { ResponseStatus: status({ ok: false, msgCode, errors: [{ FieldName: null, Message: message, DIndex: 0 }] }) } }]])
    }
    const q = (typeof body?.data === 'string' ? JSON.parse(body.data) : body?.data) as Record<string, unknown> | undefined
    if (!q || q.FormId !== 'GL_VOUCHER') return fault(5, `业务对象“${String(q?.FormId)}”不存在`)
    const keys = String(q.FieldKeys ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean)
    if (keys.length === 0) return fault(8, '参数FieldKeys不能为空')
    const unknownKey = keys.find((k) => !knownField(k))
    if (unknownKey) return fault(9, `字段“${unknownKey}”在业务对象“凭证”中不存在`)
    const conditions = parseFilter(String(q.FilterString ?? ''))
    if (typeof conditions === 'string') return fault(4, conditions)
    const unknownCondition = conditions.find((c) => !knownField(c.field))
    if (unknownCondition) return fault(9, `字段“${unknownCondition.field}”在业务对象“凭证”中不存在`)

    const perEntry = [...keys, ...conditions.map((c) => c.field)].some((f) => ENTRY_FIELDS.has(f.toUpperCase()))
    const rows: unknown[][] = []
    for (const v of [...state.vouchers.values()].sort((a, b) => a.id - b.id)) {
      for (const e of perEntry ? v.entries : [undefined]) {
        if (conditions.every((c) => matches(fieldValue(v, e, c.field), c))) rows.push(keys.map((k) => fieldValue(v, e, k) ?? null))
      }
    }
    const start = Number(q.StartRow ?? 0) || 0
    const limit = Math.min(Number(q.Limit ?? 0) || 2000, 10_000)
    const top = Number(q.TopRowCount ?? 0) || Infinity
    log('ExecuteBillQuery', body, sessionId, 'ok')
    return HttpResponse.json(rows.slice(start, start + Math.min(limit, top)))
  })

  const handlers = [loginHandler('ValidateUser'), loginHandler('LoginByAppSecret'), saveHandler, queryHandler]
  return { handlers, state, addAccount, addDimensionValue, closePeriodsThrough, expireSessions, vouchers, requestsOf }
}
