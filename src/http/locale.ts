// The language a request is answered in. Messages for people (errors) follow the caller's effective locale: their
// own, else their merchant's. Files scripts read (CSV/XLSX column headers) keep their English keys unless a person
// chose a language for themselves or the request asks for one in Accept-Language, so an integration reading
// `business_date` does not break when its merchant speaks Chinese.
import type { Context } from 'hono'
import { callerContext, type CallerLocale } from '../core/staff/locale.ts'
import { fromAcceptLanguage, type Locale } from '../lib/i18n/locale.ts'
import type { AppEnv } from './env.ts'

async function known(c: Context<AppEnv>): Promise<(CallerLocale & { currency: string }) | undefined> {
  const p = c.get('principal')
  if (!p) return undefined
  try {
    // The pool, not the request's transaction: an error answer is built after that may have been rolled back.
    return await callerContext(c.var.hub.database.db, { merchantId: p.merchantId, userId: p.type === 'user' ? p.id : null })
  } catch (err) {
    c.var.log?.warn({ err }, 'could not read the caller locale')
    return undefined
  }
}

/** For messages: user ?? merchant (API keys: merchant) when the caller is known, else Accept-Language, else English. */
export async function messageLocale(c: Context<AppEnv>): Promise<Locale> {
  return (await messageContext(c)).locale
}

/** The language of a message, and the currency its amounts are in when the caller's merchant is known. */
export async function messageContext(c: Context<AppEnv>): Promise<{ locale: Locale; currency?: string }> {
  const caller = await known(c)
  return { locale: caller?.effective ?? fromAcceptLanguage(c.req.header('accept-language')) ?? 'en', currency: caller?.currency }
}

/** For file headers: the user's own choice, else Accept-Language, else English (the stable keys). */
export async function fileLocale(c: Context<AppEnv>): Promise<Locale> {
  return (await known(c))?.user ?? fromAcceptLanguage(c.req.header('accept-language')) ?? 'en'
}
