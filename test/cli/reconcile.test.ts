import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { TEST_SECRET_KEY, useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { lastJsonLine, runCli } from '../helpers/processes.ts'
import { wechatBill } from '../../src/sandboxes/vendors/wechatpay.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)

describe('tillbridge reconcile', { timeout: 120_000 }, () => {
  const hub = useTestHub()
  let dir: string
  let env: Record<string, string>
  let connectionId: string
  const payments: { paymentNo: string; amount: number }[] = []
  let refundNo: string

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-reconcile-'))
    env = { DATABASE_URL: hub.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1, stock: 1_000_000 })
    const api = createApi(hub).as(m.adminToken)
    const conn = await api.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { mchId: '1900000109', apiVersion: 'v2', appId: 'wx8888888888888888', apiKey: 'k'.repeat(32), feeRateBp: 60 } })
    connectionId = conn.body.id
    let sale: any
    for (const [time, amount] of [['2026-11-10 09:00:00', 5800], ['2026-11-10 10:00:00', 1200], ['2026-11-10 11:00:00', 3000]] as const) {
      hub.setNow(at(time))
      sale = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: amount }], tenders: [{ kind: 'wechat', amount }] })).body
      payments.push(sale.tenders[0])
    }
    hub.setNow(at('2026-11-10 15:00:00'))
    const r = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1000 }] })
    refundNo = r.body.sale.refunds[0].tenders[0].refundNo
    hub.setNow(undefined)
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  const bill = (over: { secondAmount?: number } = {}) =>
    wechatBill({
      mchId: '1900000109',
      appId: 'wx8888888888888888',
      feeRateBp: 60,
      gzip: true,
      rows: [
        { kind: 'payment', at: '2026-11-10 09:00:01', outTradeNo: payments[0]!.paymentNo, amount: 5800 },
        { kind: 'payment', at: '2026-11-10 10:00:01', outTradeNo: payments[1]!.paymentNo, amount: over.secondAmount ?? 1200 },
        { kind: 'payment', at: '2026-11-10 11:00:01', outTradeNo: payments[2]!.paymentNo, amount: 3000 },
        { kind: 'refund', at: '2026-11-10 15:00:01', outTradeNo: payments[2]!.paymentNo, outRefundNo: refundNo, amount: 1000 },
      ],
    })
  const write = (name: string, bytes: Buffer) => {
    const f = path.join(dir, name)
    fs.writeFileSync(f, bytes)
    return f
  }

  it('imports a WeChat bill and reconciles the day, ending with a JSON summary', async () => {
    const file = write('bill.csv.gz', bill({ secondAmount: 1190 }))
    // Progress is told on stderr once an import takes a second, as it may on a loaded machine: off here.
    const r = await runCli(['reconcile', 'import', '--connection', connectionId, '--date', '2026-11-10', '--file', file, '--json'], { ...env, TILLBRIDGE_PROGRESS: 'never' })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^imported 4 lines of wechat_trade for 2026-11-10/)
    const summary = lastJsonLine(r.stdout)
    expect(summary).toMatchObject({
      connectionId,
      businessDate: '2026-11-10',
      statement: { status: 'imported', format: 'wechat_trade', lineCount: 4 },
      run: { status: 'exceptions', reused: false, counts: { matched: 3, amount_diff: 1, missing_in_pos: 0, timing: 0, open_exceptions: 1 }, totals: { pos_payments: 10000, pos_refunds: 1000, channel_payments: 9990, channel_refunds: 1000, difference: -10 } },
    })
    // The same file again is recognised; the day is unchanged.
    const again = await runCli(['reconcile', 'import', '--connection', connectionId, '--date', '2026-11-10', '--file', file, '--json'], env)
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('this file was imported before')
    expect(lastJsonLine(again.stdout)).toMatchObject({ statement: { status: 'duplicate' }, run: { reused: true, id: summary.run.id } })
    const lines = await hub.database.db.execute(sql`select count(*)::int as n from settlement_lines where connection_id = ${connectionId}`)
    expect(lines.rows[0]!.n).toBe(4)
    // The file was read from disk as a stream; what is kept for download is that file, byte for byte.
    const kept = await hub.database.db.execute<{ content: Buffer; size_bytes: number }>(sql`
      select f.content, s.size_bytes from statement_files f join settlement_statements s on s.id = f.statement_id where s.id = ${summary.statement.id}`)
    expect(Buffer.compare(kept.rows[0]!.content, fs.readFileSync(file))).toBe(0)
    expect(Number(kept.rows[0]!.size_bytes)).toBe(fs.statSync(file).size)
  })

  it('runs a day on its own', async () => {
    const r = await runCli(['reconcile', 'run', '--connection', connectionId, '--date', '2026-11-10', '--json'], env)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^reconciled 2026-11-10: exceptions/)
    expect(lastJsonLine(r.stdout)).toMatchObject({ connectionId, businessDate: '2026-11-10', run: { status: 'exceptions', counts: { matched: 3, amount_diff: 1 } } })
    const none = await runCli(['reconcile', 'run', '--connection', connectionId, '--date', '2026-11-09'], env)
    expect(none.code).toBe(1)
    expect(none.stderr.trim().split('\n')).toHaveLength(1)
    expect(none.stderr).toContain('(no_statement)')
  })

  it('shows a dry run of a day, with the exceptions it would leave, and writes nothing', async () => {
    const state = async () =>
      (await hub.database.db.execute(sql`select (select count(*) from recon_runs where connection_id = ${connectionId})::int as runs, (select count(*) from recon_item_events)::int as events`)).rows[0]
    const before = await state()
    const r = await runCli(['reconcile', 'run', '--connection', connectionId, '--date', '2026-11-10', '--dry-run', '--json'], env)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^dry run of 2026-11-10 \(nothing written\): would be exceptions — matched 3, amount_diff 1;/)
    expect(r.stdout).toMatch(/\n  amount_diff +\S+ +till 12\.00, channel 11\.90 \(already open\)\n/)
    expect(lastJsonLine(r.stdout)).toMatchObject({
      connectionId,
      businessDate: '2026-11-10',
      dryRun: { dryRun: true, status: 'exceptions', counts: { matched: 3, amount_diff: 1 }, changes: { created: 0, changed: 0, removed: 0 }, exceptions: [{ outcome: 'amount_diff', isNew: false, difference: -10 }] },
    })
    expect(await state()).toEqual(before)
  })

  it('shows a dry run of a corrected file, and of one that would be refused, writing nothing', async () => {
    const state = async () =>
      (
        await hub.database.db.execute(sql`
          select (select count(*) from settlement_statements where connection_id = ${connectionId})::int as statements,
                 (select count(*) from settlement_lines where connection_id = ${connectionId})::int as lines,
                 (select count(*) from recon_runs where connection_id = ${connectionId})::int as runs,
                 (select count(*) from recon_item_events)::int as events`)
      ).rows[0]
    const before = await state()
    const file = write('corrected.csv.gz', bill())
    const r = await runCli(['reconcile', 'import', '--connection', connectionId, '--date', '2026-11-10', '--file', file, '--dry-run', '--json'], { ...env, TILLBRIDGE_PROGRESS: 'never' })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^dry run \(nothing written\): would import 4 lines of wechat_trade for 2026-11-10, superseding 1 earlier file\n/)
    expect(r.stdout).toMatch(/\ndry run of 2026-11-10 \(nothing written\): would be balanced — matched 4;/)
    expect(lastJsonLine(r.stdout)).toMatchObject({
      connectionId,
      businessDate: '2026-11-10',
      dryRun: { file: { result: 'would_import', format: 'wechat_trade', lineCount: 4, supersedes: [expect.any(String)] }, run: { status: 'balanced', counts: { matched: 4, amount_diff: 0 } } },
    })
    expect(await state()).toEqual(before)

    const plain = wechatBill({ mchId: '1900000109', appId: 'wx8888888888888888', feeRateBp: 60, rows: [{ kind: 'payment', at: '2026-11-10 09:00:01', outTradeNo: payments[0]!.paymentNo, amount: 5800 }] }).toString('utf8')
    const tampered = write('tampered-dry.csv', Buffer.from(plain.replace(/\n`1,`58\.00,/, '\n`2,`58.00,')))
    const refused = await runCli(['reconcile', 'import', '--connection', connectionId, '--date', '2026-11-10', '--file', tampered, '--dry-run', '--json'], { ...env, TILLBRIDGE_PROGRESS: 'never' })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/would be refused \(control_totals_mismatch\)/)
    expect(lastJsonLine(refused.stdout)).toMatchObject({ dryRun: { file: { result: 'rejected', code: 'control_totals_mismatch' }, run: null } })
    expect(await state()).toEqual(before)
  })

  it('refuses a bill whose summary disagrees with its rows, importing nothing', async () => {
    const plain = wechatBill({ mchId: '1900000109', appId: 'wx8888888888888888', feeRateBp: 60, rows: [{ kind: 'payment', at: '2026-11-11 09:00:01', outTradeNo: payments[0]!.paymentNo, amount: 5800 }] }).toString('utf8')
    const tampered = plain.replace(/\n`1,`58\.00,/, '\n`2,`58.00,')
    expect(tampered).not.toBe(plain)
    const file = write('tampered.csv', Buffer.from(tampered))
    // Without progress lines, which a slow machine prints once the import runs longer than a second.
    const r = await runCli(['reconcile', 'import', '--connection', connectionId, '--date', '2026-11-11', '--file', file, '--json'], { ...env, TILLBRIDGE_PROGRESS: 'never' })
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/refused \(control_totals_mismatch\)/)
    expect(lastJsonLine(r.stdout)).toMatchObject({ statement: { status: 'rejected', code: 'control_totals_mismatch' }, run: null })
    const lines = await hub.database.db.execute(sql`select count(*)::int as n from settlement_lines l join settlement_statements s on s.id = l.statement_id where s.business_date = '2026-11-11'`)
    expect(lines.rows[0]!.n).toBe(0)
  })

  it('answers bad flags with one line and a non-zero exit', async () => {
    const file = write('any.csv', Buffer.from('x'))
    const cases: [string[], RegExp][] = [
      [['reconcile', 'run', '--connection', connectionId, '--date', '2026-13-01'], /date YYYY-MM-DD/],
      [['reconcile', 'run', '--connection', 'nope', '--date', '2026-11-10'], /connection id/],
      [['reconcile', 'run', '--date', '2026-11-10'], /--connection/],
      [['reconcile', 'import', '--connection', connectionId, '--date', '2026-11-10'], /--file/],
      [['reconcile', 'import', '--connection', connectionId, '--date', '2026-11-10', '--file', path.join(dir, 'missing.csv')], /cannot read .*ENOENT/],
      [['reconcile', 'import', '--connection', connectionId, '--date', '2026-11-10', '--file', write('empty.csv', Buffer.alloc(0))], /empty\.csv is empty/],
      [['reconcile', 'import', '--connection', connectionId, '--date', '2026-11-10', '--file', dir], /is not a file/],
      [['reconcile', 'import', '--connection', connectionId, '--date', '2026-11-10', '--file', file, '--format', 'Bad Format'], /statement format/],
    ]
    for (const [args, message] of cases) {
      const r = await runCli(args, env)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(r.stderr, args.join(' ')).toMatch(message)
    }
    const unknown = await runCli(['reconcile', 'run', '--connection', '00000000-0000-7000-8000-000000000000', '--date', '2026-11-10'], env)
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/connection .* was not found/)
  })
})
