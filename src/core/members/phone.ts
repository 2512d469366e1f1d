// Phone numbers are stored in E.164 (+8613800138000), so one person is one member whatever way the number was typed.
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max'
import { invalid } from '../../lib/errors.ts'

/** Normalises a phone number to E.164; numbers without a country code are read as from `defaultCountry`. */
export function normalisePhone(input: string, defaultCountry: CountryCode = 'CN'): string {
  const raw = input.trim().replace(/^00/, '+')
  const parsed = parsePhoneNumberFromString(raw, defaultCountry)
  if (!parsed || !parsed.isValid()) throw invalid('invalid_phone', `${input} is not a valid phone number`)
  return parsed.number
}

/** The country whose numbers need no country code, from the merchant's currency. */
export const countryOfCurrency = (currency: string): CountryCode =>
  (({ CNY: 'CN', HKD: 'HK', MOP: 'MO', TWD: 'TW', USD: 'US', UAH: 'UA', GBP: 'GB', EUR: 'DE', JPY: 'JP', SGD: 'SG' }) as Record<string, CountryCode>)[currency] ?? 'CN'
