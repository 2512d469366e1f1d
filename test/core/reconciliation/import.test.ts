import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { streamOnly } from '../../helpers/content.ts'
import { contentInMemory, contentOnDisk } from '../../../src/core/reconciliation/file.ts'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { importStatement, recordEmptyStatement, type ImportStatementInput } from '../../../src/core/reconciliation/import.ts'
import { StatementFormatError, type ParsedStatement, type StatementLine } from '../../../src/core/reconciliation/types.ts'
import { at, line, openShop, statementOf, totalsOf, TZ, type Shop } from './helpers.ts'

describe('importing a statement', () => {
  const hub = useTestHub()

  const someLines = (n: number, day = '2026-11-10') =>
    Array.from({ length: n }, (_, i) => line({ ourRef: `TB2611100900${String(i).padStart(2, '0')}ABCDEFGH`, amount: 100 + i, feeMilli: 600 + i, occurredAt: at(`${day} 10:00:00`) }))

  const input = (shop: Shop, parsed: ParsedStatement, over: Partial<ImportStatementInput> = {}): ImportStatementInput => ({
    merchantId: shop.m.merchantId,
    connectionId: shop.connectionId,
    format: 'mapped',
    businessDate: '2026-11-10',
    source: 'uploaded',
    fileName: 'bill.csv',
    content: contentInMemory(Buffer.from('the original file')),
    contentType: 'text/csv',
    parsed,
    timeZone: TZ,
    ...over,
  })

  const statements = async (shop: Shop) =>
    (
      await hub.database.db.execute<{ id: string; status: string; line_count: number; reject_reason: string | null; lines: number; file: Buffer | null }>(sql`
        select s.id, s.status, s.line_count, s.reject_reason, (select count(*)::int from settlement_lines l where l.statement_id = s.id) as lines,
               (select content from statement_files f where f.statement_id = s.id) as file
          from settlement_statements s where s.merchant_id = ${shop.m.merchantId} order by s.created_at, s.id`)
    ).rows
  const lineCount = async (shop: Shop) => (await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from settlement_lines where merchant_id = ${shop.m.merchantId}`)).rows[0]!.n

  it('streams the lines in batches with the statement and keeps the original bytes and both sets of totals', async () => {
    const shop = await openShop(hub)
    const lines = someLines(7)
    const r = await importStatement(hub.database.db, input(shop, statementOf(lines), { batchSize: 3 }))
    expect(r).toMatchObject({ status: 'imported', lineCount: 7, superseded: [] })
    if (r.status !== 'imported') throw new Error('not imported')
    expect(r.controlTotals.ours).toEqual(totalsOf(lines))
    expect(r.controlTotals.file).toEqual(totalsOf(lines))
    const [s] = await statements(shop)
    expect(s).toMatchObject({ status: 'imported', line_count: 7, lines: 7 })
    expect(s!.file!.toString()).toBe('the original file')
    const stored = await hub.database.db.execute<{ our_ref: string; amount: number; fee_milli: number; business_date: string; line_no: number }>(
      sql`select our_ref, amount, fee_milli, business_date::text, line_no from settlement_lines where statement_id = ${r.statementId} order by line_no`,
    )
    expect(stored.rows[0]).toEqual({ our_ref: lines[0]!.ourRef, amount: 100, fee_milli: 600, business_date: '2026-11-10', line_no: 2 })
  })

  it('writes lines of any length and script whole, across the chunks the COPY text is sent in', async () => {
    const shop = await openShop(hub)
    // Three-byte characters and COPY's escapes in every line; the first line and one further on longer than a whole chunk (64 KiB).
    const lines = Array.from({ length: 600 }, (_, i) =>
      line({
        lineNo: i + 2,
        ourRef: `TB${String(i).padStart(6, '0')}`,
        status: i === 0 || i === 300 ? `成功${'退款处理中'.repeat(9_000)}` : `成功\t支付\\${'中'.repeat(i % 50)}`,
        amount: 100 + i,
        occurredAt: at('2026-11-10 10:00:00'),
      }),
    )
    const r = await importStatement(hub.database.db, input(shop, statementOf(lines), { batchSize: 1000 }))
    expect(r).toMatchObject({ status: 'imported', lineCount: 600 })
    if (r.status !== 'imported') throw new Error('not imported')
    const stored = await hub.database.db.execute<{ our_ref: string; status: string; amount: number }>(
      sql`select our_ref, status, amount from settlement_lines where statement_id = ${r.statementId} order by line_no`,
    )
    expect(stored.rows).toEqual(lines.map((l) => ({ our_ref: l.ourRef, status: l.status, amount: l.amount })))
  })

  it('writes whole numbers and instants exactly: line numbers, amounts and fees of every length, signed, up to the largest safe integer; times to the millisecond', async () => {
    const shop = await openShop(hub)
    const big = Number.MAX_SAFE_INTEGER
    const values = [0, -0, 7, 9, 10, 99, 100, 101, 999_999, 1_000_000, 4_294_967_295, 4_294_967_296, 123_456_789_012, big - 1, big]
    // Around PostgreSQL's epoch (2000-01-01) and far from it, with milliseconds.
    const times = ['1999-12-31T23:59:59.999Z', '2000-01-01T00:00:00.000Z', '2000-01-01T00:00:00.001Z', '1970-01-01T00:00:00.000Z', '2026-11-10T02:00:00.123Z', '2099-12-31T15:59:59.500Z']
    const lines = values.map((v, i) =>
      line({
        lineNo: [2, 9, 10, 99, 100, 1_000_000, 2_147_483_000][i % 7]! + i,
        kind: 'adjustment',
        ourRef: `ADJ${i}`,
        amount: i % 2 ? -v : v,
        feeMilli: i % 3 ? v : -v,
        occurredAt: new Date(times[i % times.length]!),
      }),
    )
    lines[6] = { ...lines[6]!, lineNo: 2_147_483_647 }
    const r = await importStatement(hub.database.db, input(shop, statementOf(lines, null)))
    expect(r).toMatchObject({ status: 'imported', lineCount: values.length })
    if (r.status !== 'imported') throw new Error('not imported')
    const stored = await hub.database.db.execute<{ line_no: number; amount: string; fee_milli: string; occurred_at: string }>(
      sql`select line_no, amount::text, fee_milli::text, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as occurred_at
            from settlement_lines where statement_id = ${r.statementId} order by our_ref`,
    )
    const want = lines.map((l) => ({ ref: l.ourRef!, line_no: l.lineNo, amount: String(l.amount), fee_milli: String(l.feeMilli), occurred_at: l.occurredAt.toISOString() }))
    want.sort((a, b) => (a.ref < b.ref ? -1 : 1))
    expect(stored.rows).toEqual(want.map(({ ref, ...w }) => w))
  })

  it('keeps a binary original of several hundred kilobytes byte for byte, and one that was rejected before is replaced', async () => {
    const shop = await openShop(hub)
    // Every byte value, backslashes, tabs and newlines included, over several of the chunks the file is written in.
    const bytes = Buffer.alloc(300_000)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 8)) & 0xff
    const refused = await importStatement(hub.database.db, input(shop, statementOf(someLines(2), { count: 9 }), { content: contentInMemory(bytes) }))
    expect(refused).toMatchObject({ status: 'rejected', code: 'control_totals_mismatch' })
    const r = await importStatement(hub.database.db, input(shop, statementOf(someLines(2)), { content: contentInMemory(bytes) }))
    expect(r).toMatchObject({ status: 'imported', statementId: refused.statementId })
    const [s] = await statements(shop)
    expect(s!.status).toBe('imported')
    expect(Buffer.compare(s!.file!, bytes)).toBe(0)
  })

  it('records our payment numbers that are on more than one payment line of the file, and only those', async () => {
    const shop = await openShop(hub)
    const [a, b, c] = someLines(3)
    const refunds = [line({ kind: 'refund', ourRef: 'RF-1', ourPaymentRef: a!.ourRef, amount: 50, occurredAt: at('2026-11-10 11:00:00') })]
    const lines = [a!, b!, { ...a!, channelTxnId: 'AGAIN' }, c!, { ...c!, channelTxnId: 'AGAIN-C' }, { ...c!, channelTxnId: 'THIRD-C' }, ...refunds, { ...refunds[0]! }]
    const r = await importStatement(hub.database.db, input(shop, statementOf(lines)))
    expect(r.status).toBe('imported')
    const refsOf = async (id: string) =>
      (await hub.database.db.execute<{ refs: string[] | null }>(sql`select repeated_refs as refs from settlement_statements where id = ${id}`)).rows[0]!.refs
    // a refund number twice is no payment number twice: only payment lines are counted
    expect(new Set(await refsOf(r.statementId))).toEqual(new Set([a!.ourRef, c!.ourRef]))
    const plain = await importStatement(hub.database.db, input(shop, statementOf(someLines(5, '2026-11-11')), { businessDate: '2026-11-11' }))
    expect(await refsOf(plain.statementId)).toEqual([])
  })

  it('recognises the same file again and imports it only once', async () => {
    const shop = await openShop(hub)
    const first = await importStatement(hub.database.db, input(shop, statementOf(someLines(3))))
    const again = await importStatement(hub.database.db, input(shop, statementOf(someLines(3))))
    expect(again).toEqual({ status: 'duplicate', statementId: first.statementId, lineCount: 3, reactivated: false })
    expect(await lineCount(shop)).toBe(3)
  })

  it('a new file for the day supersedes the old one; the old one again becomes current again', async () => {
    const shop = await openShop(hub)
    const a = await importStatement(hub.database.db, input(shop, statementOf(someLines(2)), { content: contentInMemory(Buffer.from('file A')) }))
    const b = await importStatement(hub.database.db, input(shop, statementOf(someLines(3)), { content: contentInMemory(Buffer.from('file B')) }))
    expect(b).toMatchObject({ status: 'imported', superseded: [a.statementId] })
    expect((await statements(shop)).map((s) => s.status)).toEqual(['superseded', 'imported'])
    const back = await importStatement(hub.database.db, input(shop, statementOf(someLines(2)), { content: contentInMemory(Buffer.from('file A')) }))
    expect(back).toMatchObject({ status: 'duplicate', statementId: a.statementId, reactivated: true })
    expect((await statements(shop)).map((s) => s.status)).toEqual(['imported', 'superseded'])
    // Another format of the same day stands beside it.
    await importStatement(hub.database.db, input(shop, statementOf(someLines(1)), { content: contentInMemory(Buffer.from('fund flow')), format: 'wechat_fundflow' }))
    expect((await statements(shop)).map((s) => s.status)).toEqual(['imported', 'superseded', 'imported'])
  })

  it('refuses a file whose control totals disagree with its rows: nothing imported, the reason kept', async () => {
    const shop = await openShop(hub)
    const lines = someLines(5)
    const r = await importStatement(hub.database.db, input(shop, statementOf(lines, { ...totalsOf(lines), paymentAmount: totalsOf(lines).paymentAmount! + 1 }), { batchSize: 2 }))
    expect(r).toMatchObject({ status: 'rejected', code: 'control_totals_mismatch' })
    if (r.status !== 'rejected') throw new Error('not rejected')
    expect(r.reason).toContain('payment amount (minor units): the file states 511, its rows add up to 510')
    expect(await lineCount(shop)).toBe(0)
    const [s] = await statements(shop)
    expect(s).toMatchObject({ id: r.statementId, status: 'rejected', line_count: 0, lines: 0 })
    expect(s!.reject_reason).toContain('control totals')
    expect(s!.file!.toString()).toBe('the original file')
    // The same bad file again is still refused, on the same record.
    const again = await importStatement(hub.database.db, input(shop, statementOf(lines, { count: 4 })))
    expect(again).toMatchObject({ status: 'rejected', statementId: r.statementId, code: 'control_totals_mismatch' })
    expect((await statements(shop)).length).toBe(1)
  })

  it('refuses a file that breaks mid-way, after batches were written, with the line number', async () => {
    const shop = await openShop(hub)
    const parsed: ParsedStatement = {
      lines: (async function* () {
        for (const l of someLines(6)) yield { ...l, lineNo: 0 }
        throw new StatementFormatError('amount "12.345" has more than 2 decimals', 9)
      })(),
      controlTotals: () => null,
    }
    const r = await importStatement(hub.database.db, input(shop, parsed, { batchSize: 2 }))
    expect(r).toMatchObject({ status: 'rejected', code: 'format_error', lineNo: 9 })
    if (r.status === 'rejected') expect(r.reason).toBe('line 9: amount "12.345" has more than 2 decimals')
    expect(await lineCount(shop)).toBe(0)
  })

  it('refuses lines that are not integer minor units, or dated beyond what is stored exactly, naming the line', async () => {
    const shop = await openShop(hub)
    const bad: StatementLine[] = [line({ amount: 100, lineNo: 2 }), { ...line({ amount: 100, lineNo: 3 }), amount: 12.5 }]
    const r = await importStatement(hub.database.db, input(shop, statementOf(bad, null)))
    expect(r).toMatchObject({ status: 'rejected', code: 'format_error', lineNo: 3 })
    if (r.status === 'rejected') expect(r.reason).toContain('not a whole number of minor units')
    const far = await importStatement(hub.database.db, input(shop, statementOf([line({ amount: 100, lineNo: 2, occurredAt: new Date('2300-01-01T00:00:00Z') })], null)))
    expect(far).toMatchObject({ status: 'rejected', code: 'format_error', lineNo: 2 })
    if (far.status === 'rejected') expect(far.reason).toContain('the time of the line (2300-01-01T00:00:00.000Z) is out of range')
    expect(await lineCount(shop)).toBe(0)
  })

  it('checks the channel’s hash before reading a line, over the raw or the decompressed file', async () => {
    const shop = await openShop(hub)
    const bill = Buffer.from('交易时间,商户订单号\n`2026-11-10 10:00:00,`TB1\n')
    const gz = gzipSync(bill)
    const sha1 = createHash('sha1').update(bill).digest('hex')
    let read = false
    const watched = (): ParsedStatement => {
      const inner = statementOf(someLines(2))
      return {
        lines: (async function* () {
          read = true
          yield* inner.lines
        })(),
        controlTotals: () => inner.controlTotals(),
      }
    }
    // The hash of the compressed bytes is not what WeChat signs: refused, and the parser never ran.
    const wrong = await importStatement(hub.database.db, input(shop, watched(), { content: contentInMemory(gz), vendorHash: { algorithm: 'sha1', value: createHash('sha1').update(gz).digest('hex'), over: 'decompressed' } }))
    expect(wrong).toMatchObject({ status: 'rejected', code: 'hash_mismatch' })
    expect(read).toBe(false)
    expect(await lineCount(shop)).toBe(0)
    // The right hash (upper case, as some channels print it) over the decompressed bill: imported, on the record that was refused.
    const right = await importStatement(hub.database.db, input(shop, watched(), { content: contentInMemory(gz), vendorHash: { algorithm: 'sha1', value: sha1.toUpperCase(), over: 'decompressed' } }))
    expect(right).toMatchObject({ status: 'imported', statementId: wrong.statementId, lineCount: 2 })
    expect((await statements(shop)).map((s) => [s.status, s.reject_reason])).toEqual([['imported', null]])
    const raw = await importStatement(hub.database.db, input(shop, watched(), { content: contentInMemory(bill), businessDate: '2026-11-11', vendorHash: { algorithm: 'sha256', value: 'ab'.repeat(32), over: 'raw' } }))
    expect(raw).toMatchObject({ status: 'rejected', code: 'hash_mismatch' })
  })

  it('reads the file only as a stream: its hashes and the kept original never take it whole', async () => {
    const shop = await openShop(hub)
    // Several chunks of compressed bytes, from disk; `bytes()` (the whole file) would fail the import.
    let text = ''
    for (let i = 0; text.length < 400_000; i++) text += `${i.toString(36)},${(i * 7919).toString(16)}\n`
    const bill = Buffer.from(text)
    const gz = gzipSync(bill, { level: 1 })
    expect(gz.length).toBeGreaterThan(64 * 1024)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-import-'))
    try {
      const file = path.join(dir, 'bill.csv.gz')
      fs.writeFileSync(file, gz)
      const onDisk = contentOnDisk(file)
      const fromDisk = streamOnly(onDisk)
      const sha1 = createHash('sha1').update(bill).digest('hex')
      const r = await importStatement(hub.database.db, input(shop, statementOf(someLines(3)), { content: fromDisk, vendorHash: { algorithm: 'sha1', value: sha1, over: 'decompressed' } }))
      expect(r).toMatchObject({ status: 'imported', lineCount: 3 })
      const [kept] = await statements(shop)
      expect(Buffer.compare(kept!.file!, gz)).toBe(0)
      const [row] = (await hub.database.db.execute<{ file_sha256: string; size_bytes: number }>(sql`select file_sha256, size_bytes from settlement_statements where id = ${kept!.id}`)).rows
      expect(row).toEqual({ file_sha256: createHash('sha256').update(gz).digest('hex'), size_bytes: gz.length })
      // Refused files are kept the same way.
      const refused = await importStatement(hub.database.db, input(shop, statementOf(someLines(3), { count: 4 }), { content: fromDisk, businessDate: '2026-11-11' }))
      expect(refused).toMatchObject({ status: 'rejected', code: 'control_totals_mismatch' })
      expect(Buffer.compare((await statements(shop)).find((s) => s.id === refused.statementId)!.file!, gz)).toBe(0)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('records a day without transactions as an empty statement, which a later file supersedes', async () => {
    const shop = await openShop(hub)
    const e = await recordEmptyStatement(hub.database.db, { merchantId: shop.m.merchantId, connectionId: shop.connectionId, businessDate: '2026-11-10', message: 'No Bill Exist' })
    expect(e.created).toBe(true)
    expect((await recordEmptyStatement(hub.database.db, { merchantId: shop.m.merchantId, connectionId: shop.connectionId, businessDate: '2026-11-10', message: 'No Bill Exist' })).created).toBe(false)
    expect((await statements(shop)).map((s) => s.status)).toEqual(['empty'])
    await importStatement(hub.database.db, input(shop, statementOf(someLines(1))))
    expect((await statements(shop)).map((s) => s.status)).toEqual(['superseded', 'imported'])
  })

  it('counts lines dated outside the business day without refusing them', async () => {
    const shop = await openShop(hub)
    const lines = [line({ amount: 1, occurredAt: at('2026-11-10 23:59:59') }), line({ amount: 2, occurredAt: at('2026-11-11 00:00:00') })]
    const r = await importStatement(hub.database.db, input(shop, statementOf(lines)))
    expect(r.status).toBe('imported')
    if (r.status === 'imported') expect(r.controlTotals.outsideDay).toBe(1)
  })
})
