import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import ExcelJS from 'exceljs'
import { sql } from 'drizzle-orm'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { queuedJobs } from '../helpers/jobs.ts'
import { STATEMENT_UPLOAD_LIMIT } from '../../src/http/routes/reconciliation.ts'

const TZ = 'Asia/Shanghai'
const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)

/** The bank file layout the mapped connection reads: our number, the bank's id, amount and fee in yuan, time. */
const MAPPING = { columns: { ourRef: '商户订单号', channelTxnId: '流水号', amount: '交易金额', fee: '手续费', time: '交易时间', store: '门店' } }
const csv = (rows: [string, string, string, string, string, string?][]) =>
  Buffer.from(['交易时间,商户订单号,流水号,交易金额,手续费,门店', ...rows.map((r) => r.map((c) => c ?? '').join(','))].join('\n') + '\n')
const yuan = (fen: number) => `${fen < 0 ? '-' : ''}${Math.floor(Math.abs(fen) / 100)}.${String(Math.abs(fen) % 100).padStart(2, '0')}`

describe('reconciliation API', () => {
  // A data dir of its own, where raw uploads are written as they arrive.
  const { hub, files, dataDir } = useTestHubWithDataDir('recon-http')

  async function shop() {
    const m = await seedMerchant(hub, { timeZone: TZ })
    const store = await seedStore(hub, m.merchantId, { code: `K${Math.floor(Math.random() * 1e6)}` })
    const item = await seedProduct(hub, store, { price: 1, stock: 10_000_000 })
    const admin = createApi(hub).as(m.adminToken)
    const conn = await admin.post('/api/v1/connections', { connectorId: 'mapped', name: 'Bank card file', config: MAPPING })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const finance = createApi(hub).as((await m.staff('finance')).token)
    const sell = async (when: Date, amount: number) => {
      hub.setNow(when)
      try {
        const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: amount }], tenders: [{ kind: 'card', amount }] })
        expect(r.status).toBe(201)
        return r.body.tenders[0] as { id: string; paymentNo: string; amount: number }
      } finally {
        hub.setNow(undefined)
      }
    }
    return { m, store, admin, finance, connectionId: conn.body.id as string, sell }
  }

  const upload = (api: Api, connectionId: string, date: string, bytes: Buffer, extra = '') =>
    api.request('POST', `/api/v1/reconciliation/statements?connectionId=${connectionId}&date=${date}&fileName=bank-${date}.csv${extra}`, undefined, { raw: bytes, headers: { 'content-type': 'text/csv' } })

  /** Raw uploads written to disk as they arrive and not yet removed. */
  const spooled = () => files('uploads')

  it('uploads a statement, refuses to import it twice, supersedes it with a corrected file and gives back the original', async () => {
    const s = await shop()
    const t1 = await s.sell(at('2026-11-10 10:00:00'), 5800)
    const file = csv([['2026-11-10 10:00:05', t1.paymentNo, 'B001', yuan(5800), '0.35']])
    const first = await upload(s.finance, s.connectionId, '2026-11-10', file)
    expect(first.status, JSON.stringify(first.body)).toBe(201)
    expect(spooled()).toEqual([])
    expect(first.body).toMatchObject({ result: 'imported', statement: { status: 'imported', lineCount: 1, format: 'mapped', source: 'uploaded', fileName: 'bank-2026-11-10.csv', businessDate: '2026-11-10' } })
    // The day is queued for reconciliation in the background.
    expect((await queuedJobs(hub, 'settlement.reconcile')).map((j) => j.payload)).toContainEqual({ merchantId: s.m.merchantId, connectionId: s.connectionId, businessDate: '2026-11-10' })
    const again = await upload(s.finance, s.connectionId, '2026-11-10', file)
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ result: 'duplicate', statement: { id: first.body.statement.id } })

    // A corrected file as multipart/form-data.
    const corrected = csv([['2026-11-10 10:00:05', t1.paymentNo, 'B001', yuan(5800), '0.35'], ['2026-11-10 11:00:00', 'TB261110110000ZZZZZZZZ', 'B002', '1.00', '0.01']])
    const form = new FormData()
    form.set('file', new Blob([corrected], { type: 'text/csv' }), 'corrected.csv')
    form.set('connectionId', s.connectionId)
    form.set('date', '2026-11-10')
    const res = await s.finance.app.request('/api/v1/reconciliation/statements', { method: 'POST', body: form, headers: { authorization: `Bearer ${(await s.m.staff('finance')).token}` } })
    const body = (await res.json()) as any
    expect(res.status, JSON.stringify(body)).toBe(201)
    expect(body).toMatchObject({ result: 'imported', statement: { fileName: 'corrected.csv', lineCount: 2 }, superseded: [first.body.statement.id] })

    const list = await s.finance.get(`/api/v1/reconciliation/statements?connectionId=${s.connectionId}`)
    expect(list.body.items.map((x: any) => x.status)).toEqual(['imported', 'superseded'])
    const download = await s.finance.get(`/api/v1/reconciliation/statements/${first.body.statement.id}/file`)
    expect(download.status).toBe(200)
    expect(download.headers.get('content-disposition')).toContain('bank-2026-11-10.csv')
    expect(download.body).toBe(file.toString('utf8'))
    expect(download.headers.get('x-content-sha256')).toBe(first.body.statement.fileSha256)
  })

  it('takes a multipart form as it arrives: the file part written to disk, fields before or after it; a broken form is refused', async () => {
    const s = await shop()
    const token = (await s.m.staff('finance')).token
    const send = (body: FormData | Buffer | string, headers: Record<string, string> = {}) =>
      s.finance.app.request('/api/v1/reconciliation/statements', { method: 'POST', body, headers: { authorization: `Bearer ${token}`, ...headers } })
    // Many lines, and the fields after the file, as some clients send them; a file name in Chinese.
    const rows: [string, string, string, string, string][] = []
    for (let i = 0; i < 20_000; i++) rows.push(['2026-11-12 10:00:05', `TB2611121000${String(i).padStart(8, '0')}`, `B${i}`, yuan(100 + i), '0.01'])
    const big = csv(rows)
    expect(big.length).toBeGreaterThan(1_000_000)
    const form = new FormData()
    form.set('format', 'mapped')
    form.set('file', new Blob([big], { type: 'text/csv' }), '招商银行对账单-20261112.csv')
    form.set('connectionId', s.connectionId)
    form.set('date', '2026-11-12')
    // While the import waits for the database (the statements table held by another session), the file is on disk.
    const blocker = await hub.database.pool.connect()
    let res: Response
    try {
      await blocker.query('begin')
      await blocker.query('lock table settlement_statements in access exclusive mode')
      const pending = send(form)
      const onDisk = async () => {
        for (let i = 0; i < 500; i++) {
          const [name] = spooled()
          if (name && fs.statSync(path.join(dataDir, 'uploads', name)).size === big.length) return name
          await new Promise((r) => setTimeout(r, 20))
        }
        return null
      }
      expect(await onDisk()).toMatch(/\.part$/)
      await blocker.query('rollback')
      res = await pending
    } finally {
      blocker.release()
    }
    const body = (await res.json()) as any
    expect(res.status, JSON.stringify(body)).toBe(201)
    expect(body.statement).toMatchObject({ fileName: '招商银行对账单-20261112.csv', lineCount: 20_000, sizeBytes: big.length })
    expect(spooled()).toEqual([])
    const kept = await s.finance.get(`/api/v1/reconciliation/statements/${body.statement.id}/file`)
    expect(kept.body).toBe(big.toString('utf8'))
    expect(kept.headers.get('content-type')).toMatch(/^text\/csv/)

    // Cut off in the middle of the file part: refused, nothing imported, nothing left on disk.
    const whole = Buffer.from(await new Response(form).arrayBuffer())
    const boundary = /^--(\S+)\r\n/.exec(whole.toString('latin1'))![1]!
    const cut = await send(whole.subarray(0, whole.length >> 1), { 'content-type': `multipart/form-data; boundary=${boundary}` })
    expect(cut.status).toBe(400)
    expect(await cut.json()).toMatchObject({ error: { code: 'invalid_multipart' } })
    expect(spooled()).toEqual([])
    const noBoundary = await send('x', { 'content-type': 'multipart/form-data' })
    expect(noBoundary.status).toBe(400)
    expect(await noBoundary.json()).toMatchObject({ error: { code: 'invalid_multipart' } })
    const noFile = new FormData()
    noFile.set('connectionId', s.connectionId)
    noFile.set('date', '2026-11-12')
    noFile.set('attachment', new Blob(['a,b\n']), 'other.csv')
    const missing = await send(noFile)
    expect(missing.status).toBe(400)
    expect(await missing.json()).toMatchObject({ error: { code: 'file_required' } })
    expect(spooled()).toEqual([])
    const list = await s.finance.get(`/api/v1/reconciliation/statements?connectionId=${s.connectionId}`)
    expect(list.body.items).toHaveLength(1)
  })

  it('writes a chunked upload to disk as it arrives, and refuses one that grows over the limit with 413, leaving nothing', async () => {
    const s = await shop()
    const token = (await s.m.staff('finance')).token
    const url = `/api/v1/reconciliation/statements?connectionId=${s.connectionId}&date=2026-11-13&fileName=chunked.csv`
    const send = (body: ReadableStream<Uint8Array>) =>
      s.finance.app.request(url, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, duplex: 'half' } as RequestInit)
    const file = csv([['2026-11-13 10:00:05', 'TB261113100000AAAAAAAA', 'B1', '1.00', '0.01']])
    const head = file.subarray(0, 40)
    // The first part of the body, then nothing until the test has seen that part on disk.
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(head)
        await held
        controller.enqueue(file.subarray(40))
        controller.close()
      },
    })
    const pending = send(body)
    let seen = false
    for (let i = 0; i < 500 && !seen; i++) {
      const [name] = spooled()
      seen = name !== undefined && fs.statSync(path.join(dataDir, 'uploads', name)).size === head.length
      if (!seen) await new Promise((r) => setTimeout(r, 10))
    }
    release()
    expect(seen).toBe(true)
    const res = await pending
    expect(res.status).toBe(201)
    expect(((await res.json()) as any).statement).toMatchObject({ fileName: 'chunked.csv', lineCount: 1, sizeBytes: file.length })
    expect(spooled()).toEqual([])

    // One byte over the limit, sent in chunks with no declared length.
    let sent = 0
    const chunk = new Uint8Array(1024 * 1024)
    const tooBig = new ReadableStream<Uint8Array>({
      pull(controller) {
        const n = Math.min(chunk.length, STATEMENT_UPLOAD_LIMIT + 1 - sent)
        if (n === 0) return controller.close()
        controller.enqueue(chunk.subarray(0, n))
        sent += n
      },
    })
    const refused = await send(tooBig)
    expect(refused.status).toBe(413)
    expect(await refused.json()).toMatchObject({ error: { code: 'payload_too_large' } })
    expect(spooled()).toEqual([])
    // A body that declares a size over the limit is refused before it is read.
    const declared = await s.finance.app.request(url, { method: 'POST', body: 'x', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv', 'content-length': String(STATEMENT_UPLOAD_LIMIT + 1) } })
    expect(declared.status).toBe(413)
    expect(spooled()).toEqual([])
    const list = await s.finance.get(`/api/v1/reconciliation/statements?connectionId=${s.connectionId}`)
    expect(list.body.items.map((x: any) => x.fileName)).toEqual(['chunked.csv'])
  })

  it('carries a payment the channel has not settled for the merchant\'s number of days, three unless changed', async () => {
    const s = await shop()
    const t1 = await s.sell(at('2026-11-16 10:00:00'), 5800)
    await s.sell(at('2026-11-16 11:00:00'), 1200)
    expect((await upload(s.finance, s.connectionId, '2026-11-16', csv([['2026-11-16 10:00:05', t1.paymentNo, 'B1', yuan(5800), '0.35']]))).status).toBe(201)
    const run = () => s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-16' })
    expect((await s.admin.get('/api/v1/merchant/settings')).body.reconciliation).toEqual({ carryDays: 3 })
    expect((await run()).body.counts).toMatchObject({ matched: 1, timing: 1, missing_in_channel: 0 })

    const bad = await s.admin.patch('/api/v1/merchant/settings', { reconciliation: { carryDays: -1 } })
    expect(bad.status).toBe(400)
    const changed = await s.admin.patch('/api/v1/merchant/settings', { reconciliation: { carryDays: 0 } })
    expect(changed.status, JSON.stringify(changed.body)).toBe(200)
    expect(changed.body.reconciliation).toEqual({ carryDays: 0 })
    // Not carried over at all now: missing in the channel at once.
    const again = await run()
    expect(again.body).toMatchObject({ status: 'exceptions', reused: false, counts: { matched: 1, timing: 0, missing_in_channel: 1 } })
  })

  it('a payment the channel settles the next day counts on the till’s day and on the channel’s, in the summary as in each day’s run', async () => {
    const s = await shop()
    const a = await s.sell(at('2026-11-16 10:00:00'), 1000)
    const late = await s.sell(at('2026-11-16 23:59:59'), 5800)
    const b = await s.sell(at('2026-11-17 10:00:00'), 2000)
    expect((await upload(s.finance, s.connectionId, '2026-11-16', csv([['2026-11-16 10:00:05', a.paymentNo, 'B1', yuan(1000), '0.06']]))).status).toBe(201)
    const run16 = (await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-16' })).body
    const bill17 = csv([
      ['2026-11-17 00:00:02', late.paymentNo, 'B2', yuan(5800), '0.35'],
      ['2026-11-17 10:00:05', b.paymentNo, 'B3', yuan(2000), '0.12'],
    ])
    expect((await upload(s.finance, s.connectionId, '2026-11-17', bill17)).status).toBe(201)
    const run17 = (await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-17' })).body
    expect(run17.counts).toMatchObject({ matched: 2, open_exceptions: 0 })
    // The till took 10.00 + 58.00 on the 16th and 20.00 on the 17th; the channel settled 10.00, then 78.00.
    const fromRuns = { '2026-11-17': [run17.totals.pos_net, run17.totals.channel_net, run17.totals.channel_fee_milli], '2026-11-16': [run16.totals.pos_net, run16.totals.channel_net, run16.totals.channel_fee_milli] }
    expect(fromRuns).toEqual({ '2026-11-17': [2000, 7800, 47000], '2026-11-16': [6800, 1000, 6000] })
    const summary = (await s.finance.get(`/api/v1/reconciliation/summary?from=2026-11-16&to=2026-11-17&connectionId=${s.connectionId}`)).body.items
    expect(Object.fromEntries(summary.map((r: any) => [r.businessDate, [r.posAmount, r.channelAmount, r.channelFeeMilli]]))).toEqual(fromRuns)
    // The pair itself is the 17th's (when both sides were in), matched; nothing is open on either day.
    expect(summary.map((r: any) => [r.businessDate, r.matched, r.openExceptions])).toEqual([['2026-11-17', 2, 0], ['2026-11-16', 1, 0]])
    // A day asked alone shows its own side of a pair dated the next day.
    const only16 = (await s.finance.get(`/api/v1/reconciliation/summary?from=2026-11-16&to=2026-11-16&connectionId=${s.connectionId}`)).body.items
    expect(only16.map((r: any) => [r.posAmount, r.channelAmount])).toEqual([[6800, 1000]])
  })

  it('checks the fees of a mapped bank file against the contracted rate when the connection has one, and not without', async () => {
    const s = await shop()
    const t1 = await s.sell(at('2026-11-17 10:00:00'), 5800)
    const t2 = await s.sell(at('2026-11-17 11:00:00'), 1200)
    // 0.60 %: 58.00 costs 0.348, charged 0.35 (within a fen); 12.00 costs 0.072, charged 0.50.
    const file = csv([
      ['2026-11-17 10:00:05', t1.paymentNo, 'B1', yuan(5800), '0.35'],
      ['2026-11-17 11:00:05', t2.paymentNo, 'B2', yuan(1200), '0.50'],
    ])
    expect((await upload(s.finance, s.connectionId, '2026-11-17', file)).status).toBe(201)
    const run = () => s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-17' })
    expect((await run()).body.counts).toMatchObject({ matched: 2, fee_diff: 0 })
    const unchecked = await s.finance.get(`/api/v1/reconciliation/summary?from=2026-11-17&to=2026-11-17&connectionId=${s.connectionId}`)
    expect(unchecked.body.items).toEqual([expect.objectContaining({ channelFeeMilli: 85_000, feeDifferenceMilli: null })])

    const patched = await s.admin.patch(`/api/v1/connections/${s.connectionId}`, { config: { ...MAPPING, feeRateBp: 60 } })
    expect(patched.status, JSON.stringify(patched.body)).toBe(200)
    const checked = await run()
    expect(checked.body.counts).toMatchObject({ matched: 1, fee_diff: 1 })
    const open = await s.finance.get(`/api/v1/reconciliation/exceptions?connectionId=${s.connectionId}&date=2026-11-17`)
    expect(open.body.items).toEqual([expect.objectContaining({ outcome: 'fee_diff', posRef: t2.paymentNo, expectedFeeMilli: 7000, channelFeeMilli: 50_000 })])
    // Δ fee of the day: 0.35 − 0.35 and 0.50 − 0.07 (no rate before: null, nothing was checked).
    const summary = await s.finance.get(`/api/v1/reconciliation/summary?from=2026-11-17&to=2026-11-17&connectionId=${s.connectionId}`)
    expect(summary.body.items).toEqual([expect.objectContaining({ channelFeeMilli: 85_000, expectedFeeMilli: 42_000, feeDifferenceMilli: 43_000 })])
    const exported = await s.finance.get(`/api/v1/reconciliation/summary/export?from=2026-11-17&to=2026-11-17&format=csv`)
    expect(exported.body).toContain(',channel_fee,expected_fee,fee_difference,')
    expect(exported.body).toContain(',0.85000,0.42000,0.43000,')
  })

  it('sums a day per card terminal: the channel line’s terminal, else the one the till kept on the tender', async () => {
    const s = await shop()
    const withTerminals = await s.admin.post('/api/v1/connections', { connectorId: 'mapped', name: 'Bank card file with terminals', config: { columns: { ...MAPPING.columns, terminal: '终端号' } } })
    expect(withTerminals.status, JSON.stringify(withTerminals.body)).toBe(201)
    const connectionId = withTerminals.body.id as string
    const item = await seedProduct(hub, s.store, { price: 1, stock: 1_000_000 })
    const sell = async (when: Date, amount: number, terminalId: string) => {
      hub.setNow(when)
      try {
        const r = await s.admin.post('/api/v1/sales', { registerId: s.store.registerId, lines: [{ sku: item.sku, quantity: amount }], tenders: [{ kind: 'card', amount, reference: { terminalId } }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body.tenders[0] as { paymentNo: string }
      } finally {
        hub.setNow(undefined)
      }
    }
    const a = await sell(at('2026-11-12 10:00:00'), 1000, 'T01')
    const b = await sell(at('2026-11-12 10:30:00'), 2500, 'T01')
    const c = await sell(at('2026-11-12 11:00:00'), 4000, 'T02')
    await sell(at('2026-11-12 12:00:00'), 700, 'T02')
    const file = Buffer.from(
      [
        '交易时间,商户订单号,流水号,交易金额,手续费,门店,终端号',
        `2026-11-12 10:00:01,${a.paymentNo},C1,${yuan(1000)},0.01,,T01`,
        `2026-11-12 10:30:01,${b.paymentNo},C2,${yuan(2500)},0.02,,T01`,
        `2026-11-12 11:00:01,${c.paymentNo},C3,${yuan(3900)},0.03,,T02`,
      ].join('\n') + '\n',
    )
    expect((await upload(s.finance, connectionId, '2026-11-12', file)).status).toBe(201)
    expect((await s.finance.post('/api/v1/reconciliation/runs', { connectionId, date: '2026-11-12' })).status).toBe(200)

    const q = `from=2026-11-12&to=2026-11-12&connectionId=${connectionId}`
    const byTerminal = await s.finance.get(`/api/v1/reconciliation/summary?${q}&by=terminal`)
    expect(byTerminal.status, JSON.stringify(byTerminal.body)).toBe(200)
    const rows = byTerminal.body.items.map((r: any) => ({ terminal: r.terminal, posCount: r.posCount, posAmount: r.posAmount, channelCount: r.channelCount, channelAmount: r.channelAmount, matched: r.matched, open: r.openExceptions }))
    expect(rows).toEqual([
      { terminal: 'T01', posCount: 2, posAmount: 3500, channelCount: 2, channelAmount: 3500, matched: 2, open: 0 },
      // 40.00 billed as 39.00; the 7.00 sale is on no line yet, and counted at the terminal the till recorded.
      { terminal: 'T02', posCount: 2, posAmount: 4700, channelCount: 1, channelAmount: 3900, matched: 0, open: 1 },
    ])
    // By store (the default) the day is one row, with no terminal column.
    const byStore = await s.finance.get(`/api/v1/reconciliation/summary?${q}`)
    expect(byStore.body.items).toEqual([expect.objectContaining({ posCount: 4, posAmount: 8200, channelAmount: 7400 })])
    expect(byStore.body.items[0]).not.toHaveProperty('terminal')
    const exported = await s.finance.get(`/api/v1/reconciliation/summary/export?${q}&by=terminal&format=csv`)
    expect(exported.body).toContain('business_date,connection_id,store,terminal,status')
    expect(exported.body).toMatch(/,T02,exceptions,CNY,2,47\.00,1,39\.00,-8\.00,/)
    expect((await s.finance.get(`/api/v1/reconciliation/summary?${q}&by=register`)).status).toBe(400)
  })

  it('a statement never becomes current without its queued run: when the queue fails, the upload writes nothing', async () => {
    const s = await shop()
    const t1 = await s.sell(at('2026-11-11 10:00:00'), 5800)
    const file = csv([['2026-11-11 10:00:05', t1.paymentNo, 'B001', yuan(5800), '0.35']])
    const runsQueued = async () => (await queuedJobs(hub, 'settlement.reconcile')).filter((j) => j.payload.connectionId === s.connectionId)
    // The job queue refuses for a moment (its function is away): the import must not commit on its own.
    await hub.database.db.execute(sql`alter function graphile_worker.add_job rename to add_job_away`)
    let failed
    try {
      failed = await upload(s.finance, s.connectionId, '2026-11-11', file)
    } finally {
      await hub.database.db.execute(sql`alter function graphile_worker.add_job_away rename to add_job`)
    }
    expect(failed.status).toBeGreaterThanOrEqual(500)
    expect((await hub.database.db.execute(sql`select 1 from settlement_statements where connection_id = ${s.connectionId}`)).rows).toHaveLength(0)
    expect((await hub.database.db.execute(sql`select 1 from settlement_lines where connection_id = ${s.connectionId}`)).rows).toHaveLength(0)
    expect(await runsQueued()).toEqual([])

    // Sent again, it is imported (not a duplicate of a half-done import) with its run queued.
    const again = await upload(s.finance, s.connectionId, '2026-11-11', file)
    expect(again.status, JSON.stringify(again.body)).toBe(201)
    expect(again.body.result).toBe('imported')
    expect((await runsQueued()).map((j) => j.payload.businessDate)).toEqual(['2026-11-11'])

    // A superseded file sent again becomes current again, and the day is queued to run against it.
    const corrected = csv([['2026-11-11 10:00:05', t1.paymentNo, 'B001', yuan(5800), '0.36']])
    expect((await upload(s.finance, s.connectionId, '2026-11-11', corrected)).status).toBe(201)
    await hub.database.db.execute(sql`delete from graphile_worker._private_jobs j using graphile_worker._private_tasks t where t.id = j.task_id and t.identifier = 'settlement.reconcile'`)
    const back = await upload(s.finance, s.connectionId, '2026-11-11', file)
    expect(back.status).toBe(200)
    expect(back.body).toMatchObject({ result: 'duplicate', statement: { id: again.body.statement.id, status: 'imported' } })
    expect((await runsQueued()).map((j) => j.payload.businessDate)).toEqual(['2026-11-11'])
  })

  it('refuses a file it cannot read with the line number, keeps it as rejected and imports nothing', async () => {
    const s = await shop()
    const bad = csv([['2026-11-10 10:00:05', 'TB1', 'B001', '12.345', '0.35']])
    const r = await upload(s.finance, s.connectionId, '2026-11-10', bad)
    expect(r.status).toBe(422)
    expect(r.body.error.code).toBe('statement_rejected')
    expect(r.body.error.message).toMatch(/line 2/)
    expect(r.body.error.details).toMatchObject({ code: 'format_error', lineNo: 2 })
    const listed = await s.finance.get(`/api/v1/reconciliation/statements?status=rejected`)
    expect(listed.body.items).toHaveLength(1)
    expect(listed.body.items[0].rejectReason).toMatch(/line 2/)
    expect((await hub.database.db.execute(sql`select 1 from settlement_lines where merchant_id = ${s.m.merchantId}`)).rows).toHaveLength(0)
    const audit = await s.admin.get('/api/v1/audit?entityType=settlement_statement')
    expect(audit.body.items.map((a: any) => a.action)).toEqual(['statement.rejected'])
  })

  it('answers bad uploads with clear 4xx codes and writes nothing', async () => {
    const s = await shop()
    const file = csv([['2026-11-10 10:00:05', 'TB1', 'B001', '1.00', '0.01']])
    expect((await s.finance.request('POST', `/api/v1/reconciliation/statements?date=2026-11-10`, undefined, { raw: file, headers: { 'content-type': 'text/csv' } })).body.error.code).toBe('validation_failed')
    const badDate = await upload(s.finance, s.connectionId, '2026-13-40', file)
    expect(badDate.status).toBe(400)
    expect((await upload(s.finance, s.connectionId, '2026-11-10', Buffer.alloc(0))).body.error.code).toBe('empty_file')
    const fmt = await upload(s.finance, s.connectionId, '2026-11-10', file, '&format=wechat_trade')
    expect(fmt.status).toBe(400)
    expect(fmt.body.error.code).toBe('unsupported_format')
    const nowhere = await upload(s.finance, '00000000-0000-7000-8000-000000000000', '2026-11-10', file)
    expect(nowhere.status).toBe(404)
    expect((await hub.database.db.execute(sql`select 1 from settlement_statements where merchant_id = ${s.m.merchantId}`)).rows).toHaveLength(0)
    // Each of those bodies was written to disk as it came; none is left there.
    expect(spooled()).toEqual([])
  })

  it('runs a day, lists and filters exceptions with a cursor, resolves them and reruns without losing a resolution', async () => {
    const s = await shop()
    const a = await s.sell(at('2026-11-10 10:00:00'), 1000)
    const b = await s.sell(at('2026-11-10 11:00:00'), 2000)
    const c = await s.sell(at('2026-11-10 12:00:00'), 3000)
    const late = await s.sell(at('2026-11-10 23:59:59'), 400)
    const storeCode = (await hub.database.db.execute<{ code: string }>(sql`select code from stores where id = ${s.store.storeId}`)).rows[0]!.code
    const file = csv([
      ['2026-11-10 10:00:01', a.paymentNo, 'B1', yuan(1000), '0.01'],
      ['2026-11-10 11:00:01', b.paymentNo, 'B2', yuan(1900), '0.02'],
      ['2026-11-10 13:00:00', 'TB261110130000AAAAAAAA', 'B3', yuan(777), '0.01', storeCode],
      ['2026-11-10 14:00:00', 'ONLINE-SHOP-9', 'B4', yuan(500), '0.01'],
    ])
    expect((await upload(s.finance, s.connectionId, '2026-11-10', file)).status).toBe(201)
    hub.setNow(at('2026-11-15 09:00:00'))
    try {
      const run = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })
      expect(run.status, JSON.stringify(run.body)).toBe(200)
      expect(run.body).toMatchObject({ status: 'exceptions', reused: false, counts: { matched: 1, amount_diff: 1, missing_in_pos: 1, unknown_merchant_ref: 1, timing: 2 } })
      expect(run.body.totals).toMatchObject({ pos_payments: 6400, channel_payments: 1000 + 1900 + 777 + 500 })
      const rerun = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })
      expect(rerun.body).toMatchObject({ id: run.body.id, reused: true })
      const runs = await s.finance.get(`/api/v1/reconciliation/runs?connectionId=${s.connectionId}&date=2026-11-10`)
      expect(runs.body.items.map((r: any) => r.id)).toEqual([run.body.id])

      // Open exceptions: timing is left out unless asked for.
      const open = await s.finance.get(`/api/v1/reconciliation/exceptions?connectionId=${s.connectionId}`)
      expect(open.body.items.map((i: any) => i.outcome).sort()).toEqual(['amount_diff', 'missing_in_pos', 'unknown_merchant_ref'])
      expect(open.body.items.every((i: any) => i.ageDays === 5)).toBe(true)
      const timing = await s.finance.get(`/api/v1/reconciliation/exceptions?outcome=timing`)
      expect(timing.body.items.map((i: any) => i.posRef).sort()).toEqual([c.paymentNo, late.paymentNo].sort())
      const diff = (await s.finance.get(`/api/v1/reconciliation/exceptions?outcome=amount_diff`)).body.items[0]
      expect(diff).toMatchObject({ posRef: b.paymentNo, posAmount: 2000, channelAmount: 1900, difference: -100, storeId: s.store.storeId, line: { channelTxnId: 'B2', ourRef: b.paymentNo } })
      expect((await s.finance.get(`/api/v1/reconciliation/exceptions?outcome=missing_in_pos&storeId=${s.store.storeId}`)).body.items).toMatchObject([{ posRef: 'TB261110130000AAAAAAAA', storeCode }])
      expect((await s.finance.get(`/api/v1/reconciliation/exceptions?minAgeDays=6`)).body.items).toEqual([])
      expect((await s.finance.get(`/api/v1/reconciliation/exceptions?maxAgeDays=5&from=2026-11-10&to=2026-11-10`)).body.items).toHaveLength(3)
      expect((await s.finance.get(`/api/v1/reconciliation/exceptions?outcome=nonsense`)).status).toBe(400)
      expect((await s.finance.get(`/api/v1/reconciliation/exceptions?from=2026-11-11&to=2026-11-10`)).body.error.code).toBe('invalid_range')
      expect((await s.finance.get(`/api/v1/reconciliation/exceptions?cursor=nope`)).body.error.code).toBe('invalid_cursor')

      const seen: string[] = []
      let cursor: string | null = null
      do {
        const page: any = await s.finance.get(`/api/v1/reconciliation/exceptions?limit=1${cursor ? `&cursor=${cursor}` : ''}`)
        seen.push(...page.body.items.map((i: any) => i.id))
        cursor = page.body.nextCursor
      } while (cursor)
      expect(seen.sort()).toEqual(open.body.items.map((i: any) => i.id).sort())

      // Resolve: write off the difference, ignore the online order, match nothing by mistake.
      const unknown = open.body.items.find((i: any) => i.outcome === 'unknown_merchant_ref')
      const w = await s.finance.post(`/api/v1/reconciliation/items/${diff.id}/resolve`, { action: 'write_off', accountCode: '6603', note: 'terminal rounding' }, { headers: { 'idempotency-key': 'wo-1' } })
      expect(w.status, JSON.stringify(w.body)).toBe(200)
      expect(w.body).toMatchObject({ state: 'resolved', manual: true, resolution: 'write_off', resolutionNote: 'account 6603: terminal rounding' })
      expect(w.body.history.map((h: any) => h.action)).toEqual(['created', 'resolved'])
      const replay = await s.finance.post(`/api/v1/reconciliation/items/${diff.id}/resolve`, { action: 'write_off', accountCode: '6603', note: 'terminal rounding' }, { headers: { 'idempotency-key': 'wo-1' } })
      expect(replay.headers.get('idempotent-replayed')).toBe('true')
      expect((await s.finance.post(`/api/v1/reconciliation/items/${diff.id}/resolve`, { action: 'accept_pos' })).body.error.code).toBe('item_not_open')
      expect((await s.finance.post(`/api/v1/reconciliation/items/${unknown.id}/resolve`, { action: 'ignore' })).status).toBe(400)
      expect((await s.finance.post(`/api/v1/reconciliation/items/${unknown.id}/resolve`, { action: 'delete' })).status).toBe(400)
      expect((await s.finance.post(`/api/v1/reconciliation/items/${unknown.id}/resolve`, { action: 'ignore', reason: 'paid in the online shop' })).body).toMatchObject({ state: 'resolved', resolution: 'ignored' })

      // A corrected file and a rerun keep both resolutions.
      const fixed = csv([
        ['2026-11-10 10:00:01', a.paymentNo, 'B1', yuan(1000), '0.01'],
        ['2026-11-10 11:00:01', b.paymentNo, 'B2', yuan(1900), '0.02'],
        ['2026-11-10 12:00:01', c.paymentNo, 'B5', yuan(3000), '0.03'],
        ['2026-11-10 14:00:00', 'ONLINE-SHOP-9', 'B4', yuan(500), '0.01'],
      ])
      expect((await upload(s.finance, s.connectionId, '2026-11-10', fixed)).status).toBe(201)
      const third = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })
      expect(third.body).toMatchObject({ reused: false })
      // The day's money counts whole, the tender and lines resolved by hand included.
      expect(third.body.totals).toMatchObject({ pos_count: 4, pos_payments: 6400, channel_count: 4, channel_payments: 1000 + 1900 + 3000 + 500 })
      const resolved = await s.finance.get(`/api/v1/reconciliation/exceptions?state=resolved`)
      expect(resolved.body.items.map((i: any) => [i.id, i.resolution]).sort()).toEqual([[diff.id, 'write_off'], [unknown.id, 'ignored']].sort())
      expect((await s.finance.get(`/api/v1/reconciliation/exceptions`)).body.items).toEqual([])
      const reopened = await s.finance.post(`/api/v1/reconciliation/items/${unknown.id}/reopen`, { note: 'check again' })
      expect(reopened.body).toMatchObject({ state: 'open', manual: false, resolution: null })

      // The summary per store and day, and both exports.
      const summary = await s.finance.get(`/api/v1/reconciliation/summary?from=2026-11-01&to=2026-11-30`)
      expect(summary.status).toBe(200)
      expect(summary.body.today).toBe('2026-11-15')
      const row = summary.body.items.find((r: any) => r.storeId === s.store.storeId)
      expect(row).toMatchObject({ connectionId: s.connectionId, businessDate: '2026-11-10', runStatus: 'exceptions', posCount: 4, posAmount: 6400, matched: 2, timing: 1, resolved: 1 })
      const noStore = summary.body.items.find((r: any) => r.storeId === null)
      expect(noStore).toMatchObject({ channelAmount: 500, openExceptions: 1, openByAge: { '0-1': 0, '2-3': 0, '4-7': 1, '8+': 0 } })
      const exportCsv = await s.finance.get(`/api/v1/reconciliation/summary/export?from=2026-11-01&to=2026-11-30&format=csv`)
      expect(exportCsv.headers.get('content-type')).toContain('text/csv')
      expect(exportCsv.body).toContain('business_date,connection_id,store,status')
      expect(exportCsv.body).toContain(`2026-11-10,${s.connectionId},${storeCode},exceptions,CNY,4,64.00`)
      const xlsx = await s.finance.app.request(`/api/v1/reconciliation/exceptions/export?format=xlsx&state=all`, { headers: { authorization: `Bearer ${(await s.m.staff('finance')).token}` } })
      expect(xlsx.status).toBe(200)
      const wb = new ExcelJS.Workbook()
      await wb.xlsx.load(Buffer.from(await xlsx.arrayBuffer()) as unknown as ExcelJS.Buffer)
      const sheet = wb.getWorksheet('Exceptions')!
      expect(sheet.getRow(1).getCell(4).value).toBe('outcome')
      const outcomes = [2, 3].map((r) => sheet.getRow(r).getCell(4).value).sort()
      expect(outcomes).toEqual(['amount_diff', 'unknown_merchant_ref'])
      const exCsv = await s.finance.get(`/api/v1/reconciliation/exceptions/export?state=all&outcome=amount_diff`)
      expect(exCsv.body).toContain(`${b.paymentNo},20.00,19.00,-1.00`)
    } finally {
      hub.setNow(undefined)
    }
  })

  it('a rerun once every exception is resolved is a new, balanced run, not the last one reused', async () => {
    const s = await shop()
    const a = await s.sell(at('2026-11-10 10:00:00'), 1000)
    expect((await upload(s.finance, s.connectionId, '2026-11-10', csv([['2026-11-10 10:00:01', a.paymentNo, 'B1', yuan(999), '0.00']]))).status).toBe(201)
    hub.setNow(at('2026-11-11 12:00:00'))
    try {
      const first = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })
      expect(first.body).toMatchObject({ status: 'exceptions', counts: { amount_diff: 1, open_exceptions: 1 } })
      const [item] = (await s.finance.get(`/api/v1/reconciliation/exceptions?connectionId=${s.connectionId}`)).body.items
      expect((await s.finance.post(`/api/v1/reconciliation/items/${item.id}/resolve`, { action: 'accept_pos' })).status).toBe(200)
      const second = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })
      expect(second.body).toMatchObject({ status: 'balanced', reused: false, counts: { open_exceptions: 0 }, totals: { pos_payments: 1000, channel_payments: 999, difference: -1 } })
      expect(second.body.id).not.toBe(first.body.id)
      const third = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })
      expect(third.body).toMatchObject({ id: second.body.id, reused: true, status: 'balanced' })
      const [row] = (await s.finance.get(`/api/v1/reconciliation/summary?from=2026-11-10&to=2026-11-10&connectionId=${s.connectionId}`)).body.items
      expect(row).toMatchObject({ runStatus: 'balanced', posAmount: 1000, channelAmount: 999 })
    } finally {
      hub.setNow(undefined)
    }
  })

  it('a dry run shows what a run would count, change and leave open, and writes nothing', async () => {
    const s = await shop()
    const a = await s.sell(at('2026-11-10 10:00:00'), 1000)
    const b = await s.sell(at('2026-11-10 11:00:00'), 2000)
    const file = csv([
      ['2026-11-10 10:00:01', a.paymentNo, 'B1', yuan(1000), '0.01'],
      ['2026-11-10 11:00:01', b.paymentNo, 'B2', yuan(1900), '0.02'],
      ['2026-11-10 13:00:00', 'TB261110130000AAAAAAAA', 'B3', yuan(777), '0.01'],
    ])
    const db = hub.database.db
    /** Everything a run writes, for this merchant. */
    const written = async () =>
      (
        await db.execute<{ items: string; events: string; runs: string; announced: string; audit: string }>(sql`
          select (select count(*) from recon_items where merchant_id = ${s.m.merchantId}) as items,
                 (select count(*) from recon_item_events where merchant_id = ${s.m.merchantId}) as events,
                 (select count(*) from recon_runs where merchant_id = ${s.m.merchantId}) as runs,
                 (select count(*) from events where merchant_id = ${s.m.merchantId} and type like 'settlement.%') as announced,
                 (select string_agg(i.id || i.state || coalesce(i.resolution, '') || i.updated_at, ',' order by i.id) from recon_items i where merchant_id = ${s.m.merchantId}) as audit`)
      ).rows[0]
    const dry = (date = '2026-11-10') => s.finance.post('/api/v1/reconciliation/runs/dry-run', { connectionId: s.connectionId, date })

    expect((await dry()).body.error.code).toBe('no_statement')
    expect((await upload(s.finance, s.connectionId, '2026-11-10', file)).status).toBe(201)
    hub.setNow(at('2026-11-15 09:00:00'))
    try {
      const before = await written()
      const p = await dry()
      expect(p.status, JSON.stringify(p.body)).toBe(200)
      expect(p.body).toMatchObject({
        dryRun: true,
        connectionId: s.connectionId,
        businessDate: '2026-11-10',
        status: 'exceptions',
        counts: { matched: 1, amount_diff: 1, missing_in_pos: 1, open_exceptions: 2 },
        totals: { pos_payments: 3000, channel_payments: 1000 + 1900 + 777 },
        changes: { created: 3, changed: 0, removed: 0 },
        exceptionsTruncated: false,
      })
      expect(p.body.exceptions).toEqual([
        expect.objectContaining({ outcome: 'amount_diff', isNew: true, posRef: b.paymentNo, posAmount: 2000, channelAmount: 1900, difference: -100 }),
        expect.objectContaining({ outcome: 'missing_in_pos', isNew: true, posRef: 'TB261110130000AAAAAAAA', posAmount: null, channelAmount: 777 }),
      ])
      expect(await written()).toEqual(before)

      // The run itself finds what the dry run said it would.
      const run = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })
      expect(run.body).toMatchObject({ reused: false, status: 'exceptions', counts: p.body.counts, totals: p.body.totals, changes: p.body.changes })

      // After a resolution, a corrected file's dry run shows the change and keeps the resolution; still nothing written.
      const diff = (await s.finance.get(`/api/v1/reconciliation/exceptions?outcome=amount_diff`)).body.items[0]
      expect((await s.finance.post(`/api/v1/reconciliation/items/${diff.id}/resolve`, { action: 'accept_pos', note: 'the bank will correct it' })).status).toBe(200)
      const fixed = csv([
        ['2026-11-10 10:00:01', a.paymentNo, 'B1', yuan(1000), '0.01'],
        ['2026-11-10 11:00:01', b.paymentNo, 'B2', yuan(1900), '0.02'],
      ])
      expect((await upload(s.finance, s.connectionId, '2026-11-10', fixed)).status).toBe(201)
      const settled = await written()
      const again = await dry()
      expect(again.body).toMatchObject({ status: 'balanced', counts: { matched: 1, amount_diff: 0, missing_in_pos: 0, open_exceptions: 0 }, changes: { removed: 1 } })
      expect(again.body.exceptions).toEqual([])
      expect(await written()).toEqual(settled)
      expect((await s.finance.get(`/api/v1/reconciliation/items/${diff.id}`)).body).toMatchObject({ state: 'resolved', resolution: 'accept_pos' })

      expect((await s.finance.post('/api/v1/reconciliation/runs/dry-run', { connectionId: s.connectionId, date: '2026-11-31' })).status).toBe(400)
      const cashier = createApi(hub).as((await s.m.staff('cashier')).token)
      expect((await cashier.post('/api/v1/reconciliation/runs/dry-run', { connectionId: s.connectionId, date: '2026-11-10' })).status).toBe(403)
    } finally {
      hub.setNow(undefined)
    }
  })

  it('a dry run of a file says what uploading it would do, and writes nothing: no statement, line, run or job', async () => {
    const s = await shop()
    const a = await s.sell(at('2026-11-10 10:00:00'), 1000)
    const b = await s.sell(at('2026-11-10 11:00:00'), 2000)
    const short = csv([
      ['2026-11-10 10:00:01', a.paymentNo, 'B1', yuan(1000), '0.01'],
      ['2026-11-10 11:00:01', b.paymentNo, 'B2', yuan(1900), '0.02'],
    ])
    const corrected = csv([
      ['2026-11-10 10:00:01', a.paymentNo, 'B1', yuan(1000), '0.01'],
      ['2026-11-10 11:00:01', b.paymentNo, 'B2', yuan(2000), '0.02'],
    ])
    const dryFile = (bytes: Buffer, api = s.finance, date = '2026-11-10') =>
      api.request('POST', `/api/v1/reconciliation/statements/dry-run?connectionId=${s.connectionId}&date=${date}&fileName=bank.csv`, undefined, { raw: bytes, headers: { 'content-type': 'text/csv' } })
    const db = hub.database.db
    /** Everything an upload and its run write, for this merchant. */
    const written = async () => ({
      tables: (
        await db.execute(sql`
          select (select count(*) from settlement_statements where merchant_id = ${s.m.merchantId}) as statements,
                 (select string_agg(id || status, ',' order by id) from settlement_statements where merchant_id = ${s.m.merchantId}) as states,
                 (select count(*) from settlement_lines where merchant_id = ${s.m.merchantId}) as lines,
                 (select count(*) from statement_files f join settlement_statements st on st.id = f.statement_id where st.merchant_id = ${s.m.merchantId}) as files,
                 (select count(*) from recon_items where merchant_id = ${s.m.merchantId}) as items,
                 (select count(*) from recon_runs where merchant_id = ${s.m.merchantId}) as runs`)
      ).rows[0],
      jobs: (await queuedJobs(hub, 'settlement.reconcile')).filter((j) => (j.payload as { merchantId: string }).merchantId === s.m.merchantId).length,
    })
    const nothing = await written()

    // The day's first file: it would be imported and leave one amount difference.
    const p = await dryFile(short)
    expect(p.status, JSON.stringify(p.body)).toBe(200)
    expect(p.body).toMatchObject({
      dryRun: true,
      connectionId: s.connectionId,
      businessDate: '2026-11-10',
      file: { result: 'would_import', format: 'mapped', lineCount: 2, supersedes: [] },
      run: { status: 'exceptions', counts: { matched: 1, amount_diff: 1, open_exceptions: 1 }, changes: { created: 2, changed: 0, removed: 0 } },
    })
    expect(p.body.run.exceptions).toEqual([expect.objectContaining({ outcome: 'amount_diff', posRef: b.paymentNo, difference: -100 })])
    expect(await written()).toEqual(nothing)
    expect(spooled()).toEqual([])

    // Uploaded and run for real, it does what the dry run said.
    const up = await upload(s.finance, s.connectionId, '2026-11-10', short)
    expect(up.status).toBe(201)
    const run = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })
    expect(run.body).toMatchObject({ counts: p.body.run.counts, totals: p.body.run.totals, changes: p.body.run.changes })
    const settled = await written()

    // A corrected file: it would supersede the first and balance the day; still nothing is written.
    const fix = await dryFile(corrected)
    expect(fix.body).toMatchObject({
      file: { result: 'would_import', lineCount: 2, supersedes: [up.body.statement.id] },
      // Both items move to the new file's lines; the difference is matched.
      run: { status: 'balanced', counts: { matched: 2, amount_diff: 0, open_exceptions: 0 }, changes: { created: 0, changed: 2, removed: 0 } },
    })
    expect(await written()).toEqual(settled)

    // The same file as the day's: a duplicate, with the day's run as it stands.
    expect((await dryFile(short)).body).toMatchObject({ file: { result: 'duplicate', statementId: up.body.statement.id, lineCount: 2 }, run: { status: 'exceptions', changes: { created: 0, removed: 0 } } })
    // A file that would be refused: the reason and the line, and no refused statement recorded.
    const broken = await dryFile(csv([['2026-11-10 10:00:01', a.paymentNo, 'B1', '10.0.0', '0.01']]))
    expect(broken.status).toBe(200)
    expect(broken.body).toMatchObject({ file: { result: 'rejected', code: 'format_error', lineNo: 2, reason: expect.stringMatching(/10\.0\.0/) }, run: null })
    expect(await written()).toEqual(settled)
    expect(spooled()).toEqual([])

    expect((await dryFile(short, s.finance, '2026-11-31')).status).toBe(400)
    expect((await dryFile(Buffer.alloc(0))).body.error.code).toBe('empty_file')
    const cashier = createApi(hub).as((await s.m.staff('cashier')).token)
    expect((await dryFile(short, cashier)).status).toBe(403)
    expect(await written()).toEqual(settled)
  })

  it('lets finance change, managers read, cashiers nothing; and keeps merchants apart', async () => {
    const s = await shop()
    const t = await s.sell(at('2026-11-10 10:00:00'), 100)
    const up = await upload(s.finance, s.connectionId, '2026-11-10', csv([['2026-11-10 10:00:01', t.paymentNo, 'B1', '2.00', '0.00']]))
    await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })
    const item = (await s.finance.get('/api/v1/reconciliation/exceptions')).body.items[0]
    expect(item.outcome).toBe('amount_diff')

    const manager = createApi(hub).as((await s.m.staff('manager')).token)
    expect((await manager.get('/api/v1/reconciliation/exceptions')).status).toBe(200)
    expect((await manager.get('/api/v1/reconciliation/summary?from=2026-11-01&to=2026-11-30')).status).toBe(200)
    expect((await manager.post(`/api/v1/reconciliation/items/${item.id}/resolve`, { action: 'accept_pos' })).status).toBe(403)
    expect((await manager.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })).status).toBe(403)
    const cashier = createApi(hub).as((await s.m.staff('cashier')).token)
    for (const path of ['/api/v1/reconciliation/exceptions', '/api/v1/reconciliation/statements', '/api/v1/reconciliation/runs', `/api/v1/reconciliation/items/${item.id}`]) {
      const r = await cashier.get(path)
      expect(r.status, path).toBe(403)
      expect(r.body.error.code).toBe('permission_denied')
    }

    const other = await shop()
    const stranger = other.finance
    expect((await stranger.get(`/api/v1/reconciliation/items/${item.id}`)).status).toBe(404)
    expect((await stranger.post(`/api/v1/reconciliation/items/${item.id}/resolve`, { action: 'accept_pos' })).status).toBe(404)
    expect((await stranger.get(`/api/v1/reconciliation/statements/${up.body.statement.id}`)).status).toBe(404)
    expect((await stranger.get(`/api/v1/reconciliation/statements/${up.body.statement.id}/file`)).status).toBe(404)
    expect((await stranger.get('/api/v1/reconciliation/exceptions')).body.items).toEqual([])
    expect((await stranger.get(`/api/v1/reconciliation/runs?connectionId=${s.connectionId}`)).body.items).toEqual([])
    expect((await stranger.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-10' })).status).toBe(404)
    expect((await upload(stranger, s.connectionId, '2026-11-11', csv([['2026-11-11 10:00:01', 'X', 'B1', '2.00', '0.00']]))).status).toBe(404)
    expect((await s.finance.post(`/api/v1/reconciliation/items/${item.id}/resolve`, { action: 'accept_pos' })).status).toBe(200)
    // A day without a statement.
    const none = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: '2026-11-12' })
    expect(none.status).toBe(409)
    expect(none.body.error.code).toBe('no_statement')
  })
})
