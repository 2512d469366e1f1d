import { describe, expect, it } from 'vitest'
import ExcelJS from 'exceljs'
import { readCsv, readXlsx, writeCsv, writeXlsx, type CatalogRecord } from '../../../src/core/catalog/catalog-file.ts'
import { isDomainError } from '../../../src/lib/errors.ts'

const utf8 = (s: string) => new TextEncoder().encode(s)

async function failure(f: () => unknown) {
  try {
    await f()
  } catch (e) {
    if (isDomainError(e)) return { kind: e.kind, code: e.code, message: e.message, details: e.details }
    throw e
  }
  throw new Error('expected a failure')
}

describe('catalog file reading and writing', () => {
  it('matches columns by name in any order and case, trims cells and reports unknown and repeated columns', () => {
    const sheet = readCsv(utf8('Price, SKU ,Product Name,notes,sku\n12.34, A-1 , 苹果 ,x,B\n'))
    expect(sheet.columns).toEqual(['price', 'sku', 'product_name'])
    expect(sheet.unknownColumns).toEqual(['notes'])
    expect(sheet.duplicateColumns).toEqual(['sku'])
    expect(sheet.rows).toEqual([{ line: 2, cells: { price: '12.34', sku: 'A-1', product_name: '苹果' } }])
  })

  it('numbers rows by the line they start on, across blank lines, CRLF line ends and line breaks inside quotes', () => {
    const text = 'sku,product_name\r\nA,one\r\n\r\nB,"two\r\nlines"\r\n,\r\nC,three'
    const sheet = readCsv(utf8(text))
    expect(sheet.rows.map((r) => [r.line, r.cells.sku])).toEqual([
      [2, 'A'],
      [4, 'B'],
      [7, 'C'],
    ])
    expect(sheet.rows[1]!.cells.product_name).toBe('two\nlines')
  })

  it('reads a UTF-8 file with a BOM, a semicolon-separated file and a GBK-encoded file', () => {
    expect(readCsv(utf8('\ufeffsku,product_name\nA,苹果\n')).rows[0]!.cells).toEqual({ sku: 'A', product_name: '苹果' })
    expect(readCsv(utf8('sku;price;options\nA;1.50;"Size=L;Colour=Red"\n')).rows[0]!.cells).toEqual({ sku: 'A', price: '1.50', options: 'Size=L;Colour=Red' })
    // "sku,product_name\nA,苹果\n" as Excel on a Chinese Windows saves it: 苹果 is C6 BB B9 FB in GBK.
    const gbk = new Uint8Array([...utf8('sku,product_name\nA,'), 0xc6, 0xbb, 0xb9, 0xfb, 0x0a])
    expect(readCsv(gbk).rows[0]!.cells.product_name).toBe('苹果')
  })

  it('refuses an empty file or broken CSV as a bad request naming the line', async () => {
    expect(await failure(() => readCsv(utf8('')))).toMatchObject({ kind: 'bad_request', code: 'invalid_file' })
    expect(await failure(() => readCsv(utf8('sku,product_name\nA,"unclosed\n')))).toMatchObject({ kind: 'bad_request', code: 'invalid_file', details: { line: 2 } })
  })

  it('reads worksheet cells typed as numbers, rich text and formulas as the text they show', async () => {
    const wb = new ExcelJS.Workbook()
    const ws = wb.addWorksheet('Sheet1')
    ws.addRow(['sku', 'price', 'product_name', 'barcodes', 'on_shelf'])
    ws.addRow([]) // row 2 left empty
    ws.addRow([1001, 12.34, { richText: [{ text: '苹' }, { text: '果' }] }, 4006381333931, true])
    ws.addRow(['B-2', { formula: '1+1', result: 2 }, 'Pear', null, false])
    const sheet = await readXlsx(new Uint8Array(await wb.xlsx.writeBuffer()))
    expect(sheet.rows).toEqual([
      { line: 3, cells: { sku: '1001', price: '12.34', product_name: '苹果', barcodes: '4006381333931', on_shelf: 'true' } },
      { line: 4, cells: { sku: 'B-2', price: '2', product_name: 'Pear', barcodes: '', on_shelf: 'false' } },
    ])
  })

  it('refuses bytes that are not an XLSX workbook as a bad request', async () => {
    expect(await failure(() => readXlsx(utf8('sku,price\nA,1\n')))).toMatchObject({ kind: 'bad_request', code: 'invalid_file' })
  })

  it('writes CSV and XLSX that read back to the same cells, keeping leading zeros and exact decimals', async () => {
    const record: CatalogRecord = {
      product_key: 'K-1',
      product_name: '散装"大米", 东北',
      product_name_en: 'Rice',
      category: 'Food/Grain',
      tax_category: 'reduced',
      unit: 'g',
      sku: '007',
      options: 'Grade=A',
      price: '5.90',
      price_per: '500',
      cost: '3.10',
      barcodes: '036000291452;scale_plu:01234',
      on_shelf: 'true',
      variant_tax_category: 'exempt',
      variant_unit: 'ml',
    }
    const csv = writeCsv([record])
    expect([...csv.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    expect(readCsv(csv).rows).toEqual([{ line: 2, cells: record }])
    expect((await readXlsx(await writeXlsx([record]))).rows).toEqual([{ line: 2, cells: record }])
  })
})
