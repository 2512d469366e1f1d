import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { TEST_SECRET_KEY, useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { lastJsonLine, runCli } from '../helpers/processes.ts'
import { smtpSandbox } from '../../src/sandboxes/vendors/smtp.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)

describe('tillbridge vouchers', { timeout: 120_000 }, () => {
  const hub = useTestHub()
  const smtp = smtpSandbox()
  let dir: string
  let env: Record<string, string>
  let storeId: string
  let connectionId: string

  beforeAll(async () => {
    await smtp.start()
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-vouchers-'))
    env = { DATABASE_URL: hub.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code: 'CLI1', openSession: false })
    storeId = store.storeId
    const item = await seedProduct(hub, store, { price: 3390, cost: 2000, stock: 100 })
    const api = createApi(hub).as(m.adminToken)
    hub.setNow(at('2026-11-20 10:00:00'))
    try {
      await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
      await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'wechat', amount: 6780 }] })
      // A day of sales nobody builds, but a refused export.
      hub.setNow(at('2026-11-22 10:00:00'))
      await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'wechat', amount: 3390 }] })
    } finally {
      hub.setNow(undefined)
    }
    connectionId = (
      await api.post('/api/v1/connections', { connectorId: 'voucher-file', name: 'Mail', config: { smtpHost: '127.0.0.1', smtpPort: smtp.port, secure: false, from: 'hub@shop.example', recipients: ['finance@shop.example'] } })
    ).body.id
  })
  afterAll(async () => {
    await smtp.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('builds a day with --json: the last line is the voucher, balanced, with account, debit, credit and summary per line', async () => {
    const r = await runCli(['vouchers', 'build', '--store', storeId, '--date', '2026-11-20', '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const v = lastJsonLine(r.stdout) as any
    expect(v.reference).toBe('TB-CLI1-20261120-R1')
    expect(v.totalDebit).toBe(v.totalCredit)
    expect(v.lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ account: '1012.01', debit: 6780, credit: 0, summary: '11/20 CLI1 微信收款' }),
        expect.objectContaining({ account: '6001', debit: 0, credit: 6000, summary: '11/20 CLI1 销售收入 13%' }),
        expect.objectContaining({ account: '2221.01.01', debit: 0, credit: 780, summary: '11/20 CLI1 销项税额 13%' }),
      ]),
    )
  })

  it('exports the day once: a second run reports it was delivered before and sends nothing', async () => {
    const first = await runCli(['vouchers', 'export', '--store', storeId, '--date', '2026-11-20', '--connection', connectionId, '--json'], env)
    expect(first.code, first.stderr).toBe(0)
    expect((lastJsonLine(first.stdout) as any).deliveries).toEqual([expect.objectContaining({ reference: 'TB-CLI1-20261120-R1', status: 'exported', sent: true })])
    const second = await runCli(['vouchers', 'export', '--store', storeId, '--date', '2026-11-20', '--connection', connectionId], env)
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toContain('delivered before; not sent again')
    expect(smtp.state.messages).toHaveLength(1)
  })

  it('refuses bad arguments with a clear error', async () => {
    const r = await runCli(['vouchers', 'build', '--store', 'not-a-uuid', '--date', '2026-11-20'], env)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('must be a store id')
    const day = await runCli(['vouchers', 'build', '--store', storeId, '--date', '20-11-2026'], env)
    expect(day.stderr).toContain('must be a date YYYY-MM-DD')
    const none = await runCli(['vouchers', 'build', '--date', '2026-11-20'], env)
    expect(none.code).not.toBe(0)
    expect(none.stderr).toContain('give --store')
    const otherMerchant = await runCli(['vouchers', 'build', '--store', storeId, '--merchant', '01890a5d-ac96-774b-bcce-b302099a8057', '--date', '2026-11-20'], env)
    expect(otherMerchant.code).not.toBe(0)
    expect(otherMerchant.stderr).toContain('is not a store of merchant')
    // An unknown connection is refused before the day is built.
    const unknown = await runCli(['vouchers', 'export', '--store', storeId, '--date', '2026-11-22', '--connection', '01890a5d-ac96-774b-bcce-b302099a8057'], env)
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toMatch(/connection .* was not found/)
    const built = await hub.database.db.execute(sql`select count(*)::int as n from vouchers where store_id = ${storeId} and business_date = '2026-11-22'`)
    expect(built.rows[0]).toEqual({ n: 0 })
  })
})
