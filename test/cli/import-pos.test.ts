import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import ExcelJS from 'exceljs'
import { stringify } from 'csv-stringify/sync'
import { TEST_SECRET_KEY, useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedStore } from '../helpers/pos.ts'
import { lastJsonLine, runCli } from '../helpers/processes.ts'

describe('tillbridge import-pos', { timeout: 180_000 }, () => {
  const hub = useTestHub()
  let dir: string
  let env: Record<string, string>
  let merchantId: string
  let storeCode: string
  let locationId: string

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-import-pos-'))
    env = { DATABASE_URL: hub.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }
    const m = await seedMerchant(hub)
    merchantId = m.merchantId
    storeCode = 'MOVE1'
    const store = await seedStore(hub, m.merchantId, { code: storeCode })
    locationId = store.locationId
    const t = await createApi(hub).as(m.adminToken).post('/api/v1/tiers', { code: 'gold', name: '金卡', rank: 10, minSpend: 100_000 })
    expect(t.status).toBe(201)
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  const write = (name: string, content: string | Uint8Array) => {
    const f = path.join(dir, name)
    fs.writeFileSync(f, content)
    return f
  }
  async function xlsx(rows: (string | number)[][]) {
    const wb = new ExcelJS.Workbook()
    const ws = wb.addWorksheet('会员')
    for (const r of rows) ws.addRow(r)
    return new Uint8Array(await wb.xlsx.writeBuffer())
  }
  const count = async (query: ReturnType<typeof sql>) => (await hub.database.db.execute<{ n: number }>(query)).rows[0]!.n
  const members = () => count(sql`select count(*)::int as n from members where merchant_id = ${merchantId}`)
  const variants = () => count(sql`select count(*)::int as n from variants where merchant_id = ${merchantId}`)
  const onHand = () => count(sql`select coalesce(sum(on_hand), 0)::int as n from stock_levels where merchant_id = ${merchantId} and location_id = ${locationId}`)
  /** The progress lines a pipe gets: "label: done/total unit (pct%)". */
  const progressLines = (stderr: string) => stderr.split('\n').filter((l) => /^\w+ \w+: \d+(\/\d+)? \w+( \(\d+%\))?$/.test(l))

  let files: { catalog: string; members: string; stock: string }
  beforeAll(async () => {
    files = {
      catalog: write(
        'catalog.csv',
        stringify([
          ['商品名称', '条码', '分类', '单位', '零售价', '进价'],
          ['可乐', '6901234567892', '饮料', '瓶', '3.00', '1.50'],
          ['薯片', '6901234567908', '零食', '包', '6.80', '4.00'],
        ]),
      ),
      members: write(
        'members.xlsx',
        await xlsx([
          ['手机号', '姓名', '会员卡号', '会员等级', '积分', '储值余额'],
          ['13800138100', '张三', 'VIP001', '金卡', 300, '88.00'],
          ['13800138101', '李四', 'VIP002', '', 0, ''],
        ]),
      ),
      stock: write(
        'stock.csv',
        stringify([
          ['条码', '库存', '成本'],
          ['6901234567892', '48', '1.50'],
          ['6901234567908', '12', ''],
        ]),
      ),
    }
  })
  const args = (...extra: string[]) => ['import-pos', '--merchant', merchantId, '--store', storeCode, '--catalog', files.catalog, '--members', files.members, '--stock', files.stock, '--source', '银豹', ...extra]

  it('a dry run checks the three files together, prints progress on stderr and the reports as the last JSON line, and writes nothing', async () => {
    const r = await runCli(args('--dry-run', '--json'), env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^catalog: 2 rows — would create 2 products and 2 variants.*\(dry run\)$/m)
    expect(r.stdout).toMatch(/^members: 2 rows — would create 2 members \(opening points 300, stored value 88\.00 \+ bonus 0\.00\), 0 existing skipped \(dry run\)$/m)
    // The stock file names barcodes of products the catalog file creates: checked against them.
    expect(r.stdout).toMatch(/^stock: 2 rows — would receive 2 lines, 60 units worth 120\.00 at cost \(dry run\)$/m)
    const json = lastJsonLine(r.stdout)
    expect(json).toMatchObject({ merchantId, store: storeCode, dryRun: true, applied: false, errorCount: 0 })
    expect(json.reports.members).toMatchObject({ dryRun: true, applied: false, source: '银豹', columns: { phone: '手机号', card_no: '会员卡号' } })
    expect(json.reports.stock.summary).toMatchObject({ lines: 2, quantity: 60, value: 12000 })
    const lines = progressLines(r.stderr)
    expect(lines).toEqual(expect.arrayContaining(['catalog check: 2/2 rows (100%)', 'members check: 2/2 rows (100%)', 'stock check: 2/2 rows (100%)']))
    expect(lines.some((l) => l.includes(' write: '))).toBe(false)
    expect(r.stderr.split('\n').filter(Boolean).every((l) => progressLines(l).length === 1)).toBe(true)
    expect([await variants(), await members(), await onHand()]).toEqual([0, 0, 0])
  })

  it('imports everything at once, with progress of the writing; a second run finds it all there and adds nothing', async () => {
    const r = await runCli(args('--json'), env)
    expect(r.code, r.stderr).toBe(0)
    expect(progressLines(r.stderr)).toEqual(expect.arrayContaining(['members write: 2/2 members (100%)', 'stock write: 2/2 lines (100%)']))
    const json = lastJsonLine(r.stdout)
    expect(json).toMatchObject({ dryRun: false, applied: true, errorCount: 0, reports: { catalog: { applied: true }, members: { applied: true }, stock: { applied: true } } })
    expect([await variants(), await members(), await onHand()]).toEqual([2, 2, 60])
    const vip = await hub.database.db.execute<{ points_balance: number; stored_principal: number; card_no: string }>(sql`select points_balance, stored_principal, card_no from members where merchant_id = ${merchantId} and card_no = 'VIP001'`)
    expect(vip.rows).toEqual([{ points_balance: 300, stored_principal: 8800, card_no: 'VIP001' }])

    const again = await runCli(args('--json'), env)
    expect(again.code, again.stderr).toBe(0)
    const second = lastJsonLine(again.stdout)
    expect(second.reports.catalog.summary).toMatchObject({ productsCreated: 0, variantsCreated: 0, variantsUnchanged: 2 })
    expect(second.reports.members.summary).toMatchObject({ created: 0, existing: 2 })
    expect(second.reports.stock.summary).toMatchObject({ alreadyImported: true })
    expect(again.stdout).toMatch(/^stock: 2 rows — imported before: nothing received again$/m)
    expect([await variants(), await members(), await onHand()]).toEqual([2, 2, 60])
    expect(await ledgerMismatches(hub, merchantId)).toEqual([])
  })

  it('a bad row in one file imports none of the files: each problem by line on stdout, one error line on stderr, exit 1', async () => {
    const catalog = write('catalog2.csv', stringify([['商品名称', '条码', '零售价'], ['面包', '6901234567915', '5.00']]))
    const badMembers = write('members2.csv', stringify([['手机号', '姓名', '积分'], ['13800138200', '王五', '10'], ['555', '坏号码', '1'], ['13800138201', '赵六', '-1']]))
    const r = await runCli(['import-pos', '--merchant', merchantId, '--store', storeCode, '--catalog', catalog, '--members', badMembers, '--json'], { ...env, TILLBRIDGE_PROGRESS: 'never' })
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/^members: 3 rows — nothing imported; 2 problems$/m)
    expect(r.stdout).toMatch(/^ {2}line 3 \[手机号\]: .*\(invalid_phone\)$/m)
    expect(r.stdout).toMatch(/^ {2}line 4 \[积分\]: .*\(negative_balance\)$/m)
    expect(lastJsonLine(r.stdout)).toMatchObject({ applied: false, errorCount: 2, reports: { catalog: { errorCount: 0, applied: false }, members: { errorCount: 2 } } })
    // Progress silenced: stderr is the one error line.
    expect(r.stderr.trim().split('\n')).toEqual(['tillbridge: error: 2 problems in the files; nothing was imported'])
    expect(await variants()).toBe(2)
    expect(await members()).toBe(2)
  })

  it('refuses bad arguments with one line and exit 2', async () => {
    const none = await runCli(['import-pos', '--merchant', merchantId, '--store', storeCode], env)
    expect(none.code).toBe(2)
    expect(none.stderr.trim()).toBe('tillbridge: give at least one of --catalog, --members, --stock')
    const store = await runCli(['import-pos', '--merchant', merchantId, '--store', 'NOPE', '--members', files.members], env)
    expect(store.code).toBe(2)
    expect(store.stderr).toContain('has no store with code NOPE')
    const missing = await runCli(['import-pos', '--merchant', merchantId, '--store', storeCode, '--members', path.join(dir, 'nope.csv')], env)
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/cannot read .*ENOENT/)
    const format = await runCli(['import-pos', '--merchant', merchantId, '--store', storeCode, '--members', files.members, '--format', 'csv'], env)
    expect(format.code).toBe(2)
    expect(format.stderr).toContain('members.xlsx: the file is an XLSX workbook, not a CSV')
  })
})
