// Which language a person reads: their own choice (users.locale) or, while they have none, their merchant's.
import { and, eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { DEFAULT_LOCALE, isLocale, type Locale } from '../../lib/i18n/locale.ts'
import { invalid, notFound } from '../../lib/errors.ts'
import { merchants } from '../merchants/schema.ts'
import type { Actor } from './actor.ts'
import { recordAudit } from './audit.ts'
import { users } from './schema.ts'

export interface CallerLocale {
  /** The user's own choice; null when they follow the merchant (and always for API keys). */
  user: Locale | null
  merchant: Locale
  effective: Locale
}

/** The locale of a caller: a user by id, or (without one: an API key) only its merchant. */
export async function callerLocale(db: Tx, who: { merchantId: string; userId?: string | null }): Promise<CallerLocale> {
  const { currency: _currency, ...locale } = await callerContext(db, who)
  return locale
}

/** The caller's locale and its merchant's currency: what a message for them is written in. */
export async function callerContext(db: Tx, who: { merchantId: string; userId?: string | null }): Promise<CallerLocale & { currency: string }> {
  const userId = who.userId
  const [row] = userId
    ? await db
        .select({ merchant: merchants.locale, user: users.locale, currency: merchants.currency })
        .from(merchants)
        .leftJoin(users, and(eq(users.merchantId, merchants.id), eq(users.id, userId)))
        .where(eq(merchants.id, who.merchantId))
    : await db.select({ merchant: merchants.locale, user: sql<string | null>`null`, currency: merchants.currency }).from(merchants).where(eq(merchants.id, who.merchantId))
  if (!row) throw notFound('merchant', who.merchantId)
  const user = isLocale(row.user) ? row.user : null
  const merchant = isLocale(row.merchant) ? row.merchant : DEFAULT_LOCALE
  return { user, merchant, effective: user ?? merchant, currency: row.currency }
}

/** Sets (or with null clears) a user's own locale; audited. */
export async function setUserLocale(tx: Tx, actor: Actor, userId: string, locale: Locale | null): Promise<CallerLocale> {
  if (locale !== null && !isLocale(locale)) throw invalid('invalid_locale', 'locale must be one of zh-CN, zh-TW, en, or null')
  const [before] = await tx.select({ locale: users.locale }).from(users).where(and(eq(users.merchantId, actor.merchantId), eq(users.id, userId))).for('update')
  if (!before) throw notFound('user', userId)
  if (before.locale !== locale) {
    await tx.update(users).set({ locale, updatedAt: new Date() }).where(and(eq(users.merchantId, actor.merchantId), eq(users.id, userId)))
    await recordAudit(tx, actor, { action: 'user.locale_changed', entityType: 'user', entityId: userId, details: { from: before.locale, to: locale } })
  }
  return callerLocale(tx, { merchantId: actor.merchantId, userId })
}
