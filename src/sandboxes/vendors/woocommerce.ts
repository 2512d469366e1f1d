// A WooCommerce shop for msw: REST API v3 under `{siteUrl}/wp-json/wc/v3` with consumer key/secret auth (HTTP Basic
// or query string), WordPress's error envelope `{ code, message, data: { status } }`, list paging by `page` and
// `per_page` (≤ 100) with X-WP-Total / X-WP-TotalPages / Link, products (simple, variable with variations, grouped),
// the batch endpoints with their item limit (413) and per-item errors, orders whose stock moves as WooCommerce
// moves it (reduced at payment, restored on cancel and on a refund with restock), refunds, webhooks that get
// disabled after more than 5 failed deliveries, signed webhook deliveries (base64 HMAC-SHA256 of the body as PHP's
// json_encode writes it), the unsigned creation ping, a host-level 429 past a request rate, and a 503 outage.
// State is kept in Maps so a shop of 10 000 products stays fast. Times come from a clock the test sets.
// https://woocommerce.github.io/woocommerce-rest-api-docs/ (v3), core includes/class-wc-webhook.php,
// includes/rest-api/Controllers/Version2/class-wc-rest-controller.php (batch_items, check_batch_limit)
import { createHmac, randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { http, HttpResponse } from 'msw'

export interface WooSandboxOptions {
  /** The shop address, e.g. https://shop.example.com (no trailing slash needed). */
  siteUrl: string
  consumerKey: string
  consumerSecret: string
  /** The secret deliveries are signed with when no webhook subscription for the topic says otherwise. */
  webhookSecret: string
  /** Added to every request (default 0). */
  latencyMs?: number
  /** The shop's `woocommerce_rest_batch_items_limit` (default 100). */
  batchLimit?: number
  /** Requests per second the host lets through before answering 429 (default 1000). */
  maxRequestsPerSecond?: number
  /** Retry-After of the host's 429, in seconds (default 1). */
  retryAfterSeconds?: number
  /** The simulated clock's start (default 2026-03-02T01:00:00Z). */
  now?: Date
  /** The site's time zone as minutes east of UTC, for the non-GMT date fields (default 480, Asia/Shanghai). */
  utcOffsetMinutes?: number
}

export interface WooDelivery {
  headers: Record<string, string>
  body: string
}

export interface SimProduct {
  id: number
  name: string
  type: 'simple' | 'variable' | 'grouped' | 'external'
  status: 'publish' | 'draft' | 'private' | 'trash'
  sku: string
  globalUniqueId: string
  price: string
  manageStock: boolean
  stockQuantity: number | null
  stockStatus: 'instock' | 'outofstock' | 'onbackorder'
  backorders: 'no' | 'notify' | 'yes'
  variationIds: number[]
  groupedIds: number[]
  dateCreated: Date
  dateModified: Date
}

export interface SimVariation {
  id: number
  parentId: number
  sku: string
  globalUniqueId: string
  price: string
  /** Stock kept on the variation itself; false with a stock-managing parent means 'parent'. */
  manageStock: boolean
  stockQuantity: number | null
  stockStatus: 'instock' | 'outofstock' | 'onbackorder'
  backorders: 'no' | 'notify' | 'yes'
  attributes: { name: string; option: string }[]
  dateCreated: Date
  dateModified: Date
}

export interface SimLine {
  id: number
  productId: number
  variationId: number
  name: string
  sku: string
  quantity: number
  price: number
}

export interface SimRefund {
  id: number
  reason: string
  amount: number
  restock: boolean
  lines: { lineId: number; quantity: number; itemId: number }[]
  dateCreated: Date
}

export type SimOrderStatus = 'pending' | 'processing' | 'on-hold' | 'completed' | 'cancelled' | 'refunded' | 'failed' | 'trash' | 'checkout-draft'

export interface SimOrder {
  id: number
  number: string
  status: SimOrderStatus
  lines: SimLine[]
  shipping: { id: number; methodId: string; methodTitle: string; total: string }[]
  refunds: SimRefund[]
  /** Stock was taken for it (WooCommerce's `_order_stock_reduced`). */
  stockReduced: boolean
  dateCreated: Date
  dateModified: Date
  datePaid: Date | null
  dateCompleted: Date | null
}

export interface SimWebhook {
  id: number
  name: string
  status: 'active' | 'paused' | 'disabled'
  topic: string
  deliveryUrl: string
  secret: string
  failureCount: number
  dateCreated: Date
  dateModified: Date
}

export interface SimRequest {
  method: string
  /** Path below /wp-json/wc/v3, e.g. /products/batch. */
  path: string
  /** Without consumer_key / consumer_secret. */
  query: URLSearchParams
  /** The JSON body of a write (a webhook `secret` masked). */
  body: unknown
  status: number
  at: Date
}

type Json = Record<string, unknown>

const WC_VERSION = '9.8.5'
const WP_VERSION = '6.8.2'
const USER_AGENT = `WooCommerce/${WC_VERSION} Hookshot (WordPress/${WP_VERSION})`
const MAX_FAILURES = 5
const TOPIC = /^(order|product|customer|coupon)\.(created|updated|deleted|restored)$|^action\.[\w.-]+$/

/** PHP's json_encode as wp_json_encode calls it: `/` escaped, non-ASCII as lower-case \u escapes. The bytes a webhook is signed over. */
export function phpJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/\//g, '\\/')
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

const money = (n: number) => n.toFixed(2)

export function wooSandbox(opts: WooSandboxOptions) {
  const site = opts.siteUrl.replace(/\/+$/, '')
  const base = `${site}/wp-json/wc/v3`
  const batchLimit = opts.batchLimit ?? 100
  const offsetMs = (opts.utcOffsetMinutes ?? 480) * 60_000

  const state = {
    products: new Map<number, SimProduct>(),
    variations: new Map<number, SimVariation>(),
    orders: new Map<number, SimOrder>(),
    webhooks: new Map<number, SimWebhook>(),
    requests: [] as SimRequest[],
    /** The creation pings WooCommerce sent (unsigned, `webhook_id=<n>`). */
    pings: [] as { webhookId: number; deliveryUrl: string; delivery: WooDelivery }[],
    /** Every request answers 503 while true. */
    down: false,
    /** Injected per-item batch failures by product or variation id (`times` left). */
    failWrites: new Map<number, { status: number; code: string; message: string; times: number }>(),
    /** How many requests the host refused with 429. */
    rateLimited: 0,
    latencyMs: opts.latencyMs ?? 0,
    maxRequestsPerSecond: opts.maxRequestsPerSecond ?? 1000,
    retryAfterSeconds: opts.retryAfterSeconds ?? 1,
  }
  let clock = opts.now ?? new Date('2026-03-02T01:00:00Z')
  let nextPostId = 100
  let nextItemId = 1
  let nextWebhookId = 1
  const skus = new Map<string, number>()
  const hits: number[] = []

  // ---- clock and dates -------------------------------------------------------------------------------------

  const now = () => new Date(Math.floor(clock.getTime() / 1000) * 1000)
  const gmt = (d: Date | null) => (d ? d.toISOString().slice(0, 19) : null)
  const local = (d: Date | null) => (d ? new Date(d.getTime() + offsetMs).toISOString().slice(0, 19) : null)
  /** A REST date parameter: with a zone as given, else GMT when `dates_are_gmt`, else the site's time. */
  const parseDate = (v: string, isGmt: boolean): Date | null => {
    if (!/^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d(:?\d\d)?)?$/i.test(v)) return null
    const hasZone = /(Z|[+-]\d\d(:?\d\d)?)$/i.test(v)
    const d = new Date(hasZone ? v : `${v.replace(' ', 'T')}Z`)
    if (Number.isNaN(d.getTime())) return null
    return hasZone || isGmt ? d : new Date(d.getTime() - offsetMs)
  }

  // ---- serialisation ---------------------------------------------------------------------------------------

  const links = (path: string, extra: Json = {}) => ({ self: [{ href: `${base}${path}` }], collection: [{ href: `${base}${path.replace(/\/\d+$/, '')}` }], ...extra })

  function productJson(p: SimProduct): Json {
    return {
      id: p.id,
      name: p.name,
      slug: p.name.toLowerCase().replace(/[^a-z0-9]+/g, '-'),
      permalink: `${site}/product/${p.id}/`,
      date_created: local(p.dateCreated),
      date_created_gmt: gmt(p.dateCreated),
      date_modified: local(p.dateModified),
      date_modified_gmt: gmt(p.dateModified),
      type: p.type,
      status: p.status,
      featured: false,
      catalog_visibility: 'visible',
      description: '',
      short_description: '',
      sku: p.sku,
      global_unique_id: p.globalUniqueId,
      price: p.price,
      regular_price: p.type === 'simple' ? p.price : '',
      sale_price: '',
      on_sale: false,
      purchasable: p.type !== 'grouped',
      total_sales: 0,
      virtual: false,
      downloadable: false,
      tax_status: 'taxable',
      tax_class: '',
      manage_stock: p.manageStock,
      stock_quantity: p.manageStock ? p.stockQuantity : null,
      stock_status: p.stockStatus,
      backorders: p.backorders,
      backorders_allowed: p.backorders !== 'no',
      backordered: p.manageStock && (p.stockQuantity ?? 0) < 0,
      low_stock_amount: null,
      sold_individually: false,
      parent_id: 0,
      categories: [],
      attributes: [],
      variations: p.variationIds,
      grouped_products: p.groupedIds,
      menu_order: 0,
      meta_data: [],
      _links: links(`/products/${p.id}`),
    }
  }

  /** A variation as `/products/{parent}/variations` and `/products/{id}` show it. */
  function variationJson(v: SimVariation): Json {
    const parent = state.products.get(v.parentId)!
    const managed = v.manageStock ? true : parent.manageStock ? 'parent' : false
    const qty = v.manageStock ? v.stockQuantity : parent.manageStock ? parent.stockQuantity : null
    const options = v.attributes.map((a) => a.option)
    return {
      id: v.id,
      name: `${parent.name} - ${options.join(', ')}`,
      type: 'variation',
      date_created: local(v.dateCreated),
      date_created_gmt: gmt(v.dateCreated),
      date_modified: local(v.dateModified),
      date_modified_gmt: gmt(v.dateModified),
      description: '',
      permalink: `${site}/product/${parent.id}/?${v.attributes.map((a) => `attribute_${a.name.toLowerCase()}=${encodeURIComponent(a.option)}`).join('&')}`,
      sku: v.sku,
      global_unique_id: v.globalUniqueId,
      price: v.price,
      regular_price: v.price,
      sale_price: '',
      on_sale: false,
      status: 'publish',
      purchasable: true,
      virtual: false,
      downloadable: false,
      tax_status: 'taxable',
      tax_class: '',
      manage_stock: managed,
      stock_quantity: qty,
      stock_status: v.manageStock ? v.stockStatus : parent.manageStock ? parent.stockStatus : v.stockStatus,
      backorders: v.backorders,
      backorders_allowed: v.backorders !== 'no',
      backordered: false,
      low_stock_amount: null,
      parent_id: parent.id,
      attributes: v.attributes.map((a, i) => ({ id: i + 1, name: a.name, slug: `pa_${a.name.toLowerCase()}`, option: a.option })),
      menu_order: 0,
      meta_data: [],
      _links: links(`/products/${parent.id}/variations/${v.id}`, { up: [{ href: `${base}/products/${parent.id}` }] }),
    }
  }

  const refundedOf = (o: SimOrder, lineId: number) => o.refunds.reduce((n, r) => n + r.lines.filter((l) => l.lineId === lineId).reduce((m, l) => m + l.quantity, 0), 0)

  function orderJson(o: SimOrder): Json {
    const total = o.lines.reduce((n, l) => n + l.price * l.quantity, 0) + o.shipping.reduce((n, s) => n + Number(s.total), 0)
    const address = { first_name: 'Li', last_name: 'Wei', company: '', address_1: '88 Century Avenue', address_2: '', city: 'Shanghai', state: 'SH', postcode: '200120', country: 'CN' }
    return {
      id: o.id,
      parent_id: 0,
      status: o.status,
      currency: 'CNY',
      version: WC_VERSION,
      prices_include_tax: true,
      date_created: local(o.dateCreated),
      date_modified: local(o.dateModified),
      discount_total: '0.00',
      discount_tax: '0.00',
      shipping_total: money(o.shipping.reduce((n, s) => n + Number(s.total), 0)),
      shipping_tax: '0.00',
      cart_tax: '0.00',
      total: money(total),
      total_tax: '0.00',
      customer_id: 0,
      order_key: `wc_order_${o.id.toString(36)}sim`,
      billing: { ...address, email: 'buyer@example.com', phone: '13800000000' },
      shipping: { ...address, phone: '' },
      payment_method: 'alipay',
      payment_method_title: 'Alipay',
      transaction_id: o.datePaid ? `2026${o.id}` : '',
      customer_ip_address: '203.0.113.7',
      customer_user_agent: 'Mozilla/5.0',
      created_via: 'checkout',
      customer_note: '',
      date_completed: local(o.dateCompleted),
      date_paid: local(o.datePaid),
      cart_hash: '',
      number: o.number,
      meta_data: [],
      line_items: o.lines.map((l) => ({
        id: l.id,
        name: l.name,
        product_id: l.productId,
        variation_id: l.variationId,
        quantity: l.quantity,
        tax_class: '',
        subtotal: money(l.price * l.quantity),
        subtotal_tax: '0.00',
        total: money(l.price * l.quantity),
        total_tax: '0.00',
        taxes: [],
        meta_data: [],
        sku: l.sku,
        price: l.price,
        image: { id: '', src: '' },
        parent_name: l.variationId ? (state.products.get(l.productId)?.name ?? null) : null,
      })),
      tax_lines: [],
      shipping_lines: o.shipping.map((s) => ({ id: s.id, method_title: s.methodTitle, method_id: s.methodId, instance_id: '1', total: s.total, total_tax: '0.00', taxes: [], meta_data: [] })),
      fee_lines: [],
      coupon_lines: [],
      refunds: o.refunds.map((r) => ({ id: r.id, reason: r.reason, total: money(-r.amount) })),
      payment_url: `${site}/checkout/order-pay/${o.id}/`,
      is_editable: o.status === 'pending' || o.status === 'on-hold',
      needs_payment: o.status === 'pending' || o.status === 'failed',
      needs_processing: true,
      date_created_gmt: gmt(o.dateCreated),
      date_modified_gmt: gmt(o.dateModified),
      date_completed_gmt: gmt(o.dateCompleted),
      date_paid_gmt: gmt(o.datePaid),
      currency_symbol: '¥',
      _links: links(`/orders/${o.id}`),
    }
  }

  function refundJson(o: SimOrder, r: SimRefund): Json {
    return {
      id: r.id,
      date_created: local(r.dateCreated),
      date_created_gmt: gmt(r.dateCreated),
      amount: money(r.amount),
      reason: r.reason,
      refunded_by: 1,
      refunded_payment: false,
      meta_data: [],
      line_items: r.lines.map((rl) => {
        const l = o.lines.find((x) => x.id === rl.lineId)!
        return {
          id: rl.itemId,
          name: l.name,
          product_id: l.productId,
          variation_id: l.variationId,
          quantity: -rl.quantity,
          tax_class: '',
          subtotal: money(-l.price * rl.quantity),
          subtotal_tax: '0.00',
          total: money(-l.price * rl.quantity),
          total_tax: '0.00',
          taxes: [],
          meta_data: [],
          sku: l.sku,
          price: -l.price,
        }
      }),
      shipping_lines: [],
      tax_lines: [],
      fee_lines: [],
      _links: links(`/orders/${o.id}/refunds/${r.id}`, { up: [{ href: `${base}/orders/${o.id}` }] }),
    }
  }

  const webhookJson = (w: SimWebhook, withSecret = false): Json => ({
    id: w.id,
    name: w.name,
    status: w.status,
    topic: w.topic,
    resource: w.topic.split('.')[0],
    event: w.topic.split('.').slice(1).join('.'),
    hooks: [],
    delivery_url: w.deliveryUrl,
    ...(withSecret ? { secret: w.secret } : {}),
    date_created: local(w.dateCreated),
    date_created_gmt: gmt(w.dateCreated),
    date_modified: local(w.dateModified),
    date_modified_gmt: gmt(w.dateModified),
    _links: links(`/webhooks/${w.id}`),
  })

  // ---- stock -------------------------------------------------------------------------------------------------

  const statusFor = (qty: number | null, backorders: string): SimProduct['stockStatus'] => ((qty ?? 0) > 0 ? 'instock' : backorders === 'no' ? 'outofstock' : 'onbackorder')

  /** The record that holds the stock sold through `id` (a variation managed by its parent gives the parent), if any. */
  function stockHolder(id: number): SimProduct | SimVariation | null {
    const v = state.variations.get(id)
    if (v) {
      if (v.manageStock) return v
      const parent = state.products.get(v.parentId)!
      return parent.manageStock ? parent : null
    }
    const p = state.products.get(id)
    return p?.manageStock ? p : null
  }

  function writeStock(rec: SimProduct | SimVariation, qty: number) {
    rec.stockQuantity = qty
    rec.stockStatus = statusFor(qty, rec.backorders)
    rec.dateModified = now()
  }

  function moveStock(o: SimOrder, sign: 1 | -1, units: (l: SimLine) => number) {
    for (const l of o.lines) {
      const holder = stockHolder(l.variationId || l.productId)
      const n = units(l)
      if (holder && n > 0) writeStock(holder, (holder.stockQuantity ?? 0) + sign * n)
    }
  }

  // ---- seeding and vendor-side changes ----------------------------------------------------------------------

  const claimSku = (sku: string | undefined, id: number) => {
    if (!sku) return ''
    if (skus.has(sku)) throw new Error(`the SKU ${sku} is already used by ${skus.get(sku)}`)
    skus.set(sku, id)
    return sku
  }

  /** A simple (or grouped/external) product. `stock` null or `manageStock: false` leaves stock untracked. */
  function addProduct(p: { name?: string; sku?: string; barcode?: string; stock?: number | null; manageStock?: boolean; price?: number; type?: 'simple' | 'grouped' | 'external'; status?: SimProduct['status']; backorders?: SimProduct['backorders']; groupedIds?: number[] } = {}): SimProduct {
    const id = nextPostId++
    const manageStock = p.manageStock ?? (p.stock !== null && p.stock !== undefined)
    const backorders = p.backorders ?? 'no'
    const product: SimProduct = {
      id,
      name: p.name ?? `Product ${id}`,
      type: p.type ?? 'simple',
      status: p.status ?? 'publish',
      sku: claimSku(p.sku, id),
      globalUniqueId: p.barcode ?? '',
      price: money(p.price ?? 99),
      manageStock,
      stockQuantity: manageStock ? (p.stock ?? 0) : null,
      stockStatus: manageStock ? statusFor(p.stock ?? 0, backorders) : 'instock',
      backorders,
      variationIds: [],
      groupedIds: p.groupedIds ?? [],
      dateCreated: now(),
      dateModified: now(),
    }
    state.products.set(id, product)
    return product
  }

  /**
   * A variable product and its variations. A variation with `manageStock: 'parent'` (or without a stock of its
   * own while the parent manages stock) sells the parent's stock.
   */
  function addVariableProduct(p: {
    name?: string
    sku?: string
    manageStock?: boolean
    stock?: number
    attribute?: string
    variations: { sku?: string; barcode?: string; stock?: number | null; manageStock?: boolean | 'parent'; option?: string; price?: number }[]
  }): { product: SimProduct; variations: SimVariation[] } {
    const product = addProduct({ name: p.name, sku: p.sku, stock: p.manageStock ? (p.stock ?? 0) : null, manageStock: p.manageStock ?? false })
    product.type = 'variable'
    const variations = p.variations.map((spec, i) => {
      const id = nextPostId++
      const manageStock = spec.manageStock === 'parent' ? false : (spec.manageStock ?? (spec.stock !== null && spec.stock !== undefined))
      const v: SimVariation = {
        id,
        parentId: product.id,
        sku: claimSku(spec.sku, id),
        globalUniqueId: spec.barcode ?? '',
        price: money(spec.price ?? 129),
        manageStock,
        stockQuantity: manageStock ? (spec.stock ?? 0) : null,
        stockStatus: manageStock ? statusFor(spec.stock ?? 0, 'no') : 'instock',
        backorders: 'no',
        attributes: [{ name: p.attribute ?? 'Size', option: spec.option ?? `Option ${i + 1}` }],
        dateCreated: now(),
        dateModified: now(),
      }
      state.variations.set(id, v)
      product.variationIds.push(id)
      return v
    })
    product.price = variations[0]?.price ?? product.price
    return { product, variations }
  }

  const record = (id: number) => state.products.get(id) ?? state.variations.get(id)
  const bySku = (sku: string) => skus.get(sku)

  /** The stock a product or variation sells from (its parent's for a parent-managed variation); null when untracked. */
  function stockOf(id: number): number | null {
    if (!record(id)) throw new Error(`no product or variation ${id}`)
    return stockHolder(id)?.stockQuantity ?? null
  }

  /** The JSON `/products/{id}` answers with (a variation too, as WooCommerce's products endpoint does). */
  function productPayload(id: number): Json {
    const p = state.products.get(id)
    if (p) return productJson(p)
    const v = state.variations.get(id)
    if (v) return variationJson(v)
    throw new Error(`no product or variation ${id}`)
  }

  /** A merchant edits the stock in wp-admin: returns the `product.updated` delivery WooCommerce would send. */
  function setStock(id: number, qty: number): WooDelivery {
    const rec = record(id)
    if (!rec) throw new Error(`no product or variation ${id}`)
    rec.manageStock = true
    writeStock(rec, qty)
    return webhookDelivery('product.updated', productPayload(id))
  }

  const PAID = new Set<SimOrderStatus>(['processing', 'on-hold', 'completed'])

  /**
   * A checkout. Lines name a product or variation by id or SKU. A paid status (processing, on-hold, completed)
   * reduces stock at once, as WooCommerce does at payment; `pending` waits for `payOrder`. `pickup` ships by
   * `local_pickup`. Returns the order and its `order.created` delivery (which the test may choose not to send).
   */
  function placeOrder(p: { lines: { id?: number; sku?: string; quantity: number }[]; status?: SimOrderStatus; pickup?: boolean; shippingMethod?: string }) {
    const id = nextPostId++
    const lines: SimLine[] = p.lines.map((l) => {
      const ref = l.id ?? (l.sku ? bySku(l.sku) : undefined)
      const v = ref !== undefined ? state.variations.get(ref) : undefined
      const prod = v ? state.products.get(v.parentId) : ref !== undefined ? state.products.get(ref) : undefined
      if (!prod) throw new Error(`no product ${l.id ?? l.sku}`)
      return {
        id: nextItemId++,
        productId: prod.id,
        variationId: v?.id ?? 0,
        name: v ? `${prod.name} - ${v.attributes.map((a) => a.option).join(', ')}` : prod.name,
        sku: v?.sku || prod.sku,
        quantity: l.quantity,
        price: Number(v?.price ?? prod.price),
      }
    })
    const methodId = p.pickup ? 'local_pickup' : (p.shippingMethod ?? 'flat_rate')
    const order: SimOrder = {
      id,
      number: String(id),
      status: p.status ?? 'processing',
      lines,
      shipping: [{ id: nextItemId++, methodId, methodTitle: methodId === 'local_pickup' ? 'Local pickup' : 'Flat rate', total: methodId === 'local_pickup' ? '0.00' : '10.00' }],
      refunds: [],
      stockReduced: false,
      dateCreated: now(),
      dateModified: now(),
      datePaid: null,
      dateCompleted: null,
    }
    state.orders.set(id, order)
    if (PAID.has(order.status)) pay(order)
    if (order.status === 'completed') order.dateCompleted = now()
    return { order: orderJson(order), delivery: webhookDelivery('order.created', orderJson(order)) }
  }

  function pay(o: SimOrder) {
    o.datePaid = now()
    if (!o.stockReduced) {
      moveStock(o, -1, (l) => l.quantity)
      o.stockReduced = true
    }
  }

  const orderOf = (id: number) => {
    const o = state.orders.get(id)
    if (!o) throw new Error(`no order ${id}`)
    return o
  }
  const changed = (o: SimOrder, topic = 'order.updated') => {
    o.dateModified = now()
    return { order: orderJson(o), delivery: webhookDelivery(topic, orderJson(o)) }
  }

  /** pending → processing: the payment arrives and stock is reduced. */
  function payOrder(id: number) {
    const o = orderOf(id)
    o.status = 'processing'
    pay(o)
    return changed(o)
  }

  function completeOrder(id: number) {
    const o = orderOf(id)
    if (!o.stockReduced) pay(o)
    o.status = 'completed'
    o.dateCompleted = now()
    return changed(o)
  }

  /** Cancelled: the stock taken comes back (less what refunds already restocked). */
  function cancelOrder(id: number) {
    const o = orderOf(id)
    if (o.stockReduced) {
      const restocked = (l: SimLine) => o.refunds.filter((r) => r.restock).reduce((n, r) => n + r.lines.filter((x) => x.lineId === l.id).reduce((m, x) => m + x.quantity, 0), 0)
      moveStock(o, 1, (l) => l.quantity - restocked(l))
      o.stockReduced = false
    }
    o.status = 'cancelled'
    return changed(o)
  }

  /**
   * A refund of some line units (all that is left when `lines` is omitted), restocked unless `restock: false`.
   * Refunding everything sets the order `refunded`, as WooCommerce does.
   */
  function refundOrder(id: number, p: { lines?: { lineId: number; quantity: number }[]; restock?: boolean; reason?: string } = {}) {
    const o = orderOf(id)
    const lines = p.lines ?? o.lines.map((l) => ({ lineId: l.id, quantity: l.quantity - refundedOf(o, l.id) })).filter((l) => l.quantity > 0)
    for (const rl of lines) {
      const l = o.lines.find((x) => x.id === rl.lineId)
      if (!l) throw new Error(`order ${id} has no line ${rl.lineId}`)
      if (rl.quantity > l.quantity - refundedOf(o, l.id)) throw new Error(`line ${rl.lineId} has fewer units left than ${rl.quantity}`)
    }
    const refund: SimRefund = {
      id: nextPostId++,
      reason: p.reason ?? '',
      amount: lines.reduce((n, rl) => n + o.lines.find((l) => l.id === rl.lineId)!.price * rl.quantity, 0),
      restock: p.restock ?? true,
      lines: lines.map((rl) => ({ ...rl, itemId: nextItemId++ })),
      dateCreated: now(),
    }
    o.refunds.push(refund)
    if (refund.restock && o.stockReduced) for (const rl of lines) {
      const l = o.lines.find((x) => x.id === rl.lineId)!
      const holder = stockHolder(l.variationId || l.productId)
      if (holder) writeStock(holder, (holder.stockQuantity ?? 0) + rl.quantity)
    }
    if (o.lines.every((l) => refundedOf(o, l.id) >= l.quantity)) o.status = 'refunded'
    return changed(o)
  }

  /** Moved to the trash (stock is not restored); the delivery is `order.deleted` with `{id}` only. */
  function trashOrder(id: number) {
    const o = orderOf(id)
    o.status = 'trash'
    o.dateModified = now()
    return { order: orderJson(o), delivery: webhookDelivery('order.deleted', { id }) }
  }

  /** Deleted for good: GET answers 404 from now on. */
  function deleteOrder(id: number) {
    orderOf(id)
    state.orders.delete(id)
    return { delivery: webhookDelivery('order.deleted', { id }) }
  }

  // ---- webhooks ------------------------------------------------------------------------------------------------

  function addWebhook(p: { topic: string; deliveryUrl: string; status?: SimWebhook['status']; secret?: string; name?: string }): SimWebhook {
    const w: SimWebhook = {
      id: nextWebhookId++,
      name: p.name ?? `Webhook ${p.topic}`,
      status: p.status ?? 'active',
      topic: p.topic,
      deliveryUrl: p.deliveryUrl,
      secret: p.secret ?? randomBytes(24).toString('base64url'),
      failureCount: p.status === 'disabled' ? MAX_FAILURES + 1 : 0,
      dateCreated: now(),
      dateModified: now(),
    }
    state.webhooks.set(w.id, w)
    return w
  }

  /**
   * A delivery that did not get a 2xx: WooCommerce counts it and, past 5 in a row, disables the webhook. (A
   * success resets the count; re-activating does not, so the next failure disables it again.)
   */
  function failDelivery(webhookId: number) {
    const w = state.webhooks.get(webhookId)
    if (!w) throw new Error(`no webhook ${webhookId}`)
    if (w.failureCount > MAX_FAILURES) w.status = 'disabled'
    else w.failureCount++
    w.dateModified = now()
    return w
  }

  function disableWebhook(webhookId: number) {
    const w = state.webhooks.get(webhookId)
    if (!w) throw new Error(`no webhook ${webhookId}`)
    while (w.status !== 'disabled') failDelivery(webhookId)
    return w
  }

  /**
   * What WooCommerce POSTs for `topic` with `payload` (the REST resource, or `{id}` for *.deleted), signed with
   * the secret of the shop's webhook for that topic (the active one first), else with `opts.secret` or the
   * sandbox's webhookSecret. Each call gets a new delivery id, as in WooCommerce.
   */
  function webhookDelivery(topic: string, payload: Json, o: { secret?: string; webhookId?: number } = {}): WooDelivery {
    const hooks = [...state.webhooks.values()].filter((w) => w.topic === topic).sort((a, b) => (a.status === 'active' ? 0 : 1) - (b.status === 'active' ? 0 : 1))
    const hook = o.webhookId !== undefined ? state.webhooks.get(o.webhookId) : hooks[0]
    const secret = o.secret ?? hook?.secret ?? opts.webhookSecret
    const webhookId = hook?.id ?? o.webhookId ?? 1
    const body = phpJson(payload)
    const [resource, ...event] = topic.split('.')
    return {
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'x-wc-webhook-source': `${site}/`,
        'x-wc-webhook-topic': topic,
        'x-wc-webhook-resource': resource!,
        'x-wc-webhook-event': event.join('.'),
        'x-wc-webhook-signature': createHmac('sha256', secret).update(body).digest('base64'),
        'x-wc-webhook-id': String(webhookId),
        // wp_hash( webhook id . time ): an md5 HMAC, new on every send.
        'x-wc-webhook-delivery-id': createHmac('md5', 'sim-wp-salt').update(`${webhookId}${Date.now()}${randomBytes(4).toString('hex')}`).digest('hex'),
      },
      body,
    }
  }

  /** The unsigned check WooCommerce sends to a new webhook's URL. */
  const pingDelivery = (webhookId: number): WooDelivery => ({ headers: { 'user-agent': USER_AGENT, 'content-type': 'application/x-www-form-urlencoded' }, body: `webhook_id=${webhookId}` })

  // ---- HTTP --------------------------------------------------------------------------------------------------

  const respond = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new HttpResponse(phpJson(body), { status, headers: { 'content-type': 'application/json; charset=UTF-8', 'x-robots-tag': 'noindex', ...headers } })
  const wooError = (status: number, code: string, message: string, extra: Json = {}) => respond(status, { code, message, data: { status, ...extra } })
  const invalidParam = (name: string, why: string) => wooError(400, 'rest_invalid_param', `Invalid parameter(s): ${name}`, { params: { [name]: why } })

  function authenticate(req: Request, url: URL): Response | null {
    let key: string | null = null
    let secretGiven: string | null = null
    const auth = req.headers.get('authorization')
    if (auth?.startsWith('Basic ')) {
      const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8')
      const i = decoded.indexOf(':')
      key = i < 0 ? decoded : decoded.slice(0, i)
      secretGiven = i < 0 ? '' : decoded.slice(i + 1)
    } else if (url.searchParams.has('consumer_key')) {
      key = url.searchParams.get('consumer_key')
      secretGiven = url.searchParams.get('consumer_secret') ?? ''
    }
    if (key === null) {
      // Not signed in: the route's permission check refuses.
      if (req.method === 'GET') return wooError(401, 'woocommerce_rest_cannot_view', 'Sorry, you cannot list resources.')
      return wooError(401, url.pathname.endsWith('/batch') ? 'woocommerce_rest_cannot_batch' : 'woocommerce_rest_cannot_edit', 'Sorry, you are not allowed to edit this resource.')
    }
    if (key !== opts.consumerKey) return wooError(401, 'woocommerce_rest_authentication_error', 'Consumer key is invalid.')
    if (secretGiven !== opts.consumerSecret) return wooError(401, 'woocommerce_rest_authentication_error', 'Consumer secret is invalid.')
    return null
  }

  /** Host-level limiting (nginx, Cloudflare, managed WordPress hosts): WooCommerce itself has none for REST v3. */
  function throttled(): Response | null {
    const t = performance.now()
    while (hits.length && t - hits[0]! >= 1000) hits.shift()
    if (hits.length >= state.maxRequestsPerSecond) {
      state.rateLimited++
      return new HttpResponse('<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>', {
        status: 429,
        headers: { 'content-type': 'text/html', 'retry-after': String(state.retryAfterSeconds) },
      })
    }
    hits.push(t)
    return null
  }

  function paginate(url: URL, all: unknown[]): Response {
    const q = url.searchParams
    const perPage = q.has('per_page') ? Number(q.get('per_page')) : 10
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) return invalidParam('per_page', 'per_page must be between 1 (inclusive) and 100 (inclusive)')
    const page = q.has('page') ? Number(q.get('page')) : 1
    if (!Number.isInteger(page) || page < 1) return invalidParam('page', 'page must be greater than or equal to 1')
    const totalPages = Math.ceil(all.length / perPage)
    const headers: Record<string, string> = { 'x-wp-total': String(all.length), 'x-wp-totalpages': String(totalPages) }
    const link = (p: number) => {
      const u = new URL(url)
      u.searchParams.delete('consumer_key')
      u.searchParams.delete('consumer_secret')
      u.searchParams.set('page', String(p))
      return u.toString()
    }
    const rel: string[] = []
    if (page > 1 && page - 1 <= totalPages) rel.push(`<${link(page - 1)}>; rel="prev"`)
    if (page < totalPages) rel.push(`<${link(page + 1)}>; rel="next"`)
    if (rel.length) headers.link = rel.join(', ')
    return respond(200, all.slice((page - 1) * perPage, page * perPage), headers)
  }

  const idList = (v: string | null) => (v ? v.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0) : null)

  function sortBy<T extends { id: number; dateCreated: Date; dateModified: Date }>(items: T[], q: URLSearchParams, include: number[] | null): T[] | Response {
    const orderby = q.get('orderby') ?? 'date'
    const dir = (q.get('order') ?? 'desc') === 'asc' ? 1 : -1
    const key: Record<string, (x: T) => number> = {
      date: (x) => x.dateCreated.getTime(),
      modified: (x) => x.dateModified.getTime(),
      id: (x) => x.id,
      include: (x) => include?.indexOf(x.id) ?? 0,
    }
    const k = key[orderby]
    if (!k) return invalidParam('orderby', `orderby is not one of ${Object.keys(key).join(', ')}.`)
    // Ties (same second) come out by id, in the direction asked.
    return items.sort((a, b) => dir * (k(a) - k(b) || a.id - b.id))
  }

  function listProducts(url: URL) {
    const q = url.searchParams
    const include = idList(q.get('include'))
    const skuFilter = q.get('sku') ? new Set(q.get('sku')!.split(',').map((s) => s.trim())) : null
    const status = q.get('status') ?? 'any'
    const type = q.get('type')
    const out: SimProduct[] = []
    for (const p of state.products.values()) {
      if (include && !include.includes(p.id)) continue
      if (skuFilter && !skuFilter.has(p.sku)) continue
      if (status === 'any' ? p.status === 'trash' : p.status !== status) continue
      if (type && p.type !== type) continue
      out.push(p)
    }
    const sorted = sortBy(out, q, include)
    return sorted instanceof Response ? sorted : paginate(url, sorted.map(productJson))
  }

  function listVariations(url: URL, parentId: number) {
    const q = url.searchParams
    const parent = state.products.get(parentId)
    const include = idList(q.get('include'))
    const out = (parent?.variationIds ?? []).map((id) => state.variations.get(id)!).filter((v) => !include || include.includes(v.id))
    const sorted = sortBy(out, q, include)
    return sorted instanceof Response ? sorted : paginate(url, sorted.map((v) => variationJson(v)))
  }

  const LISTED_BY_ANY = new Set<SimOrderStatus>(['pending', 'processing', 'on-hold', 'completed', 'cancelled', 'refunded', 'failed'])
  /** WC_REST_Orders_Controller's `status` enum: `any`, `trash` and the registered order statuses. */
  const STATUS_PARAM = ['any', 'trash', 'pending', 'processing', 'on-hold', 'completed', 'cancelled', 'refunded', 'failed', 'checkout-draft']

  function listOrders(url: URL) {
    const q = url.searchParams
    const isGmt = q.get('dates_are_gmt') === 'true' || q.get('dates_are_gmt') === '1'
    const bounds: Record<string, Date | null> = {}
    for (const name of ['after', 'before', 'modified_after', 'modified_before']) {
      const v = q.get(name)
      if (v === null) continue
      const d = parseDate(v, isGmt)
      if (!d) return invalidParam(name, 'Invalid date.')
      bounds[name] = d
    }
    // A list (comma-separated or repeated); a value outside the enum is refused. `any` anywhere in it wins
    // (prepare_objects_query short-circuits to post_status `any`), so `any,trash` still leaves the trash out.
    const statuses = q.getAll('status').flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)
    const badStatus = statuses.findIndex((v) => !STATUS_PARAM.includes(v))
    if (badStatus >= 0) return invalidParam('status', `status[${badStatus}] is not one of ${STATUS_PARAM.join(', ')}.`)
    const anyStatus = statuses.length === 0 || statuses.includes('any')
    const include = idList(q.get('include'))
    const out: SimOrder[] = []
    for (const o of state.orders.values()) {
      if (!(anyStatus ? LISTED_BY_ANY.has(o.status) : statuses.includes(o.status))) continue
      if (include && !include.includes(o.id)) continue
      // WP_Date_Query: `after` and `before` are exclusive, to the second.
      if (bounds.after && !(o.dateCreated > bounds.after)) continue
      if (bounds.before && !(o.dateCreated < bounds.before)) continue
      if (bounds.modified_after && !(o.dateModified > bounds.modified_after)) continue
      if (bounds.modified_before && !(o.dateModified < bounds.modified_before)) continue
      out.push(o)
    }
    const sorted = sortBy(out, q, include)
    return sorted instanceof Response ? sorted : paginate(url, sorted.map(orderJson))
  }

  /** WC_REST_Controller::batch_items: the item limit first, then each item on its own, errors inside the answer. */
  function batch(body: Json, kind: 'product' | 'variation', parentId?: number) {
    const count = ['create', 'update', 'delete'].reduce((n, k) => n + (Array.isArray(body[k]) ? (body[k] as unknown[]).length : 0), 0)
    if (count > batchLimit) return wooError(413, 'woocommerce_rest_request_entity_too_large', `Unable to accept more than ${batchLimit} items for this request.`)
    const invalidId = kind === 'product' ? 'woocommerce_rest_product_invalid_id' : 'woocommerce_rest_product_variation_invalid_id'
    const itemError = (id: unknown, status: number, code: string, message: string) => ({ id, error: { code, message, data: { status } } })
    const out: Json = {}
    if (Array.isArray(body.create)) {
      out.create = (body.create as Json[]).map((c) => {
        if (kind === 'variation') {
          const parent = parentId !== undefined ? state.products.get(parentId) : undefined
          if (!parent || parent.type !== 'variable') return itemError(0, 400, 'woocommerce_rest_product_invalid_id', 'Invalid ID.')
          const id = nextPostId++
          const manageStock = c.manage_stock === true
          const v: SimVariation = {
            id,
            parentId: parent.id,
            sku: claimSku(typeof c.sku === 'string' ? c.sku : undefined, id),
            globalUniqueId: typeof c.global_unique_id === 'string' ? c.global_unique_id : '',
            price: money(Number(c.regular_price ?? 0)),
            manageStock,
            stockQuantity: manageStock ? Number(c.stock_quantity ?? 0) : null,
            stockStatus: statusFor(Number(c.stock_quantity ?? 0), 'no'),
            backorders: 'no',
            attributes: Array.isArray(c.attributes) ? (c.attributes as Json[]).map((a) => ({ name: String(a.name ?? 'Option'), option: String(a.option ?? '') })) : [],
            dateCreated: now(),
            dateModified: now(),
          }
          state.variations.set(id, v)
          parent.variationIds.push(id)
          return variationJson(v)
        }
        const p = addProduct({ name: String(c.name ?? ''), sku: typeof c.sku === 'string' ? c.sku : undefined, stock: c.manage_stock === true ? Number(c.stock_quantity ?? 0) : null, price: Number(c.regular_price ?? 0) })
        if (c.type === 'variable') p.type = 'variable'
        return productJson(p)
      })
    }
    if (Array.isArray(body.update)) {
      out.update = (body.update as Json[]).map((u) => {
        const id = Number(u.id)
        const rec = kind === 'product' ? state.products.get(id) : state.variations.get(id)
        if (!rec || (kind === 'variation' && (rec as SimVariation).parentId !== parentId) || (kind === 'product' && (rec as SimProduct).status === 'trash')) return itemError(u.id ?? 0, 400, invalidId, 'Invalid ID.')
        const fail = state.failWrites.get(id)
        if (fail && fail.times > 0) {
          if (--fail.times === 0) state.failWrites.delete(id)
          return itemError(id, fail.status, fail.code, fail.message)
        }
        if (u.manage_stock !== undefined) rec.manageStock = u.manage_stock === true || u.manage_stock === 'true'
        if (u.stock_quantity !== undefined && rec.manageStock) {
          const qty = Number(u.stock_quantity)
          if (!Number.isInteger(qty)) return itemError(id, 400, 'rest_invalid_param', 'Invalid parameter(s): stock_quantity')
          rec.stockQuantity = qty
        }
        if (rec.manageStock) rec.stockStatus = statusFor(rec.stockQuantity, rec.backorders)
        rec.dateModified = now()
        return kind === 'product' ? productJson(rec as SimProduct) : variationJson(rec as SimVariation)
      })
    }
    if (Array.isArray(body.delete)) {
      out.delete = (body.delete as unknown[]).map((raw) => {
        const id = Number(raw)
        if (kind === 'product') {
          const p = state.products.get(id)
          if (!p || p.status === 'trash') return itemError(id, 400, invalidId, 'Invalid ID.')
          p.status = 'trash'
          p.dateModified = now()
          return productJson(p)
        }
        const v = state.variations.get(id)
        if (!v || v.parentId !== parentId) return itemError(id, 400, invalidId, 'Invalid ID.')
        const json = variationJson(v)
        state.variations.delete(id)
        const parent = state.products.get(v.parentId)!
        parent.variationIds = parent.variationIds.filter((x) => x !== id)
        if (v.sku) skus.delete(v.sku)
        return json
      })
    }
    return respond(200, out)
  }

  function updateStockFields(rec: SimProduct | SimVariation, u: Json) {
    if (u.manage_stock !== undefined) rec.manageStock = u.manage_stock === true
    if (u.stock_quantity !== undefined && rec.manageStock) rec.stockQuantity = Number(u.stock_quantity)
    if (rec.manageStock) rec.stockStatus = statusFor(rec.stockQuantity, rec.backorders)
    rec.dateModified = now()
  }

  function systemStatus() {
    return respond(200, {
      environment: {
        home_url: `${site}`,
        site_url: `${site}`,
        store_id: 'b1a2c3d4-sim',
        version: WC_VERSION,
        log_directory: '/var/www/html/wp-content/uploads/wc-logs/',
        wp_version: WP_VERSION,
        wp_multisite: false,
        wp_memory_limit: 268435456,
        wp_debug_mode: false,
        language: 'zh_CN',
        external_object_cache: null,
        server_info: 'nginx/1.26.1',
        php_version: '8.3.12',
        max_upload_size: 67108864,
        default_timezone: 'UTC',
      },
      database: { wc_database_version: WC_VERSION },
      active_plugins: [{ plugin: 'woocommerce/woocommerce.php', name: 'WooCommerce', version: WC_VERSION }],
      settings: { api_enabled: true, force_ssl: false, currency: 'CNY', currency_symbol: '&yen;', thousand_separator: ',', decimal_separator: '.', number_of_decimals: 2 },
    })
  }

  function webhookWrite(w: SimWebhook | undefined, body: Json): Response {
    const topic = body.topic !== undefined ? String(body.topic).toLowerCase() : w?.topic
    if (!topic || !TOPIC.test(topic)) return wooError(400, 'woocommerce_rest_shop_webhook_invalid_topic', 'Webhook topic is required and must be valid.')
    const deliveryUrl = body.delivery_url !== undefined ? String(body.delivery_url) : w?.deliveryUrl
    if (!deliveryUrl || !/^https?:\/\/\S+$/.test(deliveryUrl)) return wooError(400, 'woocommerce_rest_shop_webhook_invalid_delivery_url', 'Webhook delivery URL must be a valid URL starting with http:// or https://.')
    const status = body.status !== undefined ? String(body.status) : (w?.status ?? 'active')
    if (!['active', 'paused', 'disabled'].includes(status)) return invalidParam('status', 'status is not one of active, paused, and disabled.')
    if (!w) {
      const created = addWebhook({ topic, deliveryUrl, status: status as SimWebhook['status'], secret: typeof body.secret === 'string' && body.secret ? body.secret : undefined, name: typeof body.name === 'string' ? body.name : undefined })
      // The REST controller pings the new URL (deliver_ping) and ignores the outcome.
      state.pings.push({ webhookId: created.id, deliveryUrl, delivery: pingDelivery(created.id) })
      return respond(201, webhookJson(created, true), { location: `${base}/webhooks/${created.id}` })
    }
    w.topic = topic
    w.deliveryUrl = deliveryUrl
    w.status = status as SimWebhook['status']
    if (typeof body.name === 'string') w.name = body.name
    if (typeof body.secret === 'string' && body.secret) w.secret = body.secret
    w.dateModified = now()
    return respond(200, webhookJson(w, true))
  }

  async function route(req: Request, url: URL, path: string, body: Json): Promise<Response> {
    const m = req.method
    let r: RegExpExecArray | null
    if (path === '/system_status' && m === 'GET') return systemStatus()
    if (path === '/products' && m === 'GET') return listProducts(url)
    if (path === '/products/batch' && m === 'POST') return batch(body, 'product')
    if ((r = /^\/products\/(\d+)$/.exec(path))) {
      const id = Number(r[1])
      const rec = record(id)
      if (!rec || (state.products.get(id)?.status === 'trash' && m !== 'GET')) return wooError(404, 'woocommerce_rest_product_invalid_id', 'Invalid ID.')
      if (m === 'GET') return respond(200, productPayload(id))
      if (m === 'PUT' || m === 'POST' || m === 'PATCH') {
        updateStockFields(rec, body)
        return respond(200, productPayload(id))
      }
    }
    if ((r = /^\/products\/(\d+)\/variations$/.exec(path)) && m === 'GET') return listVariations(url, Number(r[1]))
    if ((r = /^\/products\/(\d+)\/variations\/batch$/.exec(path)) && m === 'POST') return batch(body, 'variation', Number(r[1]))
    if ((r = /^\/products\/(\d+)\/variations\/(\d+)$/.exec(path))) {
      const v = state.variations.get(Number(r[2]))
      if (!v || v.parentId !== Number(r[1])) return wooError(404, 'woocommerce_rest_product_variation_invalid_id', 'Invalid ID.')
      if (m === 'GET') return respond(200, variationJson(v))
      if (m === 'PUT' || m === 'POST' || m === 'PATCH') {
        updateStockFields(v, body)
        return respond(200, variationJson(v))
      }
    }
    if (path === '/orders' && m === 'GET') return listOrders(url)
    if ((r = /^\/orders\/(\d+)$/.exec(path)) && m === 'GET') {
      const o = state.orders.get(Number(r[1]))
      return o ? respond(200, orderJson(o)) : wooError(404, 'woocommerce_rest_shop_order_invalid_id', 'Invalid ID.')
    }
    if ((r = /^\/orders\/(\d+)\/refunds$/.exec(path)) && m === 'GET') {
      const o = state.orders.get(Number(r[1]))
      if (!o) return wooError(404, 'woocommerce_rest_shop_order_invalid_id', 'Invalid ID.')
      return paginate(url, [...o.refunds].reverse().map((x) => refundJson(o, x)))
    }
    if (path === '/webhooks' && m === 'GET') {
      const status = url.searchParams.get('status') ?? 'all'
      const hooks = [...state.webhooks.values()].filter((w) => status === 'all' || w.status === status)
      const sorted = sortBy(hooks, url.searchParams, null)
      return sorted instanceof Response ? sorted : paginate(url, sorted.map((w) => webhookJson(w)))
    }
    if (path === '/webhooks' && m === 'POST') return webhookWrite(undefined, body)
    if ((r = /^\/webhooks\/(\d+)$/.exec(path))) {
      const w = state.webhooks.get(Number(r[1]))
      if (!w) return wooError(404, 'woocommerce_rest_shop_webhook_invalid_id', 'Invalid ID.')
      if (m === 'GET') return respond(200, webhookJson(w))
      if (m === 'PUT' || m === 'POST' || m === 'PATCH') return webhookWrite(w, body)
      if (m === 'DELETE') {
        if (url.searchParams.get('force') !== 'true') return wooError(501, 'woocommerce_rest_trash_not_supported', 'Webhooks do not support trashing.')
        state.webhooks.delete(w.id)
        return respond(200, webhookJson(w))
      }
    }
    return wooError(404, 'rest_no_route', 'No route was found matching the URL and request method.')
  }

  const handlers = [
    http.all(`${base}/*`, async ({ request }) => {
      if (state.latencyMs > 0) await delay(state.latencyMs)
      const url = new URL(request.url)
      const path = url.pathname.slice(new URL(base).pathname.length).replace(/\/+$/, '') || '/'
      const query = new URLSearchParams(url.searchParams)
      query.delete('consumer_key')
      query.delete('consumer_secret')
      let body: Json = {}
      let response: Response | null = null
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        const text = await request.text()
        if (text) {
          try {
            body = JSON.parse(text) as Json
          } catch {
            response = wooError(400, 'rest_invalid_json', 'Invalid JSON body passed.')
          }
        }
      }
      if (state.down) {
        response = new HttpResponse('<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>', {
          status: 503,
          headers: { 'content-type': 'text/html' },
        })
      }
      response ??= throttled() ?? authenticate(request, url) ?? (await route(request, url, path, body))
      const logged = body && typeof body === 'object' && 'secret' in body ? { ...body, secret: '[REDACTED]' } : body
      state.requests.push({ method: request.method, path, query, body: request.method === 'GET' ? undefined : logged, status: response.status, at: now() })
      return response
    }),
  ]

  return {
    handlers,
    state,
    /** The API root, `{siteUrl}/wp-json/wc/v3`. */
    baseUrl: base,
    now,
    setNow: (d: Date) => void (clock = d),
    advance: (ms: number) => void (clock = new Date(clock.getTime() + ms)),
    addProduct,
    addVariableProduct,
    stockOf,
    bySku,
    productPayload,
    orderPayload: (id: number) => orderJson(orderOf(id)),
    setStock,
    /** The next `times` batch writes to `id` fail inside `update[]` (default: once, 500 `db_update_error`). */
    failWrite: (id: number, f: { status?: number; code?: string; message?: string; times?: number } = {}) =>
      void state.failWrites.set(id, { status: f.status ?? 500, code: f.code ?? 'db_update_error', message: f.message ?? 'Could not update the product in the database.', times: f.times ?? 1 }),
    placeOrder,
    payOrder,
    completeOrder,
    cancelOrder,
    refundOrder,
    trashOrder,
    deleteOrder,
    addWebhook,
    failDelivery,
    disableWebhook,
    webhookDelivery,
    pingDelivery,
  }
}

export type WooSandbox = ReturnType<typeof wooSandbox>
