// Reports of the POS core: daily sales, best sellers and slow movers, stock valuation, staff performance and the cash
// sessions' X/Z reports. Each answers JSON, or the same figures as a CSV file with ?format=csv, and reads one
// consistent snapshot of the ledgers. The definitions of the figures are at the top of each src/core/reports file.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { badRequest } from '../../lib/errors.ts'
import { dailySalesCsv, dailySalesReport } from '../../core/reports/daily-sales.ts'
import { productsCsv, productsReport } from '../../core/reports/products.ts'
import { DEFAULT_TURNOVER_WINDOW_DAYS, stockValuationCsv, stockValuationReport } from '../../core/reports/stock-valuation.ts'
import { staffCsv, staffReport } from '../../core/reports/staff.ts'
import { sessionReport, sessionReportCsv, sessionsOfDay, sessionsOfDayCsv } from '../../core/reports/sessions.ts'
import type { CsvFile } from '../../core/reports/csv.ts'
import type { AppEnv } from '../env.ts'
import { fileLocale } from '../locale.ts'
import { defineRoute, IdParam } from '../route.ts'
import { ReportSchema } from './cash-sessions.ts'
import { BusinessDate, uuid } from '../schemas.ts'
import { snapshot } from '../snapshot.ts'
import { getSettings } from '../../core/merchants/settings.ts'

const tags = ['Reports']
const minor = (description = 'Minor units (fen/cents)') => z.number().int().openapi({ description })
const count = z.number().int()
const day = (description: string) => BusinessDate().openapi({ description, example: '2026-03-14' })
const Format = z.enum(['json', 'csv']).default('json').openapi({ description: 'csv: the same report as a UTF-8 CSV file with a BOM (opens in Excel), money as decimals' })

/** 200 as JSON, or as a CSV file with ?format=csv. */
const reportResponse = <T extends z.ZodType>(schema: T) => ({
  200: { description: 'The report (JSON), or a CSV file with ?format=csv', content: { 'application/json': { schema }, 'text/csv': { schema: z.string() } } },
})

const CountAmount = z.object({ count, amount: minor() })

const DailySalesSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    currency: z.string(),
    timeZone: z.string(),
    entries: z.array(
      z.object({
        storeId: uuid(),
        storeCode: z.string(),
        storeName: z.string(),
        businessDate: z.string(),
        transactions: count.openapi({ description: 'Completed sales of the day (voided sales excluded)' }),
        gross: minor('Σ gross_total: line amounts before discounts'),
        discounts: z.object({
          total: minor(),
          bySource: z.array(z.object({ source: z.string(), sourceId: z.string().nullable(), label: z.string(), amount: minor() })),
        }),
        total: minor('Σ total, before cash rounding'),
        rounding: minor('Σ cash rounding'),
        netSales: minor('Amount due: total + rounding'),
        tax: z.object({ total: minor(), byRate: z.array(z.object({ rateBp: z.number().int(), netExTax: minor(), tax: minor(), total: minor() })) }),
        refunds: z.object({ count, amount: minor(), tax: minor() }).openapi({ description: "Refunds made on the day, also of earlier days' sales" }),
        voids: CountAmount,
        netAfterRefunds: minor('netSales − refunds.amount'),
        tenders: z.array(z.object({ kind: z.string(), sales: minor(), refunds: minor(), net: minor() })),
        tenderDifference: minor('What offline tills took beyond the amount due'),
        hours: z.array(z.object({ hour: z.number().int(), count, amount: minor() })).openapi({ description: '24 buckets by hour of day in the merchant time zone' }),
        basket: z.object({
          averageAmount: minor('netSales ÷ transactions, rounded half up').nullable(),
          items: count,
          averageItems: z.number().nullable().openapi({ description: 'Items per transaction, two decimals, half up' }),
        }),
      }),
    ),
  })
  .openapi('DailySalesReport')

const ProductFiguresSchema = z.object({
  variantId: uuid().nullable(),
  sku: z.string().nullable(),
  name: z.string().nullable(),
  categoryId: uuid().nullable(),
  categoryName: z.string().nullable(),
  variants: count,
  quantity: z.number().int().openapi({ description: 'Sold minus refunded, base units' }),
  netSales: minor('After discounts, without tax, minus refunds'),
  cost: minor(),
  margin: minor(),
  marginBp: z.number().int().nullable().openapi({ description: 'margin ÷ netSales in basis points' }),
  marginPercent: z.string().nullable().openapi({ example: '35.00' }),
  onHand: z.number().int(),
})

const ProductsSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    storeId: uuid().nullable(),
    categoryId: uuid().nullable(),
    by: z.enum(['quantity', 'margin']),
    groupBy: z.enum(['variant', 'category']),
    limit: count,
    currency: z.string(),
    totals: z.object({ variants: count, quantity: z.number().int(), netSales: minor(), cost: minor(), margin: minor(), marginBp: z.number().int().nullable() }),
    bestSellers: z.array(ProductFiguresSchema),
    slowMovers: z.array(ProductFiguresSchema),
  })
  .openapi('ProductsReport')

const StockValuationSchema = z
  .object({
    date: z.string(),
    onHandSource: z.enum(['levels', 'ledger']),
    windowDays: count,
    windowFrom: z.string(),
    windowTo: z.string(),
    currency: z.string(),
    locations: z.array(z.object({ locationId: uuid(), locationName: z.string(), storeId: uuid(), storeCode: z.string(), items: count, onHand: z.number().int(), value: minor() })),
    totals: z.object({
      items: count,
      value: minor('At the locations: the sum of the items’ values'),
      inTransitValue: minor('On its way between locations: the sum of inTransit’s values'),
      totalValue: minor('value + inTransitValue; sending stock leaves it as it was'),
    }),
    items: z.array(
      z.object({
        locationId: uuid(),
        variantId: uuid(),
        sku: z.string(),
        name: z.string(),
        onHand: z.number().int(),
        unitCost: minor('The variant’s current cost per costPer base units'),
        costPer: z.number().int(),
        value: minor('onHand × unitCost ÷ costPer, rounded half up'),
        unitsSold: z.number().int().openapi({ description: 'Sold here in the window less returns and voids; a return counts where its item was sold, wherever it was restocked (as in reorder suggestions)' }),
        averageDailyUnits: z.string().openapi({ example: '1.250' }),
        turnoverDays: z.number().nullable().openapi({ description: 'onHand × windowDays ÷ unitsSold, one decimal; null when nothing sold' }),
      }),
    ),
    inTransit: z
      .array(
        z.object({
          transferId: uuid(),
          fromLocationId: uuid(),
          fromLocationName: z.string(),
          fromStoreCode: z.string(),
          toLocationId: uuid(),
          toLocationName: z.string(),
          toStoreId: uuid(),
          toStoreCode: z.string(),
          sentAt: z.string(),
          variantId: uuid(),
          sku: z.string(),
          name: z.string(),
          quantity: z.number().int().openapi({ description: 'As sent; a shortage found on receipt leaves the books when the transfer is received' }),
          unitCost: minor('The variant’s current cost per costPer base units, as for on-hand'),
          costPer: z.number().int(),
          value: minor('quantity × unitCost ÷ costPer, rounded half up'),
        }),
      )
      .openapi({
        description:
          'Transfer lines sent before the end of `date` and neither received nor cancelled by then, oldest first. Listed under their destination: with storeId or locationId, what is on its way to that store or location.',
      }),
  })
  .openapi('StockValuationReport')

const StaffSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    storeId: uuid().nullable(),
    currency: z.string(),
    staff: z.array(
      z.object({
        userId: uuid().nullable(),
        type: z.enum(['user', 'api_key', 'system']),
        name: z.string().nullable(),
        sales: CountAmount,
        averageBasket: minor().nullable(),
        refunds: CountAmount,
        voids: CountAmount,
        manualDiscounts: CountAmount.openapi({ description: 'Discounted lines and their amount' }),
        overridesApproved: count,
      }),
    ),
  })
  .openapi('StaffReport')

const SessionsSchema = z
  .object({
    date: z.string(),
    storeId: uuid().nullable(),
    currency: z.string(),
    sessions: z.array(
      z.object({
        id: uuid(),
        storeId: uuid(),
        storeCode: z.string(),
        registerId: uuid(),
        registerCode: z.string(),
        status: z.enum(['open', 'closed']),
        rescue: z.boolean(),
        businessDate: z.string(),
        openedAt: z.string(),
        openedBy: uuid().nullable(),
        openedByName: z.string().nullable(),
        closedAt: z.string().nullable(),
        closedBy: uuid().nullable(),
        closedByName: z.string().nullable(),
        openingFloat: minor(),
        expectedCash: minor('Fixed at the close; the drawer ledger so far while open'),
        countedCash: minor().nullable(),
        overShort: minor('counted − expected').nullable(),
      }),
    ),
    totals: z.object({ open: count, closed: count, overShort: minor('Σ over/short of the closed sessions') }),
  })
  .openapi('SessionsOfDay')

const dailySales = defineRoute({
  method: 'get',
  path: '/api/v1/reports/daily-sales',
  tags,
  summary: 'Daily sales per store and business day',
  description:
    'Gross, discounts by source, net sales, tax by rate, cash rounding, refunds (on the day they happen) and voids, takings by tender, sales by hour and basket size. Give `date`, or `from` and `to` for one entry per store and day (at most 366 days).',
  access: 'reports.read',
  request: {
    query: z.object({
      storeId: uuid().optional().openapi({ description: 'One store; all stores without it' }),
      date: day('One business day').optional(),
      from: day('First business day of a range').optional(),
      to: day('Last business day of a range').optional(),
      format: Format,
    }),
  },
  responses: reportResponse(DailySalesSchema),
})

const products = defineRoute({
  method: 'get',
  path: '/api/v1/reports/products',
  tags,
  summary: 'Best sellers and slow movers by quantity or margin',
  description: 'Per variant, or per category with groupBy=category. Slow movers include the variants in stock that did not sell at all in the period.',
  access: 'reports.read',
  request: {
    query: z.object({
      storeId: uuid().optional(),
      from: day('First business day'),
      to: day('Last business day'),
      by: z.enum(['quantity', 'margin']).default('quantity'),
      groupBy: z.enum(['variant', 'category']).default('variant'),
      limit: z.coerce.number().int().min(1).max(200).default(10).openapi({ description: 'Length of each list (1–200)' }),
      categoryId: uuid().optional().openapi({ description: 'Only this category and those below it' }),
      format: Format,
    }),
  },
  responses: reportResponse(ProductsSchema),
})

const stockValuation = defineRoute({
  method: 'get',
  path: '/api/v1/reports/stock-valuation',
  tags,
  summary: 'Stock valuation at cost and turnover days per location',
  description: "On hand today from the levels, or at the end of a past business day from the ledger; valued at the variant's current cost. Turnover days = on hand ÷ average daily units sold over the window.",
  access: 'reports.read',
  request: {
    query: z.object({
      locationId: uuid().optional(),
      storeId: uuid().optional().openapi({ description: 'All locations of a store (give locationId or storeId, not both)' }),
      date: day('Business day to value the stock at (today by default)').optional(),
      windowDays: z.coerce.number().int().min(1).max(366).default(DEFAULT_TURNOVER_WINDOW_DAYS).openapi({ description: 'Days of sales the turnover is measured over' }),
      format: Format,
    }),
  },
  responses: reportResponse(StockValuationSchema),
})

const staff = defineRoute({
  method: 'get',
  path: '/api/v1/reports/staff',
  tags,
  summary: 'Staff performance: sales, refunds, voids, discounts given and overrides approved per person',
  access: 'reports.read',
  request: { query: z.object({ storeId: uuid().optional(), from: day('First business day'), to: day('Last business day'), format: Format }) },
  responses: reportResponse(StaffSchema),
})

const sessions = defineRoute({
  method: 'get',
  path: '/api/v1/reports/sessions',
  tags,
  summary: 'The cash sessions of a business day with their over/short',
  access: 'reports.read',
  request: { query: z.object({ storeId: uuid().optional(), date: day('Business day the sessions were opened on'), format: Format }) },
  responses: reportResponse(SessionsSchema),
})

const session = defineRoute({
  method: 'get',
  path: '/api/v1/reports/sessions/{id}',
  tags,
  summary: 'X report of an open cash session, Z report of a closed one',
  access: 'reports.read',
  request: { params: IdParam, query: z.object({ format: Format }) },
  // The X/Z report of a session, read by finance here: the one schema the cash session routes answer with.
  responses: reportResponse(ReportSchema),
})

const csv = (c: Context<AppEnv>, f: CsvFile) =>
  c.body(f.bytes as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="${f.filename}"` })

function periodOf(q: { date?: string; from?: string; to?: string }) {
  if (q.date !== undefined) {
    if (q.from !== undefined || q.to !== undefined) throw badRequest('invalid_period', 'give either date, or from and to')
    return { from: q.date, to: q.date }
  }
  if (q.from === undefined || q.to === undefined) throw badRequest('period_required', 'give date, or from and to')
  return { from: q.from, to: q.to }
}

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(dailySales, async (c) => {
    const q = c.req.valid('query')
    const m = c.var.principal.merchantId
    const r = await snapshot(c, (tx) => dailySalesReport(tx, m, { ...periodOf(q), storeId: q.storeId }))
    return q.format === 'csv' ? csv(c, dailySalesCsv(r, q.storeId ? r.entries[0]?.storeCode : undefined, await fileLocale(c))) : c.json(r, 200)
  })
  app.openapi(products, async (c) => {
    const { format, ...q } = c.req.valid('query')
    const m = c.var.principal.merchantId
    const r = await snapshot(c, (tx) => productsReport(tx, m, q))
    return format === 'csv' ? csv(c, productsCsv(r, await fileLocale(c))) : c.json(r, 200)
  })
  app.openapi(stockValuation, async (c) => {
    const { format, ...q } = c.req.valid('query')
    if (q.locationId && q.storeId) throw badRequest('invalid_scope', 'give locationId or storeId, not both')
    const m = c.var.principal.merchantId
    const r = await snapshot(c, (tx) => stockValuationReport(tx, m, { ...q, at: c.var.hub.clock() }))
    return format === 'csv' ? csv(c, stockValuationCsv(r, await fileLocale(c))) : c.json(r, 200)
  })
  app.openapi(staff, async (c) => {
    const { format, ...q } = c.req.valid('query')
    const m = c.var.principal.merchantId
    const r = await snapshot(c, (tx) => staffReport(tx, m, q))
    return format === 'csv' ? csv(c, staffCsv(r, await fileLocale(c))) : c.json(r, 200)
  })
  app.openapi(sessions, async (c) => {
    const { format, ...q } = c.req.valid('query')
    const m = c.var.principal.merchantId
    const r = await snapshot(c, (tx) => sessionsOfDay(tx, m, q))
    return format === 'csv' ? csv(c, sessionsOfDayCsv(r, (await getSettings(c.var.db, m)).timeZone, await fileLocale(c))) : c.json(r, 200)
  })
  app.openapi(session, async (c) => {
    const { format } = c.req.valid('query')
    const m = c.var.principal.merchantId
    const id = c.req.valid('param').id
    if (format === 'csv') {
      const locale = await fileLocale(c)
      return csv(c, await snapshot(c, async (tx) => sessionReportCsv(tx, m, await sessionReport(tx, m, id), locale)))
    }
    return c.json(await snapshot(c, (tx) => sessionReport(tx, m, id)), 200)
  })
}
