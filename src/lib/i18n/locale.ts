// The languages Tillbridge speaks and how one is chosen for a person: their own choice, else their merchant's, else
// (before anyone has signed in) what the browser or HTTP client asks for in Accept-Language.

export const LOCALES = ['zh-CN', 'zh-TW', 'en'] as const
export type Locale = (typeof LOCALES)[number]

/** The merchant default when nothing else is known (also the merchants table's default). */
export const DEFAULT_LOCALE: Locale = 'zh-CN'

export const isLocale = (v: unknown): v is Locale => typeof v === 'string' && (LOCALES as readonly string[]).includes(v)

/**
 * The one of our languages an Accept-Language header asks for, best quality first: zh-TW, zh-HK, zh-MO and zh-Hant
 * read Traditional; any other zh reads Simplified; en reads English. Undefined when it names none of them.
 */
export function fromAcceptLanguage(header: string | null | undefined): Locale | undefined {
  if (!header) return undefined
  const ranges = header
    .slice(0, 1000)
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';')
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/i.exec(p)).find(Boolean)
      const quality = q ? Number(q[1]) : 1
      return { tag: tag.trim().toLowerCase(), quality: Number.isFinite(quality) ? quality : 0, i }
    })
    .filter((r) => r.tag && r.quality > 0)
    .sort((a, b) => b.quality - a.quality || a.i - b.i)
  for (const { tag } of ranges) {
    const l = localeOfTag(tag)
    if (l) return l
  }
  return undefined
}

function localeOfTag(tag: string): Locale | undefined {
  const parts = tag.split(/[-_]/)
  if (parts[0] === 'zh') {
    const rest = parts.slice(1)
    if (rest.includes('hant') || rest.some((p) => p === 'tw' || p === 'hk' || p === 'mo')) return 'zh-TW'
    return 'zh-CN'
  }
  if (parts[0] === 'en') return 'en'
  return undefined
}

export interface LocaleSources {
  /** The signed-in user's own choice (users.locale), null when they follow their merchant. */
  user?: string | null
  merchant?: string | null
  /** The request's Accept-Language header, used only when no user or merchant is known. */
  acceptLanguage?: string | null
}

/** The effective locale: user ?? merchant ?? Accept-Language ?? English (a caller nobody knows gets English). */
export function resolveLocale(s: LocaleSources): Locale {
  if (isLocale(s.user)) return s.user
  if (isLocale(s.merchant)) return s.merchant
  return fromAcceptLanguage(s.acceptLanguage) ?? 'en'
}

