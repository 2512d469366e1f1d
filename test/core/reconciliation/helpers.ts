// Shared set-up for reconciliation tests: a shop with a till, sales made through the API at chosen instants, and
// statements built from StatementLine arrays (the parsed form every channel connector produces).
import { expect } from 'vitest'
import { sql } from 'drizzle-orm'
import type { TestHub } from '../../helpers/db.ts'
import { createApi, seedMerchant, type Api, type SeededMerchant } from '../../helpers/api.ts'
import { seedProduct, seedStore, type SeededStore } from '../../helpers/pos.ts'
import type { ControlTotals, ParsedStatement, StatementLine } from '../../../src/core/reconciliation/types.ts'
import { importStatement, type ImportResult } from '../../../src/core/reconciliation/import.ts'
import { createConnection } from '../../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../../src/connectors/index.ts'
import { contentInMemory } from '../../../src/core/reconciliation/file.ts'

export const TZ = 'Asia/Shanghai'

/** An instant given as Shanghai wall-clock time, e.g. at('2026-11-10 23:59:58'). */
export const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)

export interface Shop {
  m: SeededMerchant
  store: SeededStore
  sku: string
  api: Api
  connectionId: string
}

export async function openShop(hub: TestHub, opts: { storeCode?: string } = {}): Promise<Shop> {
  const m = await seedMerchant(hub, { timeZone: TZ })
  const store = await seedStore(hub, m.merchantId, { code: opts.storeCode })
  const item = await seedProduct(hub, store, { price: 1, stock: 100_000_000 })
  const api = createApi(hub).as(m.adminToken)
  const connection = await createConnection(hub.database.db, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'stripe', name: 'Channel', config: { secretKey: 'sk_test_recon' } }, new Date())
  return { m, store, sku: item.sku, api, connectionId: connection.id }
}

export interface SaleTenderSpec {
  kind?: string
  amount: number
  /** The number the terminal already sent the channel (else the hub issues one). */
  paymentNo?: string
  channelTxnId?: string
  reference?: Record<string, string>
}

/** Sells `amount` fen (items of 1 fen each) at the instant `when`, paid by the given tenders (default one WeChat tender). */
export async function sell(hub: TestHub, shop: Shop, when: Date, tenders: SaleTenderSpec[] | number) {
  const list: SaleTenderSpec[] = typeof tenders === 'number' ? [{ amount: tenders }] : tenders
  const total = list.reduce((a, t) => a + t.amount, 0)
  hub.setNow(when)
  try {
    const r = await shop.api.post('/api/v1/sales', {
      registerId: shop.store.registerId,
      lines: [{ sku: shop.sku, quantity: total }],
      tenders: list.map((t) => ({ kind: t.kind ?? 'wechat', amount: t.amount, ...(t.paymentNo ? { paymentNo: t.paymentNo } : {}), ...(t.channelTxnId ? { channelTxnId: t.channelTxnId } : {}), ...(t.reference ? { reference: t.reference } : {}) })),
    })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    return r.body as { id: string; businessDate: string; lines: { id: string }[]; tenders: { id: string; kind: string; amount: number; paymentNo: string | null }[] }
  } finally {
    hub.setNow(undefined)
  }
}

/** Refunds `quantity` units (fen) of a sale's first line at `when`, back to its original tenders. */
export async function refund(hub: TestHub, shop: Shop, when: Date, sale: { id: string; lines: { id: string }[] }, quantity: number) {
  hub.setNow(when)
  try {
    const r = await shop.api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: shop.store.registerId, lines: [{ saleLineId: sale.lines[0]!.id, quantity }] })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    const refunds = r.body.sale.refunds as { id: string; refundNo: string; businessDate: string; tenders: { id: string; kind: string; amount: number; refundNo: string | null }[] }[]
    return refunds[refunds.length - 1]!
  } finally {
    hub.setNow(undefined)
  }
}

let txn = 0
const channelId = () => `42000${String(++txn).padStart(23, '0')}`

type LineSpec = Partial<StatementLine> & { amount: number }

export function line(spec: LineSpec & { lineNo?: number }): StatementLine {
  return {
    lineNo: spec.lineNo ?? 0,
    kind: spec.kind ?? 'payment',
    ourRef: spec.ourRef ?? null,
    ourPaymentRef: spec.ourPaymentRef ?? null,
    channelTxnId: spec.channelTxnId === undefined ? channelId() : spec.channelTxnId,
    channelRefundId: spec.channelRefundId ?? null,
    currency: spec.currency ?? 'CNY',
    amount: spec.amount,
    feeMilli: spec.feeMilli ?? 0,
    status: spec.status ?? (spec.kind === 'refund' ? 'SUCCESS' : 'SUCCESS'),
    occurredAt: spec.occurredAt ?? new Date(),
    storeRef: spec.storeRef ?? null,
    terminalRef: spec.terminalRef ?? null,
    rrn: spec.rrn ?? null,
    voucherNo: spec.voucherNo ?? null,
    payoutRef: spec.payoutRef ?? null,
  }
}

/** The payment line the channel would print for a tender. */
export const paid = (tender: { paymentNo: string | null; amount: number }, when: Date, extra: Partial<LineSpec> = {}) =>
  line({ ourRef: tender.paymentNo, amount: tender.amount, occurredAt: when, ...extra })

/** The refund line the channel would print for a refund tender. */
export const refunded = (tender: { refundNo: string | null; amount: number }, when: Date, extra: Partial<LineSpec> = {}) =>
  line({ kind: 'refund', ourRef: tender.refundNo, amount: tender.amount, occurredAt: when, ...extra })

/** The control totals a correct file states for its rows. */
export function totalsOf(lines: StatementLine[]): ControlTotals {
  const pay = lines.filter((l) => l.kind === 'payment')
  const ref = lines.filter((l) => l.kind === 'refund')
  return {
    count: lines.length,
    paymentCount: pay.length,
    refundCount: ref.length,
    paymentAmount: pay.reduce((a, l) => a + l.amount, 0),
    refundAmount: ref.reduce((a, l) => a + l.amount, 0),
    feeMilli: lines.reduce((a, l) => a + l.feeMilli, 0),
  }
}

/** A parsed statement over `lines` (numbered in order) that states `totals` (default: the correct ones) at the end. */
export function statementOf(lines: StatementLine[], totals: ControlTotals | null | 'correct' = 'correct'): ParsedStatement {
  const numbered = lines.map((l, i) => ({ ...l, lineNo: l.lineNo || i + 2 }))
  let done = false
  return {
    lines: (async function* () {
      for (const l of numbered) yield l
      done = true
    })(),
    controlTotals() {
      if (!done) throw new Error('control totals read before the lines were exhausted')
      return totals === 'correct' ? totalsOf(numbered) : totals
    },
  }
}

/** Imports `lines` as the statement of `date` (bytes derived from the lines so each distinct file differs). */
export async function importLines(hub: TestHub, shop: Shop, date: string, lines: StatementLine[], opts: { totals?: ControlTotals | null | 'correct'; bytes?: Buffer } = {}): Promise<ImportResult> {
  const bytes = opts.bytes ?? Buffer.from(JSON.stringify(lines.map((l) => [l.kind, l.ourRef, l.channelTxnId, l.amount, l.feeMilli, l.status, l.occurredAt.toISOString()])))
  return importStatement(hub.database.db, {
    merchantId: shop.m.merchantId,
    connectionId: shop.connectionId,
    format: 'mapped',
    businessDate: date,
    source: 'uploaded',
    fileName: `${date}.json`,
    content: contentInMemory(bytes),
    contentType: 'application/json',
    parsed: statementOf(lines, opts.totals ?? 'correct'),
    timeZone: TZ,
  })
}

export type ItemRow = {
  id: string
  outcome: string
  state: string
  manual: boolean
  pos_kind: string | null
  pos_id: string | null
  pos_ref: string | null
  line_id: number | null
  business_date: string
  pos_amount: number | null
  channel_amount: number | null
  difference: number
  expected_fee_milli: number | null
  channel_fee_milli: number | null
  carried_days: number
  resolution: string | null
  store_id: string | null
}

export async function items(hub: TestHub, shop: Shop): Promise<ItemRow[]> {
  const r = await hub.database.db.execute<ItemRow>(sql`
    select id, outcome, state, manual, pos_kind, pos_id, pos_ref, line_id, business_date::text as business_date, pos_amount, channel_amount, difference,
           expected_fee_milli, channel_fee_milli, carried_days, resolution, store_id
      from recon_items where merchant_id = ${shop.m.merchantId} order by business_date, pos_ref nulls last, line_id nulls last`)
  return r.rows
}

/** The item of a POS reference (payment_no or refund_no), excluding duplicates. */
export async function itemOf(hub: TestHub, shop: Shop, ref: string | null): Promise<ItemRow | undefined> {
  return (await items(hub, shop)).find((i) => i.pos_ref === ref && i.outcome !== 'duplicate')
}

/**
 * A connection of the shop made through the API, with a finance user who uploads its statements (the file's bytes,
 * the query beyond connection and day), runs its days (at 23:30 of the day by default) and reads its exceptions.
 */
export async function financeOf(hub: TestHub, shop: Shop, connection: { connectorId: string; name: string; config: Record<string, unknown> }) {
  const conn = await shop.api.post('/api/v1/connections', connection)
  expect(conn.status, JSON.stringify(conn.body)).toBe(201)
  const connectionId = conn.body.id as string
  const finance = createApi(hub).as((await shop.m.staff('finance')).token)
  const upload = (date: string, query: Record<string, string>, raw: Uint8Array, contentType: string) =>
    finance.request('POST', `/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId, date, ...query })}`, undefined, { raw, headers: { 'content-type': contentType } })
  const run = async (date: string, when = at(`${date} 23:30:00`)) => {
    hub.setNow(when)
    try {
      const r = await finance.post('/api/v1/reconciliation/runs', { connectionId, date })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return r.body
    } finally {
      hub.setNow(undefined)
    }
  }
  const items = async () => (await finance.get(`/api/v1/reconciliation/exceptions?connectionId=${connectionId}`)).body.items
  return { finance, connectionId, upload, run, items }
}
