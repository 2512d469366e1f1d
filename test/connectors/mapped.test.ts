import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import ExcelJS from 'exceljs'
import iconv from 'iconv-lite'
import { mapped } from '../../src/connectors/payment/mapped/index.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { StatementFormatError } from '../../src/core/reconciliation/types.ts'
import { collectLines as collect, rejection } from '../helpers/connections.ts'
import { contentInMemory } from '../../src/core/reconciliation/file.ts'
import { failingAfter, streamedFromDisk } from '../helpers/content.ts'

const FIXTURE = readFileSync(new URL('../fixtures/mapped/bank-pos-export.csv', import.meta.url), 'utf8')

/** How a merchant maps the bank's POS export above, once, when connecting it. */
const BANK_MAPPING = {
  columns: {
    ourRef: '商户订单号',
    channelTxnId: '银行流水号',
    amount: '交易金额(元)',
    fee: '手续费(元)',
    date: '交易日期',
    time: '交易时间',
    type: '交易类型',
    currency: '币种',
    terminal: '终端号',
    rrn: '参考号',
    voucher: '凭证号',
  },
  timeFormat: 'HH:mm:ss',
  typeValues: { payment: ['消费'], refund: ['退货'], ignore: ['余额查询'] },
}

const parse = (bytes: string | Buffer, cfg: Record<string, unknown>) =>
  collect(mapped.capabilities.parseStatement!({ format: 'mapped', content: contentInMemory(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'utf8')) }, mapped.config.parse(cfg)))

const refusal = (p: Promise<unknown>) => rejection(p, StatementFormatError, 'expected the file to be refused')

const shanghai = (wall: string) => new Date(`${wall.replace(' ', 'T')}+08:00`)

const BANK_EXPECTED = [
  {
    lineNo: 5,
    kind: 'payment',
    ourRef: 'SH01T03-20260314-000815',
    channelTxnId: 'B2026031400000001',
    currency: 'CNY',
    amount: 8800,
    feeMilli: 44_000,
    status: 'SUCCESS',
    occurredAt: shanghai('2026-03-14 10:15:32'),
    terminalRef: 'T0000003',
    rrn: '123456789012',
    voucherNo: '000457',
  },
  { lineNo: 7, kind: 'refund', ourRef: 'SH01T03-20260314-000815', channelTxnId: 'B2026031400000009', amount: 3000, feeMilli: -15_000, status: 'REFUND', occurredAt: shanghai('2026-03-14 16:02:10') },
  { lineNo: 8, kind: 'payment', ourRef: 'SH01T01-20260314-000020', amount: 125_000, feeMilli: 750_000, currency: 'CNY', occurredAt: shanghai('2026-03-14 23:59:58') },
]

/** An XLSX workbook as a bank's portal exports it: a summary sheet first, the details on a named sheet. */
async function workbook(rows: ExcelJS.CellValue[][], sheet = '交易明细'): Promise<Buffer> {
  const wb = new ExcelJS.Workbook()
  wb.addWorksheet('汇总').addRow(['笔数', rows.length])
  const ws = wb.addWorksheet(sheet)
  ws.addRow(['POS交易明细'])
  for (const r of rows) ws.addRow(r)
  ws.getColumn(1).numFmt = 'yyyy-mm-dd hh:mm:ss'
  return Buffer.from(await wb.xlsx.writeBuffer())
}

const XLSX_MAPPING = {
  columns: { ourRef: 'Order No', channelTxnId: 'Txn ID', amount: 'Amount', fee: 'Fee', time: 'Time', type: 'Type', rrn: 'RRN' },
  typeValues: { payment: ['Sale'], refund: ['Refund', 'Void'] },
  sheet: '交易明细',
  currency: 'HKD',
}
// exceljs writes a Date as the wall clock it shows in UTC fields.
const wall = (s: string) => new Date(`${s.replace(' ', 'T')}Z`)

describe('mapped-columns statement files', () => {
  const fromDisk = streamedFromDisk()
  const parseContent = (content: ReturnType<typeof fromDisk>, cfg: Record<string, unknown>) => collect(mapped.capabilities.parseStatement!({ format: 'mapped', content }, mapped.config.parse(cfg)))

  it('is registered with its title, and refuses an incomplete mapping when the connection is configured', () => {
    expect(connectorRegistry.get('mapped')?.title).toBe('Bank or acquirer file (mapped columns)')
    expect(mapped.config.safeParse(BANK_MAPPING).success).toBe(true)
    const issues = (cfg: unknown) => (mapped.config.safeParse(cfg).error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`)
    expect(issues({ columns: { amount: 'A', time: 'T' } })).toEqual([expect.stringMatching(/^columns: map at least one reference column/)])
    expect(issues({ columns: { ourRef: 'R', amount: 'A', time: 'T', type: 'K' } })).toEqual([expect.stringMatching(/^typeValues: a type column needs typeValues/)])
    expect(issues({ columns: { ourRef: 'R', amount: 'A', time: 'T' }, timeFormat: 'HH:mm:ss' })).toEqual([expect.stringMatching(/^timeFormat: .* has no full date/)])
    expect(issues({ columns: { ourRef: 'R', amount: 'A', time: 'T' }, timeFormat: 'whenever' })).toEqual([expect.stringMatching(/^timeFormat: "whenever" is not a time pattern/)])
    expect(issues({ columns: { ourRef: 'R', amount: 'A', time: 'T', type: 'K' }, typeValues: { payment: ['X'], refund: ['x'] } })).toEqual([expect.stringMatching(/"x" is listed as both payment and refund/)])
    expect(issues({ columns: { ourRef: 'R', amount: 'A', time: 'T' }, timeZone: 'Mars/Olympus' })).toEqual([expect.stringMatching(/^timeZone: not an IANA time zone/)])
  })

  it('reads a bank CSV by header names below its title lines, dropping ignored types, blank lines and the totals line', async () => {
    const p = mapped.capabilities.parseStatement!({ format: 'mapped', content: contentInMemory(Buffer.from(FIXTURE)) }, mapped.config.parse(BANK_MAPPING))
    const lines = await collect(p)
    expect(lines).toMatchObject(BANK_EXPECTED)
    expect(lines).toHaveLength(3)
    expect(p.controlTotals()).toBeNull()
  })

  it('reads the same export encoded in GBK when the connection says so', async () => {
    const gbk = iconv.encode(FIXTURE, 'gbk')
    const lines = await parse(gbk, { ...BANK_MAPPING, encoding: 'gbk' })
    expect(lines).toEqual(await parse(FIXTURE, BANK_MAPPING))
    // Read as UTF-8 the Chinese headers are garbage: the mapped names are reported missing, not guessed.
    const e = await refusal(parse(gbk, BANK_MAPPING))
    expect(e.message).toMatch(/no column "商户订单号" \(ourRef\)/)
  })

  it('names every mapped header the file lacks, with the line of the header row found', async () => {
    const renamed = FIXTURE.replace('交易金额(元)', '交易金额').replace('参考号', '检索参考号')
    const e = await refusal(parse(renamed, BANK_MAPPING))
    expect(e.lineNo).toBe(4)
    expect(e.message).toMatch(/no column "交易金额\(元\)" \(amount\), "参考号" \(rrn\) mapped in this connection/)
    expect(e.message).toMatch(/has: 交易日期, 交易时间, 商户订单号/)
    // A mapped header printed twice is ambiguous.
    const twice = FIXTURE.replace('凭证号,币种', '凭证号,参考号')
    expect((await refusal(parse(twice, { ...BANK_MAPPING, columns: { ...BANK_MAPPING.columns, currency: undefined } }))).message).toMatch(/"参考号" more than once/)
    expect((await refusal(parse('', BANK_MAPPING))).message).toMatch(/holds no rows/)
  })

  it('refuses malformed amounts, fees, times and unknown types with their line numbers', async () => {
    const at = (line: number, from: string, to: string) => {
      const ls = FIXTURE.split('\n')
      ls[line - 1] = ls[line - 1]!.replace(from, to)
      return ls.join('\n')
    }
    let e = await refusal(parse(at(5, '88.00', '88.0O'), BANK_MAPPING))
    expect(e.lineNo).toBe(5)
    expect(e.message).toMatch(/交易金额\(元\) "88.0O" is not an amount in CNY with at most 2 decimals/)
    e = await refusal(parse(at(7, '-30.00', '-30.001'), BANK_MAPPING))
    expect(e.lineNo).toBe(7)
    e = await refusal(parse(at(5, '0.44', '0.4400001'), BANK_MAPPING))
    expect(e.message).toMatch(/line 5: 手续费\(元\) "0.4400001" is not an amount in CNY with at most 5 decimals/)
    e = await refusal(parse(at(8, '23:59:58', '23:61:58'), BANK_MAPPING))
    expect(e.message).toMatch(/line 8: 交易时间 "23:61:58" is not a time in the format HH:mm:ss/)
    e = await refusal(parse(at(7, '2026-03-14', '2026-13-14'), BANK_MAPPING))
    expect(e.lineNo).toBe(7)
    e = await refusal(parse(at(5, '消费', '预授权'), BANK_MAPPING))
    expect(e.message).toMatch(/line 5: 交易类型 "预授权" is none of the values mapped/)
    e = await refusal(parse(at(7, '-30.00', '30.00'), BANK_MAPPING))
    expect(e.message).toMatch(/line 7: .* is positive on a refund, while this file prints refunds negative/)
    e = await refusal(parse(at(5, '人民币', 'yuan'), BANK_MAPPING))
    expect(e.message).toMatch(/line 5: 币种 "yuan" is not a currency code/)
    e = await refusal(parse(at(8, '"1,250.00"', '"1,250.00'), BANK_MAPPING))
    expect(e.message).toMatch(/the CSV cannot be read/)
  })

  it('keeps fees printed to five decimals exactly and reads fees printed as deductions', async () => {
    const five = FIXTURE.replace(',0.44,', ',0.34800,').replace(',-0.15,', ',-0.12345,')
    const lines = await parse(five, BANK_MAPPING)
    expect(lines.map((l) => l.feeMilli)).toEqual([34_800, -12_345, 750_000])
    const deducted = FIXTURE.replace(',0.44,', ',-0.44,').replace(',-0.15,', ',0.15,').replace(',7.50,', ',-7.50,')
    expect((await parse(deducted, { ...BANK_MAPPING, feeSign: 'charged_negative' })).map((l) => l.feeMilli)).toEqual([44_000, -15_000, 750_000])
  })

  it('reads amounts in fen and Unix times, telling refunds by their negative sign when there is no type column', async () => {
    const csv = 'order_id;txn_id;amount_fen;fee_fen;ts\r\nA1;T1;8800;44;1773454532\r\nA1-R1;T2;-3000;-15;1773475330\r\n'
    const cfg = { columns: { ourRef: 'order_id', channelTxnId: 'txn_id', amount: 'amount_fen', fee: 'fee_fen', time: 'ts' }, timeFormat: 'unix', amountUnit: 'fen', delimiter: ';' }
    const lines = await parse(csv, cfg)
    expect(lines).toMatchObject([
      { lineNo: 2, kind: 'payment', ourRef: 'A1', amount: 8800, feeMilli: 44_000, occurredAt: new Date(1773454532_000) },
      { lineNo: 3, kind: 'refund', ourRef: 'A1-R1', amount: 3000, feeMilli: -15_000, status: 'REFUND' },
    ])
    const e = await refusal(parse(csv.replace('8800', '88.5'), cfg))
    expect(e.message).toMatch(/line 2: amount_fen "88.5" is not an amount in whole minor units/)
    expect((await refusal(parse(csv.replace('1773475330', '17734753x0'), cfg))).lineNo).toBe(3)
  })

  it('reads ISO times with and without an offset', async () => {
    const csv = 'ref,amount,at\nA1,1.00,2026-03-14T10:15:32+08:00\nA2,2.00,2026-03-14 10:15:32\nA3,3.00,2026-03-14T02:15:32Z\n'
    const lines = await parse(csv, { columns: { ourRef: 'ref', amount: 'amount', time: 'at' }, timeFormat: 'iso' })
    expect(lines.map((l) => l.occurredAt.toISOString())).toEqual(['2026-03-14T02:15:32.000Z', '2026-03-14T02:15:32.000Z', '2026-03-14T02:15:32.000Z'])
  })

  it('reads an XLSX export from its named sheet: date cells, number cells and text cells', async () => {
    const bytes = await workbook([
      ['Time', 'Order No', 'Txn ID', 'Type', 'Amount', 'Fee', 'RRN'],
      [wall('2026-03-14 10:15:32'), 'SH01-000815', 'X1', 'Sale', 88, 0.44, '123456789012'],
      [wall('2026-03-14 16:02:10'), 'SH01-000815', 'X2', 'Refund', -30, -0.15, '123456789077'],
      ['2026-03-14 23:59:58', 'SH01-000820', 'X3', 'Sale', '1,250.50', 7.503, '123456789100'],
      [wall('2026-03-14 11:20:00'), 'SH01-000821', 'X4', 'Void', -12.3, { formula: 'B2', result: 0 } as ExcelJS.CellValue, ''],
    ])
    expect(bytes.subarray(0, 2).toString()).toBe('PK')
    const lines = await parse(bytes, XLSX_MAPPING)
    expect(lines).toMatchObject([
      { lineNo: 3, kind: 'payment', ourRef: 'SH01-000815', channelTxnId: 'X1', currency: 'HKD', amount: 8800, feeMilli: 44_000, rrn: '123456789012', occurredAt: wall('2026-03-14 02:15:32') },
      { lineNo: 4, kind: 'refund', amount: 3000, feeMilli: -15_000, occurredAt: wall('2026-03-14 08:02:10') },
      { lineNo: 5, kind: 'payment', amount: 125_050, feeMilli: 750_300, occurredAt: wall('2026-03-14 15:59:58') },
      { lineNo: 6, kind: 'refund', amount: 1230, feeMilli: 0, rrn: null },
    ])
  })

  it('reads separate XLSX date and time cells, as card terminals export them', async () => {
    const bytes = await workbook([
      ['Date', 'Clock', 'Order No', 'Amount'],
      [wall('2026-03-14 00:00:00'), wall('1899-12-30 10:15:32'), 'A1', 88],
      ['2026-03-15', '00:00:01', 'A2', 1],
    ])
    const lines = await parse(bytes, { columns: { ourRef: 'Order No', amount: 'Amount', date: 'Date', time: 'Clock' }, timeFormat: 'HH:mm:ss', sheet: '交易明细' })
    expect(lines.map((l) => l.occurredAt.toISOString())).toEqual(['2026-03-14T02:15:32.000Z', '2026-03-14T16:00:01.000Z'])
  })

  it('refuses XLSX rows with malformed cells, a missing sheet and missing headers by name', async () => {
    const bad = await workbook([
      ['Time', 'Order No', 'Txn ID', 'Type', 'Amount', 'Fee', 'RRN'],
      [wall('2026-03-14 10:15:32'), 'A', 'X1', 'Sale', 88, 0.44, '1'],
      [wall('2026-03-14 10:16:00'), 'B', 'X2', 'Sale', 88.125, 0, '2'],
    ])
    let e = await refusal(parse(bad, XLSX_MAPPING))
    expect(e.message).toMatch(/line 4: Amount "88.125" is not an amount in HKD with at most 2 decimals/)
    e = await refusal(parse(bad, { ...XLSX_MAPPING, sheet: 'Details' }))
    expect(e.message).toMatch(/no sheet "Details" \(its sheets: "汇总", "交易明细"\)/)
    e = await refusal(parse(bad, { ...XLSX_MAPPING, columns: { ...XLSX_MAPPING.columns, terminal: 'Terminal ID' } }))
    expect(e.message).toMatch(/line 2: the file has no column "Terminal ID" \(terminal\)/)
    e = await refusal(parse(Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(64)]), XLSX_MAPPING))
    expect(e.message).toMatch(/XLSX file cannot be read/)
  })

  it('reads a workbook and a GBK CSV of many chunks from disk as a stream, never whole', async () => {
    const n = 20_000
    const cents = (i: number) => 100 + ((i * 7919) % 500_000)
    const rows: ExcelJS.CellValue[][] = [['Time', 'Order No', 'Txn ID', 'Type', 'Amount', 'Fee', 'RRN']]
    for (let i = 0; i < n; i++) rows.push([wall('2026-03-14 10:00:00'), `SH01-${i}`, `X${i}`, i % 10 === 9 ? 'Refund' : 'Sale', (i % 10 === 9 ? -cents(i) : cents(i)) / 100, 0, String(i)])
    const book = await workbook(rows)
    expect(book.length).toBeGreaterThan(3 * 64 * 1024)
    const fromBook = await parseContent(fromDisk(book, 'export.xlsx'), XLSX_MAPPING)
    expect(fromBook).toHaveLength(n)
    expect(fromBook.filter((l) => l.kind === 'refund')).toHaveLength(n / 10)
    expect(fromBook.reduce((a, l) => a + l.amount, 0)).toBe(rows.slice(1).reduce((a, _r, i) => a + cents(i), 0))
    expect(fromBook[n - 1]).toMatchObject({ lineNo: n + 2, ourRef: `SH01-${n - 1}`, channelTxnId: `X${n - 1}`, kind: 'refund', amount: cents(n - 1) })

    const [title, name, period, header, sale] = FIXTURE.split('\n')
    const records = Array.from({ length: n }, (_, i) => sale!.replace('SH01T03-20260314-000815', `SH01T03-20260314-${String(i).padStart(6, '0')}`))
    const gbk = iconv.encode([title, name, period, header, ...records, ''].join('\n'), 'gbk')
    expect(gbk.length).toBeGreaterThan(3 * 64 * 1024)
    const fromCsv = await parseContent(fromDisk(gbk, 'export.csv'), { ...BANK_MAPPING, encoding: 'gbk' })
    expect(fromCsv).toHaveLength(n)
    expect(new Set(fromCsv.map((l) => l.ourRef)).size).toBe(n)
    expect(fromCsv.every((l) => l.kind === 'payment' && l.amount === 8800 && l.terminalRef === 'T0000003')).toBe(true)
  })

  it('passes on a failure to read the file, CSV or workbook, rather than call the file damaged', async () => {
    const book = await workbook([['Time', 'Order No', 'Txn ID', 'Type', 'Amount', 'Fee', 'RRN']])
    await expect(parseContent(failingAfter(book, 100), XLSX_MAPPING)).rejects.toThrow(/^EIO: the disk failed$/)
    // Midway through the rows of a larger workbook.
    const rows: ExcelJS.CellValue[][] = [['Time', 'Order No', 'Txn ID', 'Type', 'Amount', 'Fee', 'RRN']]
    for (let i = 0; i < 8000; i++) rows.push([wall('2026-03-14 10:00:00'), `SH01-${i}`, `X${i}`, 'Sale', 1, 0, String(i)])
    const larger = await workbook(rows)
    expect(larger.length).toBeGreaterThan(200_000)
    await expect(parseContent(failingAfter(larger, 150_000), XLSX_MAPPING)).rejects.toThrow(/^EIO: the disk failed$/)
    await expect(parseContent(failingAfter(Buffer.from(FIXTURE), 300), BANK_MAPPING)).rejects.toThrow(/^EIO: the disk failed$/)
  })
})
