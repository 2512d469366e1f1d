// A Yonyou U8 EAI simulator for msw: the voucher import (`<ufinterface roottag="voucher" billtype="gl" proc="add">`
// posted to the EAI endpoint) answered with `<ufinterface roottag="return"><item key succeed dsc u8voucher_id …/>`.
// It checks the sender against the registered EAI system codes, the 制单人, accounts (known, 末级), 辅助核算 values,
// closed periods, the balance, and a repeated reserve2 (外部凭证业务号), and numbers vouchers per period and 凭证类别.
// Knobs: `down` (503), 429 with Retry-After, optional HTTP basic authentication, and an import whose reply is lost
// after the voucher was saved.
import { randomInt } from 'node:crypto'
import { http, HttpResponse } from 'msw'
import xml2js from 'xml2js'

export interface YonyouSandboxOptions {
  eaiUrl?: string
  /** EAI system codes registered in 系统注册 (the sender attribute). */
  senders: string[]
  /** U8 operators (制单人) (default ['demo']). */
  operators?: string[]
  /** When set, the endpoint sits behind HTTP basic authentication. */
  basicAuth?: { user: string; password: string }
}

export interface SimU8Entry {
  entryId: string
  account: string
  abstract: string
  /** Fen. */
  debit: number
  credit: number
  /** Non-empty 辅助核算 items by name (dept_id → S001). */
  auxiliary: Record<string, string>
}

export interface SimU8Voucher {
  fiscalYear: number
  period: number
  type: string
  /** 凭证号, assigned by U8. */
  no: number
  date: string
  enter: string
  reserve2: string
  voucherMakingSystem: string
  attachments: number
  entries: SimU8Entry[]
}

export interface SimU8Request {
  method: string
  body: string
  authorization: string | null
  answer: 'ok' | 'refused' | 'down' | 'rate_limited' | 'unauthorised' | 'reply_lost' | 'not_eai'
}

const reply = new xml2js.Builder({ xmldec: { version: '1.0', encoding: 'utf-8' }, renderOpts: { pretty: false } })

/** '156.00' or '0' as fen; null when malformed. */
function toFen(v: unknown): number | null {
  const s = typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : ''
  if (s === '') return 0
  const m = /^(-)?(\d+)(?:\.(\d{1,2}))?$/.exec(s)
  if (!m) return null
  const fen = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'))
  return m[1] ? -fen : fen
}

const AUX_NAMES: Record<string, string> = { dept_id: '部门', personnel_id: '职员', cust_id: '客户', supplier_id: '供应商', item_id: '项目' }

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v])
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : typeof v === 'object' && '_' in (v as object) ? String((v as { _: unknown })._) : String(v))

export function yonyouSandbox(opts: YonyouSandboxOptions) {
  const url = opts.eaiUrl ?? 'http://u8.example.com/U8EAI/import.asp'
  const senders = new Set(opts.senders)
  const operators = new Set(opts.operators ?? ['demo'])
  const types = new Set(['记', '收', '付', '转'])
  const state = {
    requests: [] as SimU8Request[],
    down: false,
    rateLimitNext: 0,
    retryAfterSeconds: 0,
    /** The next this many imports save the voucher, then the connection drops before the reply. */
    loseNextReply: 0,
    /** A voucher whose reserve2 is already held is refused as 重复. */
    rejectDuplicateReference: true,
    accounts: new Map<string, { name: string; leaf: boolean }>(),
    /** 辅助核算 values by item name (dept_id → codes). */
    dimensionValues: new Map<string, Set<string>>(),
    /** Periods up to and including this one (YYYY-MM) are closed (月末结账). */
    closedThrough: null as string | null,
    vouchers: [] as SimU8Voucher[],
  }
  const numbers = new Map<string, number>()
  let docId = 1000

  const addAccount = (code: string, name: string, o: { leaf?: boolean } = {}) => state.accounts.set(code, { name, leaf: o.leaf ?? true })
  const addDimensionValue = (item: string, value: string) => {
    let set = state.dimensionValues.get(item)
    if (!set) state.dimensionValues.set(item, (set = new Set()))
    set.add(value)
  }
  const closePeriodsThrough = (year: number, period: number) => (state.closedThrough = `${year}-${String(period).padStart(2, '0')}`)
  const vouchers = () => [...state.vouchers]
  const byReference = (reference: string) => state.vouchers.filter((v) => v.reserve2 === reference)
  const imports = () => state.requests.filter((r) => r.method === 'POST' && r.answer !== 'down' && r.answer !== 'rate_limited' && r.answer !== 'unauthorised')

  const answer = (sender: string, item: Record<string, string | number>) =>
    new HttpResponse(reply.buildObject({ ufinterface: { $: { roottag: 'return', sender: 'u8', receiver: sender, 'request-roottag': 'voucher', docid: String(++docId), proc: 'add', codeexchanged: 'N' }, item: { $: item } } }), {
      headers: { 'content-type': 'text/xml; charset=utf-8' },
    })

  function authorised(request: Request): boolean {
    if (!opts.basicAuth) return true
    const expected = `Basic ${Buffer.from(`${opts.basicAuth.user}:${opts.basicAuth.password}`).toString('base64')}`
    return request.headers.get('authorization') === expected
  }

  function gate(request: Request, body: string): Response | null {
    const log = (answer: SimU8Request['answer']) => state.requests.push({ method: request.method, body, authorization: request.headers.get('authorization'), answer })
    if (state.down) {
      log('down')
      return new HttpResponse('<html><body><h1>Service Unavailable</h1></body></html>', { status: 503, headers: { 'content-type': 'text/html' } })
    }
    if (state.rateLimitNext > 0) {
      state.rateLimitNext--
      log('rate_limited')
      return new HttpResponse('Too Many Requests', { status: 429, headers: { 'retry-after': String(state.retryAfterSeconds) } })
    }
    if (!authorised(request)) {
      log('unauthorised')
      return new HttpResponse('<html><body>401 - Unauthorized: Access is denied due to invalid credentials.</body></html>', { status: 401, headers: { 'content-type': 'text/html', 'www-authenticate': 'Basic realm="U8EAI"' } })
    }
    return null
  }

  function importVoucher(doc: Record<string, any>): { item: Record<string, string | number>; sender: string; saved?: SimU8Voucher } {
    const env = (doc.ufinterface?.$ ?? {}) as Record<string, string>
    const sender = env.sender ?? ''
    const v = doc.ufinterface?.voucher ?? {}
    const key = str(v.$?.id)
    const head = (v.voucher_head ?? {}) as Record<string, unknown>
    const year = Number(str(head.fiscal_year))
    const period = Number(str(head.accounting_period))
    const type = str(head.voucher_type)
    const base = { key, proc: 'add', accounting_period: String(period), voucher_type: type, voucher_id: '', entry_id: '' }
    const refuse = (dsc: string, entryId = '') => ({ sender, item: { ...base, entry_id: entryId, succeed: '1', dsc } })

    if (env.roottag !== 'voucher' || env.billtype !== 'gl' || env.proc !== 'add') return refuse(`不支持的单据类型或操作[${env.roottag}/${env.billtype}/${env.proc}]`)
    if (!senders.has(sender)) return refuse(`系统编码[${sender}]没有注册，请先在EAI系统注册中登记`)
    if (!types.has(type)) return refuse(`凭证类别[${type}]不存在`)
    const date = str(head.date)
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number(date.slice(0, 4)) !== year || Number(date.slice(5, 7)) !== period) return refuse(`制单日期[${date}]与会计期间[${year}-${period}]不符`)
    const periodKey = `${year}-${String(period).padStart(2, '0')}`
    if (state.closedThrough && periodKey <= state.closedThrough) return refuse(`会计期间[${periodKey}]已结账，不能填制凭证`)
    const enter = str(head.enter)
    if (!operators.has(enter)) return refuse(`制单人[${enter}]不是本账套的操作员`)
    const reserve2 = str(head.reserve2)
    if (reserve2 && state.rejectDuplicateReference && byReference(reserve2).length) return refuse(`外部凭证业务号[${reserve2}]重复，该凭证已经导入`)

    const entries: SimU8Entry[] = []
    let debits = 0
    let credits = 0
    for (const e of list(v.voucher_body?.entry) as Record<string, any>[]) {
      const entryId = str(e.entry_id)
      const code = str(e.account_code)
      const account = state.accounts.get(code)
      if (!account) return refuse(`第${entryId}条分录：科目编码[${code}]不存在`, entryId)
      if (!account.leaf) return refuse(`第${entryId}条分录：科目[${code}]不是末级科目`, entryId)
      const debit = toFen(str(e.natural_debit_currency))
      const credit = toFen(str(e.natural_credit_currency))
      if (debit === null || credit === null) return refuse(`第${entryId}条分录：金额格式错误`, entryId)
      if ((debit === 0) === (credit === 0)) return refuse(`第${entryId}条分录：借方金额和贷方金额不能同时为空或同时有值`, entryId)
      const auxiliary: Record<string, string> = {}
      for (const item of list(e.auxiliary_accounting?.item) as Record<string, any>[]) {
        const name = str(item.$?.name)
        const value = str(item._ ?? (typeof item === 'string' ? item : ''))
        if (!value) continue
        auxiliary[name] = value
        const known = state.dimensionValues.get(name)
        if (AUX_NAMES[name] && !known?.has(value)) return refuse(`第${entryId}条分录：${AUX_NAMES[name]}编码[${value}]不存在`, entryId)
      }
      debits += debit
      credits += credit
      entries.push({ entryId, account: code, abstract: str(e.abstract), debit, credit, auxiliary })
    }
    if (entries.length < 2) return refuse('凭证分录不能少于两条')
    if (debits !== credits) return refuse(`凭证借贷不平衡：借方${debits / 100}，贷方${credits / 100}`)

    const numberKey = `${periodKey}/${type}`
    const no = (numbers.get(numberKey) ?? 0) + 1
    numbers.set(numberKey, no)
    const saved: SimU8Voucher = { fiscalYear: year, period, type, no, date, enter, reserve2, voucherMakingSystem: str(head.voucher_making_system), attachments: Number(str(head.attachment_number) || 0), entries }
    state.vouchers.push(saved)
    return { sender, saved, item: { ...base, succeed: '0', dsc: '凭证已成功保存', u8key: String(randomInt(100_000, 999_999)), u8accounting_period: String(period), u8voucher_id: String(no) } }
  }

  const handlers = [
    http.get(url, async ({ request }) => {
      const refused = gate(request, '')
      if (refused) return refused
      state.requests.push({ method: 'GET', body: '', authorization: request.headers.get('authorization'), answer: 'not_eai' })
      return new HttpResponse('The HTTP verb used to access this page is not allowed.', { status: 405, headers: { 'content-type': 'text/plain', allow: 'POST' } })
    }),
    http.post(url, async ({ request }) => {
      const body = await request.text()
      const refused = gate(request, body)
      if (refused) return refused
      let doc: Record<string, any> | undefined
      xml2js.parseString(body, { explicitArray: false, attrkey: '$' }, (err, value) => {
        if (!err) doc = value as Record<string, any>
      })
      if (!doc?.ufinterface) {
        state.requests.push({ method: 'POST', body, authorization: request.headers.get('authorization'), answer: 'refused' })
        return answer('', { succeed: '1', dsc: 'XML格式错误，无法解析交换文档', key: '', proc: '' })
      }
      const result = importVoucher(doc)
      if (result.saved && state.loseNextReply > 0) {
        state.loseNextReply--
        state.requests.push({ method: 'POST', body, authorization: request.headers.get('authorization'), answer: 'reply_lost' })
        return HttpResponse.error()
      }
      state.requests.push({ method: 'POST', body, authorization: request.headers.get('authorization'), answer: result.saved ? 'ok' : 'refused' })
      return answer(result.sender, result.item)
    }),
  ]
  return { handlers, state, addAccount, addDimensionValue, closePeriodsThrough, vouchers, byReference, imports }
}
