// Phone numbers are stored in E.164 (+8613800138000), so one person is one member whatever way the number was typed.
import { getCountryForTimezone } from 'countries-and-timezones'
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max'
import { invalid } from '../../lib/errors.ts'

/** Normalises a phone number to E.164; numbers without a country code are read as from `defaultCountry`. */
export function normalisePhone(input: string, defaultCountry: CountryCode = 'CN'): string {
  const raw = input.trim().replace(/^00/, '+')
  const parsed = parsePhoneNumberFromString(raw, defaultCountry)
  if (!parsed || !parsed.isValid()) throw invalid('invalid_phone', `${input} is not a valid phone number`)
  return parsed.number
}

const COUNTRY_OF_CURRENCY: Record<string, CountryCode> = { CNY: 'CN', HKD: 'HK', MOP: 'MO', TWD: 'TW', USD: 'US', UAH: 'UA', GBP: 'GB', EUR: 'DE', JPY: 'JP', SGD: 'SG', KRW: 'KR' }

/**
 * The country whose numbers a person types without a country code: the merchant's time zone's (Europe/Paris: France,
 * where its currency, EUR, names no one country), else its currency's (a zone of no country, such as UTC), else China.
 */
export function phoneCountry(s: { timeZone: string; currency: string }): CountryCode {
  const byZone = getCountryForTimezone(s.timeZone)?.id
  if (byZone && isSupportedCountry(byZone)) return byZone
  return COUNTRY_OF_CURRENCY[s.currency] ?? 'CN'
}
