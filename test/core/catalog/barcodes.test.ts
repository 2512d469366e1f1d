import { describe, expect, it } from 'vitest'
import { checkBarcode, gtinCheckDigit, parseScaleLabel } from '../../../src/core/catalog/barcodes.ts'

describe('barcode rules', () => {
  it('computes the GS1 check digit of EAN-13 and UPC-A bodies', () => {
    expect(gtinCheckDigit('400638133393')).toBe(1)
    expect(gtinCheckDigit('590123412345')).toBe(7)
    expect(gtinCheckDigit('03600029145')).toBe(2)
  })

  it('accepts EAN-13 and UPC-A codes with the right check digit and names their kind', () => {
    expect(checkBarcode('4006381333931')).toEqual({ ok: true, kind: 'ean13' })
    expect(checkBarcode('036000291452')).toEqual({ ok: true, kind: 'upca' })
    expect(checkBarcode('96385074')).toEqual({ ok: true, kind: 'ean8' })
  })

  it('refuses EAN-13 and UPC-A codes whose check digit is wrong, saying which digit was expected', () => {
    expect(checkBarcode('4006381333932')).toEqual({ ok: false, reason: 'wrong check digit (expected 1)' })
    expect(checkBarcode('036000291453')).toEqual({ ok: false, reason: 'wrong check digit (expected 2)' })
    expect(checkBarcode('4006381333931', 'upca')).toMatchObject({ ok: false })
  })

  it('allows internal codes of letters and digits but refuses spaces and symbols', () => {
    expect(checkBarcode('SHOP-0042')).toEqual({ ok: true, kind: 'internal' })
    expect(checkBarcode('12345')).toEqual({ ok: true, kind: 'internal' })
    expect(checkBarcode('has space').ok).toBe(false)
    expect(checkBarcode('代码').ok).toBe(false)
  })

  it('reads an in-store scale label as item code and weight', () => {
    const body = '210002301250'
    const label = `${body}${gtinCheckDigit(body)}`
    expect(parseScaleLabel(label, { prefixes: ['21'], pluDigits: 5, valueKind: 'weight' })).toEqual({ plu: '00023', value: 1250, valueKind: 'weight' })
    expect(parseScaleLabel('4006381333931', { prefixes: ['21'], pluDigits: 5, valueKind: 'weight' })).toBeUndefined()
  })
})
