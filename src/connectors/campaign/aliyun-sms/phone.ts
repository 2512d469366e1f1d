// Numbers as Aliyun wants them: mainland numbers as 11 national digits (domestic templates), others as country code
// and number without a plus (international templates); and back to E.164 for receipts and replies.
import { parsePhoneNumberFromString } from 'libphonenumber-js/max'

/** Domestic templates reach mainland China numbers only; international templates everything else. */
export type TemplateScope = 'domestic' | 'international'

const MAINLAND_MOBILE_SHAPE = /^\+861[3-9]\d{9}$/
const mobileSegments = new Map<string, boolean>()

export type AddressCheck =
  | { ok: true; e164: string; vendorPhone: string }
  | { ok: false; code: 'invalid_number' | 'unsupported_destination'; message: string; invalidAddress: boolean }

/**
 * Checks an address before it is sent. SendBatchSms answers isv.MOBILE_NUMBER_ILLEGAL for a whole call when one of
 * its numbers is malformed, so a number that cannot be an SMS recipient never goes into a batch.
 */
export function checkAddress(address: string, scope: TemplateScope): AddressCheck {
  const raw = address.trim().replace(/[\s()-]/g, '').replace(/^00/, '+')
  // Nearly every address is a mainland mobile in E.164: parsing each costs ~50 µs, so the verdict is kept by its
  // segment (号段, the first seven digits), which alone decides whether such a number is a mobile number.
  if (MAINLAND_MOBILE_SHAPE.test(raw)) {
    const segment = raw.slice(0, 10)
    let mobile = mobileSegments.get(segment)
    if (mobile === undefined) {
      mobile = parsePhoneNumberFromString(raw)?.getType() === 'MOBILE'
      if (mobileSegments.size < 100_000) mobileSegments.set(segment, mobile)
    }
    if (mobile) return scope === 'domestic' ? { ok: true, e164: raw, vendorPhone: raw.slice(3) } : { ok: false, code: 'unsupported_destination', message: `${address} is a mainland China number; this connection sends international templates`, invalidAddress: false }
  }
  const parsed = parsePhoneNumberFromString(raw, 'CN')
  if (!parsed || !parsed.isValid()) return { ok: false, code: 'invalid_number', message: `${address} is not a valid phone number`, invalidAddress: true }
  const type = parsed.getType()
  if (type !== undefined && type !== 'MOBILE' && type !== 'FIXED_LINE_OR_MOBILE') {
    return { ok: false, code: 'invalid_number', message: `${address} is not a mobile number (${type.toLowerCase()})`, invalidAddress: true }
  }
  const mainland = parsed.country === 'CN'
  // A number the connection's templates cannot reach is a good number all the same: it is not marked invalid.
  if (scope === 'domestic' && !mainland) return { ok: false, code: 'unsupported_destination', message: `${address} is outside mainland China; this connection sends domestic templates`, invalidAddress: false }
  if (scope === 'international' && mainland) return { ok: false, code: 'unsupported_destination', message: `${address} is a mainland China number; this connection sends international templates`, invalidAddress: false }
  return { ok: true, e164: parsed.number, vendorPhone: mainland ? parsed.nationalNumber : `${parsed.countryCallingCode}${parsed.nationalNumber}` }
}

/** A number from a receipt or a reply (`13800138000`, `85291234567`, `+86…`) in E.164. */
export function e164FromVendor(phone: string): string {
  const digits = phone.trim().replace(/[\s-]/g, '')
  // A mainland mobile (the usual case, thousands per push) is E.164 as it stands once +86 is put in front.
  if (/^1[3-9]\d{9}$/.test(digits)) return `+86${digits}`
  const candidate = digits.startsWith('+') ? digits : `+${digits.replace(/^00/, '')}`
  return parsePhoneNumberFromString(candidate)?.number ?? candidate
}

/**
 * SendBatchSms gives one BizId for the whole call and keeps no id per number (OutId is per call), so a delivery is
 * known to Aliyun as the pair BizId + number: that pair is our vendor message id, and receipts carry both.
 */
export const vendorMessageIdOf = (bizId: string, e164: string): string => `${bizId}:${e164}`

export function splitVendorMessageId(id: string): { bizId: string; e164: string } | null {
  const at = id.lastIndexOf(':')
  if (at <= 0 || at === id.length - 1) return null
  return { bizId: id.slice(0, at), e164: id.slice(at + 1) }
}
