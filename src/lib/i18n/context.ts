// The locale of the request being served, for code that renders text deep inside a page (the dashboard's label())
// without every function taking a locale argument. Set per request with withLocale; outside one it is the default.
import { AsyncLocalStorage } from 'node:async_hooks'
import { DEFAULT_LOCALE, type Locale } from './locale.ts'
import { toTraditional } from './traditional.ts'

const storage = new AsyncLocalStorage<Locale>()

/** Runs `fn` (and everything it awaits) with `locale` as the current locale. */
export const withLocale = <T>(locale: Locale, fn: () => T): T => storage.run(locale, fn)

export const currentLocale = (): Locale => storage.getStore() ?? DEFAULT_LOCALE

/** The text of a pair in `locale`: English, the Simplified text, or the Simplified text turned Traditional. */
export function pick(en: string, zh: string, locale: Locale = currentLocale()): string {
  if (locale === 'en') return en
  if (locale === 'zh-TW') return toTraditional(zh)
  return zh
}
