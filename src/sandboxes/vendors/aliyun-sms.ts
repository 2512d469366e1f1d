// An Alibaba Cloud SMS simulator for msw: the RPC-style dysmsapi (2017-05-25) at the endpoint's root, with the
// gateway's checks (HMAC-SHA1 signature of the sorted parameters, SignatureNonce replay, Timestamp window, AccessKey)
// and error envelope, per-user QPS throttling (Throttling.User), SendBatchSms with the business errors of its
// `Code`, QuerySendDetails and QuerySmsSign, and the HTTP batch pushes of receipts (SmsReport) and replies (SmsUp).
// State is kept in Maps so a benchmark can send to hundreds of thousands of numbers.
// https://help.aliyun.com/document_detail/66041.html (SendBatchSms), /419277.html (QuerySendDetails),
// /101867.html (SmsReport push), /101347.html (error codes), /315526.html (RPC signature)
//
// The model of refusals: SendBatchSms answers one Code for the whole call, so a call with one malformed number
// (isv.MOBILE_NUMBER_ILLEGAL), one number that unsubscribed (isv.CUSTOMER_REFUSED) or one number over its daily
// count (isv.BUSINESS_LIMIT_CONTROL) sends nothing. A well-formed number that does not exist is taken and fails
// later, in its receipt.
import { createHmac, randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { http, HttpResponse } from 'msw'
import type { SmsReportRecord, SmsUpRecord } from '../../connectors/campaign/aliyun-sms/webhook.ts'

export interface AliyunSmsSandboxOptions {
  endpoint?: string
  /** AccessKey ID → AccessKey secret; or one pair as `accessKeyId` and `accessKeySecret`. */
  accessKeys?: Record<string, string>
  accessKeyId?: string
  accessKeySecret?: string
  /** Approved signatures. */
  signNames?: string[]
  /**
   * Template code → its text with ${name} variables (domestic unless told otherwise); or just the codes, for
   * domestic templates without variables.
   */
  templates?: string[] | Record<string, string | { content: string; scope?: 'domestic' | 'international' }>
  /** Calls per second per user before Throttling.User (Aliyun: 5 000). */
  qps?: number
  latencyMs?: number
  /** Requests kept in `state.requests`, newest last (default 100 000; older ones are dropped). */
  requestLogLimit?: number
  /** Messages a number may get per day from one signature and template (Aliyun's notification default: 50). */
  perNumberDailyLimit?: number
  clock?: () => Date
}

export interface SimSms {
  bizId: string
  /** As sent in PhoneNumberJson, normalised: 11 digits for the mainland, country code + number otherwise. */
  phone: string
  signName: string
  templateCode: string
  params: Record<string, string>
  /** 【signature】 and the template with its variables filled. */
  content: string
  outId: string | null
  sentAt: Date
  /** 1 waiting for the receipt, 2 failed, 3 delivered. */
  sendStatus: 1 | 2 | 3
  errCode: string | null
  errMsg: string | null
  receivedAt: Date | null
}

export interface SimAliyunRequest {
  at: Date
  method: string
  action: string | null
  accessKeyId: string | null
  /** The parameters without the Signature. */
  params: Record<string, string>
  status: number
  code: string
}

// The push records' wire format, declared once beside the hub's receiver of it.
export type { SmsReportRecord, SmsUpRecord } from '../../connectors/campaign/aliyun-sms/webhook.ts'

/** A push as Aliyun would POST it to `url` (for a test: POST `url` to the hub with these headers and body). */
export interface AliyunPush {
  url: string
  headers: Record<string, string>
  body: string
}

const VERSION = '2017-05-25'
const TIMESTAMP_WINDOW_MS = 15 * 60_000
const BEIJING_MS = 8 * 3_600_000
const OPT_OUT_REPLIES = new Set(['TD', 'T', 'R', '退订'])

const percentEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** `2017-01-01 00:00:00` in Beijing time, as Aliyun writes times. */
export const beijingTime = (at: Date) => new Date(at.getTime() + BEIJING_MS).toISOString().slice(0, 19).replace('T', ' ')
const beijingDay = (at: Date) => beijingTime(at).slice(0, 10).replace(/-/g, '')

/** A number in Aliyun's form: mainland numbers without +86/0086/86, others as digits with their country code. */
export function aliyunPhone(phone: string): string {
  const digits = phone.trim().replace(/[\s-]/g, '')
  const m = /^(?:\+86|0086|86)(1\d{10})$/.exec(digits)
  if (m) return m[1]!
  return digits.replace(/^\+/, '').replace(/^00/, '')
}

const isMainland = (p: string) => /^1[3-9]\d{9}$/.test(p)
const isInternational = (p: string) => /^[1-9]\d{6,14}$/.test(p) && !p.startsWith('86') && !isMainland(p)

export function aliyunSmsSandbox(opts: AliyunSmsSandboxOptions) {
  const endpoint = (opts.endpoint ?? 'https://dysmsapi.aliyuncs.com').replace(/\/+$/, '')
  const now = opts.clock ?? (() => new Date())
  const logLimit = Math.max(1, opts.requestLogLimit ?? 100_000)
  const templateList = Array.isArray(opts.templates) ? opts.templates.map((code) => [code, '尊敬的会员，本店春季活动火热进行中。拒收请回复R'] as const) : Object.entries(opts.templates ?? {})
  const templates = new Map(templateList.map(([code, t]) => [code, typeof t === 'string' ? { content: t, scope: 'domestic' as const } : { content: t.content, scope: t.scope ?? ('domestic' as const) }]))
  const accessKeys = new Map(Object.entries(opts.accessKeys ?? {}))
  if (opts.accessKeyId && opts.accessKeySecret) accessKeys.set(opts.accessKeyId, opts.accessKeySecret)
  const state = {
    down: false,
    /** Answers this many more requests, then goes down (an outage in the middle of a batch); null: never. */
    downAfter: null as number | null,
    latencyMs: opts.latencyMs ?? 0,
    qps: opts.qps ?? 5000,
    perNumberDailyLimit: opts.perNumberDailyLimit ?? 50,
    /** Messages the account may send per day (the console's 日发送量 threshold). */
    dayLimit: Infinity,
    /** The account is out of balance: isv.OUT_OF_SERVICE. */
    outOfService: false,
    /** The next this many calls are refused with Throttling.User whatever the rate. */
    throttleNext: 0,
    accessKeys,
    /** Signature → 0 under review, 1 approved, 2 rejected. */
    signs: new Map((opts.signNames ?? []).map((s) => [s, 1 as 0 | 1 | 2])),
    templates,
    /** Numbers Aliyun refuses as illegal though they look like numbers (isv.MOBILE_NUMBER_ILLEGAL). */
    invalidNumbers: new Set<string>(),
    /** Numbers that unsubscribed from promotional SMS (isv.CUSTOMER_REFUSED); a TD/R reply adds the number. */
    optedOut: new Set<string>(),
    /** Numbers under flow control whatever their count (isv.BUSINESS_LIMIT_CONTROL). */
    flowControlled: new Set<string>(),
    /** Numbers that are taken but never delivered (空号): their receipt fails. */
    unreachable: new Set<string>(),
    requests: [] as SimAliyunRequest[],
    /** BizId → the messages of that call. */
    batches: new Map<string, SimSms[]>(),
    /** Number (Aliyun form) → the messages sent to it, oldest first. */
    byPhone: new Map<string, SimSms[]>(),
    /** Messages waiting for their receipt, in sending order. */
    waiting: [] as SimSms[],
    nonces: new Set<string>(),
    sentToday: { day: '', count: 0 },
    bucket: { tokens: opts.qps ?? 5000, at: performance.now() },
  }
  let bizSerial = 0
  let upSerial = 0

  const answer = (status: number, body: Record<string, unknown>) => HttpResponse.json({ RequestId: randomUUID().toUpperCase(), ...body }, { status })
  const gatewayError = (status: number, code: string, message: string) =>
    answer(status, { HostId: new URL(endpoint).host, Code: code, Message: message, Recommend: `https://api.aliyun.com/troubleshoot?q=${code}&product=Dysmsapi` })
  const business = (code: string, message: string) => answer(200, { Code: code, Message: message })

  function takeToken(): boolean {
    const t = performance.now()
    const b = state.bucket
    b.tokens = Math.min(state.qps, b.tokens + ((t - b.at) / 1000) * state.qps)
    b.at = t
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  function stringToSign(method: string, params: Record<string, string>): string {
    const canonical = Object.keys(params)
      .filter((k) => k !== 'Signature')
      .sort()
      .map((k) => `${percentEncode(k)}=${percentEncode(params[k]!)}`)
      .join('&')
    return `${method}&${percentEncode('/')}&${percentEncode(canonical)}`
  }

  const fill = (content: string, params: Record<string, string>) => content.replace(/\$\{(\w+)\}/g, (_, name: string) => params[name] ?? '')
  const smsSize = (content: string) => (content.length <= 70 ? 1 : Math.ceil(content.length / 67))

  function record(sms: SimSms) {
    let list = state.byPhone.get(sms.phone)
    if (!list) state.byPhone.set(sms.phone, (list = []))
    list.push(sms)
    state.waiting.push(sms)
  }

  function sendBatchSms(p: Record<string, string>): Response {
    for (const name of ['PhoneNumberJson', 'SignNameJson', 'TemplateCode']) if (!p[name]) return gatewayError(400, `Missing${name}`, `${name} is mandatory for this action.`)
    let phones: unknown, signs: unknown, params: unknown
    try {
      phones = JSON.parse(p.PhoneNumberJson!)
      signs = JSON.parse(p.SignNameJson!)
      params = p.TemplateParamJson ? JSON.parse(p.TemplateParamJson) : null
    } catch {
      return business('isv.INVALID_JSON_PARAM', 'JSON参数不合法，只接受字符串值')
    }
    if (!Array.isArray(phones) || !Array.isArray(signs) || (params !== null && !Array.isArray(params))) return business('isv.INVALID_JSON_PARAM', 'JSON参数不合法，只接受字符串值')
    if (phones.length === 0) return business('isv.INVALID_PARAMETERS', '参数异常')
    if (phones.length > 100) return business('isv.MOBILE_COUNT_OVER_LIMIT', '手机号码数量超过限制')
    if (signs.length !== phones.length || (params && params.length !== phones.length)) return business('isv.INVALID_PARAMETERS', '参数异常：签名、模板参数与手机号码的数量不一致')
    if (state.outOfService) return business('isv.OUT_OF_SERVICE', '业务停机')
    const template = state.templates.get(p.TemplateCode!)
    if (!template) return business('isv.SMS_TEMPLATE_ILLEGAL', '该账号下找不到对应模板')
    for (const s of signs) if (typeof s !== 'string' || state.signs.get(s) !== 1) return business('isv.SMS_SIGNATURE_ILLEGAL', '该账号下找不到对应签名')
    const numbers = phones.map((x) => (typeof x === 'string' ? aliyunPhone(x) : ''))
    for (const n of numbers) {
      if (template.scope === 'international' && isMainland(n)) return business('isv.DOMESTIC_NUMBER_NOT_SUPPORTED', '国际/港澳台消息模板不支持发送境内号码')
      const wellFormed = template.scope === 'domestic' ? isMainland(n) : isInternational(n)
      if (!wellFormed || state.invalidNumbers.has(n)) return business('isv.MOBILE_NUMBER_ILLEGAL', '手机号码格式错误')
    }
    const values = (params ?? phones.map(() => ({}))) as unknown[]
    for (const v of values) {
      if (!v || typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) return business('isv.INVALID_JSON_PARAM', 'JSON参数不合法，只接受字符串值')
      for (const m of template.content.matchAll(/\$\{(\w+)\}/g)) if (!((v as Record<string, string>)[m[1]!] ?? '').length) return business('isv.TEMPLATE_MISSING_PARAMETERS', '模板变量缺少对应参数值')
    }
    for (const n of numbers) if (state.optedOut.has(n)) return business('isv.CUSTOMER_REFUSED', '用户已退订推广短信')
    const at = now()
    const day = beijingDay(at)
    for (const [i, n] of numbers.entries()) {
      const today = (state.byPhone.get(n) ?? []).filter((s) => s.signName === signs[i] && s.templateCode === p.TemplateCode && beijingDay(s.sentAt) === day).length
      if (state.flowControlled.has(n) || today >= state.perNumberDailyLimit) return business('isv.BUSINESS_LIMIT_CONTROL', '触发号码天级流控')
    }
    if (state.sentToday.day !== day) state.sentToday = { day, count: 0 }
    if (state.sentToday.count + numbers.length > state.dayLimit) return business('isv.DAY_LIMIT_CONTROL', '触发日发送限额')
    state.sentToday.count += numbers.length

    const bizId = `${String(900_000_000_000_000_000n + BigInt(++bizSerial))}^0`
    const batch = numbers.map((phone, i): SimSms => {
      const v = values[i] as Record<string, string>
      const sign = signs[i] as string
      return { bizId, phone, signName: sign, templateCode: p.TemplateCode!, params: v, content: `【${sign}】${fill(template.content, v)}`, outId: p.OutId ?? null, sentAt: at, sendStatus: 1, errCode: null, errMsg: null, receivedAt: null }
    })
    state.batches.set(bizId, batch)
    for (const sms of batch) record(sms)
    return answer(200, { Code: 'OK', Message: 'OK', BizId: bizId })
  }

  function querySendDetails(p: Record<string, string>): Response {
    for (const name of ['PhoneNumber', 'SendDate', 'PageSize', 'CurrentPage']) if (!p[name]) return gatewayError(400, `Missing${name}`, `${name} is mandatory for this action.`)
    const size = Number(p.PageSize)
    const page = Number(p.CurrentPage)
    if (!/^\d{8}$/.test(p.SendDate!) || !Number.isInteger(size) || size < 1 || size > 50 || !Number.isInteger(page) || page < 1) return business('isv.INVALID_PARAMETERS', '参数异常')
    const rows = (state.byPhone.get(aliyunPhone(p.PhoneNumber!)) ?? []).filter((s) => beijingDay(s.sentAt) === p.SendDate && (!p.BizId || s.bizId === p.BizId))
    const shown = rows.slice((page - 1) * size, page * size)
    return answer(200, {
      Code: 'OK',
      Message: 'OK',
      TotalCount: rows.length,
      SmsSendDetailDTOs: {
        SmsSendDetailDTO: shown.map((s) => ({
          PhoneNum: s.phone,
          SendStatus: s.sendStatus,
          ErrCode: s.sendStatus === 3 ? 'DELIVERED' : (s.errCode ?? ''),
          TemplateCode: s.templateCode,
          Content: s.content,
          SendDate: beijingTime(s.sentAt),
          ...(s.receivedAt ? { ReceiveDate: beijingTime(s.receivedAt) } : {}),
          ...(s.outId ? { OutId: s.outId } : {}),
        })),
      },
    })
  }

  function querySmsSign(p: Record<string, string>): Response {
    if (!p.SignName) return gatewayError(400, 'MissingSignName', 'SignName is mandatory for this action.')
    const status = state.signs.get(p.SignName)
    if (status === undefined) return business('isv.SMS_SIGNATURE_ILLEGAL', '该账号下找不到对应签名')
    return answer(200, { Code: 'OK', Message: 'OK', SignName: p.SignName, SignStatus: status, Reason: status === 2 ? '签名来源与资质不符' : '无审批备注', CreateDate: '2024-01-01 10:00:00' })
  }

  async function handle(request: Request): Promise<Response> {
    if (state.latencyMs > 0) await delay(state.latencyMs)
    const url = new URL(request.url)
    const params: Record<string, string> = Object.fromEntries(url.searchParams)
    if (request.method === 'POST') Object.assign(params, Object.fromEntries(new URLSearchParams(await request.text())))
    const { Signature: _signature, ...shown } = params
    const entry: SimAliyunRequest = { at: now(), method: request.method, action: params.Action ?? null, accessKeyId: params.AccessKeyId ?? null, params: shown, status: 0, code: '' }
    state.requests.push(entry)
    if (state.requests.length > logLimit * 1.25) state.requests.splice(0, state.requests.length - logLimit)
    if (state.downAfter !== null && state.downAfter-- <= 0) {
      state.down = true
      state.downAfter = null
    }
    const res = route(request.method, params)
    entry.status = res.status
    entry.code = ((await res.clone().json()) as { Code?: string }).Code ?? ''
    return res
  }

  function route(method: string, p: Record<string, string>): Response {
    if (state.down) return gatewayError(503, 'ServiceUnavailable', 'The request has failed due to a temporary failure of the server.')
    for (const name of ['AccessKeyId', 'Action', 'SignatureMethod', 'SignatureNonce', 'SignatureVersion', 'Timestamp', 'Version', 'Signature']) {
      if (!p[name]) return gatewayError(400, `Missing${name}`, `${name} is mandatory for this action.`)
    }
    if (p.SignatureMethod !== 'HMAC-SHA1' || p.SignatureVersion !== '1.0') return gatewayError(400, 'IncompleteSignature', 'The request signature does not conform to Aliyun standards.')
    if (p.Version !== VERSION) return gatewayError(400, 'InvalidVersion', 'Specified parameter Version is not valid.')
    const ts = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(p.Timestamp!) ? Date.parse(p.Timestamp!) : NaN
    if (Number.isNaN(ts)) return gatewayError(400, 'InvalidTimeStamp.Format', 'Specified time stamp or date value is not well formatted.')
    if (Math.abs(now().getTime() - ts) > TIMESTAMP_WINDOW_MS) return gatewayError(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.')
    const secret = state.accessKeys.get(p.AccessKeyId!)
    if (secret === undefined) return gatewayError(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.')
    const sts = stringToSign(method, p)
    const expected = createHmac('sha1', `${secret}&`).update(sts, 'utf8').digest('base64')
    if (expected !== p.Signature) return gatewayError(400, 'SignatureDoesNotMatch', `Specified signature does not match our calculation. server string to sign is:${sts}`)
    if (state.nonces.has(p.SignatureNonce!)) return gatewayError(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.')
    state.nonces.add(p.SignatureNonce!)
    if (state.throttleNext > 0 || !takeToken()) {
      if (state.throttleNext > 0) state.throttleNext--
      return gatewayError(400, 'Throttling.User', 'Request was denied due to user flow control.')
    }
    switch (p.Action) {
      case 'SendBatchSms':
        return sendBatchSms(p)
      case 'QuerySendDetails':
        return querySendDetails(p)
      case 'QuerySmsSign':
        return querySmsSign(p)
      default:
        return gatewayError(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.')
    }
  }

  const handlers = [http.post(`${endpoint}/`, ({ request }) => handle(request)), http.get(`${endpoint}/`, ({ request }) => handle(request))]

  /**
   * The carriers answer: every message waiting for its receipt (of one call, with `bizId`) is delivered, or fails
   * with 空号 (MN:0001) for an unreachable number. Returns the SmsReport records Aliyun would push.
   */
  function settle(options: { at?: Date; bizId?: string } = {}): SmsReportRecord[] {
    const at = options.at ?? now()
    const out: SmsReportRecord[] = []
    const still: SimSms[] = []
    for (const s of state.waiting) {
      if (options.bizId && s.bizId !== options.bizId) {
        still.push(s)
        continue
      }
      const failed = state.unreachable.has(s.phone)
      Object.assign(s, { sendStatus: failed ? 2 : 3, errCode: failed ? 'MN:0001' : 'DELIVERED', errMsg: failed ? '空号' : '用户接收成功', receivedAt: at })
      out.push(report(s))
    }
    state.waiting = still
    return out
  }

  const report = (s: SimSms): SmsReportRecord => ({
    phone_number: s.phone,
    send_time: beijingTime(s.sentAt),
    report_time: beijingTime(s.receivedAt ?? now()),
    success: s.sendStatus === 3,
    err_code: s.errCode ?? '',
    err_msg: s.errMsg ?? '',
    sms_size: String(smsSize(s.content)),
    biz_id: s.bizId,
    out_id: s.outId ?? '',
  })

  /** A member replies; TD, T, R and 退订 unsubscribe the number from promotional SMS, as Aliyun records it. */
  function reply(phone: string, content: string, options: { signName?: string; at?: Date } = {}): SmsUpRecord {
    const n = aliyunPhone(phone)
    const keyword = content.normalize('NFKC').trim().replace(/^[\p{P}\s]+|[\p{P}\s]+$/gu, '').toUpperCase()
    if (OPT_OUT_REPLIES.has(keyword)) state.optedOut.add(n)
    const sign = options.signName ?? state.byPhone.get(n)?.at(-1)?.signName ?? [...state.signs.keys()][0] ?? ''
    return { phone_number: n, send_time: beijingTime(options.at ?? now()), content, sign_name: sign, dest_code: '1069000000', sequence_id: ++upSerial }
  }

  return {
    handlers,
    state,
    settle,
    reply,
    /** Aliyun's push of records (receipts or replies) to `url`, the push URL set in the console (token included). */
    push: (url: string, records: SmsReportRecord[] | SmsUpRecord[]): AliyunPush => ({ url, headers: { 'content-type': 'application/json;charset=utf-8' }, body: JSON.stringify(records) }),
    /** The messages sent to a number (E.164 or Aliyun's form), oldest first. */
    sentTo: (phone: string): SimSms[] => state.byPhone.get(aliyunPhone(phone)) ?? [],
    /** Every message taken, call by call. */
    messages: (): SimSms[] => [...state.batches.values()].flat(),
    /** The messages of one SendBatchSms call. */
    batch: (bizId: string): SimSms[] => state.batches.get(bizId) ?? [],
    /** The calls of an action, oldest first. */
    requestsFor: (action: string) => state.requests.filter((r) => r.action === action),
    /** Forgets every message and request (knobs and numbers sets are kept). */
    reset() {
      state.requests.length = 0
      state.batches.clear()
      state.byPhone.clear()
      state.waiting = []
      state.sentToday = { day: '', count: 0 }
    },
  }
}

export type AliyunSmsSandbox = ReturnType<typeof aliyunSmsSandbox>
