// The till: quotes, sales, refunds, voids and offline batches.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { completeSale, quoteSale, type SaleInput } from '../../core/sales/checkout.ts'
import { getSale, listSales, type SaleView } from '../../core/sales/queries.ts'
import { voidSale } from '../../core/sales/refunds.ts'
import { recordOfflineSales } from '../../core/sales/offline.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody } from '../route.ts'
import { BusinessDate, IdCursor, Instant, serialize, uuid } from '../schemas.ts'
import { actOrHold } from '../../core/staff/approvals.ts'
import { held, HeldResponse } from './approvals.ts'

const tags = ['Sales']
const minor = (description?: string) => z.number().int().openapi({ description: description ?? 'Minor units (fen/cents)' })
const TenderKind = z.enum(['cash', 'card', 'wechat', 'alipay', 'unionpay_qr', 'coupon_voucher', 'on_account', 'stored_value', 'points'])

const LineInput = z
  .object({
    sku: z.string().min(1).max(64).optional(),
    barcode: z.string().min(1).max(64).optional(),
    variantId: uuid().optional(),
    quantity: z.number().int().min(1).max(100_000_000).optional().openapi({ description: 'Base units (pieces, grams…); default 1, or the weight on a scale label' }),
    discount: z
      .union([z.object({ percentBp: z.number().int().min(1).max(10_000) }).strict(), z.object({ amount: z.number().int().min(1) }).strict()])
      .optional()
      .openapi({ description: 'Manual line discount: percent in basis points, or an amount; limited by role' }),
    unitPrice: z.number().int().min(0).optional().openapi({ description: 'Price override per the variant pricePer (needs sales.price_override)' }),
  })
  .strict()
  .refine((l) => [l.sku, l.barcode, l.variantId].filter((x) => x !== undefined).length === 1, 'give exactly one of sku, barcode, variantId')

const TenderInput = z
  .object({
    kind: TenderKind,
    amount: z.number().int().min(1).openapi({ description: 'Minor units; for cash, what the customer handed over' }),
    paymentNo: z.string().max(32).optional().openapi({ description: 'Merchant-side payment number if the terminal already used one (else issued by the hub)' }),
    channelTxnId: z.string().max(64).optional(),
    reference: z.record(z.string(), z.string().max(200)).optional().openapi({ description: 'Card data from the terminal: rrn, authCode, terminalId, maskedPan…' }),
    accountRef: z.string().max(100).optional(),
  })
  .strict()

const SaleBody = z
  .object({
    registerId: uuid(),
    lines: z.array(LineInput).min(1).max(500),
    tenders: z.array(TenderInput).max(20).optional(),
    memberId: uuid().optional(),
    couponCodes: z.array(z.string().min(1).max(40)).max(10).optional().openapi({ description: 'Coupons to use (each once)' }),
    redeemPoints: z.number().int().min(1).optional().openapi({ description: "Points to redeem as a discount, in the merchant's steps" }),
    customerName: z.string().max(200).optional(),
    note: z.string().max(1000).optional(),
  })
  .strict()

const Adjustment = z.object({ source: z.string(), sourceId: z.string().nullable(), label: z.string(), amount: minor() })
const PricedLine = z.object({
  sku: z.string(),
  name: z.string(),
  variantId: uuid(),
  quantity: z.number().int(),
  unit: z.string(),
  unitPrice: minor(),
  pricePer: z.number().int(),
  listPrice: minor().nullable(),
  gross: minor(),
  adjustments: z.array(Adjustment),
  discountTotal: minor(),
  netExTax: minor(),
  taxRateBp: z.number().int(),
  taxAmount: minor(),
  total: minor(),
})
const QuoteSchema = z
  .object({
    storeId: uuid(),
    registerId: uuid(),
    currency: z.string(),
    taxInclusive: z.boolean(),
    lines: z.array(PricedLine),
    grossTotal: minor(),
    discountTotal: minor(),
    taxTotal: minor(),
    total: minor(),
    taxByRate: z.array(z.object({ rateBp: z.number().int(), netExTax: minor(), tax: minor() })),
    applied: z.array(Adjustment),
    roundingAdjustment: minor('Cash rounding added to the total: the part paid in cash is rounded'),
    amountDue: minor(),
    paid: minor(),
    change: minor(),
    balance: minor('Still to pay'),
    member: z
      .object({
        id: uuid(),
        cardNo: z.string(),
        tier: z.string().nullable(),
        pointsBalance: z.number().int(),
        storedValue: minor(),
        pointsRedeemed: z.number().int(),
        pointsDiscount: minor(),
        pointsToEarn: z.number().int(),
      })
      .nullable(),
  })
  .openapi('Quote')

const SaleSchema = z
  .object({
    id: uuid(),
    storeId: uuid(),
    registerId: uuid(),
    sessionId: uuid().nullable(),
    receiptNo: z.string(),
    clientReceiptNo: z.string().nullable(),
    businessDate: z.string(),
    status: z.enum(['completed', 'voided']),
    currency: z.string(),
    taxInclusive: z.boolean(),
    grossTotal: minor(),
    discountTotal: minor(),
    taxTotal: minor(),
    total: minor(),
    roundingAdjustment: minor(),
    tenderDifference: minor(),
    changeGiven: minor(),
    cashierId: uuid().nullable(),
    memberId: uuid().nullable(),
    pointsEarned: z.number().int(),
    pointsRedeemed: z.number().int(),
    approverId: uuid().nullable().openapi({ description: 'A manager who approved something beyond the cashier’s permissions' }),
    customerName: z.string().nullable(),
    note: z.string().nullable(),
    offline: z.boolean(),
    occurredAt: z.string(),
    recordedAt: z.string(),
    voidedAt: z.string().nullable(),
    voidReason: z.string().nullable(),
    lines: z.array(
      z.object({
        id: uuid(),
        lineNo: z.number().int(),
        variantId: uuid(),
        sku: z.string(),
        name: z.string(),
        locationId: uuid(),
        quantity: z.number().int(),
        unit: z.string(),
        unitPrice: minor(),
        pricePer: z.number().int(),
        listPrice: minor().nullable(),
        gross: minor(),
        discountTotal: minor(),
        netExTax: minor(),
        taxRateBp: z.number().int(),
        taxAmount: minor(),
        total: minor(),
        refundedQuantity: z.number().int(),
        adjustments: z.array(Adjustment.extend({ id: uuid() })),
      }),
    ),
    tenders: z.array(
      z.object({
        id: uuid(),
        kind: TenderKind,
        amount: minor(),
        received: minor().nullable(),
        paymentNo: z.string().nullable().openapi({ description: 'Merchant-side payment number (out_trade_no)' }),
        channelTxnId: z.string().nullable(),
        reference: z.record(z.string(), z.string()).nullable(),
        accountRef: z.string().nullable(),
        storedPrincipal: minor().nullable(),
        storedBonus: minor().nullable(),
        refundedAmount: minor(),
        status: z.enum(['captured', 'voided']),
      }),
    ),
    refunds: z.array(
      z.object({
        id: uuid(),
        refundNo: z.string(),
        kind: z.enum(['refund', 'void']),
        businessDate: z.string(),
        total: minor(),
        taxTotal: minor(),
        reason: z.string().nullable(),
        lines: z.array(z.object({ id: uuid(), saleLineId: uuid(), quantity: z.number().int(), amount: minor(), taxAmount: minor(), restock: z.boolean() })),
        tenders: z.array(
          z.object({
            id: uuid(),
            kind: TenderKind,
            amount: minor(),
            saleTenderId: uuid().nullable(),
            refundNo: z.string().nullable().openapi({ description: 'Merchant-side refund number (out_refund_no)' }),
            storedPrincipal: minor().nullable(),
            storedBonus: minor().nullable(),
          }),
        ),
      }),
    ),
    stockWarnings: z.array(z.object({ variantId: uuid(), locationId: uuid(), onHand: z.number().int() })).optional(),
    holdsTaken: z
      .array(z.object({ variantId: uuid(), locationId: uuid(), onHand: z.number().int(), reserved: z.number().int(), available: z.number().int(), taken: z.number().int() }))
      .optional()
      .openapi({ description: 'Held units (online orders) the sale took, under the allow policy: the orders are flagged for a person' }),
  })
  .openapi('Sale')

const toSale = (v: SaleView) => serialize(v) as unknown as z.infer<typeof SaleSchema>

const quote = defineRoute({
  method: 'post',
  path: '/api/v1/sales/quote',
  tags,
  summary: 'Price a cart without recording anything',
  description: 'Promotions, manual discounts, tax and cash rounding exactly as a sale would apply them; with tenders, also the change and balance.',
  access: 'sales.create',
  request: { body: jsonBody(SaleBody) },
  responses: { 200: json(QuoteSchema) },
})

const create = defineRoute({
  method: 'post',
  path: '/api/v1/sales',
  tags,
  summary: 'Complete a sale',
  description:
    'One transaction: the sale, its lines and discounts, tenders (electronic ones get a merchant-side payment number), stock movements, the cash ledger and events. Needs an open cash session on the register; under the block stock policy a sale of stock that is not available is refused with 409 insufficient_stock.',
  access: 'sales.create',
  request: { body: jsonBody(SaleBody) },
  responses: { 201: json(SaleSchema, 'Completed') },
})

const list = defineRoute({
  method: 'get',
  path: '/api/v1/sales',
  tags,
  summary: 'List sales, newest first by when they were made',
  access: 'sales.read',
  request: {
    query: z.object({
      storeId: uuid().optional(),
      registerId: uuid().optional(),
      sessionId: uuid().optional(),
      from: BusinessDate().optional().openapi({ description: 'First business date' }),
      to: BusinessDate().optional().openapi({ description: 'Last business date' }),
      status: z.enum(['completed', 'voided']).optional(),
      receiptNo: z.string().max(64).optional(),
      customer: z
        .string()
        .max(200)
        .optional()
        .openapi({ description: "A customer's sales: the sale's customerName or an on-account tender's accountRef is this (exact, ignoring case and surrounding spaces)" }),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: IdCursor(),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(SaleSchema.omit({ lines: true, tenders: true, refunds: true, stockWarnings: true, holdsTaken: true })), nextCursor: z.string().nullable() })) },
})

const get = defineRoute({ method: 'get', path: '/api/v1/sales/{id}', tags, summary: 'One sale with lines, tenders and refunds', access: 'sales.read', request: { params: IdParam }, responses: { 200: json(SaleSchema) } })

const refund = defineRoute({
  method: 'post',
  path: '/api/v1/sales/{id}/refunds',
  tags,
  summary: 'Refund or return items of a sale',
  description:
    'Against the sale\'s own lines, never more than was sold (also across several refunds). Restock or write off per line. The money goes back to the original tenders by default; naming other tenders (cash instead of a card) needs sales.refund_cash. What stored value paid and what an on-account tender charged go back to the sale\'s own tender of that kind, never out as money (422 refund_to_stored_value, refund_to_account); a sale charged to two accounts needs the refunded one named (saleTenderId). Electronic refunds get a merchant-side refund number. Held for approval (202) when its total is over the merchant\'s approvals.refundOverAmount and the caller may not decide approvals.',
  access: 'sales.refund',
  request: {
    params: IdParam,
    body: jsonBody(
      z
        .object({
          registerId: uuid(),
          lines: z.array(z.object({ saleLineId: uuid(), quantity: z.number().int().min(1), restock: z.boolean().default(true), locationId: uuid().optional() }).strict()).min(1).max(500),
          tenders: z
            .array(z.object({ kind: TenderKind, amount: z.number().int().min(1), saleTenderId: uuid().optional() }).strict())
            .max(20)
            .optional()
            .openapi({
              description:
                "Default: the original tenders in proportion. An electronic tender named by kind only goes back through the sale's one payment of that kind; a wallet (WeChat Pay, Alipay, UnionPay QR) refund needs one. Other tenders than the originals (cash for a card, say) need sales.refund_cash.",
            }),
          reason: z.string().max(500).optional(),
        })
        .strict(),
    ),
  },
  responses: { 201: json(z.object({ refundId: uuid(), sale: SaleSchema }), 'Refunded'), 202: HeldResponse },
})

const voidRoute = defineRoute({
  method: 'post',
  path: '/api/v1/sales/{id}/void',
  tags,
  summary: 'Void a whole sale on its business day',
  description: 'Only on the sale\'s own business day, while its cash session is open, and before any refund: stock, cash and tenders are reversed. An offline sale uploaded after its session closed (kept in a rescue session) is refunded instead.',
  access: 'sales.void',
  request: { params: IdParam, body: jsonBody(z.object({ reason: z.string().min(1).max(500) }).strict()) },
  responses: { 200: json(SaleSchema) },
})

const batch = defineRoute({
  method: 'post',
  path: '/api/v1/sales/batch',
  tags,
  summary: 'Upload sales made while the till was offline',
  description:
    "Each sale carries the till's UUID and clock and is recorded once (a replay answers 'duplicate'). The till's prices stand (no promotion or member tier discount is applied again; points are earned on what the till took), also beyond the cashier's role (discount limit, price override): such a sale is recorded with an 'over_role_limit' warning and a 'sale.offline_over_limit' audit entry for a manager; stock may go below zero (reported as a warning), and so may what is left for the holds of online orders: a sale that takes held units (on-hand falls below what is reserved) is recorded with a 'reserved_stock_taken' warning, and the orders whose holds it left uncovered are flagged 'insufficient_stock'; a sale the hub cannot record is kept and reported as 'rejected', never dropped. Sales whose cash session has closed, or that name none and were made before the open session began, on an earlier day or before a close of the register's drawer (whose count took their cash in), go to the register's rescue session; a sale naming a session of another register goes to its own register's, with a 'session_mismatch' warning. A sale dated more than 5 minutes ahead of the hub's clock (a till whose clock runs fast) is recorded at the time it arrives, with a 'clock_ahead' warning. Each sale is recorded in a transaction of its own, in the order the sales happened: a batch cut short by an error has recorded the sales before it, and sent again it records the rest (the sales' own ids make it idempotent; no Idempotency-Key is needed).",
  access: 'sales.create',
  transaction: false,
  bodyLimit: 10 * 1024 * 1024,
  request: {
    body: jsonBody(
      z
        .object({
          sales: z
            .array(
              SaleBody.safeExtend({
                id: uuid().openapi({ description: "The till's own id for the sale" }),
                occurredAt: Instant(),
                sessionId: uuid().optional(),
                clientReceiptNo: z.string().max(64).optional(),
              }),
            )
            .min(1)
            .max(1000),
        })
        .strict(),
    ),
  },
  responses: {
    200: json(
      z.object({
        results: z.array(
          z.object({
            id: uuid(),
            status: z.enum(['accepted', 'duplicate', 'conflict', 'rejected']),
            receiptNo: z.string().optional(),
            code: z.string().optional(),
            message: z.string().optional(),
            details: z.unknown().optional(),
            warnings: z.array(z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() })).optional(),
          }),
        ),
      }),
    ),
  },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(quote, async (c) => {
    const q = await quoteSale(c.var.db, c.var.principal, c.req.valid('json') as SaleInput, c.var.hub.clock())
    const { cart, lines, ...rest } = q
    return c.json({ ...rest, lines, grossTotal: cart.grossTotal, discountTotal: cart.discountTotal, taxTotal: cart.taxTotal, total: cart.total, taxByRate: cart.taxByRate, applied: cart.applied }, 200)
  })
  app.openapi(create, async (c) => {
    const view = await completeSale(c.var.db, c.var.principal, c.req.valid('json') as SaleInput, { occurredAt: c.var.hub.clock() })
    return c.json(toSale(view), 201)
  })
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const r = await listSales(c.var.db, {
      merchantId: c.var.principal.merchantId,
      storeId: q.storeId,
      registerId: q.registerId,
      sessionId: q.sessionId,
      businessDateFrom: q.from,
      businessDateTo: q.to,
      status: q.status,
      receiptNo: q.receiptNo,
      customer: q.customer,
      before: q.cursor,
      limit: q.limit,
    })
    return c.json({ items: r.items.map((s) => serialize(s) as any), nextCursor: r.nextCursor }, 200)
  })
  app.openapi(get, async (c) => c.json(toSale(await getSale(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(refund, async (c) => {
    const r = await actOrHold(c.var.db, c.var.principal, 'sale.refund', { saleId: c.req.valid('param').id, input: c.req.valid('json') }, c.var.hub.clock())
    if (r.held) return c.json(held(r.held), 202)
    return c.json({ refundId: r.result.refundId, sale: toSale(r.result.sale) }, 201)
  })
  app.openapi(voidRoute, async (c) => c.json(toSale(await voidSale(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'), c.var.hub.clock())), 200))
  app.openapi(batch, async (c) => {
    const { sales } = c.req.valid('json')
    const results = await recordOfflineSales(
      c.var.hub.database.db,
      c.var.principal,
      sales.map((s) => ({ ...(s as SaleInput), id: s.id, occurredAt: new Date(s.occurredAt), sessionId: s.sessionId, clientReceiptNo: s.clientReceiptNo })),
      c.var.hub.clock(),
    )
    return c.json({ results }, 200)
  })
}
