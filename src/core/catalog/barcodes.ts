// Barcode rules: GTIN check digits (EAN-13, UPC-A, EAN-8), internal codes, and in-store scale labels whose
// EAN-13 carries an item code (PLU) and a weight or price.
import { sql, type SQL } from 'drizzle-orm'
import type { BarcodeKind } from './schema.ts'
import type { MerchantSettings } from '../merchants/settings.ts'

/** GS1 check digit of the digits before it (weights 3,1,3,… from the right). */
export function gtinCheckDigit(body: string): number {
  let total = 0
  for (let i = 0; i < body.length; i++) {
    const digit = body.charCodeAt(body.length - 1 - i) - 48
    total += digit * (i % 2 === 0 ? 3 : 1)
  }
  return (10 - (total % 10)) % 10
}

export const isValidGtin = (code: string) => /^\d{8}$|^\d{12,14}$/.test(code) && gtinCheckDigit(code.slice(0, -1)) === Number(code.at(-1))

/**
 * The 14-digit form of a GTIN (GS1: right-justified, zero-filled), the one key of a GTIN however it is written: a
 * UPC-A and the EAN-13 a scanner reads from it ("0" in front) are the same item. Undefined for other codes. Kept by the
 * database as barcodes.gtin, with the same rule.
 */
export function gtinKey(code: string, kind?: BarcodeKind): string | undefined {
  if (kind === undefined ? !isValidGtin(code) : kind !== 'ean13' && kind !== 'upca' && kind !== 'ean8') return undefined
  return code.padStart(14, '0')
}

/** One key per barcode however it is written: a GTIN's 14 digits (a UPC-A and its EAN-13 form agree), else the code. */
/** A code of digits typed in groups as a label prints them ("6 901234 567892"), without the spaces; else as it is. */
export const typedDigits = (code: string): string => (/^\d[\d ]*\d$/.test(code) ? code.replaceAll(' ', '') : code)

export const barcodeKey = (b: { code: string; kind: BarcodeKind }) => gtinKey(b.code, b.kind) ?? b.code

/**
 * What a barcode may share with no other of the merchant's, as the database enforces it: its code as written, and a
 * GTIN's 14 digits. Two barcodes clash when they have a key in common: an internal code and an EAN-13 of the same
 * digits, or a UPC-A and its EAN-13 form.
 */
export function barcodeKeys(b: { code: string; kind: BarcodeKind }): string[] {
  const gtin = gtinKey(b.code, b.kind)
  if (b.kind === 'scale_plu') return [`code:${b.code}`, `plu:${pluKey(b.code)}`]
  return gtin === undefined ? [`code:${b.code}`] : [`code:${b.code}`, `gtin:${gtin}`]
}

/**
 * A scale item code (PLU) however many zeros it is written with: 01234 and 1234 are one item, as the till's lookup
 * and a scale label read them (SQL: coalesce(nullif(ltrim(code, '0'), ''), '0')).
 */
export const pluKey = (code: string): string => code.replace(/^0+/, '') || '0'
export const PLU_KEY_SQL = (column: SQL) => sql`coalesce(nullif(ltrim(${column}, '0'), ''), '0')`

export type BarcodeCheck = { ok: true; kind: BarcodeKind } | { ok: false; reason: string }

/**
 * Classifies and validates a barcode. A 13-, 12- or 8-digit code is taken as EAN-13, UPC-A or EAN-8 and must carry
 * a valid check digit; other codes of letters, digits and - . _ / are internal codes. `kind` forces a reading.
 */
export function checkBarcode(code: string, kind?: BarcodeKind): BarcodeCheck {
  const c = code.trim()
  if (!/^[A-Za-z0-9._/-]{1,64}$/.test(c)) return { ok: false, reason: 'a barcode has 1–64 letters, digits or - . _ /' }
  const gtin = (k: BarcodeKind, len: number): BarcodeCheck => {
    if (!new RegExp(`^\\d{${len}}$`).test(c)) return { ok: false, reason: `${k} must have ${len} digits` }
    return isValidGtin(c) ? { ok: true, kind: k } : { ok: false, reason: `wrong check digit (expected ${gtinCheckDigit(c.slice(0, -1))})` }
  }
  switch (kind) {
    case 'ean13':
      return gtin('ean13', 13)
    case 'upca':
      return gtin('upca', 12)
    case 'ean8':
      return gtin('ean8', 8)
    case 'scale_plu':
      return /^\d{4,6}$/.test(c) ? { ok: true, kind } : { ok: false, reason: 'a scale item code (PLU) has 4–6 digits' }
    case 'internal':
      return { ok: true, kind }
    case undefined:
      if (/^\d{13}$/.test(c)) return gtin('ean13', 13)
      if (/^\d{12}$/.test(c)) return gtin('upca', 12)
      if (/^\d{8}$/.test(c)) return gtin('ean8', 8)
      return { ok: true, kind: 'internal' }
  }
}

export interface ScaleLabel {
  plu: string
  /** Grams (valueKind 'weight') or minor units (valueKind 'price'). */
  value: number
  valueKind: 'weight' | 'price'
}

/** Reads an in-store scale label (e.g. 2 + 1 + PLU 5 digits + weight 5 digits + check), or undefined if it is not one. */
export function parseScaleLabel(code: string, format: MerchantSettings['scaleBarcode']): ScaleLabel | undefined {
  if (!/^\d{13}$/.test(code) || !isValidGtin(code)) return undefined
  const prefix = code.slice(0, 2)
  if (!format.prefixes.includes(prefix)) return undefined
  const plu = code.slice(2, 2 + format.pluDigits)
  const value = Number(code.slice(2 + format.pluDigits, 12))
  return { plu, value, valueKind: format.valueKind }
}
