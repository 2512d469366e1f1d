import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_SECRET_KEY, useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { lastJsonLine, runCli } from '../helpers/processes.ts'
import { createProgress, progressModeOf } from '../../src/cli/progress.ts'
import { wechatBill } from '../../src/sandboxes/vendors/wechatpay.ts'
import { smtpSandbox } from '../../src/sandboxes/vendors/smtp.ts'

/** A stream that keeps what is written, as a pipe or as a terminal. */
const sink = (isTTY = false) => {
  const chunks: string[] = []
  return { isTTY, write: (t: string) => chunks.push(t), text: () => chunks.join('') }
}

describe('progress on stderr', () => {
  it('a pipe gets a line per step, at most one a second while it runs, and where it ended', () => {
    let now = 0
    const out = sink()
    const p = createProgress({ out, mode: 'auto', now: () => now })
    const step = p.step('members check', { total: 5000 })
    step.update(0)
    now = 400
    step.update(1500)
    now = 1000
    step.update(2000)
    now = 1500
    step.update(4000)
    now = 1600
    step.end({ done: 5000 })
    step.update(9) // after the end: ignored
    const stream = p.step('statement', { unit: 'rows read' })
    stream.update(1000)
    stream.end({ done: 1234 })
    expect(out.text().split('\n')).toEqual([
      'members check: 0/5000 rows (0%)',
      'members check: 2000/5000 rows (40%)',
      'members check: 5000/5000 rows (100%)',
      'statement: 1000 rows read',
      'statement: 1234 rows read',
      '',
    ])
  })

  it('a step that ends within the delay says nothing; a slow one shows its progress and its end', () => {
    let now = 0
    const out = sink()
    const p = createProgress({ out, mode: 'auto', delayMs: 1000, now: () => now })
    const quick = p.step('statement', { unit: 'rows read' })
    quick.update(1000)
    now = 300
    quick.end({ done: 4 })
    expect(out.text()).toBe('')
    const slow = p.step('vouchers', { total: 10, unit: 'days' })
    slow.update(1)
    now = 1300
    slow.update(4)
    now = 1700
    slow.end({ done: 10 })
    expect(out.text()).toBe('vouchers: 4/10 days (40%)\nvouchers: 10/10 days (100%)\n')
    // 'always' shows the quick ones too; 'never' nothing at all.
    const always = sink()
    const a = createProgress({ out: always, mode: 'always', delayMs: 1000, now: () => now }).step('statement', { unit: 'rows read' })
    a.end({ done: 4 })
    expect(always.text()).toBe('statement: 4 rows read\n')
    const never = sink()
    const n = createProgress({ out: never, mode: 'never', now: () => now }).step('x', { total: 1 })
    n.update(1)
    n.end()
    expect(never.text()).toBe('')
    expect([progressModeOf({ TILLBRIDGE_PROGRESS: 'never' }), progressModeOf({ TILLBRIDGE_PROGRESS: 'ALWAYS' }), progressModeOf({})]).toEqual(['never', 'always', 'auto'])
  })

  it('a terminal gets one line updated in place, ended with a newline', () => {
    let now = 0
    const out = sink(true)
    const p = createProgress({ out, mode: 'auto', now: () => now })
    const a = p.step('stock write', { total: 4, unit: 'lines' })
    a.update(1)
    now = 150
    a.update(2)
    now = 200
    a.update(3) // within 100 ms of the last redraw
    const b = p.step('members write', { total: 2, unit: 'members' })
    b.update(1) // another step's line starts below the unfinished one
    a.end({ done: 4 })
    b.end({ done: 2 })
    expect(out.text()).toBe(
      '\r\x1b[2Kstock write: 1/4 lines (25%)' +
        '\r\x1b[2Kstock write: 2/4 lines (50%)' +
        '\n\r\x1b[2Kmembers write: 1/2 members (50%)' +
        '\n\r\x1b[2Kstock write: 4/4 lines (100%)\n' +
        '\r\x1b[2Kmembers write: 2/2 members (100%)\n',
    )
  })
})

describe('progress of the long commands', { timeout: 180_000 }, () => {
  const hub = useTestHub()
  const smtp = smtpSandbox()
  let dir: string
  let env: Record<string, string>

  beforeAll(async () => {
    await smtp.start()
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-progress-'))
    env = { DATABASE_URL: hub.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir, TILLBRIDGE_PROGRESS: 'always' }
  })
  afterAll(async () => {
    await smtp.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('reconcile import reports the rows read on stderr; stdout still ends with the JSON line', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const api = createApi(hub).as(m.adminToken)
    const conn = await api.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { mchId: '1900000109', apiVersion: 'v2', appId: 'wx8888888888888888', apiKey: 'k'.repeat(32), feeRateBp: 60 } })
    const bill = wechatBill({
      mchId: '1900000109',
      appId: 'wx8888888888888888',
      feeRateBp: 60,
      rows: [
        { kind: 'payment', at: '2026-11-10 09:00:01', outTradeNo: 'P000000000001', amount: 5800 },
        { kind: 'payment', at: '2026-11-10 10:00:01', outTradeNo: 'P000000000002', amount: 1200 },
      ],
    })
    const file = path.join(dir, 'bill.csv')
    fs.writeFileSync(file, bill)
    const r = await runCli(['reconcile', 'import', '--connection', conn.body.id, '--date', '2026-11-10', '--file', file, '--no-run', '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe('statement: 2 rows read\n')
    expect(lastJsonLine(r.stdout)).toMatchObject({ statement: { status: 'imported', lineCount: 2 }, run: null })
  })

  it('vouchers export takes a range of days and reports the days done', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code: 'RNG1', openSession: false })
    const item = await seedProduct(hub, store, { price: 3390, cost: 2000, stock: 100 })
    const api = createApi(hub).as(m.adminToken)
    const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
    for (const day of ['2026-11-20', '2026-11-22']) {
      hub.setNow(at(`${day} 10:00:00`))
      try {
        if (day === '2026-11-20') await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
        const sale = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'wechat', amount: 3390 }] })
        expect(sale.status, JSON.stringify(sale.body)).toBe(201)
      } finally {
        hub.setNow(undefined)
      }
    }
    const conn = await api.post('/api/v1/connections', {
      connectorId: 'voucher-file',
      name: 'Mail',
      config: { smtpHost: '127.0.0.1', smtpPort: smtp.port, secure: false, from: 'hub@shop.example', recipients: ['finance@shop.example'] },
    })
    const r = await runCli(['vouchers', 'export', '--store', store.storeId, '--from', '2026-11-20', '--to', '2026-11-22', '--connection', conn.body.id, '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr.split('\n').filter(Boolean).at(-1)).toBe('vouchers: 3/3 days (100%)')
    const json = lastJsonLine(r.stdout)
    expect(json).toMatchObject({ from: '2026-11-20', to: '2026-11-22', connectionId: conn.body.id })
    expect(json.deliveries.map((d: any) => [d.date, d.status])).toEqual([
      ['2026-11-20', 'exported'],
      ['2026-11-22', 'exported'],
    ])
    const both = await runCli(['vouchers', 'export', '--store', store.storeId, '--date', '2026-11-20', '--from', '2026-11-20', '--to', '2026-11-21', '--connection', conn.body.id], env)
    expect(both.code).toBe(2)
    expect(both.stderr.trim()).toBe('tillbridge: give --date, or --from and --to, not both')
  })
})
