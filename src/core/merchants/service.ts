// Creating and reading merchants, the tenants everything else belongs to.
import { eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { LOCALES } from '../../lib/i18n/locale.ts'
import { merchants } from './schema.ts'
import { isTimeZone } from '../../lib/time.ts'

export type Merchant = typeof merchants.$inferSelect

export interface MerchantSettings {
  name?: string
  currency?: string
  timeZone?: string
  locale?: string
}

export { LOCALES }

function checkSettings(s: MerchantSettings) {
  if (s.name !== undefined && s.name.trim() === '') throw invalid('invalid_merchant_name', 'merchant name must not be empty')
  if (s.currency !== undefined && !Intl.supportedValuesOf('currency').includes(s.currency)) {
    throw invalid('invalid_currency', `${s.currency} is not an ISO 4217 currency code`)
  }
  if (s.timeZone !== undefined && !isTimeZone(s.timeZone)) {
    throw invalid('invalid_time_zone', `${s.timeZone} is not an IANA time zone`)
  }
  if (s.locale !== undefined && !(LOCALES as readonly string[]).includes(s.locale)) {
    throw invalid('invalid_locale', `locale must be one of ${LOCALES.join(', ')}`)
  }
}

/** The database reads business hours in the zone too (reports by hour): it must know it as well. */
async function assertDatabaseZone(tx: Tx, tz: string | undefined) {
  if (tz === undefined) return
  const { rows } = await tx.execute<{ known: boolean }>(sql`select exists (select 1 from pg_timezone_names where name = ${tz}) as known`)
  if (!rows[0]?.known) throw invalid('invalid_time_zone', `${tz} is not a time zone the database knows`)
}

export async function createMerchant(tx: Tx, input: MerchantSettings & { name: string }): Promise<Merchant> {
  checkSettings(input)
  await assertDatabaseZone(tx, input.timeZone)
  const [row] = await tx
    .insert(merchants)
    .values({
      id: newId(),
      name: input.name.trim(),
      currency: input.currency ?? 'CNY',
      timeZone: input.timeZone ?? 'Asia/Shanghai',
      locale: input.locale ?? 'zh-CN',
    })
    .returning()
  return row!
}

export async function getMerchant(tx: Tx, id: string): Promise<Merchant> {
  const [row] = await tx.select().from(merchants).where(eq(merchants.id, id))
  if (!row) throw notFound('merchant', id)
  return row
}

/** Whether any amount was recorded in the merchant's currency (the reports and vouchers read them all in it). */
async function moneyRecorded(tx: Tx, merchantId: string): Promise<boolean> {
  const { rows } = await tx.execute<{ used: boolean }>(sql`
    select exists (select 1 from sales where merchant_id = ${merchantId})
        or exists (select 1 from stored_value_topups where merchant_id = ${merchantId})
        or exists (select 1 from settlement_statements where merchant_id = ${merchantId})
        or exists (select 1 from vouchers where merchant_id = ${merchantId}) as used`)
  return rows[0]!.used
}

export async function updateMerchant(tx: Tx, id: string, changes: MerchantSettings): Promise<{ before: Merchant; after: Merchant }> {
  checkSettings(changes)
  await assertDatabaseZone(tx, changes.timeZone)
  const [before] = await tx.select().from(merchants).where(eq(merchants.id, id)).for('update')
  if (!before) throw notFound('merchant', id)
  if (changes.currency !== undefined && changes.currency !== before.currency && (await moneyRecorded(tx, id))) {
    throw conflict('currency_in_use', `the currency cannot change from ${before.currency} once sales, top-ups, statements or vouchers were recorded in it: every amount is kept in its minor units`, {
      currency: before.currency,
    })
  }
  if (changes.timeZone !== undefined && changes.timeZone !== before.timeZone) {
    // A session's sales, refunds and cash keep the business day it opened on only if the day is counted in one zone.
    const { rows } = await tx.execute<{ n: number }>(sql`select count(*)::int as n from cash_sessions where merchant_id = ${id} and status = 'open'`)
    if (rows[0]!.n > 0) {
      throw conflict('cash_sessions_open', 'close the open cash sessions before changing the time zone: the business day of what is rung up in them would be counted in another zone', { openSessions: rows[0]!.n })
    }
  }
  const [after] = await tx
    .update(merchants)
    .set({ ...changes, ...(changes.name ? { name: changes.name.trim() } : {}), updatedAt: new Date() })
    .where(eq(merchants.id, id))
    .returning()
  return { before, after: after! }
}
