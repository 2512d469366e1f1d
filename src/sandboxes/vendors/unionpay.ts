// A UnionPay 全渠道 file-transfer simulator for msw and a generator of INN…ZM flow files, in the real formats: the form
// POST of txnType 76 checked field by field and by its 5.1.0 signature (the merchant's public key), answers signed
// with a "UnionPay" key as unencoded k=v pairs, respCode 98 before the day's file is published, the zip DEFLATE-
// compressed and base64-encoded in fileContent. shared/reference/reconciliation.md §1.3.1.
import { createPublicKey, type KeyObject } from 'node:crypto'
import { deflateSync } from 'node:zlib'
import iconv from 'iconv-lite'
import { http, HttpResponse } from 'msw'
import { formatAnswer, signFields, signingString, verifyFields } from '../../connectors/payment/unionpay/signing.ts'
import { zipStore } from './alipay.ts'

// ---- the flow file --------------------------------------------------------------------------------------------

/**
 * The INN record as UnionPay's file-interface spec lays it out (name, width in bytes), written out here rather than
 * taken from the parser so that fixtures built from it check the parser's offsets. Fields are joined by one space.
 */
export const INN_WIDTHS: [string, number][] = [
  ['交易代码', 3], ['代理机构标识码', 11], ['发送机构标识码', 11], ['系统跟踪号', 6], ['交易传输时间', 10], ['账号', 19],
  ['交易金额', 12], ['商户类别', 4], ['终端类型', 2], ['查询流水号', 21], ['支付方式（旧）', 2], ['商户订单号', 32],
  ['支付卡类型', 2], ['原始交易的系统跟踪号', 6], ['原始交易日期时间', 10], ['商户手续费', 13], ['结算金额', 13], ['支付方式', 4],
  ['集团商户代码', 15], ['交易类型', 2], ['交易子类', 2], ['业务类型', 6], ['账号类型', 2], ['账单类型', 4], ['账单号码', 32],
  ['交互方式', 1], ['原交易查询流水号', 21], ['商户代码', 15],
  // The later additions, up to 终端号.
  ['分账入账方式', 1], ['二级商户代码', 15], ['二级商户简称', 32], ['二级商户分账入账金额', 13], ['清算净额', 13], ['终端号', 8],
]
/** The fields every record holds (up to 商户代码). */
export const INN_REQUIRED = 28
export const SANDBOX_MER_ID = '777290058110048'

export interface InnTxn {
  code?: string
  txnType?: string
  trace: string
  /** 交易传输时间, MMDDhhmmss Beijing time. */
  time: string
  /** 交易金额 in fen. */
  amount: number
  queryId: string
  orderId: string
  /** 商户手续费, 13 wide with its sign character (D000000000053, +000000000750). */
  fee: string
  settle: string
  origQueryId?: string
  merId?: string
  terminal?: string
  subMerName?: string
}

/** One record in GBK bytes; `upTo` fields (default all listed above). Numbers are zero-padded, text space-padded. */
export function innRecord(t: InnTxn, upTo = INN_WIDTHS.length): Buffer {
  const values: Record<string, string> = {
    交易代码: t.code ?? 'S22',
    代理机构标识码: '00049992900',
    发送机构标识码: '00049992900',
    系统跟踪号: t.trace,
    交易传输时间: t.time,
    账号: '6216261000000000018',
    交易金额: String(t.amount).padStart(12, '0'),
    商户类别: '5411',
    终端类型: '07',
    查询流水号: t.queryId,
    '支付方式（旧）': '01',
    商户订单号: t.orderId,
    支付卡类型: '01',
    原始交易的系统跟踪号: t.origQueryId ? '000457' : '000000',
    原始交易日期时间: t.origQueryId ? '0314101532' : '0000000000',
    商户手续费: t.fee,
    结算金额: t.settle,
    支付方式: '0001',
    集团商户代码: '',
    交易类型: t.txnType ?? (t.code === 'S30' ? '04' : t.code === 'S31' ? '31' : '01'),
    交易子类: '01',
    业务类型: '000201',
    账号类型: '01',
    账单类型: '',
    账单号码: '',
    交互方式: '0',
    原交易查询流水号: t.origQueryId ?? '',
    商户代码: t.merId ?? SANDBOX_MER_ID,
    分账入账方式: '0',
    二级商户代码: '',
    二级商户简称: t.subMerName ?? '',
    二级商户分账入账金额: '+000000000000',
    清算净额: t.settle,
    终端号: t.terminal ?? '',
  }
  const parts = INN_WIDTHS.slice(0, upTo).map(([name, width]) => {
    const bytes = iconv.encode(values[name]!, 'gbk')
    if (bytes.length > width) throw new Error(`${name} "${values[name]}" is wider than ${width}`)
    return Buffer.concat([bytes, Buffer.alloc(width - bytes.length, 0x20)])
  })
  return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from(' '), p])))
}

/** Records joined into a flow file, each line ended by `eol`. */
export const innFile = (records: Buffer[], eol = '\r\n'): Buffer => Buffer.concat(records.flatMap((r) => [r, Buffer.from(eol)]))

/** The settlement zip of a day: the INN…ZM flow file among the day's other files, named in GBK. */
export function unionpaySettlementZip(opts: { merId: string; date: string; records: Buffer[] }): Buffer {
  const yymmdd = opts.date.slice(2).replaceAll('-', '')
  const gbk = (name: string) => iconv.encode(name, 'gbk')
  return zipStore(
    [
      { name: gbk(`RD${yymmdd.slice(2)}_${opts.merId}`), content: Buffer.from('other records of the day\r\n') },
      { name: gbk(`INN${yymmdd}01ZM_${opts.merId}`), content: innFile(opts.records) },
    ],
    new Date(Date.parse(`${opts.date}T00:00:00Z`) + 86_400_000 + 2 * 3600_000),
  )
}

// ---- the file-transfer gateway --------------------------------------------------------------------------------

export const SANDBOX_FILE_TRANSFER = 'https://filedownload.95516.com/'

export interface UnionpaySandboxOptions {
  merId: string
  certId: string
  /** The public key of the merchant's signing certificate, as UnionPay holds it. */
  merchantPublicKey: KeyObject | string
  /** UnionPay's signing key (answers). */
  unionpayPrivateKey: KeyObject
  /** The certificate of that key (PEM), carried in each answer as signPubKeyCert. */
  unionpaySignCert?: string
  clock: () => Date
  url?: string
}

/** The fields a file-transfer request must carry with exactly these values. */
const FIXED = { version: '5.1.0', encoding: 'UTF-8', txnType: '76', txnSubType: '01', bizType: '000000', accessType: '0', signMethod: '01', fileType: '00' } as const

/** One base64 character in the middle changed for another. */
const flipOne = (b64: string) => {
  const at = Math.floor(b64.length / 2)
  return b64.slice(0, at) + (b64[at] === 'A' ? 'B' : 'A') + b64.slice(at + 1)
}

export function unionpaySandbox(opts: UnionpaySandboxOptions) {
  const url = opts.url ?? SANDBOX_FILE_TRANSFER
  const merchantKey = typeof opts.merchantPublicKey === 'string' ? createPublicKey(opts.merchantPublicKey) : opts.merchantPublicKey
  const state = {
    /** Every request as received, and whether its signature verified. */
    requests: [] as { fields: Record<string, string>; signatureOk: boolean; signingString: string }[],
    /** Published zips by settleDate key yyyy-MM-dd. */
    files: new Map<string, Buffer>(),
    /** Answer 503 (an outage in front of the gateway). */
    down: false,
    /**
     * Corrupt successful answers: signed with another key, a field or the file's content changed after signing, or
     * the zip sent as it is, not DEFLATE-compressed (signed: a gateway fault, not a forgery).
     */
    tamper: undefined as undefined | { kind: 'other-key'; key: KeyObject } | { kind: 'altered' } | { kind: 'content' } | { kind: 'not-deflated' },
    /** Sign with this key and carry this certificate (PEM) as signPubKeyCert, as after a renewal of UnionPay's certificate. */
    signer: undefined as undefined | { key: KeyObject; cert: string },
  }

  const publish = (date: string, zip: Buffer) => state.files.set(date, zip)

  const answer = (request: Record<string, string>, fields: Record<string, string>, signed = true) => {
    const base: Record<string, string> = {
      accessType: request.accessType ?? '0',
      bizType: request.bizType ?? '000000',
      encoding: 'UTF-8',
      merId: request.merId ?? '',
      settleDate: request.settleDate ?? '',
      signMethod: '01',
      txnSubType: request.txnSubType ?? '01',
      txnTime: request.txnTime ?? '',
      txnType: request.txnType ?? '76',
      version: '5.1.0',
      ...fields,
    }
    for (const k of Object.keys(base)) if (base[k] === '') delete base[k]
    if (signed) {
      base.signPubKeyCert = state.signer?.cert ?? opts.unionpaySignCert ?? 'SANDBOX'
      base.signature = signFields(base, state.tamper?.kind === 'other-key' ? state.tamper.key : (state.signer?.key ?? opts.unionpayPrivateKey))
      if (state.tamper?.kind === 'altered' && base.fileName) base.fileName = `X${base.fileName}`
      if (state.tamper?.kind === 'content' && base.fileContent) base.fileContent = flipOne(base.fileContent)
    }
    // The gateway writes its fields in name order: fileContent comes before respCode.
    const sorted = Object.fromEntries(Object.keys(base).sort().map((k) => [k, base[k]!]))
    return new HttpResponse(formatAnswer(sorted), { status: 200, headers: { 'content-type': 'text/plain;charset=UTF-8' } })
  }
  const fail = (request: Record<string, string>, respCode: string, respMsg: string, signed = true) => answer(request, { respCode, respMsg }, signed)

  async function handler({ request }: { request: Request }) {
    if (state.down) return new HttpResponse('<html><body>503 Service Temporarily Unavailable</body></html>', { status: 503, headers: { 'content-type': 'text/html' } })
    const fields: Record<string, string> = {}
    new URLSearchParams(await request.text()).forEach((v, k) => (fields[k] = v))
    const signatureOk = verifyFields(fields, merchantKey)
    state.requests.push({ fields, signatureOk, signingString: signingString(fields) })

    for (const [k, v] of Object.entries(FIXED)) if (fields[k] !== v) return fail(fields, '10', `报文格式错误[${k}]`, false)
    if (!/^\d{15}$/.test(fields.merId ?? '')) return fail(fields, '10', '报文格式错误[merId]', false)
    if (fields.merId !== opts.merId) return fail(fields, '31', '商户状态不正确', false)
    if (fields.certId !== opts.certId) return fail(fields, '11', '验证签名失败[certId不匹配]', false)
    if (!signatureOk) return fail(fields, '11', '验证签名失败', false)
    const sent = /^\d{14}$/.test(fields.txnTime ?? '')
      ? Date.parse(`${fields.txnTime!.replace(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/, '$1-$2-$3T$4:$5:$6')}+08:00`)
      : NaN
    if (!Number.isFinite(sent) || Math.abs(sent - opts.clock().getTime()) > 15 * 60_000) return fail(fields, '10', '报文格式错误[txnTime]')
    if (!/^(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$/.test(fields.settleDate ?? '')) return fail(fields, '10', '报文格式错误[settleDate]')

    // settleDate has no year: the most recent such date not after today (Beijing).
    const today = new Date(opts.clock().getTime() + 8 * 3600_000).toISOString().slice(0, 10)
    let date = `${today.slice(0, 4)}-${fields.settleDate!.slice(0, 2)}-${fields.settleDate!.slice(2)}`
    if (date > today) date = `${Number(today.slice(0, 4)) - 1}${date.slice(4)}`
    const zip = state.files.get(date)
    if (!zip) return fail(fields, '98', '文件不存在')
    return answer(fields, {
      respCode: '00',
      respMsg: '成功[0000000]',
      fileName: `${opts.merId}_${date.replaceAll('-', '')}.zip`,
      fileContent: (state.tamper?.kind === 'not-deflated' ? zip : deflateSync(zip)).toString('base64'),
    })
  }

  return { handlers: [http.post(url, handler)], state, publish }
}
