// That the table-shaped statement files are parsed as a stream from disk, whatever their size: for the mapped
// connector's XLSX and GBK CSV, Allinpay's CSV (its encoding told by a pass over the file) and Stripe's JSON lines,
// a small and a ten-times larger file are written to disk and parsed through a content that refuses to be read
// whole. Reports lines per second and the live heap held while parsing (after a full collection, mid-stream), which
// should be about the same for both sizes. And UnionPay's fetched day: the file-transfer answer as downloaded to disk
// (the settlement zip DEFLATE-compressed and base64-encoded in fileContent, signed), verified, decoded and inflated
// from there to the downloads spool, and its INN flow file parsed from the zip. Last line: JSON.
// Usage: npm run bench:statement-files [-- --rows 200000]
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import ExcelJS from 'exceljs'
import iconv from 'iconv-lite'
import { mapped } from '../src/connectors/payment/mapped/index.ts'
import { allinpay } from '../src/connectors/payment/allinpay/index.ts'
import { stripe } from '../src/connectors/payment/stripe/index.ts'
import { contentOnDisk, type StatementContent } from '../src/core/reconciliation/file.ts'
import type { ParsedStatement } from '../src/core/reconciliation/types.ts'
import { generateKeyPairSync } from 'node:crypto'
import { Readable } from 'node:stream'
import { deflateSync } from 'node:zlib'
import { unionpay } from '../src/connectors/payment/unionpay/index.ts'
import { saveSettlementZip, verifiedAnswer } from '../src/connectors/payment/unionpay/file-transfer.ts'
import { formatAnswer, signFields } from '../src/connectors/payment/unionpay/signing.ts'
import { innRecord, SANDBOX_MER_ID, unionpaySettlementZip } from '../src/sandboxes/vendors/unionpay.ts'
import { spool } from '../src/lib/spool.ts'
import { round1 } from './lib.ts'

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '200000' } } })
const LARGE = Number(args.rows)
const SMALL = Math.max(1000, Math.round(LARGE / 10))
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc (npm run bench:statement-files does)')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-bench-files-'))
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))

const ref = (i: number) => `SH01T03-20260314-${String(i).padStart(8, '0')}`
const cents = (i: number) => 100 + ((i * 7919) % 500_000)
const yuan = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`

/** Writes a file line by line, never whole. */
async function writeLines(file: string, lines: Iterable<string>, encode: (s: string) => Buffer = (s) => Buffer.from(s, 'utf8')) {
  const out = fs.createWriteStream(file)
  for (const l of lines) if (!out.write(encode(`${l}\n`))) await new Promise<void>((r) => out.once('drain', () => r()))
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
}

const MAPPED_XLSX = { columns: { ourRef: 'Order No', channelTxnId: 'Txn ID', amount: 'Amount', fee: 'Fee', time: 'Time' }, currency: 'CNY' }
const MAPPED_CSV = { columns: { ourRef: '商户订单号', channelTxnId: '银行流水号', amount: '交易金额(元)', fee: '手续费(元)', time: '交易时间' }, encoding: 'gbk' }

interface Format {
  name: string
  write(file: string, rows: number): Promise<void>
  parse(content: StatementContent): ParsedStatement
  /** The amount of row i in fen, as written. */
  amount?(i: number): number
}

const FORMATS: Format[] = [
  {
    name: 'mapped_xlsx',
    async write(file, rows) {
      const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useSharedStrings: false })
      const ws = wb.addWorksheet('明细')
      ws.addRow(['Time', 'Order No', 'Txn ID', 'Amount', 'Fee']).commit()
      for (let i = 0; i < rows; i++) ws.addRow(['2026-03-14 12:00:00', ref(i), `B${i}`, cents(i) / 100, 0.01]).commit()
      ws.commit()
      await wb.commit()
    },
    parse: (content) => mapped.capabilities.parseStatement!({ format: 'mapped', content }, mapped.config.parse(MAPPED_XLSX)),
  },
  {
    name: 'mapped_gbk_csv',
    write: (file, rows) =>
      writeLines(
        file,
        (function* () {
          yield '交易时间,商户订单号,银行流水号,交易金额(元),手续费(元),交易类型'
          for (let i = 0; i < rows; i++) yield `2026-03-14 12:00:00,${ref(i)},B${i},${yuan(cents(i))},0.01,消费`
        })(),
        (s) => iconv.encode(s, 'gbk'),
      ),
    parse: (content) => mapped.capabilities.parseStatement!({ format: 'mapped', content }, mapped.config.parse(MAPPED_CSV)),
  },
  {
    name: 'allinpay_csv_auto',
    write: (file, rows) => {
      const fixture = fs.readFileSync(new URL('../test/fixtures/allinpay/card-bill-2026-03-14.csv', import.meta.url), 'utf8').split('\n')
      return writeLines(
        file,
        (function* () {
          yield fixture[0]!
          for (let i = 0; i < rows; i++) yield fixture[1]!.replace('260314000000000001', `2603140001${String(i).padStart(8, '0')}`).replace('SH01T03-20260314-000815', ref(i))
        })(),
        (s) => iconv.encode(s, 'gbk'),
      )
    },
    amount: () => 8800,
    parse: (content) => allinpay.capabilities.parseStatement!({ format: 'allinpay', content }, allinpay.config.parse({})),
  },
  {
    name: 'stripe_jsonl',
    write: (file, rows) =>
      writeLines(
        file,
        (function* () {
          for (let i = 0; i < rows; i++) {
            const amount = cents(i)
            yield JSON.stringify({
              id: `txn_${String(i).padStart(24, '0')}`,
              object: 'balance_transaction',
              amount,
              fee: 30,
              net: amount - 30,
              currency: 'usd',
              type: 'charge',
              reporting_category: 'charge',
              status: 'available',
              created: 1773446400 + (i % 86_400),
              source: { id: `ch_${i}`, object: 'charge', payment_intent: `pi_${i}`, metadata: { payment_no: ref(i) } },
            })
          }
        })(),
      ),
    parse: (content) => stripe.capabilities.parseStatement!({ format: 'stripe_balance', content }, stripe.config.parse({ secretKey: 'sk_test_bench' })),
  },
]

/** The file on disk, read only as a stream. */
function streamOnly(file: string): StatementContent {
  const c = contentOnDisk(file)
  return { size: c.size, path: c.path, chunks: (o) => c.chunks(o), bytes: () => { throw new Error('the file was read whole') } }
}

async function measure(format: Format, rows: number) {
  const file = path.join(dir, `${format.name}-${rows}`)
  await format.write(file, rows)
  const size = fs.statSync(file).size
  gc!()
  const heapBefore = process.memoryUsage().heapUsed
  let held = 0
  // Twenty samples a file, whatever its size.
  const every = Math.max(1, Math.floor(rows / 20))
  let n = 0
  let amount = 0
  const started = performance.now()
  for await (const line of format.parse(streamOnly(file)).lines) {
    n++
    amount += line.amount
    if (n % every === 0) {
      gc!()
      held = Math.max(held, process.memoryUsage().heapUsed - heapBefore)
    }
  }
  const ms = performance.now() - started
  fs.rmSync(file)
  if (n !== rows) throw new Error(`${format.name}: ${n} lines parsed of ${rows}`)
  let expected = 0
  for (let i = 0; i < rows; i++) expected += (format.amount ?? cents)(i)
  if (amount !== expected) throw new Error(`${format.name}: Σ ${amount} fen parsed, ${expected} written`)
  return { rows, mb: round1(size / 1e6), linesPerS: Math.round((n / ms) * 1000), heldMb: round1(held / 1e6) }
}

const UNIONPAY_DAY = '2026-03-14'
const unionpayKeys = generateKeyPairSync('rsa', { modulusLength: 2048 })

/** The answer UnionPay's file transfer gives for a day of `rows` records, as the client downloads it to disk. */
function writeUnionpayAnswer(file: string, rows: number) {
  const hhmmss = (i: number) => {
    const sec = 8 * 3600 + Math.floor((i * 14 * 3600) / rows)
    return [sec / 3600, (sec / 60) % 60, sec % 60].map((v) => String(Math.floor(v)).padStart(2, '0')).join('')
  }
  const records = Array.from({ length: rows }, (_, i) => {
    const fee = Math.round(cents(i) * 0.006)
    const [feeText, settleText] = [fee, cents(i) - fee].map((v) => String(v).padStart(12, '0'))
    const trace = String((i * 7919) % 1_000_000).padStart(6, '0')
    return innRecord({ trace, time: `0314${hhmmss(i)}`, amount: cents(i), queryId: `51260314${hhmmss(i)}${String(i).padStart(7, '0')}`, orderId: ref(i), fee: `D${feeText}`, settle: `C${settleText}`, terminal: `T${String(i % 40).padStart(7, '0')}` })
  })
  const zip = unionpaySettlementZip({ merId: SANDBOX_MER_ID, date: UNIONPAY_DAY, records })
  const fields: Record<string, string> = {
    accessType: '0', bizType: '000000', encoding: 'UTF-8', fileContent: deflateSync(zip).toString('base64'), fileName: `${SANDBOX_MER_ID}_20260314.zip`,
    fileType: '00', merId: SANDBOX_MER_ID, respCode: '00', respMsg: '成功[0000000]', settleDate: '0314', signMethod: '01', txnSubType: '01', txnTime: '20260315100000', txnType: '76', version: '5.1.0',
  }
  fs.writeFileSync(file, formatAnswer({ ...fields, signature: signFields(fields, unionpayKeys.privateKey) }))
}

async function measureUnionpayFetch(rows: number) {
  const file = path.join(dir, `unionpay-answer-${rows}`)
  writeUnionpayAnswer(file, rows)
  const size = fs.statSync(file).size
  gc!()
  const heapBefore = process.memoryUsage().heapUsed
  let held = 0
  const sample = () => {
    gc!()
    held = Math.max(held, process.memoryUsage().heapUsed - heapBefore)
  }
  const started = performance.now()
  // What fetchSettlementZip does once the answer is on disk, with the downloads spool sampled as it is written.
  const answer = await verifiedAnswer(file, { merId: SANDBOX_MER_ID, unionpayPublicKey: unionpayKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString() }, new Date())
  let chunks = 0
  const saved = await saveSettlementZip(answer, UNIONPAY_DAY, (source) =>
    spool(Readable.from((async function* () {
      for await (const chunk of source) {
        if (++chunks % 64 === 0) sample()
        yield chunk
      }
    })()), dir),
  )
  await answer.discard()
  const every = Math.max(1, Math.floor(rows / 20))
  let n = 0
  let amount = 0
  for await (const line of unionpay.capabilities.parseStatement!({ format: 'unionpay_inn', content: streamOnly(saved.path), businessDate: UNIONPAY_DAY }, unionpay.config.parse({ merId: SANDBOX_MER_ID })).lines) {
    n++
    amount += line.amount
    if (n % every === 0) sample()
  }
  const ms = performance.now() - started
  await saved.discard()
  if (n !== rows) throw new Error(`unionpay_fetch: ${n} lines parsed of ${rows}`)
  let expected = 0
  for (let i = 0; i < rows; i++) expected += cents(i)
  if (amount !== expected) throw new Error(`unionpay_fetch: Σ ${amount} fen parsed, ${expected} written`)
  return { rows, mb: round1(size / 1e6), linesPerS: Math.round((n / ms) * 1000), heldMb: round1(held / 1e6) }
}

const results: Record<string, unknown> = {}
const MEASURED = [
  ...FORMATS.map((f) => ({ name: f.name, measure: (rows: number) => measure(f, rows) })),
  { name: 'unionpay_fetch', measure: measureUnionpayFetch },
]
for (const format of MEASURED) {
  const small = await format.measure(SMALL)
  const large = await format.measure(LARGE)
  console.log(
    `${format.name.padEnd(18)} ${String(small.rows).padStart(8)} rows (${small.mb} MB): ${small.linesPerS.toLocaleString('en')} lines/s, live heap held ${small.heldMb} MB | ` +
      `${large.rows} rows (${large.mb} MB): ${large.linesPerS.toLocaleString('en')} lines/s, live heap held ${large.heldMb} MB`,
  )
  results[format.name] = { lines_per_s: large.linesPerS, file_mb: large.mb, live_heap_mb_small: small.heldMb, live_heap_mb_large: large.heldMb }
}
console.log(JSON.stringify({ rows: LARGE, rows_small: SMALL, formats: results }))
