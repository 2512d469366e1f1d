// Stock: receipts, adjustments, levels and the movement ledger, low stock and reorder suggestions, reservations,
// counts (盘点) and transfers. Quantities are whole numbers in the product's base unit (pieces, grams, millilitres).
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { ADJUSTMENT_REASONS, receiveStock } from '../../core/stock/operations.ts'
import { listLevels, listMovements } from '../../core/stock/queries.ts'
import { reorderSuggestions, setSafetyStock } from '../../core/stock/thresholds.ts'
import { cancelReservation, createReservation, fulfilReservation, getReservation, listReservations } from '../../core/stock/reservations.ts'
import { addCountEntries, cancelCount, countVariance, getCount, listCounts, openCount, postCount } from '../../core/stock/counts.ts'
import { cancelTransfer, getTransfer, listTransfers, receiveTransfer, sendTransfer } from '../../core/stock/transfers.ts'
import type { MovementKind } from '../../core/stock/schema.ts'
import { MAX_MOVEMENT_QUANTITY } from '../../core/stock/ledger.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody, page, PageQuery } from '../route.ts'
import { DateOrInstant, RowCursor, serialize, uuid } from '../schemas.ts'
import { actOrHold } from '../../core/staff/approvals.ts'
import { held, HeldResponse } from './approvals.ts'

const tags = ['Stock']
const units = (description = 'Base units (pieces, grams, millilitres…)') => z.number().int().openapi({ description })
const minor = (description = 'Minor units (fen/cents)') => z.number().int().openapi({ description })
const MAX_QTY = MAX_MOVEMENT_QUANTITY
const IdCursor = { cursor: uuid({ error: 'must be a nextCursor this list returned' }).optional().openapi({ description: 'The `nextCursor` of the previous page' }) }

const KINDS = ['receipt', 'sale', 'return', 'void', 'adjustment', 'count', 'transfer_out', 'transfer_in', 'reservation_consumed'] as const satisfies readonly MovementKind[]

type RefFields = { variantId?: string; sku?: string; barcode?: string }
const exactlyOneRef = (l: RefFields) => [l.variantId, l.sku, l.barcode].filter((x) => x !== undefined).length === 1
const ONE_REF = 'give exactly one of variantId, sku, barcode'

/** An item named by exactly one of variantId, sku or barcode. */
const itemRef = <T extends z.ZodRawShape>(shape: T) =>
  z
    .object({
      variantId: uuid().optional(),
      sku: z.string().min(1).max(64).optional(),
      barcode: z.string().min(1).max(64).optional(),
      ...shape,
    })
    .strict()
    .refine((l) => exactlyOneRef(l as RefFields), ONE_REF)

const refOf = (l: RefFields) => ({ variantId: l.variantId, sku: l.sku, barcode: l.barcode })

const StockLine = z.object({
  variantId: uuid(),
  sku: z.string(),
  name: z.string(),
  quantity: units('Signed change of on-hand'),
  unitCost: minor('Cost in minor units per costPer base units'),
  costPer: z.number().int(),
  value: minor('quantity × unit cost, rounded half up'),
  onHandAfter: units(),
  movementId: z.number().int(),
})

const StockWarning = z.object({ variantId: uuid(), locationId: uuid(), onHand: units() })

const LevelSchema = z
  .object({
    variantId: uuid(),
    sku: z.string(),
    name: z.string(),
    locationId: uuid(),
    storeId: uuid(),
    onHand: units(),
    reserved: units(),
    available: units('onHand − reserved'),
    safetyStock: units('Low-stock threshold').nullable(),
    low: z.boolean().openapi({ description: 'onHand is at or below safetyStock' }),
    updatedAt: z.string(),
  })
  .openapi('StockLevel')

const MovementSchema = z
  .object({
    id: z.number().int(),
    variantId: uuid(),
    sku: z.string(),
    name: z.string(),
    locationId: uuid(),
    kind: z.enum(KINDS),
    quantity: units('Signed change of on-hand'),
    onHandAfter: units(),
    causeType: z.string(),
    causeId: z.string().nullable(),
    reason: z.string().nullable(),
    unitCost: minor(),
    costPer: z.number().int(),
    actorType: z.enum(['user', 'api_key', 'system']),
    actorId: uuid().nullable(),
    occurredAt: z.string(),
    recordedAt: z.string(),
  })
  .openapi('StockMovement')

const ReservationSchema = z
  .object({
    id: uuid(),
    variantId: uuid(),
    sku: z.string(),
    locationId: uuid(),
    quantity: units(),
    status: z.enum(['active', 'released', 'consumed']),
    sourceType: z.string(),
    sourceId: z.string(),
    expiresAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('StockReservation')

const CountStatus = z.enum(['open', 'posted', 'cancelled'])
const CountSchema = z
  .object({
    id: uuid(),
    locationId: uuid(),
    status: CountStatus,
    scope: z.enum(['all', 'some']),
    note: z.string().nullable(),
    startedAt: z.string(),
    startedBy: uuid().nullable(),
    postedAt: z.string().nullable(),
    postedBy: uuid().nullable(),
    createdAt: z.string(),
    lineCount: z.number().int(),
  })
  .openapi('StockCount')
const CountDetailSchema = CountSchema.extend({
  lines: z.array(
    z.object({
      variantId: uuid(),
      sku: z.string(),
      name: z.string(),
      counted: units('Sum of the entries; null until counted').nullable(),
      entries: z.number().int(),
      lastEnteredAt: z.string().nullable(),
    }),
  ),
}).openapi('StockCountDetail')
const Totals = z.object({ gains: z.number().int(), losses: z.number().int(), net: z.number().int() })
const VarianceSchema = z
  .object({
    countId: uuid(),
    locationId: uuid(),
    status: CountStatus,
    lines: z.array(
      z.object({
        variantId: uuid(),
        sku: z.string(),
        name: z.string(),
        snapshotOnHand: units('On-hand when the count opened (or when the variant joined it)'),
        movedSinceSnapshot: units('What moved after the snapshot, up to the last entry'),
        expected: units(),
        counted: units(),
        variance: units('counted − expected'),
        unitCost: minor(),
        costPer: z.number().int(),
        value: minor('variance × unit cost, rounded half up'),
        recordedLater: units('What moved by the time the shelf was counted but was recorded after the count was posted (a checkout in flight, an offline upload): the part of the variance it explains'),
        unexplained: units('variance − recordedLater: the gain or loss the ledger does not account for'),
        unexplainedValue: minor('unexplained × unit cost, rounded half up'),
        lastEnteredAt: z.string().nullable(),
      }),
    ),
    uncounted: z.array(z.object({ variantId: uuid(), sku: z.string(), name: z.string(), expected: units() })),
    totals: z.object({ quantity: Totals, value: Totals, unexplained: z.object({ quantity: units(), value: minor() }) }),
  })
  .openapi('StockCountVariance')

const TransferSchema = z
  .object({
    id: uuid(),
    fromLocationId: uuid(),
    toLocationId: uuid(),
    status: z.enum(['in_transit', 'received', 'cancelled']),
    note: z.string().nullable(),
    sentBy: uuid().nullable(),
    sentAt: z.string(),
    receivedBy: uuid().nullable(),
    receivedAt: z.string().nullable(),
    createdAt: z.string(),
    lines: z.array(
      z.object({
        variantId: uuid(),
        sku: z.string(),
        name: z.string(),
        quantitySent: units(),
        quantityReceived: units().nullable(),
        short: units('Sent but did not arrive').nullable(),
        over: units('Arrived beyond what was sent').nullable(),
      }),
    ),
  })
  .openapi('StockTransfer')

// ---- receipts and adjustments

const receipts = defineRoute({
  method: 'post',
  path: '/api/v1/stock/receipts',
  tags,
  summary: 'Receive goods into a location',
  description: "One 'receipt' movement per line. unitCost is in minor units per the variant's pricePer (per kg for goods sold by the kilo); the variant's cost when omitted.",
  access: 'stock.receive',
  request: {
    body: jsonBody(
      z
        .object({
          locationId: uuid(),
          reference: z.string().min(1).max(100).optional().openapi({ description: "The supplier's delivery note or order number" }),
          note: z.string().max(1000).optional(),
          lines: z.array(itemRef({ quantity: z.number().int().min(1).max(MAX_QTY), unitCost: z.number().int().min(0).optional() })).min(1).max(500),
        })
        .strict(),
    ),
  },
  responses: {
    201: json(
      z.object({ receiptId: uuid(), locationId: uuid(), reference: z.string().nullable(), note: z.string().nullable(), totalValue: minor(), lines: z.array(StockLine) }),
      'Received',
    ),
  },
})

const adjustments = defineRoute({
  method: 'post',
  path: '/api/v1/stock/adjustments',
  tags,
  summary: 'Adjust stock with a reason',
  description:
    "One 'adjustment' movement per line, valued at the variant's cost and audited. A decrease obeys the merchant's negativeStock policy: under 'block' it may not take available stock below zero (409 insufficient_stock). Held for approval (202) when its value at cost (gains plus losses) is over the merchant's approvals.stockAdjustmentOverValue and the caller may not decide approvals.",
  access: 'stock.adjust',
  request: {
    body: jsonBody(
      z
        .object({
          locationId: uuid(),
          lines: z
            .array(
              itemRef({
                quantity: z
                  .number()
                  .int()
                  .min(-MAX_QTY)
                  .max(MAX_QTY)
                  .refine((q) => q !== 0, 'must not be zero')
                  .openapi({ description: 'Signed change of on-hand, not zero' }),
                reason: z.enum(ADJUSTMENT_REASONS),
                note: z.string().max(500).optional(),
              }),
            )
            .min(1)
            .max(500),
        })
        .strict(),
    ),
  },
  responses: {
    201: json(
      z.object({
        adjustmentId: uuid(),
        locationId: uuid(),
        quantity: units('Net change'),
        gainValue: minor(),
        lossValue: minor(),
        netValue: minor(),
        lines: z.array(StockLine.extend({ reason: z.enum(ADJUSTMENT_REASONS), note: z.string().nullable() })),
        stockWarnings: z.array(StockWarning),
      }),
      'Adjusted',
    ),
    202: HeldResponse,
  },
})

// ---- levels, movements, low stock, reordering

const levelsQuery = z.object({
  storeId: uuid().optional(),
  locationId: uuid().optional(),
  variantId: uuid().optional(),
  sku: z.string().min(1).max(64).optional(),
  lowOnly: z.enum(['true', 'false']).optional().openapi({ description: 'Only levels at or below their safety stock (of products not archived)' }),
})

const levels = defineRoute({
  method: 'get',
  path: '/api/v1/stock/levels',
  tags,
  summary: 'Stock levels: on hand, reserved and available per variant and location',
  access: 'catalog.read',
  request: { query: PageQuery.extend(levelsQuery.shape) },
  responses: { 200: json(page(LevelSchema)) },
})

const when = DateOrInstant()

const movements = defineRoute({
  method: 'get',
  path: '/api/v1/stock/movements',
  tags,
  summary: 'The movement ledger, newest first',
  access: 'catalog.read',
  request: {
    query: PageQuery.extend({
      cursor: RowCursor(),
      variantId: uuid().optional(),
      locationId: uuid().optional(),
      kind: z.enum(KINDS).optional(),
      from: when.optional().openapi({ description: 'occurredAt from this instant, or from the start of this business date' }),
      to: when.optional().openapi({ description: 'occurredAt before this instant, or up to the end of this business date' }),
    }),
  },
  responses: { 200: json(page(MovementSchema)) },
})

const thresholds = defineRoute({
  method: 'put',
  path: '/api/v1/stock/thresholds',
  tags,
  summary: 'Set (or clear with null) the safety stock of a variant at a location',
  description: "When on-hand falls to or below it, the level is low and a 'stock.low' event is recorded.",
  access: 'stock.adjust',
  request: { body: jsonBody(z.object({ locationId: uuid(), variantId: uuid(), safetyStock: z.number().int().min(0).max(MAX_QTY).nullable() }).strict()) },
  responses: {
    200: json(
      z.object({
        locationId: uuid(),
        variantId: uuid(),
        sku: z.string(),
        safetyStock: units().nullable(),
        onHand: units(),
        reserved: units(),
        available: units(),
        low: z.boolean(),
      }),
    ),
  },
})

const low = defineRoute({
  method: 'get',
  path: '/api/v1/stock/low',
  tags,
  summary: 'Levels at or below their safety stock',
  description: 'Levels of archived products are left out (they are not restocked); the levels list shows them.',
  access: 'catalog.read',
  request: { query: PageQuery.extend({ storeId: uuid().optional(), locationId: uuid().optional() }) },
  responses: { 200: json(page(LevelSchema)) },
})

const reorder = defineRoute({
  method: 'get',
  path: '/api/v1/stock/reorder-suggestions',
  tags,
  summary: 'What to reorder for a location, most urgent first',
  description:
    'Units sold in the window = sales and fulfilled reservations minus voids and returns (a return counts at the location of its sale, wherever it was restocked; written-off returns left the shelf and stay sold), never below 0. Velocity = units sold ÷ windowDays; days of cover = available ÷ velocity (whole days, null when nothing sold); suggested = max(0, ⌈velocity × coverDays⌉ + safety stock − available − in transit). Archived products are left out.',
  access: 'catalog.read',
  request: {
    query: z.object({
      locationId: uuid(),
      windowDays: z.coerce.number().int().min(1).max(365).default(28),
      coverDays: z.coerce.number().int().min(0).max(365).default(14),
    }),
  },
  responses: {
    200: json(
      z.object({
        locationId: uuid(),
        windowDays: z.number().int(),
        coverDays: z.number().int(),
        items: z.array(
          z.object({
            variantId: uuid(),
            sku: z.string(),
            name: z.string(),
            unitsSold: units(),
            dailyVelocity: z.string().openapi({ description: 'Units per day, three decimals', example: '1.250' }),
            onHand: units(),
            reserved: units(),
            available: units(),
            safetyStock: units().nullable(),
            inTransit: units('Sent to the location by transfers not yet received'),
            daysOfCover: z.number().int().nullable(),
            suggestedQuantity: units(),
          }),
        ),
      }),
    ),
  },
})

// ---- reservations

const reserveRoute = defineRoute({
  method: 'post',
  path: '/api/v1/stock/reservations',
  tags,
  summary: 'Hold stock for an order fulfilled later',
  description:
    'Never more than is available (409 insufficient_stock). Idempotent per (sourceType, sourceId, variant, location): a repeat answers 200 with the first reservation. A hold with expiresAt is released by the stock.release-expired job once it passes.',
  access: 'stock.adjust',
  request: {
    body: jsonBody(
      z
        .object({
          variantId: uuid().optional(),
          sku: z.string().min(1).max(64).optional(),
          barcode: z.string().min(1).max(64).optional(),
          locationId: uuid(),
          quantity: z.number().int().min(1).max(MAX_QTY),
          sourceType: z.string().min(1).max(50).default('manual'),
          sourceId: z.string().min(1).max(200),
          expiresAt: z.iso.datetime({ offset: true }).optional(),
        })
        .strict()
        .refine(exactlyOneRef, ONE_REF),
    ),
  },
  responses: { 201: json(ReservationSchema, 'Reserved'), 200: json(ReservationSchema, 'Already reserved for this source') },
})

const listReservationsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/stock/reservations',
  tags,
  summary: 'Reservations, newest first',
  access: 'stock.adjust',
  request: {
    query: PageQuery.extend({
      ...IdCursor,
      status: z.enum(['active', 'released', 'consumed']).optional(),
      locationId: uuid().optional(),
      variantId: uuid().optional(),
      sourceType: z.string().max(50).optional(),
      sourceId: z.string().max(200).optional(),
    }),
  },
  responses: { 200: json(page(ReservationSchema)) },
})

const getReservationRoute = defineRoute({
  method: 'get',
  path: '/api/v1/stock/reservations/{id}',
  tags,
  summary: 'One reservation',
  access: 'stock.adjust',
  request: { params: IdParam },
  responses: { 200: json(ReservationSchema) },
})

const releaseRoute = defineRoute({
  method: 'delete',
  path: '/api/v1/stock/reservations/{id}',
  tags,
  summary: 'Release a reservation',
  description: 'The held stock becomes available again. Releasing twice is harmless; a consumed reservation cannot be released (409).',
  access: 'stock.adjust',
  request: { params: IdParam },
  responses: { 200: json(ReservationSchema) },
})

const consumeRoute = defineRoute({
  method: 'post',
  path: '/api/v1/stock/reservations/{id}/consume',
  tags,
  summary: 'Fulfil a reservation',
  description: "A 'reservation_consumed' movement takes the held units off on-hand and reserved together. Consuming twice moves stock once; a released reservation cannot be consumed (409).",
  access: 'stock.adjust',
  request: { params: IdParam },
  responses: { 200: json(ReservationSchema.extend({ consumed: z.boolean().openapi({ description: 'false when it had already been consumed' }) })) },
})

// ---- counts

const openCountRoute = defineRoute({
  method: 'post',
  path: '/api/v1/stock/counts',
  tags,
  summary: 'Open a stock count (盘点) at a location',
  description:
    'Snapshots on-hand of every variant stocked at the location (scope all) or of the named variants (scope some). The store keeps selling: movements after the snapshot and up to each entry are taken into account in the variance.',
  access: 'stock.count',
  request: {
    body: jsonBody(
      z
        .object({
          locationId: uuid(),
          variantIds: z.array(uuid()).min(1).max(10_000).optional().openapi({ description: 'Omitted: everything with a level at the location' }),
          note: z.string().max(1000).optional(),
        })
        .strict(),
    ),
  },
  responses: { 201: json(CountSchema, 'Opened') },
})

const listCountsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/stock/counts',
  tags,
  summary: 'Stock counts, newest first',
  access: 'stock.count',
  request: { query: PageQuery.extend({ ...IdCursor, locationId: uuid().optional(), status: CountStatus.optional() }) },
  responses: { 200: json(page(CountSchema)) },
})

const getCountRoute = defineRoute({
  method: 'get',
  path: '/api/v1/stock/counts/{id}',
  tags,
  summary: 'A stock count with what has been counted so far',
  access: 'stock.count',
  request: { params: IdParam },
  responses: { 200: json(CountDetailSchema) },
})

const entriesRoute = defineRoute({
  method: 'post',
  path: '/api/v1/stock/counts/{id}/entries',
  tags,
  summary: 'Enter counted quantities',
  description: 'Several entries of one variant add up (two shelves, two counters). A count of some variants refuses others; a count of all takes a variant it did not have yet with a snapshot taken now.',
  access: 'stock.count',
  request: { params: IdParam, body: jsonBody(z.object({ lines: z.array(itemRef({ quantity: z.number().int().min(0).max(MAX_QTY) })).min(1).max(1000) }).strict()) },
  responses: { 200: json(CountDetailSchema) },
})

const varianceRoute = defineRoute({
  method: 'get',
  path: '/api/v1/stock/counts/{id}/variance',
  tags,
  summary: 'Variance of each counted variant, valued at cost',
  description: 'expected = on-hand at the snapshot + what moved on the level after it and up to the last entry; variance = counted − expected; value = variance × unit cost: the variant’s current cost while the count is open (as the stock valuation), the cost it was posted at once posted.',
  access: 'stock.count',
  request: { params: IdParam },
  responses: { 200: json(VarianceSchema) },
})

const postCountRoute = defineRoute({
  method: 'post',
  path: '/api/v1/stock/counts/{id}/post',
  tags,
  summary: 'Post a stock count',
  description: "One 'count' movement per non-zero variance; uncounted lines are left alone ('ignore') or set to zero ('zero'). Audited.",
  access: 'stock.count.post',
  request: { params: IdParam, body: jsonBody(z.object({ uncounted: z.enum(['ignore', 'zero']).default('ignore') }).strict()) },
  responses: { 200: json(z.object({ count: CountSchema, variance: VarianceSchema, movementIds: z.array(z.number().int()) })) },
})

const cancelCountRoute = defineRoute({
  method: 'post',
  path: '/api/v1/stock/counts/{id}/cancel',
  tags,
  summary: 'Cancel an open stock count without changing stock',
  access: 'stock.count.post',
  request: { params: IdParam },
  responses: { 200: json(CountSchema) },
})

// ---- transfers

const sendRoute = defineRoute({
  method: 'post',
  path: '/api/v1/stock/transfers',
  tags,
  summary: 'Send stock to another location',
  description: "'transfer_out' movements at the source at once (refused under the 'block' policy when not available, like a sale); the transfer stays in transit until received.",
  access: 'stock.transfer',
  request: {
    body: jsonBody(
      z
        .object({
          fromLocationId: uuid(),
          toLocationId: uuid(),
          lines: z.array(itemRef({ quantity: z.number().int().min(1).max(MAX_QTY) })).min(1).max(500),
          note: z.string().max(1000).optional(),
        })
        .strict(),
    ),
  },
  responses: { 201: json(TransferSchema, 'Sent') },
})

const listTransfersRoute = defineRoute({
  method: 'get',
  path: '/api/v1/stock/transfers',
  tags,
  summary: 'Transfers, newest first',
  access: 'stock.transfer',
  request: { query: PageQuery.extend({ ...IdCursor, status: z.enum(['in_transit', 'received', 'cancelled']).optional(), locationId: uuid().optional().openapi({ description: 'From or to this location' }) }) },
  responses: { 200: json(page(TransferSchema)) },
})

const getTransferRoute = defineRoute({
  method: 'get',
  path: '/api/v1/stock/transfers/{id}',
  tags,
  summary: 'One transfer',
  access: 'stock.transfer',
  request: { params: IdParam },
  responses: { 200: json(TransferSchema) },
})

const receiveRoute = defineRoute({
  method: 'post',
  path: '/api/v1/stock/transfers/{id}/receive',
  tags,
  summary: 'Receive a transfer at its destination',
  description: "'transfer_in' movements of what arrived. Without lines everything arrived as sent; with lines, a line of the transfer that is not listed arrived as 0. Shortages and surpluses are recorded per line.",
  access: 'stock.transfer',
  request: {
    params: IdParam,
    body: jsonBody(
      z
        .object({ lines: z.array(z.object({ variantId: uuid(), quantityReceived: z.number().int().min(0).max(MAX_QTY) }).strict()).min(1).max(500).optional() })
        .strict(),
    ),
  },
  responses: { 200: json(TransferSchema) },
})

const cancelTransferRoute = defineRoute({
  method: 'post',
  path: '/api/v1/stock/transfers/{id}/cancel',
  tags,
  summary: 'Cancel a transfer in transit',
  description: "The stock goes back to the source ('transfer_in' there).",
  access: 'stock.transfer',
  request: { params: IdParam },
  responses: { 200: json(TransferSchema) },
})

const out = <T>(v: T) => serialize(v) as any

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(receipts, async (c) => {
    const b = c.req.valid('json')
    const r = await receiveStock(c.var.db, c.var.principal, { ...b, lines: b.lines.map((l) => ({ ...refOf(l), quantity: l.quantity, unitCost: l.unitCost })), at: c.var.hub.clock() })
    return c.json(r, 201)
  })
  app.openapi(adjustments, async (c) => {
    const b = c.req.valid('json')
    const payload = { locationId: b.locationId, lines: b.lines.map((l) => ({ ...refOf(l), quantity: l.quantity, reason: l.reason, note: l.note })) }
    const r = await actOrHold(c.var.db, c.var.principal, 'stock.adjust', payload, c.var.hub.clock())
    return r.held ? c.json(held(r.held), 202) : c.json(r.result, 201)
  })
  app.openapi(levels, async (c) => {
    const q = c.req.valid('query')
    const r = await listLevels(c.var.db, c.var.principal.merchantId, { ...q, lowOnly: q.lowOnly === 'true', after: q.cursor })
    return c.json(out(r), 200)
  })
  app.openapi(movements, async (c) => {
    const q = c.req.valid('query')
    const asBound = (v: string | undefined) => (v === undefined ? undefined : v.length === 10 ? v : new Date(v))
    const r = await listMovements(c.var.db, c.var.principal.merchantId, {
      variantId: q.variantId,
      locationId: q.locationId,
      kinds: q.kind ? [q.kind] : undefined,
      from: asBound(q.from),
      to: asBound(q.to),
      before: q.cursor ? Number(q.cursor) : undefined,
      limit: q.limit,
    })
    return c.json(out(r), 200)
  })
  app.openapi(thresholds, async (c) => c.json(await setSafetyStock(c.var.db, c.var.principal, c.req.valid('json')), 200))
  app.openapi(low, async (c) => {
    const q = c.req.valid('query')
    const r = await listLevels(c.var.db, c.var.principal.merchantId, { storeId: q.storeId, locationId: q.locationId, lowOnly: true, after: q.cursor, limit: q.limit })
    return c.json(out(r), 200)
  })
  app.openapi(reorder, async (c) => {
    const q = c.req.valid('query')
    const items = await reorderSuggestions(c.var.db, c.var.principal.merchantId, { ...q, at: c.var.hub.clock() })
    return c.json({ locationId: q.locationId, windowDays: q.windowDays, coverDays: q.coverDays, items }, 200)
  })

  app.openapi(reserveRoute, async (c) => {
    const b = c.req.valid('json')
    const r = await createReservation(c.var.db, c.var.principal, {
      item: refOf(b),
      locationId: b.locationId,
      quantity: b.quantity,
      sourceType: b.sourceType,
      sourceId: b.sourceId,
      expiresAt: b.expiresAt ? new Date(b.expiresAt) : null,
      at: c.var.hub.clock(),
    })
    return r.created ? c.json(out(r.reservation), 201) : c.json(out(r.reservation), 200)
  })
  app.openapi(listReservationsRoute, async (c) => {
    const q = c.req.valid('query')
    return c.json(out(await listReservations(c.var.db, c.var.principal.merchantId, { ...q, before: q.cursor })), 200)
  })
  app.openapi(getReservationRoute, async (c) => c.json(out(await getReservation(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(releaseRoute, async (c) => c.json(out(await cancelReservation(c.var.db, c.var.principal, c.req.valid('param').id)), 200))
  app.openapi(consumeRoute, async (c) => {
    const r = await fulfilReservation(c.var.db, c.var.principal, c.req.valid('param').id, c.var.hub.clock())
    return c.json(out({ ...r.reservation, consumed: r.consumed }), 200)
  })

  app.openapi(openCountRoute, async (c) => c.json(out(await openCount(c.var.db, c.var.principal, { ...c.req.valid('json'), at: c.var.hub.clock() })), 201))
  app.openapi(listCountsRoute, async (c) => {
    const q = c.req.valid('query')
    return c.json(out(await listCounts(c.var.db, c.var.principal.merchantId, { ...q, before: q.cursor })), 200)
  })
  app.openapi(getCountRoute, async (c) => c.json(out(await getCount(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(entriesRoute, async (c) => {
    const b = c.req.valid('json')
    const r = await addCountEntries(c.var.db, c.var.principal, c.req.valid('param').id, { lines: b.lines.map((l) => ({ ...refOf(l), quantity: l.quantity })), at: c.var.hub.clock() })
    return c.json(out(r), 200)
  })
  app.openapi(varianceRoute, async (c) => c.json(out(await countVariance(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(postCountRoute, async (c) => {
    const r = await postCount(c.var.db, c.var.principal, c.req.valid('param').id, { uncounted: c.req.valid('json').uncounted, at: c.var.hub.clock() })
    return c.json(out({ count: { ...r.count, lineCount: r.report.lines.length + r.report.uncounted.length }, variance: r.report, movementIds: r.movementIds }), 200)
  })
  app.openapi(cancelCountRoute, async (c) => {
    const id = c.req.valid('param').id
    await cancelCount(c.var.db, c.var.principal, id)
    const { lines: _lines, ...count } = await getCount(c.var.db, c.var.principal.merchantId, id)
    return c.json(out(count), 200)
  })

  app.openapi(sendRoute, async (c) => {
    const b = c.req.valid('json')
    const r = await sendTransfer(c.var.db, c.var.principal, { ...b, lines: b.lines.map((l) => ({ ...refOf(l), quantity: l.quantity })), at: c.var.hub.clock() })
    return c.json(out(r), 201)
  })
  app.openapi(listTransfersRoute, async (c) => {
    const q = c.req.valid('query')
    return c.json(out(await listTransfers(c.var.db, c.var.principal.merchantId, { ...q, before: q.cursor })), 200)
  })
  app.openapi(getTransferRoute, async (c) => c.json(out(await getTransfer(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(receiveRoute, async (c) => c.json(out(await receiveTransfer(c.var.db, c.var.principal, c.req.valid('param').id, { ...c.req.valid('json'), at: c.var.hub.clock() })), 200))
  app.openapi(cancelTransferRoute, async (c) => c.json(out(await cancelTransfer(c.var.db, c.var.principal, c.req.valid('param').id, { at: c.var.hub.clock() })), 200))
}
