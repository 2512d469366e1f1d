// A WeChat Pay simulator for msw, and a bill generator in WeChat's exact text layout.
// - v2: `POST /pay/downloadbill` with the XML request signature checked (MD5 or HMAC-SHA256 with the API key);
//   answers the bill (text, or gzip with tar_type=GZIP) or WeChat's FAIL XML ("No Bill Exist", "Bill Creating",
//   "invalid bill_date", "SIGN ERROR", "system error").
// - v3: `GET /v3/bill/tradebill` and `/v3/bill/fundflowbill` with the Authorization signature checked against the
//   merchant's public key; answers {hash_type, hash_value, download_url} signed with a platform key (Wechatpay-*
//   headers), and `GET /v3/billdownload/file?token=…` the gzipped bill (unsigned, as WeChat does). Errors are
//   `{code, message}`: 400 NO_STATEMENT_EXIST / STATEMENT_CREATING / INVALID_REQUEST, 401 SIGN_ERROR, 500 SYSTEM_ERROR.
// - wechatBill / wechatBillChunks / wechatBillStream write a trade bill (ALL, SUCCESS or REFUND; current or legacy
//   headers) from payments and refunds, rows taken lazily so a million-row bill never exists as objects;
//   wechatFundFlowBill writes the matching fund-flow bill.
// The signature checks here are written independently of the connector's signing code, on purpose.
import { createHash, createHmac, createPublicKey, createSign, createVerify, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto'
import { Readable } from 'node:stream'
import { createGzip, gzipSync } from 'node:zlib'
import { http, HttpResponse } from 'msw'
import xml2js from 'xml2js'

// ---- the bill generator ------------------------------------------------------------------------------------

export interface WechatPaymentRow {
  kind: 'payment'
  /** 支付成功时间: a Date, or the text as printed (yyyy-MM-dd HH:mm:ss, China Standard Time). */
  at: Date | string
  outTradeNo: string
  /** 应结订单金额 in fen. */
  amount: number
  /** 代金券金额 (免充值券) in fen; 订单金额 = amount + coupon. */
  couponAmount?: number
  transactionId?: string
  status?: 'SUCCESS' | 'REVOKED'
  /** 手续费 in thousandths of a fen; default amount × feeRateBp / 10, rounded half up. */
  feeMilli?: number
  deviceInfo?: string
  attach?: string
  body?: string
  tradeType?: string
  bankType?: string
  openid?: string
}

export interface WechatRefundRow {
  kind: 'refund'
  /** 退款受理成功时间 (the refund row's 交易时间 in the ALL bill, 退款申请时间 in the REFUND bill). */
  at: Date | string
  outTradeNo: string
  outRefundNo: string
  /** 退款金额 in fen. */
  amount: number
  transactionId?: string
  refundId?: string
  /** The fee given back, in thousandths of a fen (negative); default −amount × feeRateBp / 10. */
  feeMilli?: number
  refundStatus?: 'SUCCESS' | 'PROCESSING'
  refundType?: string
  deviceInfo?: string
  attach?: string
  body?: string
}

export type WechatBillRow = WechatPaymentRow | WechatRefundRow

export interface WechatBillOptions {
  rows: Iterable<WechatBillRow>
  variant?: 'ALL' | 'SUCCESS' | 'REFUND'
  /** 'legacy': 子商户号, 微信支付订单号, 总金额, 代金券或立减优惠金额, no 订单金额 and the old summary. */
  headers?: 'current' | 'legacy'
  mchId?: string
  appId?: string
  subMchId?: string
  feeRateBp?: number
  bom?: boolean
  crlf?: boolean
}

const CST_MS = 8 * 3600_000
const cst = (at: Date | string) => (typeof at === 'string' ? at : new Date(at.getTime() + CST_MS).toISOString().slice(0, 19).replace('T', ' '))
const addSeconds = (at: Date | string, s: number): Date | string => (typeof at === 'string' ? at : new Date(at.getTime() + s * 1000))

/** Fen as yuan with 2 decimals, without BigInt or Intl (a million rows go through here). */
export function yuan(fen: number): string {
  const abs = Math.abs(fen)
  const frac = abs % 100
  return `${fen < 0 ? '-' : ''}${(abs - frac) / 100}.${frac < 10 ? '0' : ''}${frac}`
}
/** Thousandths of a fen as yuan with 5 decimals. */
export function yuan5(milli: number): string {
  const abs = Math.abs(milli)
  const frac = abs % 100_000
  return `${milli < 0 ? '-' : ''}${(abs - frac) / 100_000}.${String(frac).padStart(5, '0')}`
}
const feeOf = (fen: number, bp: number) => Math.floor((fen * bp + 5) / 10)

interface RowContext {
  mchId: string
  appId: string
  subMchId: string
  rateText: string
  fee: number
  txnId: string
}
type Getter = (r: WechatBillRow, c: RowContext) => string
const isPay = (r: WechatBillRow): r is WechatPaymentRow => r.kind === 'payment'

const GET: Record<string, Getter> = {
  交易时间: (r) => cst(r.at),
  公众账号ID: (_r, c) => c.appId,
  商户号: (_r, c) => c.mchId,
  特约商户号: (_r, c) => c.subMchId,
  设备号: (r) => r.deviceInfo ?? '',
  微信订单号: (_r, c) => c.txnId,
  商户订单号: (r) => r.outTradeNo,
  用户标识: (r) => (isPay(r) ? (r.openid ?? 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o') : 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o'),
  交易类型: (r) => (isPay(r) ? (r.tradeType ?? 'MICROPAY') : 'MICROPAY'),
  交易状态: (r) => (isPay(r) ? (r.status ?? 'SUCCESS') : 'REFUND'),
  付款银行: (r) => (isPay(r) ? (r.bankType ?? 'OTHERS') : 'OTHERS'),
  货币种类: () => 'CNY',
  应结订单金额: (r) => (isPay(r) ? yuan(r.amount) : '0.00'),
  代金券金额: (r) => (isPay(r) ? yuan(r.couponAmount ?? 0) : '0.00'),
  退款申请时间: (r) => cst(r.at),
  退款成功时间: (r) => (!isPay(r) && (r.refundStatus ?? 'SUCCESS') === 'SUCCESS' ? cst(addSeconds(r.at, 2)) : ''),
  微信退款单号: (r) => (isPay(r) ? '0' : (r.refundId ?? `5030000${r.outRefundNo.replace(/\D/g, '').padStart(20, '0').slice(-20)}`)),
  商户退款单号: (r) => (isPay(r) ? '0' : r.outRefundNo),
  退款金额: (r) => (isPay(r) ? '0.00' : yuan(r.amount)),
  充值券退款金额: () => '0.00',
  退款类型: (r) => (isPay(r) ? '' : (r.refundType ?? 'ORIGINAL')),
  退款状态: (r) => (isPay(r) ? '' : (r.refundStatus ?? 'SUCCESS')),
  商品名称: (r) => r.body ?? '门店消费',
  商户数据包: (r) => r.attach ?? '',
  手续费: (_r, c) => yuan5(c.fee),
  费率: (_r, c) => c.rateText,
  订单金额: (r) => (isPay(r) ? yuan(r.amount + (r.couponAmount ?? 0)) : '0.00'),
  申请退款金额: (r) => (isPay(r) ? '0.00' : yuan(r.amount)),
  费率备注: () => '',
}
const LEGACY_NAME: Record<string, string> = { 特约商户号: '子商户号', 微信订单号: '微信支付订单号', 应结订单金额: '总金额', 代金券金额: '代金券或立减优惠金额', 充值券退款金额: '代金券或立减优惠退款金额' }

const HEAD = ['交易时间', '公众账号ID', '商户号', '特约商户号', '设备号', '微信订单号', '商户订单号', '用户标识', '交易类型', '交易状态', '付款银行', '货币种类', '应结订单金额', '代金券金额']
const REFUND_COLS = ['微信退款单号', '商户退款单号', '退款金额', '充值券退款金额', '退款类型', '退款状态']
const TAIL = ['商品名称', '商户数据包', '手续费', '费率', '订单金额']

function columnsOf(variant: 'ALL' | 'SUCCESS' | 'REFUND', legacy: boolean): string[] {
  if (legacy) {
    // The pre-2018 ALL/REFUND layout: no 订单金额, 申请退款金额 or 费率备注.
    const refund = variant === 'REFUND' ? ['退款申请时间', '退款成功时间', ...REFUND_COLS] : variant === 'ALL' ? REFUND_COLS : []
    return [...HEAD, ...refund, '商品名称', '商户数据包', '手续费', '费率']
  }
  if (variant === 'SUCCESS') return [...HEAD, ...TAIL, '费率备注']
  if (variant === 'REFUND') return [...HEAD, '退款申请时间', '退款成功时间', ...REFUND_COLS, ...TAIL, '申请退款金额', '费率备注']
  return [...HEAD, ...REFUND_COLS, ...TAIL, '申请退款金额', '费率备注']
}

const included = (variant: 'ALL' | 'SUCCESS' | 'REFUND', r: WechatBillRow) =>
  variant === 'ALL' ? true : variant === 'SUCCESS' ? isPay(r) && (r.status ?? 'SUCCESS') === 'SUCCESS' : !isPay(r)

/** The trade bill as text chunks of about 64 KB: header, rows, summary header, summary row. */
export function* wechatBillChunks(opts: WechatBillOptions): Generator<string> {
  const variant = opts.variant ?? 'ALL'
  const legacy = opts.headers === 'legacy'
  const eol = opts.crlf ? '\r\n' : '\n'
  const bp = opts.feeRateBp ?? 60
  const names = columnsOf(variant, legacy)
  const getters = names.map((n) => GET[n]!)
  const c: RowContext = {
    mchId: opts.mchId ?? '1900000109',
    appId: opts.appId ?? 'wx8888888888888888',
    subMchId: opts.subMchId ?? '0',
    rateText: `${(bp / 100).toFixed(2)}%`,
    fee: 0,
    txnId: '',
  }
  const sums = { count: 0, pay: 0, refund: 0, fee: 0, order: 0 }
  // Lines are collected and joined per chunk: a joined string is flat, so turning it into bytes costs one pass.
  let lines: string[] = [`${opts.bom ? '\ufeff' : ''}${names.map((n) => (legacy ? (LEGACY_NAME[n] ?? n) : n)).join(',')}`]
  const values: string[] = new Array(getters.length)
  let seq = 0
  for (const r of opts.rows) {
    if (!included(variant, r)) continue
    seq++
    c.fee = r.feeMilli ?? (isPay(r) ? feeOf(r.amount, bp) : -feeOf(r.amount, bp))
    c.txnId = r.transactionId ?? `4200002026${String(seq).padStart(18, '0')}`
    for (let i = 0; i < getters.length; i++) values[i] = getters[i]!(r, c)
    lines.push('`' + values.join(',`'))
    sums.count++
    sums.fee += c.fee
    if (isPay(r)) {
      sums.pay += r.amount
      sums.order += r.amount + (r.couponAmount ?? 0)
    } else sums.refund += r.amount
    if (lines.length === 512) {
      lines.push('')
      yield lines.join(eol)
      lines = []
    }
  }
  let buf = lines.length ? lines.join(eol) + eol : ''
  if (legacy) {
    buf += `总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额${eol}`
    buf += `\`${sums.count},\`${yuan(sums.pay)},\`${yuan(sums.refund)},\`0.00,\`${yuan5(sums.fee)}${eol}`
  } else {
    buf += `总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额${eol}`
    buf += `\`${sums.count},\`${yuan(sums.pay)},\`${yuan(sums.refund)},\`0.00,\`${yuan5(sums.fee)},\`${yuan(sums.order)},\`${yuan(sums.refund)}${eol}`
  }
  yield buf
}

/** The whole trade bill as bytes (UTF-8), gzipped on request. */
export function wechatBill(opts: WechatBillOptions & { gzip?: boolean }): Buffer {
  // One growing buffer (doubling) instead of a list of chunks and a final copy of them all.
  let out = Buffer.allocUnsafe(1 << 20)
  let used = 0
  for (const chunk of wechatBillChunks(opts)) {
    const need = used + Buffer.byteLength(chunk, 'utf8')
    if (need > out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, out.length * 2))
      out.copy(bigger, 0, 0, used)
      out = bigger
    }
    used += out.write(chunk, used, 'utf8')
  }
  const text = out.subarray(0, used)
  return opts.gzip ? gzipSync(text) : text
}

/** The trade bill as a byte stream (gzipped on request), for bills too large to hold twice. */
export function wechatBillStream(opts: WechatBillOptions & { gzip?: boolean }): Readable {
  const plain = Readable.from(wechatBillChunks(opts), { objectMode: false })
  return opts.gzip ? plain.pipe(createGzip()) : plain
}

export interface WechatFundFlowOptions {
  rows: Iterable<WechatBillRow>
  openingBalance?: number
  feeRateBp?: number
  crlf?: boolean
}

/**
 * The fund-flow bill matching the trade rows: per payment an income row and a fee row (the fee rounded to the
 * fen, half up), per refund an expense row and the returned fee.
 */
export function wechatFundFlowBill(opts: WechatFundFlowOptions & { gzip?: boolean }): Buffer {
  const eol = opts.crlf ? '\r\n' : '\n'
  const bp = opts.feeRateBp ?? 60
  let balance = opts.openingBalance ?? 0
  let seq = 0
  const t = { n: 0, inN: 0, inFen: 0, outN: 0, outFen: 0 }
  const out: string[] = [`记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号`]
  const put = (at: Date | string, id: string, name: string, type: string, credit: boolean, fen: number, voucher: string) => {
    balance += credit ? fen : -fen
    seq++
    t.n++
    if (credit) {
      t.inN++
      t.inFen += fen
    } else {
      t.outN++
      t.outFen += fen
    }
    out.push('`' + [cst(addSeconds(at, 1)), id, `1900000109${String(seq).padStart(18, '0')}`, name, type, credit ? '收入' : '支出', yuan(fen), yuan(balance), 'system', '', voucher].join(',`'))
  }
  let n = 0
  for (const r of opts.rows) {
    n++
    const txnId = r.transactionId ?? `4200002026${String(n).padStart(18, '0')}`
    const milli = Math.abs(r.feeMilli ?? feeOf(r.amount, bp))
    const feeFen = Math.floor((milli + 500) / 1000)
    if (isPay(r)) {
      if ((r.status ?? 'SUCCESS') !== 'SUCCESS') continue
      put(r.at, txnId, '交易', '交易', true, r.amount, r.outTradeNo)
      if (feeFen) put(r.at, txnId, '交易', '扣除交易手续费', false, feeFen, r.outTradeNo)
    } else {
      const refundId = r.refundId ?? `5030000${String(n).padStart(20, '0')}`
      put(r.at, refundId, '退款', '退款', false, r.amount, r.outRefundNo)
      if (feeFen) put(r.at, refundId, '退款', '退还交易手续费', true, feeFen, r.outRefundNo)
    }
  }
  out.push('资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额')
  out.push(`\`${t.n}.0,\`${t.inN}.0,\`${yuan(t.inFen)},\`${t.outN}.0,\`${yuan(t.outFen)}`)
  const text = Buffer.from(out.join(eol) + eol, 'utf8')
  return opts.gzip ? gzipSync(text) : text
}

// ---- the simulator -----------------------------------------------------------------------------------------

/** What the sandbox knows of one bill date (YYYY-MM-DD): rows to write bills from, or files given as they are. */
export interface WechatSandboxDay {
  rows?: WechatBillRow[]
  /** A trade bill text used as is (every bill_type). */
  trade?: string | Buffer
  fundflow?: string | Buffer
  headers?: 'current' | 'legacy'
}

export interface WechatPaySandboxOptions {
  baseUrl?: string
  mchId: string
  appId?: string
  /** v2 API key. */
  apiKey?: string
  /** v3: the merchant's public key (the pair of the private key the connection signs with) and its serial. */
  merchant?: { publicKey: KeyObject | string; serialNo: string }
  /** v3: the key WeChat signs its answers with, and its serial (a certificate serial or PUB_KEY_ID_…). */
  platform?: { privateKey: KeyObject | string; serial: string }
  feeRateBp?: number
  clock?: () => Date
}

export interface SandboxRequest {
  api: 'v2' | 'v3'
  path: string
  /** The request signature checked out. */
  signed: boolean
  signType?: string
  /** The raw request body (v2 XML), for tests that look for secrets in what was sent. */
  body?: string
  authorization?: string | null
}

const CLOCK_SKEW_S = 300

const cstDate = (at: Date) => new Date(at.getTime() + CST_MS).toISOString().slice(0, 10)
const cstHour = (at: Date) => new Date(at.getTime() + CST_MS).getUTCHours()
const prevDay = (date: string) => new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10)
const realDate = (d: string) => /^\d{4}-\d{2}-\d{2}$/.test(d) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d)

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export function wechatPaySandbox(opts: WechatPaySandboxOptions) {
  const base = opts.baseUrl ?? 'https://api.mch.weixin.qq.com'
  const clock = opts.clock ?? (() => new Date())
  const state = {
    days: new Map<string, WechatSandboxDay>(),
    requests: [] as SandboxRequest[],
    /** Alters downloaded files after their hash was given (a damaged or tampered download). */
    tamper: false,
    /** Answers this many requests with a WeChat system error first. */
    failNext: 0,
    downloads: new Map<string, { bill: Buffer; gzip: boolean }>(),
  }

  /** Whether a bill of `date` can exist yet, by WeChat's schedule: the day must be over, and after 09:00 the next. */
  const availability = (date: string): 'future' | 'creating' | 'ready' => {
    const now = clock()
    const today = cstDate(now)
    if (date > today) return 'future'
    if (date === today || (date === prevDay(today) && cstHour(now) < 9)) return 'creating'
    return 'ready'
  }

  const tradeBill = (day: WechatSandboxDay, variant: 'ALL' | 'SUCCESS' | 'REFUND'): Buffer | null => {
    if (day.trade !== undefined) return Buffer.from(day.trade)
    const rows = (day.rows ?? []).filter((r) => included(variant, r))
    if (rows.length === 0) return null
    return wechatBill({ rows, variant, headers: day.headers, mchId: opts.mchId, appId: opts.appId, feeRateBp: opts.feeRateBp })
  }
  const fundFlowBill = (day: WechatSandboxDay): Buffer | null => {
    if (day.fundflow !== undefined) return Buffer.from(day.fundflow)
    if (!day.rows?.length) return null
    return wechatFundFlowBill({ rows: day.rows, feeRateBp: opts.feeRateBp, openingBalance: 100_000 })
  }

  // ---- v2 ----

  const v2Fail = (msg: string, code?: string) =>
    new HttpResponse(`<xml><return_code><![CDATA[FAIL]]></return_code>\n<return_msg><![CDATA[${msg}]]></return_msg>\n${code ? `<error_code><![CDATA[${code}]]></error_code>\n` : ''}</xml>`, {
      status: 200,
      headers: { 'content-type': 'text/plain;charset=utf-8' },
    })

  const v2Signature = (params: Record<string, string>, key: string, type: string) => {
    const text = Object.keys(params)
      .filter((k) => k !== 'sign' && params[k] !== '')
      .sort()
      .map((k) => `${k}=${params[k]}`)
      .concat(`key=${key}`)
      .join('&')
    return (type === 'HMAC-SHA256' ? createHmac('sha256', key).update(text).digest('hex') : createHash('md5').update(text).digest('hex')).toUpperCase()
  }

  const downloadbill = http.post(`${base}/pay/downloadbill`, async ({ request }) => {
    const body = await request.text()
    let params: Record<string, string> | undefined
    xml2js.parseString(body, { explicitArray: false, trim: true }, (err, v: { xml?: Record<string, string> }) => {
      if (!err && v?.xml && typeof v.xml === 'object') params = v.xml
    })
    const record: SandboxRequest = { api: 'v2', path: '/pay/downloadbill', signed: false, body }
    state.requests.push(record)
    if (!params) return v2Fail('XML_FORMAT_ERROR', '20001')
    if (state.failNext > 0) {
      state.failNext--
      return v2Fail('system error', '20007')
    }
    for (const k of ['appid', 'mch_id', 'nonce_str', 'sign', 'bill_date']) if (!params[k]) return v2Fail('missing parameter', '20001')
    const signType = params.sign_type || 'MD5'
    record.signType = signType
    if (signType !== 'MD5' && signType !== 'HMAC-SHA256') return v2Fail('invalid sign_type', '20001')
    if (!opts.apiKey || !sameText(params.sign!, v2Signature(params, opts.apiKey, signType))) return v2Fail('SIGN ERROR', '20001')
    record.signed = true
    if (params.mch_id !== opts.mchId) return v2Fail('invalid mch_id', '20001')
    if (opts.appId && params.appid !== opts.appId) return v2Fail('invalid appid', '20001')
    const billType = params.bill_type || 'ALL'
    if (!['ALL', 'SUCCESS', 'REFUND', 'RECHARGE_REFUND'].includes(billType)) return v2Fail('invalid bill_type', '20001')
    const m = /^(\d{4})(\d{2})(\d{2})$/.exec(params.bill_date!)
    const date = m ? `${m[1]}-${m[2]}-${m[3]}` : ''
    if (!realDate(date)) return v2Fail('invalid bill_date', '20001')
    const when = availability(date)
    if (when === 'future') return v2Fail('invalid bill_date', '20001')
    if (when === 'creating') return v2Fail('Bill Creating', '20002')
    const day = state.days.get(date)
    const bill = day ? tradeBill(day, billType === 'RECHARGE_REFUND' ? 'REFUND' : (billType as 'ALL' | 'SUCCESS' | 'REFUND')) : null
    if (!bill) return v2Fail('No Bill Exist', '20002')
    if (params.tar_type === 'GZIP') return new HttpResponse(gzipSync(bill), { status: 200, headers: { 'content-type': 'application/octet-stream' } })
    if (params.tar_type) return v2Fail('invalid tar_type', '20001')
    return new HttpResponse(bill, { status: 200, headers: { 'content-type': 'text/plain;charset=utf-8' } })
  })

  // ---- v3 ----

  const platformSigned = (status: number, json: unknown) => {
    const body = JSON.stringify(json)
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'request-id': randomBytes(12).toString('hex') }
    if (opts.platform) {
      const ts = String(Math.floor(clock().getTime() / 1000))
      const nonce = randomBytes(16).toString('hex')
      headers['wechatpay-timestamp'] = ts
      headers['wechatpay-nonce'] = nonce
      headers['wechatpay-serial'] = opts.platform.serial
      headers['wechatpay-signature'] = createSign('RSA-SHA256').update(`${ts}\n${nonce}\n${body}\n`).sign(opts.platform.privateKey, 'base64')
    }
    return new HttpResponse(body, { status, headers })
  }
  const v3Error = (status: number, code: string, message: string) => platformSigned(status, { code, message })

  /** Checks the merchant's Authorization header; returns an error answer, or null when it is valid. */
  const checkAuthorization = (request: Request, record: SandboxRequest): Response | null => {
    const header = request.headers.get('authorization')
    record.authorization = header
    const scheme = 'WECHATPAY2-SHA256-RSA2048 '
    if (!header?.startsWith(scheme)) return v3Error(401, 'SIGN_ERROR', 'Authorization 头缺失或格式错误')
    const f = Object.fromEntries([...header.slice(scheme.length).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))
    if (!f.mchid || !f.nonce_str || !f.signature || !f.timestamp || !f.serial_no) return v3Error(401, 'SIGN_ERROR', 'Authorization 参数缺失')
    if (f.mchid !== opts.mchId) return v3Error(401, 'SIGN_ERROR', '商户号与签名不匹配')
    if (!opts.merchant || f.serial_no !== opts.merchant.serialNo) return v3Error(401, 'SIGN_ERROR', '商户证书序列号有误')
    if (Math.abs(clock().getTime() / 1000 - Number(f.timestamp)) > CLOCK_SKEW_S) return v3Error(401, 'SIGN_ERROR', '请求时间戳已过期')
    const url = new URL(request.url)
    const message = `${request.method}\n${url.pathname}${url.search}\n${f.timestamp}\n${f.nonce_str}\n\n`
    const key = typeof opts.merchant.publicKey === 'string' ? createPublicKey(opts.merchant.publicKey) : opts.merchant.publicKey
    let ok = false
    try {
      ok = createVerify('RSA-SHA256').update(message).verify(key, f.signature, 'base64')
    } catch {
      ok = false
    }
    if (!ok) return v3Error(401, 'SIGN_ERROR', '签名错误')
    record.signed = true
    return null
  }

  const billLink = (kind: 'trade' | 'fundflow') => async ({ request }: { request: Request }) => {
    const url = new URL(request.url)
    const record: SandboxRequest = { api: 'v3', path: url.pathname, signed: false }
    state.requests.push(record)
    if (state.failNext > 0) {
      state.failNext--
      return v3Error(500, 'SYSTEM_ERROR', '系统错误')
    }
    const refused = checkAuthorization(request, record)
    if (refused) return refused
    const date = url.searchParams.get('bill_date') ?? ''
    if (!realDate(date)) return v3Error(400, 'PARAM_ERROR', 'bill_date 格式错误')
    const tar = url.searchParams.get('tar_type')
    if (tar && tar !== 'GZIP') return v3Error(400, 'PARAM_ERROR', 'tar_type 取值错误')
    let variant: 'ALL' | 'SUCCESS' | 'REFUND' = 'ALL'
    if (kind === 'trade') {
      const t = url.searchParams.get('bill_type') ?? 'ALL'
      if (!['ALL', 'SUCCESS', 'REFUND'].includes(t)) return v3Error(400, 'PARAM_ERROR', 'bill_type 取值错误')
      variant = t as typeof variant
    } else {
      const a = url.searchParams.get('account_type') ?? 'BASIC'
      if (!['BASIC', 'OPERATION', 'FEES'].includes(a)) return v3Error(400, 'PARAM_ERROR', 'account_type 取值错误')
    }
    const when = availability(date)
    if (when === 'future') return v3Error(400, 'INVALID_REQUEST', '请检查bill_date，并重新调用')
    if (when === 'creating') return v3Error(400, 'STATEMENT_CREATING', '账单生成中')
    const day = state.days.get(date)
    const bill = day ? (kind === 'trade' ? tradeBill(day, variant) : fundFlowBill(day)) : null
    if (!bill) return v3Error(400, 'NO_STATEMENT_EXIST', '账单文件不存在')
    const token = randomBytes(24).toString('base64url')
    state.downloads.set(token, { bill, gzip: tar === 'GZIP' })
    return platformSigned(200, { hash_type: 'SHA1', hash_value: createHash('sha1').update(bill).digest('hex'), download_url: `${base}/v3/billdownload/file?token=${token}` })
  }

  const download = http.get(`${base}/v3/billdownload/file`, ({ request }) => {
    const url = new URL(request.url)
    const record: SandboxRequest = { api: 'v3', path: url.pathname, signed: false }
    state.requests.push(record)
    const refused = checkAuthorization(request, record)
    if (refused) return refused
    const file = state.downloads.get(url.searchParams.get('token') ?? '')
    if (!file) return v3Error(400, 'INVALID_REQUEST', '请按第一步申请账单的API指引，重新获取账单地址后再请求')
    let bill = file.bill
    if (state.tamper) {
      bill = Buffer.from(bill)
      const i = bill.indexOf('`', bill.indexOf(0x0a))
      bill[i + 1] = bill[i + 1] === 0x39 ? 0x38 : 0x39
    }
    return new HttpResponse(file.gzip ? gzipSync(bill) : bill, { status: 200, headers: { 'content-type': 'application/octet-stream' } })
  })

  const handlers = [downloadbill, http.get(`${base}/v3/bill/tradebill`, billLink('trade')), http.get(`${base}/v3/bill/fundflowbill`, billLink('fundflow')), download]
  return { handlers, state }
}
