// An Alipay simulator for msw and a generator of Alipay trade bills, in the real formats: the open-platform gateway
// (form POST, RSA2 request signatures checked with the app public key, answers signed with an "Alipay" key, the real
// error envelopes), the 30-second bill download URL, and the bill zip itself (GBK text and GBK entry names, `#`
// framing lines, TAB-suffixed id cells, footer totals, the 汇总 file). shared/reference/reconciliation.md §1.2.
import { createPublicKey, createSign, createVerify, randomBytes, type KeyObject } from 'node:crypto'
import { crc32, deflateRawSync } from 'node:zlib'
import iconv from 'iconv-lite'
import { http, HttpResponse } from 'msw'

// ---- the bill -------------------------------------------------------------------------------------------------

export interface AlipayBillRow {
  type: 'payment' | 'refund'
  /** 支付宝交易号; a refund repeats its payment's. */
  tradeNo: string
  /** 商户订单号 (out_trade_no); a refund repeats its payment's. */
  outTradeNo: string
  /** 订单金额 in fen, positive (refund rows print it negative). */
  amount: number
  /** 商家实收 in fen, positive; defaults to `amount`. */
  receipt?: number
  /** 商家优惠 in fen, positive. */
  merchantDiscount?: number
  /** 服务费 in fen, positive: charged on a payment, given back on a refund. Printed per `feeConvention`. */
  fee?: number
  /** 退款批次号/请求号 (out_request_no) of a refund. */
  refundRequestNo?: string
  subject?: string
  /** `yyyy-MM-dd HH:mm:ss`, Beijing time. */
  createdAt?: string
  completedAt: string
  storeId?: string
  storeName?: string
  operator?: string
  terminalId?: string
  buyer?: string
  remark?: string
}

/** The 25 columns of 业务明细, in Alipay's order. */
export const ALIPAY_TRADE_COLUMNS = [
  '支付宝交易号',
  '商户订单号',
  '业务类型',
  '商品名称',
  '创建时间',
  '完成时间',
  '门店编号',
  '门店名称',
  '操作员',
  '终端号',
  '对方账户',
  '订单金额（元）',
  '商家实收（元）',
  '支付宝红包（元）',
  '集分宝（元）',
  '支付宝优惠（元）',
  '商家优惠（元）',
  '券核销金额（元）',
  '券名称',
  '商家红包消费金额（元）',
  '卡消费金额（元）',
  '退款批次号/请求号',
  '服务费（元）',
  '分润（元）',
  '备注',
] as const

const SUMMARY_HEADER = ['门店编号', '门店名称', '交易订单总笔数', '退款订单总笔数', '订单金额（元）', '商家实收（元）', '支付宝优惠（元）', '商家优惠（元）', '卡消费金额（元）', '服务费（元）', '分润（元）', '实收净额（元）']

/** Cells Alipay suffixes with a TAB so that spreadsheet programs keep long digit strings as text. */
const TABBED = new Set(['支付宝交易号', '商户订单号', '业务类型', '门店编号', '门店名称', '操作员', '终端号', '对方账户', '商家红包消费金额（元）', '退款批次号/请求号'])

/** Fen as yuan text with 2 decimals ("-30.00"). */
export function yuan(fen: number): string {
  const abs = Math.abs(fen)
  return `${fen < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}

const chineseDate = (date: string, time = '00:00:00') => `${date.slice(0, 4)}年${date.slice(5, 7)}月${date.slice(8, 10)}日 ${time}`
const nextDay = (date: string) => new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)

export interface AlipayBillOptions {
  pid: string
  /** yyyy-MM-dd */
  date: string
  rows: AlipayBillRow[]
  /**
   * How 服务费 is signed: 'merchant' prints money in and out of the merchant's account (a payment's fee negative, a
   * refund's returned fee positive, as in the reference's example); 'cost' prints it the other way round.
   */
  feeConvention?: 'merchant' | 'cost'
  /** Include the 业务明细(汇总) file (default true). */
  summary?: boolean
  /** The header, in another order or with extra columns (values of unknown columns are left empty). */
  columns?: readonly string[]
  /** Changes the detail file's text lines (1 entry per line, no line ends) before encoding: corrupt, cut, edit. */
  editDetail?: (lines: string[]) => string[]
  editSummary?: (lines: string[]) => string[]
  exportedAt?: string
}

function detailCells(row: AlipayBillRow, convention: 'merchant' | 'cost'): Record<string, string> {
  const refund = row.type === 'refund'
  const sign = refund ? -1 : 1
  const feeSign = (convention === 'merchant' ? -1 : 1) * (refund ? -1 : 1)
  return {
    支付宝交易号: row.tradeNo,
    商户订单号: row.outTradeNo,
    业务类型: refund ? '退款' : '交易',
    商品名称: row.subject ?? '门店消费',
    创建时间: row.createdAt ?? row.completedAt,
    完成时间: row.completedAt,
    门店编号: row.storeId ?? '',
    门店名称: row.storeName ?? '',
    操作员: row.operator ?? '',
    终端号: row.terminalId ?? '',
    对方账户: row.buyer ?? '*明(138****0000)',
    '订单金额（元）': yuan(sign * row.amount),
    '商家实收（元）': yuan(sign * (row.receipt ?? row.amount)),
    '支付宝红包（元）': '0.00',
    '集分宝（元）': '0.00',
    '支付宝优惠（元）': '0.00',
    '商家优惠（元）': yuan(sign * (row.merchantDiscount ?? 0)),
    '券核销金额（元）': '0.00',
    券名称: '',
    '商家红包消费金额（元）': '0.00',
    '卡消费金额（元）': '0.00',
    '退款批次号/请求号': row.refundRequestNo ?? '',
    '服务费（元）': yuan(feeSign * (row.fee ?? 0)),
    '分润（元）': '0.00',
    备注: row.remark ?? '',
  }
}

/** The text lines of the 业务明细 file. */
export function alipayDetailLines(opts: AlipayBillOptions): string[] {
  const convention = opts.feeConvention ?? 'merchant'
  const columns = opts.columns ?? ALIPAY_TRADE_COLUMNS
  const payments = opts.rows.filter((r) => r.type === 'payment')
  const refunds = opts.rows.filter((r) => r.type === 'refund')
  const total = (rows: AlipayBillRow[], f: (r: AlipayBillRow) => number) => rows.reduce((s, r) => s + f(r), 0)
  const lines = [
    '#支付宝业务明细查询',
    `#账号：[${opts.pid}0156]`,
    `#起始日期：[${chineseDate(opts.date)}]   终止日期：[${chineseDate(nextDay(opts.date))}]`,
    '#-----------------------------------------业务明细列表----------------------------------------',
    columns.join(','),
    ...opts.rows.map((row) => {
      const cells = detailCells(row, convention)
      return columns.map((c) => `${cells[c] ?? ''}${TABBED.has(c) ? '\t' : ''}`).join(',')
    }),
    '#-----------------------------------------业务明细列表结束------------------------------------',
    `#交易合计：${payments.length}笔，商家实收共${yuan(total(payments, (r) => r.receipt ?? r.amount))}元，商家优惠共${yuan(total(payments, (r) => r.merchantDiscount ?? 0))}元`,
    `#退款合计：${refunds.length}笔，商家实收退款共${yuan(-total(refunds, (r) => r.receipt ?? r.amount))}元，商家优惠退款共${yuan(-total(refunds, (r) => r.merchantDiscount ?? 0))}元`,
    `#导出时间：[${opts.exportedAt ?? chineseDate(nextDay(opts.date), '05:46:49')}]`,
  ]
  return opts.editDetail ? opts.editDetail(lines) : lines
}

/** The text lines of the 业务明细(汇总) file: one row per store, then 合计. */
export function alipaySummaryLines(opts: AlipayBillOptions): string[] {
  const convention = opts.feeConvention ?? 'merchant'
  const stores = new Map<string, { name: string; rows: AlipayBillRow[] }>()
  for (const r of opts.rows) {
    const s = stores.get(r.storeId ?? '') ?? { name: r.storeName ?? '', rows: [] }
    s.rows.push(r)
    stores.set(r.storeId ?? '', s)
  }
  const line = (id: string, name: string, rows: AlipayBillRow[], tab: string) => {
    let order = 0
    let receipt = 0
    let discount = 0
    let fee = 0
    for (const r of rows) {
      const c = detailCells(r, convention)
      order += Number(c['订单金额（元）']!.replace('.', ''))
      receipt += Number(c['商家实收（元）']!.replace('.', ''))
      discount += Number(c['商家优惠（元）']!.replace('.', ''))
      fee += Number(c['服务费（元）']!.replace('.', ''))
    }
    const count = (t: string) => rows.filter((r) => r.type === t).length
    return [`${id}${tab}`, `${name}${tab}`, count('payment'), count('refund'), yuan(order), yuan(receipt), '0.00', yuan(discount), '0.00', yuan(fee), '0.00', yuan(receipt + fee)].join(',')
  }
  const lines = [
    '#支付宝业务汇总查询',
    `#账号：[${opts.pid}0156]`,
    `#起始日期：[${chineseDate(opts.date)}]   终止日期：[${chineseDate(nextDay(opts.date))}]`,
    '#-----------------------------------------业务汇总列表----------------------------------------',
    SUMMARY_HEADER.join(','),
    ...[...stores].map(([id, s]) => line(id, s.name, s.rows, '\t')),
    line('合计', '', opts.rows, ''),
    `#导出时间：[${opts.exportedAt ?? chineseDate(nextDay(opts.date), '05:46:49')}]`,
  ]
  return opts.editSummary ? opts.editSummary(lines) : lines
}

export const alipayBillEntryNames = (pid: string, date: string) => {
  const base = `${pid}0156_${date.replaceAll('-', '')}`
  return { detail: `${base}_业务明细.csv`, summary: `${base}_业务明细(汇总).csv` }
}

/** The zip Alipay serves for a trade bill: GBK files under GBK names (no UTF-8 flag), CRLF line ends. */
export function alipayBillZip(opts: AlipayBillOptions): Buffer {
  const names = alipayBillEntryNames(opts.pid, opts.date)
  const encode = (lines: string[]) => iconv.encode(lines.join('\r\n') + '\r\n', 'gbk')
  const files = [{ name: names.detail, content: encode(alipayDetailLines(opts)) }]
  if (opts.summary ?? true) files.push({ name: names.summary, content: encode(alipaySummaryLines(opts)) })
  return zipStore(
    files.map((f) => ({ name: iconv.encode(f.name, 'gbk'), content: f.content })),
    new Date(Date.parse(`${nextDay(opts.date)}T05:46:48+08:00`)),
  )
}

/**
 * A zip written the way Java's ZipOutputStream writes one (deflate, sizes in a data descriptor after each entry),
 * with names given as raw bytes so they can be GBK.
 */
export function zipStore(files: { name: Buffer; content: Buffer }[], modified: Date): Buffer {
  const beijing = new Date(modified.getTime() + 8 * 3600_000)
  const dosTime = (beijing.getUTCHours() << 11) | (beijing.getUTCMinutes() << 5) | Math.floor(beijing.getUTCSeconds() / 2)
  const dosDate = ((beijing.getUTCFullYear() - 1980) << 9) | ((beijing.getUTCMonth() + 1) << 5) | beijing.getUTCDate()
  const FLAGS = 0x0008 // data descriptor; bit 11 (UTF-8) deliberately unset
  const parts: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const f of files) {
    const data = deflateRawSync(f.content)
    const crc = crc32(f.content)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(FLAGS, 6)
    local.writeUInt16LE(8, 8)
    local.writeUInt16LE(dosTime, 10)
    local.writeUInt16LE(dosDate, 12)
    // crc and sizes are 0 here and follow the data in the descriptor
    local.writeUInt16LE(f.name.length, 26)
    const descriptor = Buffer.alloc(16)
    descriptor.writeUInt32LE(0x08074b50, 0)
    descriptor.writeUInt32LE(crc, 4)
    descriptor.writeUInt32LE(data.length, 8)
    descriptor.writeUInt32LE(f.content.length, 12)
    const header = Buffer.alloc(46)
    header.writeUInt32LE(0x02014b50, 0)
    header.writeUInt16LE(20, 4)
    header.writeUInt16LE(20, 6)
    header.writeUInt16LE(FLAGS, 8)
    header.writeUInt16LE(8, 10)
    header.writeUInt16LE(dosTime, 12)
    header.writeUInt16LE(dosDate, 14)
    header.writeUInt32LE(crc, 16)
    header.writeUInt32LE(data.length, 20)
    header.writeUInt32LE(f.content.length, 24)
    header.writeUInt16LE(f.name.length, 28)
    header.writeUInt32LE(offset, 42)
    central.push(header, f.name)
    parts.push(local, f.name, data, descriptor)
    offset += local.length + f.name.length + data.length + descriptor.length
  }
  const cd = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(files.length, 8)
  end.writeUInt16LE(files.length, 10)
  end.writeUInt32LE(cd.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...parts, cd, end])
}

// ---- the gateway ----------------------------------------------------------------------------------------------

export const SANDBOX_GATEWAY = 'https://openapi.alipay.com/gateway.do'
export const SANDBOX_DOWNLOAD = 'https://dwbillcenter.alipay.com/downloadBillFile.resource'
const BILL_METHOD = 'alipay.data.dataservice.bill.downloadurl.query'
/** How long a download URL stays valid. */
export const URL_LIFETIME_MS = 30_000
/** When the simulated Alipay has generated a day's bill: 09:00 Beijing time the next day. */
export const GENERATED_AT_HOUR = 9

export interface AlipaySandboxOptions {
  appId: string
  /** The app public key the merchant uploaded to Alipay (checks request signatures). */
  appPublicKey: KeyObject | string
  /** Alipay's private key for this app (signs answers). */
  alipayPrivateKey: KeyObject
  pid: string
  clock: () => Date
  gateway?: string
  downloadUrl?: string
}

interface Issued {
  zip: Buffer
  name: string
  at: number
}

export function alipaySandbox(opts: AlipaySandboxOptions) {
  const gateway = opts.gateway ?? SANDBOX_GATEWAY
  const downloadUrl = opts.downloadUrl ?? SANDBOX_DOWNLOAD
  const appKey = typeof opts.appPublicKey === 'string' ? createPublicKey(opts.appPublicKey) : opts.appPublicKey
  const state = {
    /** Every gateway request as received, and whether its signature verified. */
    requests: [] as { params: Record<string, string>; signatureOk: boolean }[],
    downloads: [] as { token: string; outcome: 'zip' | 'expired' }[],
    bills: new Map<string, Buffer>(),
    /** Answer 20000 isp.unknow-error (a gateway outage). */
    down: false,
    /** Corrupt the answers: signed with another key, or changed after signing. */
    tamper: undefined as undefined | { kind: 'other-key'; key: KeyObject } | { kind: 'altered' },
    /** Called with each URL handed out (a test can move the clock here, as a slow network would). */
    onUrlIssued: undefined as undefined | ((url: string) => void),
    issued: new Map<string, Issued>(),
  }

  /** Publishes a bill: the gateway hands out URLs for it once it is "generated" (09:00 the next day). */
  const publish = (date: string, zip: Buffer, billType = 'trade') => state.bills.set(`${billType}:${date}`, zip)

  const sign = (content: string, key = opts.alipayPrivateKey) => createSign('RSA-SHA256').update(content, 'utf8').sign(key, 'base64')

  /** `{"<key>":<content>,"sign":"…"}` with the sign over the exact content text, as the gateway writes it. */
  const answer = (key: string, node: Record<string, unknown>, signed = true) => {
    let content = JSON.stringify(node)
    let signature = signed ? sign(content) : undefined
    if (signed && state.tamper?.kind === 'other-key') signature = sign(content, state.tamper.key)
    if (signed && state.tamper?.kind === 'altered') content = content.replace(/"code":"(\d+)"/, '"code":"$1" ')
    const body = `{"${key}":${content}${signature ? `,"sign":"${signature}"` : ''}}`
    return new HttpResponse(body, { status: 200, headers: { 'content-type': 'application/json;charset=utf-8' } })
  }
  const methodKey = (method: string) => `${method.replaceAll('.', '_')}_response`
  const fail = (key: string, code: string, msg: string, subCode: string, subMsg: string, signed = true) => answer(key, { code, msg, sub_code: subCode, sub_msg: subMsg }, signed)

  const today = () => new Date(opts.clock().getTime() + 8 * 3600_000).toISOString().slice(0, 10)

  async function gatewayHandler({ request }: { request: Request }) {
    const params: Record<string, string> = {}
    new URL(request.url).searchParams.forEach((v, k) => (params[k] = v))
    if (request.method === 'POST') new URLSearchParams(await request.text()).forEach((v, k) => (params[k] = v))
    const content = Object.keys(params)
      .filter((k) => k !== 'sign' && params[k] !== '')
      .sort()
      .map((k) => `${k}=${params[k]}`)
      .join('&')
    const signatureOk = !!params.sign && createVerify('RSA-SHA256').update(content, 'utf8').verify(appKey, params.sign, 'base64')
    state.requests.push({ params, signatureOk })

    if (!params.method) return fail('error_response', '40001', 'Missing Required Arguments', 'isv.missing-method', '缺少方法名参数', false)
    if (params.app_id !== opts.appId) return fail('error_response', '40002', 'Invalid Arguments', 'isv.invalid-app-id', '无效的AppID参数', false)
    if (params.method !== BILL_METHOD) return fail('error_response', '40002', 'Invalid Arguments', 'isv.invalid-method', '不存在的方法名', false)
    const key = methodKey(params.method)
    if (!params.sign) return fail(key, '40001', 'Missing Required Arguments', 'isv.missing-signature', '缺少签名参数')
    if (params.sign_type !== 'RSA2') return fail(key, '40002', 'Invalid Arguments', 'isv.invalid-signature-type', '无效的签名类型参数')
    if ((params.charset ?? '').toLowerCase() !== 'utf-8') return fail(key, '40002', 'Invalid Arguments', 'isv.invalid-charset', '字符集错误')
    if (!signatureOk) {
      return fail(key, '40002', 'Invalid Arguments', 'isv.invalid-signature', `验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：${content.replace(/&/g, '&amp;')}`)
    }
    const sent = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(params.timestamp ?? '') ? Date.parse(`${params.timestamp!.replace(' ', 'T')}+08:00`) : NaN
    if (!Number.isFinite(sent) || Math.abs(sent - opts.clock().getTime()) > 10 * 60_000) return fail(key, '40002', 'Invalid Arguments', 'isv.invalid-timestamp', '非法的时间戳参数')
    if (params.version !== '1.0') return fail(key, '40002', 'Invalid Arguments', 'isv.invalid-version', '非法的版本参数')
    if (state.down) return fail(key, '20000', 'Service Currently Unavailable', 'isp.unknow-error', '服务暂不可用')

    let biz: { bill_type?: unknown; bill_date?: unknown }
    try {
      biz = JSON.parse(params.biz_content ?? '')
    } catch {
      return fail(key, '40004', 'Business Failed', 'invalid_arguments', '入参不合法')
    }
    const type = biz.bill_type
    const date = typeof biz.bill_date === 'string' ? biz.bill_date : ''
    // A day's bill can be asked for from the next day on (T+1): today or later is refused as an argument error.
    if ((type !== 'trade' && type !== 'signcustomer') || !/^\d{4}-\d{2}-\d{2}$/.test(date) || date >= today()) {
      return fail(key, '40004', 'Business Failed', 'invalid_arguments', '入参不合法')
    }
    const zip = state.bills.get(`${type}:${date}`)
    const generatedAt = Date.parse(`${nextDay(date)}T${String(GENERATED_AT_HOUR).padStart(2, '0')}:00:00+08:00`)
    if (!zip || opts.clock().getTime() < generatedAt) return fail(key, '40004', 'Business Failed', 'isp.bill_not_exist', '账单不存在')

    const token = randomBytes(12).toString('hex')
    const userId = `${opts.pid}0156`
    const name = `${userId}_${date.replaceAll('-', '')}.csv.zip`
    state.issued.set(token, { zip, name, at: opts.clock().getTime() })
    const url = `${downloadUrl}?bizType=${type === 'trade' ? 'trade' : 'fnd'}&userId=${userId}&fileType=csv.zip&bizDates=${date.replaceAll('-', '')}&downloadFileName=${name}&fileId=${encodeURIComponent(`/${type}/${userId}/${date.replaceAll('-', '')}.csv.zip`)}&timestamp=${opts.clock().getTime()}&token=${token}`
    state.onUrlIssued?.(url)
    return answer(key, { code: '10000', msg: 'Success', bill_download_url: url })
  }

  const handlers = [
    http.post(gateway, gatewayHandler),
    http.get(gateway, gatewayHandler),
    http.get(downloadUrl, ({ request }) => {
      const token = new URL(request.url).searchParams.get('token') ?? ''
      const issued = state.issued.get(token)
      if (!issued || opts.clock().getTime() - issued.at > URL_LIFETIME_MS) {
        state.downloads.push({ token, outcome: 'expired' })
        // What the file server says for a URL past its 30 seconds (reference §1.2.1); a GBK page, not an HTTP error.
        return new HttpResponse(iconv.encode('下载超时,请重新下载', 'gbk'), { status: 200, headers: { 'content-type': 'text/html;charset=GBK' } })
      }
      state.downloads.push({ token, outcome: 'zip' })
      return new HttpResponse(new Uint8Array(issued.zip), {
        status: 200,
        headers: { 'content-type': 'application/oct-stream', 'content-disposition': `attachment; filename=${issued.name}` },
      })
    }),
  ]
  return { handlers, state, publish }
}
