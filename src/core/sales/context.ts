// Everything a sale needs to know before it prices a cart — the merchant's rules, the register's store and sale
// location, the open cash session and the promotions in force — read in one round trip.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { executeNamed } from '../../db/prepared.ts'
import { invalid, notFound } from '../../lib/errors.ts'
import { parseSettings, type MerchantSettings } from '../merchants/settings.ts'
import type { Promotion } from './promotions.ts'
import type { CashSession } from './cash-sessions.ts'

/** Class of the advisory locks that keep a session from closing under a sale in flight (see closeSession). */
export const SESSION_LOCK_CLASS = 74_620_101

export interface SaleContext {
  settings: MerchantSettings & { currency: string; timeZone: string }
  register: { id: string; code: string; active: boolean }
  store: { id: string; code: string }
  saleLocationId: string
  /** The register's open session, share-locked for the rest of the transaction. */
  session: CashSession | undefined
  promotions: Promotion[]
}

interface Row extends Record<string, unknown> {
  settings: Record<string, unknown>
  currency: string
  time_zone: string
  register_id: string
  register_code: string
  register_active: boolean
  store_id: string
  store_code: string
  location_id: string | null
  session: Record<string, unknown> | null
  promotions: Record<string, unknown>[]
}

const toDate = (v: unknown) => (v == null ? null : new Date(v as string))

function sessionFromJson(j: Record<string, unknown>): CashSession {
  return {
    id: j.id as string,
    merchantId: j.merchant_id as string,
    storeId: j.store_id as string,
    registerId: j.register_id as string,
    status: j.status as 'open' | 'closed',
    rescue: j.rescue as boolean,
    businessDate: j.business_date as string,
    openingFloat: Number(j.opening_float),
    openedBy: (j.opened_by as string) ?? null,
    openedAt: toDate(j.opened_at)!,
    closedBy: (j.closed_by as string) ?? null,
    closedAt: toDate(j.closed_at),
    expectedCash: j.expected_cash == null ? null : Number(j.expected_cash),
    countedCash: j.counted_cash == null ? null : Number(j.counted_cash),
    overShort: j.over_short == null ? null : Number(j.over_short),
    denominations: (j.denominations as Record<string, number>) ?? null,
    note: (j.note as string) ?? null,
    createdAt: toDate(j.created_at)!,
  }
}

function promotionFromJson(j: Record<string, unknown>): Promotion {
  return {
    id: j.id as string,
    merchantId: j.merchant_id as string,
    name: j.name as string,
    kind: j.kind as Promotion['kind'],
    level: j.level as Promotion['level'],
    params: j.params as Record<string, unknown>,
    productIds: j.product_ids as string[],
    variantIds: j.variant_ids as string[],
    categoryIds: j.category_ids as string[],
    storeIds: j.store_ids as string[],
    startsAt: toDate(j.starts_at),
    endsAt: toDate(j.ends_at),
    priority: j.priority as number,
    exclusive: j.exclusive as boolean,
    active: j.active as boolean,
    createdAt: toDate(j.created_at)!,
    updatedAt: toDate(j.updated_at)!,
  }
}

export async function loadSaleContext(tx: Tx, merchantId: string, registerId: string, at: Date, opts: { promotions: boolean }): Promise<SaleContext> {
  // The statements a sale runs after this one (its items, stock and the sale itself) are named statements whose best
  // plan does not depend on their parameters. PostgreSQL may still choose to re-plan them on every call (a custom plan
  // each time: measured on one connection, about a fifth of the server's CPU per sale), so for the rest of this
  // transaction they run on their one generic plan. Set here, with the context, to cost no extra round trip.
  const { rows } = await executeNamed<Row>(tx, 'sale_context', sql`
    select set_config('plan_cache_mode', 'force_generic_plan', true) as plan_cache_mode,
           m.settings, m.currency, m.time_zone,
           r.id as register_id, r.code as register_code, r.active as register_active,
           s.id as store_id, s.code as store_code,
           (select l.id from stock_locations l where l.store_id = s.id and l.is_sale_default) as location_id,
           (select row_to_json(cs) from cash_sessions cs
             where cs.register_id = r.id and cs.status = 'open' and not cs.rescue
               and pg_advisory_xact_lock_shared(${SESSION_LOCK_CLASS}, hashtext(cs.id::text)) is not null) as session,
           case when ${opts.promotions}::boolean then (
             select coalesce(json_agg(p order by p.priority, p.id), '[]'::json) from promotions p
              where p.merchant_id = m.id and p.active
                and (p.starts_at is null or p.starts_at <= ${at.toISOString()}::timestamptz)
                and (p.ends_at is null or p.ends_at > ${at.toISOString()}::timestamptz)
                and (p.store_ids = '[]'::jsonb or p.store_ids ? s.id::text)
           ) else '[]'::json end as promotions
      from registers r
      join stores s on s.id = r.store_id
      join merchants m on m.id = r.merchant_id
     where r.merchant_id = ${merchantId} and r.id = ${registerId}`)
  const row = rows[0]
  if (!row) throw notFound('register', registerId)
  if (!row.location_id) throw invalid('no_sale_location', `store ${row.store_code} has no stock location for sales`)
  return {
    settings: { ...parseSettings(row.settings), currency: row.currency, timeZone: row.time_zone },
    register: { id: row.register_id, code: row.register_code, active: row.register_active },
    store: { id: row.store_id, code: row.store_code },
    saleLocationId: row.location_id,
    session: row.session ? sessionFromJson(row.session) : undefined,
    promotions: row.promotions.map(promotionFromJson),
  }
}
