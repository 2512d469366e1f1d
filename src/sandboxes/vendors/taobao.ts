// A Taobao Open Platform (TOP) simulator for msw, in the gateway's real formats: one form-POST router
// (`/router/rest`) checking app key, signature (md5 | hmac | hmac-sha256), timestamp (±10 minutes of the simulated
// clock), version and the seller's session; answers as format=json&simplify=true writes them (the answer object
// itself, lists as plain arrays, 64-bit tids and oids as bare JSON numbers with their `_str` twins) and errors as
// `{"error_response":{code,msg,sub_code,sub_msg,request_id}}` with HTTP 200. Flow control answers code 7
// `accesscontrol.limited-by-app-access-count` "This ban will last for N more seconds" and keeps refusing for N seconds.
// Outages: `down` is the gateway up with its backend not answering (200, code 15 isp.top-remote-connection-timeout,
// what TOP answers most of the time); `gatewayDown` is the gateway itself gone (HTTP 502 page from its Tengine).
// Stock is per item or per SKU: items with SKUs, absolute and incremental updates (incremental clamped at 0, as TOP
// does), the 20-SKU limit, Tmall's `outer_biz_key` applied once per key, and trades that take and give back stock.
// TOP pushes through TMC rather than webhooks, so there is no webhook delivery here.
// https://open.taobao.com/doc.htm?docId=101617 (调用方法), docId=114 (平台错误码)
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { http, HttpResponse } from 'msw'

export const TOP_SANDBOX_GATEWAY = 'https://gw.api.taobao.com/router/rest'

export interface TaobaoSandboxOptions {
  appKey: string
  appSecret: string
  /** The session key of the one seller this sandbox knows. */
  sessionKey: string
  /** A Tmall shop (seller type B) may call tmall.*; a Taobao shop (type C) may not. Default taobao. */
  platform?: 'taobao' | 'tmall'
  sellerNick?: string
  gatewayUrl?: string
  /** Added to every request (default 0). */
  latencyMs?: number
  /** The app's flow-control quota per second (default 1000). */
  callsPerSecond?: number
  /** How long a flow-control ban lasts (default 1 s). */
  banSeconds?: number
  /** TOP's clock, which `timestamp` must be within 10 minutes of, and which stamps `modified` (default: the real one). */
  clock?: () => Date
}

export interface SimSku {
  skuId: string
  outerId: string | null
  barcode: string | null
  quantity: number
  /** `pid:vid:name:value;…` */
  propertiesName: string
  modified: Date
}

export interface SimItem {
  numIid: string
  title: string
  outerId: string | null
  barcode: string | null
  /** The item's own stock; for an item with SKUs, `num` is the sum of theirs. */
  quantity: number
  approveStatus: 'onsale' | 'instock'
  listTime: Date
  modified: Date
  skus: Map<string, SimSku>
}

export type TradeStatus =
  | 'WAIT_BUYER_PAY'
  | 'WAIT_SELLER_SEND_GOODS'
  | 'SELLER_CONSIGNED_PART'
  | 'WAIT_BUYER_CONFIRM_GOODS'
  | 'TRADE_BUYER_SIGNED'
  | 'TRADE_FINISHED'
  | 'TRADE_CLOSED'
  | 'TRADE_CLOSED_BY_TAOBAO'

export interface SimOrder {
  oid: string
  numIid: string
  skuId: string | null
  title: string
  outerIid: string | null
  outerSkuId: string | null
  num: number
  /** NO_REFUND, WAIT_SELLER_AGREE, …, SUCCESS (refunded), CLOSED (refund withdrawn). */
  refundStatus: string
  /** Whether its units went back to stock (closing or a refund before shipping). */
  restocked: boolean
  /** Whether it was sent on its own, before the rest of its trade (SELLER_CONSIGNED_PART). */
  consigned?: boolean
}

export interface SimTrade {
  tid: string
  status: TradeStatus
  created: Date
  modified: Date
  orders: SimOrder[]
}

export interface TopRequestLog {
  /** The API method (`taobao.skus.quantity.update`). */
  api: string
  /** Every parameter as received except `session` and `sign`. */
  params: Record<string, string>
  signMethod: string | null
  signatureOk: boolean
  sessionOk: boolean
  /** `ok`, or the error answered (`7 accesscontrol.limited-by-app-access-count`, `502`). */
  outcome: string
  at: Date
}

class TopFault extends Error {
  readonly code: number
  readonly msg: string
  readonly subCode?: string
  readonly subMsg?: string
  constructor(code: number, msg: string, subCode?: string, subMsg?: string) {
    super(`${code} ${msg}${subCode ? ` ${subCode}` : ''}`)
    this.code = code
    this.msg = msg
    this.subCode = subCode
    this.subMsg = subMsg
  }
}

const missing = (name: string) => new TopFault(40, `Missing required arguments:${name}`, `isv.missing-parameter:${name}`, `缺少必选参数:${name}`)
const invalid = (name: string, why: string) => new TopFault(41, `Invalid arguments:${name}`, `isv.invalid-parameter:${name}`, why)
const itemMissing = (id: string) => new TopFault(15, 'Remote service error', 'isv.item-not-exist', `商品不存在:${id}`)

const GMT8_MS = 8 * 3600_000
export const gmt8 = (d: Date) => new Date(d.getTime() + GMT8_MS).toISOString().slice(0, 19).replace('T', ' ')
const parseGmt8 = (s: string | undefined): number | null => (s && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(s) ? Date.parse(`${s.replace(' ', 'T')}+08:00`) : null)

/** TOP's signature, written here apart from the connector's so that each checks the other. */
function expectedSign(params: Record<string, string>, secret: string, method: string): string | null {
  const text = Object.entries(params)
    .filter(([k, v]) => k !== 'sign' && v !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => k + v)
    .join('')
  if (method === 'md5') return createHash('md5').update(secret + text + secret).digest('hex').toUpperCase()
  if (method === 'hmac') return createHmac('md5', secret).update(text).digest('hex').toUpperCase()
  if (method === 'hmac-sha256') return createHmac('sha256', secret).update(text).digest('hex').toUpperCase()
  return null
}

/** A 64-bit id written as a bare JSON number, as TOP writes tid and oid (past 2^53: JSON.parse loses digits). */
const RAW = '\u0000raw:'
const raw = (digits: string) => `${RAW}${digits}`
const toJson = (body: unknown) => JSON.stringify(body).replace(/"\\u0000raw:(\d+)"/g, '$1')

const int = (v: string | undefined, name: string): number | undefined => {
  if (v === undefined || v === '') return undefined
  if (!/^-?\d+$/.test(v)) throw invalid(name, `${name}必须是整数`)
  return Number(v)
}

const fieldsOf = (v: string | undefined) => new Set((v ?? '').split(',').map((f) => f.trim()).filter(Boolean))

export function taobaoSandbox(opts: TaobaoSandboxOptions) {
  const gateway = opts.gatewayUrl ?? TOP_SANDBOX_GATEWAY
  const platform = opts.platform ?? 'taobao'
  const callsPerSecond = opts.callsPerSecond ?? 1000
  const banSeconds = opts.banSeconds ?? 1
  let clock = opts.clock ?? (() => new Date())

  const state = {
    requests: [] as TopRequestLog[],
    /** The backend does not answer: 200 with code 15 isp.top-remote-connection-timeout. */
    down: false,
    /** The gateway itself is gone: HTTP 502. */
    gatewayDown: false,
    /** The next this many calls are refused by flow control (each starts a ban of `banSeconds`). */
    rateLimitNext: 0,
    latencyMs: opts.latencyMs ?? 0,
    items: new Map<string, SimItem>(),
    /** sku_id → num_iid */
    skuIndex: new Map<string, string>(),
    trades: new Map<string, SimTrade>(),
    /** outer_biz_key values already applied by tmall.item.quantity.update. */
    bizKeys: new Set<string>(),
    banUntil: 0,
    window: { second: 0, calls: 0 },
  }
  let onsaleSorted: SimItem[] | null = null
  let nextNumIid = 600_000_000_001
  let nextSkuId = 5_000_000_000_001
  let nextTid = 3_900_000_000_000_000_001n
  const now = () => clock()

  // ---- seeding and vendor-side changes ----------------------------------------------------------------------

  /** Puts an item on sale: with SKUs (each with its merchant code and stock), or with `quantity` of its own. */
  function addItem(p: {
    title: string
    outerId?: string
    barcode?: string
    quantity?: number
    skus?: { skuId?: string; outerId: string; barcode?: string; quantity: number; properties?: string }[]
    onsale?: boolean
    listTime?: Date
  }): SimItem {
    const at = p.listTime ?? now()
    const item: SimItem = {
      numIid: String(nextNumIid++),
      title: p.title,
      outerId: p.outerId ?? null,
      barcode: p.barcode ?? null,
      quantity: p.skus?.length ? 0 : (p.quantity ?? 0),
      approveStatus: p.onsale === false ? 'instock' : 'onsale',
      listTime: at,
      modified: at,
      skus: new Map(),
    }
    p.skus?.forEach((s, i) => {
      const skuId = s.skuId ?? String(nextSkuId++)
      if (state.skuIndex.has(skuId)) throw new Error(`sku ${skuId} exists already`)
      item.skus.set(skuId, {
        skuId,
        outerId: s.outerId,
        barcode: s.barcode ?? null,
        quantity: s.quantity,
        propertiesName: s.properties ?? `1627207:${28_300 + i}:颜色分类:款式${i + 1}`,
        modified: at,
      })
      state.skuIndex.set(skuId, item.numIid)
    })
    state.items.set(item.numIid, item)
    onsaleSorted = null
    return item
  }

  const itemOf = (numIid: string) => {
    const item = state.items.get(numIid)
    if (!item) throw new Error(`no item ${numIid}`)
    return item
  }
  const numOf = (item: SimItem) => (item.skus.size ? [...item.skus.values()].reduce((s, k) => s + k.quantity, 0) : item.quantity)

  /** The sellable stock of an item's SKU (or of the item without SKUs). */
  function quantity(numIid: string, skuId: string | null = null): number {
    const item = itemOf(numIid)
    if (skuId === null) return numOf(item)
    const sku = item.skus.get(skuId)
    if (!sku) throw new Error(`item ${numIid} has no sku ${skuId}`)
    return sku.quantity
  }

  /** Changes stock on the marketplace's side (a seller editing it in 千牛, another tool writing it). */
  function setQuantity(numIid: string, skuId: string | null, value: number, at = now()) {
    const item = itemOf(numIid)
    if (skuId === null) {
      if (item.skus.size) throw new Error(`item ${numIid} keeps its stock on its SKUs`)
      item.quantity = value
    } else {
      const sku = item.skus.get(skuId)
      if (!sku) throw new Error(`item ${numIid} has no sku ${skuId}`)
      sku.quantity = value
      sku.modified = at
    }
    item.modified = at
  }

  /**
   * The seller takes an item off sale (下架: it goes to the warehouse, approve_status instock) or lists it again
   * (上架: its list_time becomes the time it went back on sale, so it comes last in list_time order).
   */
  function setOnsale(numIid: string, onsale: boolean, at = now()) {
    const item = itemOf(numIid)
    item.approveStatus = onsale ? 'onsale' : 'instock'
    if (onsale) item.listTime = at
    item.modified = at
    onsaleSorted = null
  }

  const changeStock = (o: { numIid: string; skuId: string | null }, delta: number, at: Date) => setQuantity(o.numIid, o.skuId, quantity(o.numIid, o.skuId) + delta, at)

  /**
   * A buyer's order (拍下减库存: stock is taken when the order is placed). Throws when a line has not enough stock,
   * as Taobao refuses the order.
   */
  function placeTrade(p: { lines: { numIid: string; skuId?: string | null; num: number }[]; status?: 'WAIT_BUYER_PAY' | 'WAIT_SELLER_SEND_GOODS'; at?: Date }): SimTrade {
    const at = p.at ?? now()
    for (const l of p.lines) {
      if (quantity(l.numIid, l.skuId ?? null) < l.num) throw new Error(`not enough stock of ${l.numIid}:${l.skuId ?? ''} for ${l.num}`)
    }
    const tid = String(nextTid)
    nextTid += 1000n
    const orders = p.lines.map((l, i): SimOrder => {
      const item = itemOf(l.numIid)
      const sku = l.skuId ? item.skus.get(l.skuId) : undefined
      changeStock({ numIid: l.numIid, skuId: l.skuId ?? null }, -l.num, at)
      return {
        oid: (BigInt(tid) + BigInt(i + 1)).toString(),
        numIid: l.numIid,
        skuId: l.skuId ?? null,
        title: item.title,
        outerIid: item.outerId,
        outerSkuId: sku?.outerId ?? null,
        num: l.num,
        refundStatus: 'NO_REFUND',
        restocked: false,
      }
    })
    const trade: SimTrade = { tid, status: p.status ?? 'WAIT_SELLER_SEND_GOODS', created: at, modified: at, orders }
    state.trades.set(tid, trade)
    return trade
  }

  const tradeOf = (tid: string) => {
    const t = state.trades.get(tid)
    if (!t) throw new Error(`no trade ${tid}`)
    return t
  }
  const restock = (o: SimOrder, at: Date) => {
    if (o.restocked) return
    changeStock(o, o.num, at)
    o.restocked = true
  }

  /** The trade is closed (buyer did not pay, seller cancelled): its units go back to stock. */
  function closeTrade(tid: string, p: { at?: Date; byTaobao?: boolean } = {}) {
    const t = tradeOf(tid)
    const at = p.at ?? now()
    for (const o of t.orders) restock(o, at)
    t.status = p.byTaobao ? 'TRADE_CLOSED_BY_TAOBAO' : 'TRADE_CLOSED'
    t.modified = at
    return t
  }

  /**
   * The seller ships some sub-orders (`oids`) ahead of the others: the trade is SELLER_CONSIGNED_PART, those
   * sub-orders WAIT_BUYER_CONFIRM_GOODS, until the last is sent (the trade then waits for the buyer too).
   */
  function consignPart(tid: string, oids: string[], at = now()) {
    const t = tradeOf(tid)
    for (const oid of oids) {
      const o = t.orders.find((x) => x.oid === oid)
      if (!o) throw new Error(`trade ${tid} has no sub-order ${oid}`)
      o.consigned = true
    }
    t.status = t.orders.every((o) => o.consigned || o.refundStatus === 'SUCCESS') ? 'WAIT_BUYER_CONFIRM_GOODS' : 'SELLER_CONSIGNED_PART'
    t.modified = at
    return t
  }

  /** The seller ships (WAIT_BUYER_CONFIRM_GOODS), or the buyer confirms (TRADE_FINISHED). */
  function setTradeStatus(tid: string, status: 'WAIT_SELLER_SEND_GOODS' | 'WAIT_BUYER_CONFIRM_GOODS' | 'TRADE_BUYER_SIGNED' | 'TRADE_FINISHED', at = now()) {
    const t = tradeOf(tid)
    t.status = status
    t.modified = at
    return t
  }

  /**
   * A refund of one sub-order completes (refund_status SUCCESS). Before shipping its units go back to stock; after,
   * only with `restock`. A trade whose every sub-order is refunded closes.
   */
  function refundOrder(tid: string, oid: string, p: { at?: Date; restock?: boolean } = {}) {
    const t = tradeOf(tid)
    const at = p.at ?? now()
    const o = t.orders.find((x) => x.oid === oid)
    if (!o) throw new Error(`trade ${tid} has no sub-order ${oid}`)
    o.refundStatus = 'SUCCESS'
    const shipped = t.status !== 'WAIT_BUYER_PAY' && t.status !== 'WAIT_SELLER_SEND_GOODS'
    if (p.restock ?? !shipped) restock(o, at)
    if (t.orders.every((x) => x.refundStatus === 'SUCCESS')) t.status = 'TRADE_CLOSED'
    t.modified = at
    return t
  }

  const setClock = (c: () => Date) => {
    clock = c
  }

  // ---- answers ----------------------------------------------------------------------------------------------

  const requestId = () => randomBytes(6).toString('base64url').toLowerCase()
  const json = (body: unknown) => new HttpResponse(toJson(body), { status: 200, headers: { 'content-type': 'application/json;charset=UTF-8' } })
  const errorAnswer = (f: TopFault) =>
    json({ error_response: { code: f.code, msg: f.msg, ...(f.subCode ? { sub_code: f.subCode } : {}), ...(f.subMsg ? { sub_msg: f.subMsg } : {}), request_id: requestId() } })

  function itemJson(item: SimItem, fields: Set<string>) {
    const all: Record<string, unknown> = {
      num_iid: Number(item.numIid),
      title: item.title,
      outer_id: item.outerId ?? undefined,
      barcode: item.barcode ?? undefined,
      num: numOf(item),
      approve_status: item.approveStatus,
      list_time: gmt8(item.listTime),
      modified: gmt8(item.modified),
    }
    const out: Record<string, unknown> = {}
    for (const f of fields) if (all[f] !== undefined) out[f] = all[f]
    // `sku` in fields asks for every SKU field (the answer's member is `skus`).
    if ((fields.has('sku') || fields.has('skus')) && item.skus.size) {
      out.skus = [...item.skus.values()].map((s) => ({
        sku_id: Number(s.skuId),
        num_iid: Number(item.numIid),
        quantity: s.quantity,
        ...(s.outerId ? { outer_id: s.outerId } : {}),
        ...(s.barcode ? { barcode: s.barcode } : {}),
        properties: s.propertiesName.split(';').map((p) => p.split(':').slice(0, 2).join(':')).join(';'),
        properties_name: s.propertiesName,
        modified: gmt8(s.modified),
      }))
    }
    return out
  }

  function tradeJson(t: SimTrade, fields: Set<string>) {
    const all: Record<string, unknown> = { tid: raw(t.tid), tid_str: t.tid, status: t.status, created: gmt8(t.created), modified: gmt8(t.modified) }
    const out: Record<string, unknown> = {}
    for (const f of fields) if (!f.includes('.') && all[f] !== undefined) out[f] = all[f]
    const orderFields = new Set([...fields].filter((f) => f.startsWith('orders.')).map((f) => f.slice(7)))
    if (fields.has('orders') || orderFields.size) {
      out.orders = t.orders.map((o) => {
        const ao: Record<string, unknown> = {
          oid: raw(o.oid),
          oid_str: o.oid,
          num_iid: Number(o.numIid),
          sku_id: o.skuId ?? undefined,
          title: o.title,
          outer_iid: o.outerIid ?? undefined,
          outer_sku_id: o.outerSkuId ?? undefined,
          num: o.num,
          refund_status: o.refundStatus,
          status: o.refundStatus === 'SUCCESS' ? 'TRADE_CLOSED' : t.status === 'SELLER_CONSIGNED_PART' ? (o.consigned ? 'WAIT_BUYER_CONFIRM_GOODS' : 'WAIT_SELLER_SEND_GOODS') : t.status,
        }
        if (fields.has('orders')) return Object.fromEntries(Object.entries(ao).filter(([, v]) => v !== undefined))
        return Object.fromEntries(Object.entries(ao).filter(([k, v]) => orderFields.has(k) && v !== undefined))
      })
    }
    return out
  }

  const stockAnswer = (item: SimItem, skus: SimSku[]) => ({
    item: {
      num_iid: Number(item.numIid),
      num: numOf(item),
      modified: gmt8(item.modified),
      ...(skus.length ? { skus: skus.map((s) => ({ sku_id: Number(s.skuId), quantity: s.quantity, modified: gmt8(s.modified) })) } : {}),
    },
  })

  const findItem = (id: string | undefined, name: string) => {
    if (!id) throw missing(name)
    const item = state.items.get(id)
    if (!item) throw itemMissing(id)
    return item
  }

  /** A new quantity: absolute (type 1, never negative) or incremental (type 2, clamped at 0 as TOP does). */
  const applied = (current: number, value: number, type: number, name: string) => {
    if (type === 1 && value < 0) throw invalid(name, '全量更新时库存不能为负数')
    return type === 1 ? value : Math.max(0, current + value)
  }

  const typeOf = (v: string | undefined) => {
    const t = int(v, 'type') ?? 1
    if (t !== 1 && t !== 2) throw invalid('type', 'type只能是1(全量)或2(增量)')
    return t
  }

  const apis: Record<string, (p: Record<string, string>) => unknown> = {
    'taobao.user.seller.get': (p) => {
      const all: Record<string, unknown> = { nick: opts.sellerNick ?? 'tb_sandbox_seller', type: platform === 'tmall' ? 'B' : 'C' }
      const fields = fieldsOf(p.fields)
      if (!fields.size) throw missing('fields')
      return { user: Object.fromEntries([...fields].filter((f) => f in all).map((f) => [f, all[f]])) }
    },

    'taobao.items.onsale.get': (p) => {
      const fields = fieldsOf(p.fields)
      if (!fields.size) throw missing('fields')
      const page = int(p.page_no, 'page_no') ?? 1
      const size = int(p.page_size, 'page_size') ?? 40
      if (page < 1) throw invalid('page_no', 'page_no必须大于0')
      if (size < 1 || size > 200) throw invalid('page_size', 'page_size取值范围1~200')
      onsaleSorted ??= [...state.items.values()].filter((i) => i.approveStatus === 'onsale').sort((a, b) => a.listTime.getTime() - b.listTime.getTime() || Number(a.numIid) - Number(b.numIid))
      const asc = p.order_by === 'list_time:asc'
      const list = asc ? onsaleSorted : [...onsaleSorted].reverse()
      const items = list.slice((page - 1) * size, page * size).map((i) => itemJson(i, new Set([...fields].filter((f) => f !== 'sku' && f !== 'skus'))))
      return { ...(items.length ? { items } : {}), total_results: list.length }
    },

    'taobao.items.seller.list.get': (p) => {
      if (!p.num_iids) throw missing('num_iids')
      const fields = fieldsOf(p.fields)
      if (!fields.size) throw missing('fields')
      const ids = p.num_iids.split(',').map((s) => s.trim()).filter(Boolean)
      if (ids.length > 20) throw invalid('num_iids', '一次最多查询20个商品')
      // Unknown ids (or another seller's) are left out without an error.
      const items = ids.flatMap((id) => (state.items.has(id) ? [itemJson(state.items.get(id)!, fields)] : []))
      return items.length ? { items } : {}
    },

    'taobao.item.seller.get': (p) => {
      const fields = fieldsOf(p.fields)
      if (!fields.size) throw missing('fields')
      return { item: itemJson(findItem(p.num_iid, 'num_iid'), fields) }
    },

    'taobao.item.quantity.update': (p) => {
      const item = findItem(p.num_iid, 'num_iid')
      const qty = int(p.quantity, 'quantity')
      if (qty === undefined) throw missing('quantity')
      const type = typeOf(p.type)
      const at = now()
      let sku: SimSku | undefined
      if (p.sku_id) {
        sku = item.skus.get(p.sku_id)
        if (!sku) throw new TopFault(15, 'Remote service error', 'isv.sku-not-exist', `该商品下不存在SKU:${p.sku_id}`)
      } else if (p.outer_id) {
        sku = [...item.skus.values()].find((s) => s.outerId === p.outer_id)
        if (!sku) throw new TopFault(15, 'Remote service error', 'isv.sku-not-exist', `该商品下不存在商家编码为${p.outer_id}的SKU`)
      } else if (item.skus.size) {
        throw invalid('sku_id', '该商品有SKU，请指定sku_id或outer_id')
      }
      if (sku) {
        sku.quantity = applied(sku.quantity, qty, type, 'quantity')
        sku.modified = at
      } else item.quantity = applied(item.quantity, qty, type, 'quantity')
      item.modified = at
      return stockAnswer(item, sku ? [sku] : [])
    },

    'taobao.skus.quantity.update': (p) => {
      const item = findItem(p.num_iid, 'num_iid')
      const type = typeOf(p.type)
      const byOuter = !p.skuid_quantities
      const spec = p.skuid_quantities || p.outerid_quantities
      if (!spec) throw missing('skuid_quantities')
      const name = byOuter ? 'outerid_quantities' : 'skuid_quantities'
      const entries = spec.split(';').filter(Boolean).map((pair) => {
        const cut = pair.lastIndexOf(':')
        if (cut <= 0) throw invalid(name, `格式应为id:库存;id:库存`)
        return { key: pair.slice(0, cut), value: int(pair.slice(cut + 1), name)! }
      })
      if (entries.length > 20) throw invalid(name, '最多支持20个SKU同时修改')
      // Every SKU is checked before any is changed: one unknown SKU fails the whole call.
      const targets = entries.map((e) => {
        const skus = byOuter ? [...item.skus.values()].filter((s) => s.outerId === e.key) : [item.skus.get(e.key)].filter((s): s is SimSku => !!s)
        if (!skus.length) throw new TopFault(15, 'Remote service error', 'isv.sku-not-exist', `该商品下不存在SKU:${e.key}`)
        if (type === 1 && e.value < 0) throw invalid(name, '全量更新时库存不能为负数')
        return { skus, value: e.value }
      })
      const at = now()
      const changed: SimSku[] = []
      for (const t of targets) {
        for (const s of t.skus) {
          s.quantity = applied(s.quantity, t.value, type, name)
          s.modified = at
          changed.push(s)
        }
      }
      item.modified = at
      return stockAnswer(item, changed)
    },

    'tmall.item.quantity.update': (p) => {
      if (platform !== 'tmall') throw new TopFault(15, 'Remote service error', 'isv.invalid-permission', '非天猫卖家不能调用天猫商品接口')
      const item = findItem(p.item_id, 'item_id')
      let options: { type?: number; outer_biz_key?: string } = {}
      if (p.options) {
        try {
          options = JSON.parse(p.options)
        } catch {
          throw invalid('options', 'options不是合法的JSON')
        }
      }
      const type = options.type ?? 1
      if (type !== 1 && type !== 2) throw invalid('options', 'type只能是1(全量)或2(增量)')
      const key = options.outer_biz_key
      if (key !== undefined && !/^[0-9a-fA-F]{1,64}$/.test(key)) throw invalid('options', 'outer_biz_key只能包含十六进制字符(0-9,a-f,A-F)')
      let lines: { sku_id?: number | string; outer_id?: string; quantity?: number }[] = []
      if (p.sku_quantities) {
        try {
          lines = JSON.parse(p.sku_quantities)
        } catch {
          throw invalid('sku_quantities', 'sku_quantities不是合法的JSON')
        }
        if (!Array.isArray(lines)) throw invalid('sku_quantities', 'sku_quantities必须是数组')
        if (lines.length > 20) throw invalid('sku_quantities', '一次最多更新20个SKU的库存')
      }
      const itemQty = int(p.item_quantity, 'item_quantity')
      if (!lines.length && itemQty === undefined) throw missing('sku_quantities')
      // An incremental update whose key was seen already is answered as done, and not applied again.
      if (type === 2 && key && state.bizKeys.has(key.toLowerCase())) return { quantity_update_result: item.numIid }
      const targets = lines.map((l) => {
        const sku = l.sku_id !== undefined ? item.skus.get(String(l.sku_id)) : [...item.skus.values()].find((s) => s.outerId === l.outer_id)
        if (!sku) throw new TopFault(15, 'Remote service error', 'isv.sku-not-exist', `该商品下不存在SKU:${l.sku_id ?? l.outer_id}`)
        if (!Number.isInteger(l.quantity)) throw invalid('sku_quantities', 'quantity必须是整数')
        if (type === 1 && l.quantity! < 0) throw invalid('sku_quantities', '全量更新时库存不能为负数')
        return { sku, value: l.quantity! }
      })
      if (itemQty !== undefined && item.skus.size) throw invalid('item_quantity', '有SKU的商品请更新SKU库存')
      const at = now()
      for (const t of targets) {
        t.sku.quantity = applied(t.sku.quantity, t.value, type, 'sku_quantities')
        t.sku.modified = at
      }
      if (itemQty !== undefined) item.quantity = applied(item.quantity, itemQty, type, 'item_quantity')
      item.modified = at
      if (type === 2 && key) state.bizKeys.add(key.toLowerCase())
      return { quantity_update_result: item.numIid }
    },

    'taobao.trades.sold.increment.get': (p) => {
      const fields = fieldsOf(p.fields)
      if (!fields.size) throw missing('fields')
      if (!p.start_modified) throw missing('start_modified')
      if (!p.end_modified) throw missing('end_modified')
      const start = parseGmt8(p.start_modified)
      const end = parseGmt8(p.end_modified)
      if (start === null) throw invalid('start_modified', '时间格式应为yyyy-MM-dd HH:mm:ss')
      if (end === null) throw invalid('end_modified', '时间格式应为yyyy-MM-dd HH:mm:ss')
      if (end < start) throw invalid('end_modified', '修改结束时间必须大于修改开始时间')
      if (end - start > 86_400_000) throw invalid('end_modified', '修改时间跨度不能大于一天')
      const page = int(p.page_no, 'page_no') ?? 1
      const size = int(p.page_size, 'page_size') ?? 40
      if (page < 1) throw invalid('page_no', 'page_no必须大于0')
      if (size < 1 || size > 100) throw invalid('page_size', 'page_size取值范围1~100')
      const second = (d: Date) => Math.floor(d.getTime() / 1000) * 1000
      // Newest modification first, as TOP lists them.
      const all = [...state.trades.values()]
        .filter((t) => second(t.modified) >= start && second(t.modified) <= end && (!p.status || t.status === p.status))
        .sort((a, b) => b.modified.getTime() - a.modified.getTime() || (BigInt(b.tid) > BigInt(a.tid) ? 1 : -1))
      const trades = all.slice((page - 1) * size, page * size).map((t) => tradeJson(t, fields))
      const body: Record<string, unknown> = trades.length ? { trades } : {}
      if (p.use_has_next === 'true') body.has_next = page * size < all.length
      else body.total_results = all.length
      return body
    },

    'taobao.trade.fullinfo.get': (p) => {
      const fields = fieldsOf(p.fields)
      if (!fields.size) throw missing('fields')
      if (!p.tid) throw missing('tid')
      const t = state.trades.get(p.tid)
      if (!t) throw new TopFault(15, 'Remote service error', 'isv.trade-not-exist', '交易不存在')
      return { trade: tradeJson(t, fields) }
    },
  }

  // ---- the router -------------------------------------------------------------------------------------------

  /** Flow control per app and second; a refusal starts a ban that refuses every call until it ends. */
  function flowControl(): TopFault | null {
    const t = Date.now()
    const ban = () => {
      state.banUntil = Math.max(state.banUntil, t + banSeconds * 1000)
      return new TopFault(7, 'App Call Limited', 'accesscontrol.limited-by-app-access-count', `This ban will last for ${Math.ceil((state.banUntil - t) / 1000)} more seconds`)
    }
    if (t < state.banUntil) return ban()
    if (state.rateLimitNext > 0) {
      state.rateLimitNext--
      return ban()
    }
    const second = Math.floor(t / 1000)
    if (state.window.second !== second) state.window = { second, calls: 0 }
    state.window.calls++
    return state.window.calls > callsPerSecond ? ban() : null
  }

  async function route({ request }: { request: Request }) {
    if (state.latencyMs > 0) await delay(state.latencyMs)
    const params: Record<string, string> = {}
    new URL(request.url).searchParams.forEach((v, k) => (params[k] = v))
    if (request.method === 'POST') new URLSearchParams(await request.text()).forEach((v, k) => (params[k] = v))
    const signMethod = params.sign_method ?? null
    const expected = expectedSign(params, opts.appSecret, signMethod ?? 'md5')
    const entry: TopRequestLog = {
      api: params.method ?? '',
      params: Object.fromEntries(Object.entries(params).filter(([k]) => k !== 'session' && k !== 'sign')),
      signMethod,
      signatureOk: !!params.sign && params.sign === expected,
      sessionOk: params.session === opts.sessionKey,
      outcome: 'ok',
      at: now(),
    }
    state.requests.push(entry)

    if (state.gatewayDown) {
      entry.outcome = '502'
      return new HttpResponse('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>Tengine</center></body></html>', {
        status: 502,
        headers: { 'content-type': 'text/html' },
      })
    }
    try {
      const fault = checkCall(params, entry)
      if (fault) throw fault
      const answer = apis[params.method!]!(params)
      return json({ ...(answer as object), request_id: requestId() })
    } catch (e) {
      if (!(e instanceof TopFault)) throw e
      entry.outcome = `${e.code}${e.subCode ? ` ${e.subCode}` : ''}`
      return errorAnswer(e)
    }
  }

  /** The gateway's own checks, in its order: method, app, flow control, signature, timestamp, version, session, backend. */
  function checkCall(p: Record<string, string>, entry: TopRequestLog): TopFault | null {
    if (!p.method) return new TopFault(21, 'Missing method')
    if (!p.app_key) return new TopFault(28, 'Missing app key')
    if (p.app_key !== opts.appKey) return new TopFault(29, 'Invalid app key')
    const limited = flowControl()
    if (limited) return limited
    if (!p.sign) return new TopFault(24, 'Missing signature')
    if (!entry.signatureOk) return new TopFault(25, 'Invalid signature')
    if (!p.timestamp) return new TopFault(30, 'Missing timestamp')
    const sent = parseGmt8(p.timestamp)
    if (sent === null || Math.abs(sent - now().getTime()) > 10 * 60_000) return new TopFault(31, 'Invalid timestamp', undefined, '时间戳与服务器时间相差超过10分钟')
    if (!p.v) return new TopFault(32, 'Missing version')
    if (p.v !== '2.0') return new TopFault(34, 'Unsupported version')
    if ((p.format ?? 'xml') !== 'json') return new TopFault(23, 'Invalid format', undefined, 'this sandbox answers format=json only')
    if (!apis[p.method]) return new TopFault(22, 'Invalid method')
    if (!p.session) return new TopFault(26, 'Missing session')
    if (!entry.sessionOk) return new TopFault(27, 'Invalid session', 'invalid-sessionkey', 'SessionKey非法')
    if (state.down) return new TopFault(15, 'Remote service error', 'isp.top-remote-connection-timeout', '调用后端服务超时')
    return null
  }

  const handlers = [http.post(gateway, route), http.get(gateway, route)]
  return { handlers, state, addItem, quantity, setQuantity, setOnsale, placeTrade, closeTrade, setTradeStatus, consignPart, refundOrder, setClock }
}
