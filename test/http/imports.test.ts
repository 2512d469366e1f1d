import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import ExcelJS from 'exceljs'
import { stringify } from 'csv-stringify/sync'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type SeededMerchant } from '../helpers/api.ts'
import type { Api } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore, type SeededStore } from '../helpers/pos.ts'
import { createLocation } from '../../src/core/stores/service.ts'

const CSV = 'text/csv'
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'

const csv = (rows: string[][]) => stringify(rows)

async function xlsx(rows: (string | number)[][]): Promise<Uint8Array> {
  const wb = new ExcelJS.Workbook()
  const ws = wb.addWorksheet('Export')
  for (const r of rows) ws.addRow(r)
  return new Uint8Array(await wb.xlsx.writeBuffer())
}

type Query = { dryRun?: boolean; store?: string; source?: string; format?: string; taxCategory?: string }
const send = (api: Api, kind: string, body: string | Uint8Array, q: Query = {}, type = typeof body === 'string' ? CSV : XLSX) => {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v))
  return api.post(`/api/v1/imports/${kind}?${params}`, undefined, { raw: typeof body === 'string' ? new TextEncoder().encode(body) : body, headers: { 'content-type': type } })
}

const errorsOf = (body: any) => body.errors.map((e: any) => [e.line, e.column, e.code])

describe('importing from another POS', () => {
  const hub = useTestHub()

  async function shop(): Promise<{ m: SeededMerchant; admin: Api; store: SeededStore; code: string }> {
    const m = await seedMerchant(hub, { currency: 'CNY' })
    const code = `MIG${Math.floor(Math.random() * 1e6)}`
    const store = await seedStore(hub, m.merchantId, { code })
    const admin = createApi(hub).as(m.adminToken)
    for (const [tierCode, name, rank] of [
      ['normal', '普通会员', 0],
      ['gold', '金卡', 10],
    ] as const) {
      const t = await admin.post('/api/v1/tiers', { code: tierCode, name, rank, minSpend: rank * 100_000 })
      expect(t.status, JSON.stringify(t.body)).toBe(201)
    }
    return { m, admin, store, code }
  }

  const count = async (table: string, merchantId: string) =>
    (await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from ${sql.identifier(table)} where merchant_id = ${merchantId}`)).rows[0]!.n

  describe('members', () => {
    const HEADER = ['手机号', '姓名', '会员卡号', '会员等级', '积分', '储值余额', '赠送余额', '生日', '短信营销']

    it('a dry run with Chinese headers reports every bad row by line and column, and writes nothing', async () => {
      const { m, admin } = await shop()
      const file = csv([
        HEADER,
        ['13800138000', '张三', '6001', '金卡', '1,200', '100.50', '20', '1990-05-20', '是'], // 2 ok
        ['12345', '李四', '6002', '', '', '', '', '', ''], // 3 bad phone
        ['13900139000', '王五', '6001', '', '', '', '', '', ''], // 4 card no of line 2
        ['13700137000', '赵六', '6004', '钻石卡', '', '', '', '', ''], // 5 unknown tier
        ['13600136000', '钱七', '6005', '', '12.5', '', '', '', ''], // 6 points not whole
        ['13500135000', '孙八', '6006', '', '', '-3', '', '', ''], // 7 negative stored value
        ['13400134000', '周九', '6007', '', '', '1.234', '', '1990-02-30', '也许'], // 8 bad amount, bad date, bad yes/no
        ['138 0013 8000', '张三又', '6008', '', '', '', '', '', ''], // 9 phone of line 2, another way typed
        ['13300133000', '吴十', '', '普通会员', '0', '', '', '05-20', '否'], // 10 ok, no card no
        ['13200132000', '郑十一', '6011', '', '1,5', '', '', '', ''], // 11 points with a decimal comma: not whole, never 15
      ])
      const r = await send(admin, 'members', file, { dryRun: true, source: '银豹' })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body).toMatchObject({ kind: 'members', format: 'csv', dryRun: true, applied: false, rows: 10, source: '银豹' })
      expect(errorsOf(r.body)).toEqual([
        [3, '手机号', 'invalid_phone'],
        [4, '会员卡号', 'duplicate_card_no'],
        [5, '会员等级', 'unknown_tier'],
        [6, '积分', 'invalid_number'],
        [7, '储值余额', 'negative_balance'],
        [8, '储值余额', 'invalid_amount'],
        [8, '生日', 'invalid_birthday'],
        [8, '短信营销', 'invalid_boolean'],
        [9, '手机号', 'duplicate_phone'],
        [11, '积分', 'invalid_number'],
      ])
      const at = (line: number) => r.body.errors.find((e: any) => e.line === line)
      expect(at(4).message).toContain('line 2')
      expect(at(9).message).toContain('line 2')
      expect(at(5).message).toContain('金卡')
      expect(r.body.columns).toMatchObject({ phone: '手机号', card_no: '会员卡号', points: '积分', stored_value: '储值余额' })
      expect(r.body.summary).toMatchObject({ created: 2, existing: 0, points: 1200, storedValue: 10050, storedBonus: 2000, tiersSet: 2 })
      expect(await count('members', m.merchantId)).toBe(0)
    })

    it('an import creates the members with their card numbers, tiers, consents and opening balances through the ledgers; a re-run skips them', async () => {
      const { m, admin, code } = await shop()
      const file = await xlsx([
        ['Mobile', 'Name', 'Card No.', 'Tier', 'Points', 'Balance', 'Bonus balance', 'Birthday', 'SMS consent', 'Email', 'Gender'],
        ['13800138001', 'Alice', '88001', 'gold', 1500, '200.00', '30', '1988-12-01', 'yes', 'alice@example.com', 'F'],
        ['+86 139 0013 9001', 'Bob', '88002', '', 0, '', '', '', 'no', '', 'M'],
      ])
      const r = await send(admin, 'members', file, { store: code, source: 'old POS' })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body).toMatchObject({ kind: 'members', format: 'xlsx', applied: true, errorCount: 0, summary: { created: 2, existing: 0, points: 1500, storedValue: 20000, storedBonus: 3000, tiersSet: 1 } })
      expect(r.body.warnings).toEqual(['ignored columns: Gender'])

      const alice = (await admin.get('/api/v1/members/lookup?cardNo=88001')).body
      expect(alice).toMatchObject({ phone: '+8613800138001', name: 'Alice', cardNo: '88001', tier: { code: 'gold' }, consents: { sms: true, email: false }, points: { balance: 1500 }, storedValue: { principal: 20000, bonus: 3000 } })
      expect(alice.birthday).toEqual({ month: 12, day: 1, year: 1988 })
      const bob = (await admin.get('/api/v1/members/lookup?phone=13900139001')).body
      expect(bob).toMatchObject({ cardNo: '88002', tier: { code: 'normal' }, points: { balance: 0 }, storedValue: { total: 0 } })
      // Alice's opening tier is a tier change like any other, on the event feed; Bob stays in the entry tier.
      const events = (await admin.get('/api/v1/events?type=member.tier_changed&limit=100')).body.items as any[]
      expect(events.map((e) => [e.entityId, e.data.from, e.data.to])).toEqual([[alice.id, 'normal', 'gold']])
      // The balances are ledger rows with the opening reason, not column writes.
      const points = (await admin.get(`/api/v1/members/${alice.id}/points`)).body
      expect(points.ledger).toEqual([expect.objectContaining({ kind: 'adjust', delta: 1500, balanceAfter: 1500, note: 'opening balance from old POS' })])
      const stored = (await admin.get(`/api/v1/members/${alice.id}/stored-value`)).body
      expect(stored.ledger).toEqual([expect.objectContaining({ kind: 'opening', principalDelta: 20000, bonusDelta: 3000, note: 'opening balance from old POS' })])
      const consent = await hub.database.db.execute<{ channel: string; granted: boolean; source: string }>(sql`select channel, granted, source from member_consents where member_id = ${bob.id}`)
      expect(consent.rows).toEqual([{ channel: 'sms', granted: false, source: 'import' }])

      // The same file again: both exist (by card number), nothing is created or credited twice.
      const again = await send(admin, 'members', file, { store: code, source: 'old POS' })
      expect(again.status).toBe(200)
      expect(again.body.summary).toMatchObject({ created: 0, existing: 2, points: 0, storedValue: 0 })
      expect(again.body.summary.existingMembers).toEqual([
        { line: 2, memberId: alice.id, matchedBy: 'card_no' },
        { line: 3, memberId: bob.id, matchedBy: 'card_no' },
      ])
      expect(await count('members', m.merchantId)).toBe(2)
      expect((await admin.get(`/api/v1/members/${alice.id}`)).body.points.balance).toBe(1500)
      // A member registered at the till meanwhile is found by phone.
      const byPhone = await send(admin, 'members', csv([['手机号', '会员卡号'], ['13800138001', '']]))
      expect(byPhone.body.summary.existingMembers).toEqual([{ line: 2, memberId: alice.id, matchedBy: 'phone' }])
      // Alice's card with Bob's phone: which member is meant cannot be told.
      const mixed = await send(admin, 'members', csv([['手机号', '会员卡号'], ['13900139001', '88001']]), { dryRun: true })
      expect(errorsOf(mixed.body)).toEqual([[2, '会员卡号', 'member_conflict']])
    })

    it('one bad row refuses the whole file: 422 with the report, and nothing written', async () => {
      const { m, admin } = await shop()
      const file = csv([HEADER, ['13800138002', 'Ok', '7001', '', '10', '5', '', '', ''], ['13800138003', 'Bad', '7002', '', 'ten', '', '', '', '']])
      const r = await send(admin, 'members', file)
      expect(r.status).toBe(422)
      expect(r.body.error.code).toBe('import_invalid')
      expect(r.body.error.details).toMatchObject({ applied: false, errorCount: 1 })
      expect(errorsOf(r.body.error.details)).toEqual([[3, '积分', 'invalid_number']])
      expect(await count('members', m.merchantId)).toBe(0)
      expect(await count('points_ledger', m.merchantId)).toBe(0)
      expect(await count('stored_value_ledger', m.merchantId)).toBe(0)
    })

    it('an opening stored value over what a member may hold (principal and bonus together) is reported by the dry run on its line, and the import refuses the file', async () => {
      const { m, admin, code } = await shop()
      // A member holds at most MAX_PAYMENT_AMOUNT = 1e12 fen (¥10,000,000,000.00) of principal and bonus together.
      const file = csv([
        ['手机号', '会员卡号', '储值余额', '赠送余额'],
        ['13800138020', '9001', '10,000,000,000.00', ''], // 2 exactly the limit: fine
        ['13800138021', '9002', '10,000,000,000.01', ''], // 3 one fen over
        ['13800138022', '9003', '6,000,000,000.00', '4,000,000,000.01'], // 4 each under, together one fen over
        ['13800138023', '9004', '', '10,000,000,000.01'], // 5 the bonus alone over
      ])
      const expected = [
        [3, '储值余额', 'balance_too_large'],
        [4, '赠送余额', 'balance_too_large'],
        [5, '赠送余额', 'balance_too_large'],
      ]
      const dry = await send(admin, 'members', file, { dryRun: true, store: code })
      expect(dry.status, JSON.stringify(dry.body)).toBe(200)
      expect(errorsOf(dry.body)).toEqual(expected)
      expect(dry.body.errors.find((e: any) => e.line === 4).message).toContain('together')
      expect(dry.body.summary).toMatchObject({ created: 1, storedValue: 1_000_000_000_000, storedBonus: 0 })

      const r = await send(admin, 'members', file, { store: code })
      expect(r.status, JSON.stringify(r.body)).toBe(422)
      expect(r.body.error.code).toBe('import_invalid')
      expect(errorsOf(r.body.error.details)).toEqual(expected)
      expect(await count('members', m.merchantId)).toBe(0)
      expect(await count('stored_value_ledger', m.merchantId)).toBe(0)

      // The limit itself is a balance a member may hold.
      const atLimit = await send(admin, 'members', csv([['手机号', '储值余额', '赠送余额'], ['13800138020', '9,999,999,999.00', '1.00']]), { store: code })
      expect(atLimit.status, JSON.stringify(atLimit.body)).toBe(200)
      const member = (await admin.get('/api/v1/members/lookup?phone=13800138020')).body
      expect(member.storedValue).toMatchObject({ principal: 999_999_999_900, bonus: 100 })
    })

    it('opening balances need the permissions of the adjustments they are', async () => {
      const { m } = await shop()
      const cashier = createApi(hub).as((await m.staff('cashier')).token)
      const r = await send(cashier, 'members', csv([['phone', 'points'], ['13800138004', '50']]))
      expect(r.status).toBe(403)
      expect(r.body.error.details).toMatchObject({ permission: 'points.adjust' })
      const plain = await send(cashier, 'members', csv([['phone', 'name'], ['13800138004', 'No balance']]))
      expect(plain.status, JSON.stringify(plain.body)).toBe(200)
      expect(plain.body.summary.created).toBe(1)
    })
  })

  describe('opening stock', () => {
    async function stockShop() {
      const s = await shop()
      const cola = await seedProduct(hub, s.store, { sku: `COLA-${s.code}`, price: 300, cost: 150, barcodes: ['6901234567892'] })
      const rice = await seedProduct(hub, s.store, { sku: `RICE-${s.code}`, price: 600, pricePer: 1000, cost: 400, unit: 'g' })
      const back = await hub.database.db.transaction((tx) => createLocation(tx, s.store.actor, s.store.storeId, { name: '后仓', kind: 'backroom' }))
      return { ...s, cola, rice, backId: back.id }
    }
    const onHand = async (variantId: string, locationId: string) =>
      Number((await hub.database.db.execute<{ on_hand: string }>(sql`select on_hand::text from stock_levels where variant_id = ${variantId} and location_id = ${locationId}`)).rows[0]?.on_hand ?? 0)

    it('a dry run reports unknown items, bad quantities and locations by line; the import receives the rest through the ledger once', async () => {
      const { m, admin, store, code, cola, rice, backId } = await stockShop()
      const bad = csv([
        ['条码', '商品编码', '仓库', '库存', '成本'],
        ['6901234567892', '', '', '24', '1.60'], // 2 ok (by barcode, sale location)
        ['', 'NOPE', '', '3', ''], // 3 unknown SKU
        ['', rice.sku, '', '-5', ''], // 4 negative
        ['', rice.sku, '', '2.5', ''], // 5 not whole
        ['', rice.sku, '冷库', '100', ''], // 6 unknown location
        ['', rice.sku, '后仓', 'abc', ''], // 7 malformed
        ['6901234567892', cola.sku, '', '1', ''], // 8 the same item and location as line 2
        ['', rice.sku, '后仓', '0', ''], // 9 nothing to receive
        ['6901234567892', rice.sku, '后仓', '1', ''], // 10 the barcode is another item's
        ['', rice.sku, '', '1', '¥x'], // 11 bad cost
        ['', rice.sku, '', '1000000001', ''], // 12 more than a receipt line may carry
        ['', cola.sku, '后仓', '1000000000', '99999999.00'], // 13 worth more than an amount can hold exactly
        ['', cola.sku, '冷库', '12,5', ''], // 14 a decimal comma: not whole, never 125
      ])
      const r = await send(admin, 'stock', bad, { dryRun: true, store: code })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(errorsOf(r.body)).toEqual([
        [3, '商品编码', 'unknown_sku'],
        [4, '库存', 'negative_quantity'],
        [5, '库存', 'invalid_quantity'],
        [6, '仓库', 'unknown_location'],
        [7, '库存', 'invalid_quantity'],
        [8, '商品编码', 'duplicate_item'],
        [10, '条码', 'sku_barcode_mismatch'],
        [11, '成本', 'invalid_amount'],
        [12, '库存', 'quantity_too_large'],
        [13, '成本', 'value_too_large'],
        [14, '库存', 'invalid_quantity'],
        [14, '仓库', 'unknown_location'],
      ])
      expect(r.body.errors.find((e: any) => e.code === 'duplicate_item').message).toContain('line 2')

      const good = [
        ['条码', '商品编码', '仓库', '库存', '成本'],
        ['6901234567892', '', '', '24', '1.60'],
        ['', rice.sku, '后仓', '5000', ''],
        ['', rice.sku, '', '0', ''],
      ]
      const dry = await send(admin, 'stock', csv(good), { dryRun: true, store: code, source: '客如云' })
      expect(dry.body).toMatchObject({ errorCount: 0, applied: false, summary: { lines: 2, skippedZero: 1, quantity: 5024, value: 24 * 160 + 2000, alreadyImported: false } })
      expect(await onHand(cola.variantId, store.locationId)).toBe(0)

      const r2 = await send(admin, 'stock', csv(good), { store: code, source: '客如云' })
      expect(r2.status, JSON.stringify(r2.body)).toBe(200)
      expect(r2.body).toMatchObject({ applied: true, summary: { lines: 2, quantity: 5024 } })
      expect(await onHand(cola.variantId, store.locationId)).toBe(24)
      expect(await onHand(rice.variantId, backId)).toBe(5000)
      const moves = await hub.database.db.execute<any>(sql`select kind, cause_type, cause_id, reason, quantity::int, unit_cost::int, cost_per from stock_movements where merchant_id = ${m.merchantId} order by quantity`)
      expect(moves.rows).toEqual([
        { kind: 'receipt', cause_type: 'import', cause_id: r2.body.summary.receiptKey, reason: 'opening balance from 客如云', quantity: 24, unit_cost: 160, cost_per: 1 },
        { kind: 'receipt', cause_type: 'import', cause_id: r2.body.summary.receiptKey, reason: 'opening balance from 客如云', quantity: 5000, unit_cost: 400, cost_per: 1000 },
      ])

      // The same stock again, as an XLSX with its rows in another order: recognised, nothing received twice.
      const sameAsXlsx = await xlsx([good[0]!, good[2]!, good[1]!])
      const again = await send(admin, 'stock', sameAsXlsx, { store: code })
      expect(again.status).toBe(200)
      expect(again.body).toMatchObject({ format: 'xlsx', applied: false, errorCount: 0, summary: { alreadyImported: true, receiptKey: r2.body.summary.receiptKey } })
      expect(await onHand(cola.variantId, store.locationId)).toBe(24)
      expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
    })

    it('finds an item by its GTIN however the file writes it: a UPC-A as its EAN-13 form, and the other way round', async () => {
      const { admin, store, code } = await stockShop()
      const upc = await seedProduct(hub, store, { price: 500, barcodes: ['036000291452'] })
      const ean = await seedProduct(hub, store, { price: 500, barcodes: ['0012345678905'] })
      const r = await send(admin, 'stock', csv([['barcode', 'qty'], ['0036000291452', '4'], ['012345678905', '2']]), { store: code })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(await onHand(upc.variantId, store.locationId)).toBe(4)
      expect(await onHand(ean.variantId, store.locationId)).toBe(2)
    })

    it('a file whose rows each fit but whose total is worth more than an amount can hold is reported by line, not refused whole', async () => {
      const { admin, code, cola } = await stockShop()
      // Each row is worth ¥59,999,999,400,000.00 (6.0e15 fen); together more than 2^53 fen.
      const file = csv([['sku', 'location', 'qty', 'cost'], [cola.sku, '', '600000', '99999999.00'], [cola.sku, '后仓', '600000', '99999999.00']])
      const r = await send(admin, 'stock', file, { store: code, dryRun: true })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(errorsOf(r.body)).toEqual([[3, 'cost', 'value_too_large']])
    })

    it('a row with quantity 0 is checked like any other (unknown SKU or barcode, an item on another line) before it is skipped, and receives nothing', async () => {
      const { m, admin, store, code, cola, rice, backId } = await stockShop()
      const bad = csv([
        ['sku', 'barcode', 'location', 'qty'],
        [cola.sku, '', '', '5'], // 2 ok
        ['TYPO-SKU', '', '', '0'], // 3 unknown SKU
        ['', '6909999999999', '', '0'], // 4 unknown barcode
        [cola.sku, '', '', '0'], // 5 the same item and location as line 2
        [rice.sku, '', '后仓', '0'], // 6 nothing to receive
        ['', '6901234567892', '后仓', '0'], // 7 nothing to receive (cola by barcode, another location)
        [rice.sku, '6901234567892', '', '0'], // 8 the barcode is another item's
      ])
      const r = await send(admin, 'stock', bad, { dryRun: true, store: code })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(errorsOf(r.body)).toEqual([
        [3, 'sku', 'unknown_sku'],
        [4, 'barcode', 'unknown_barcode'],
        [5, 'sku', 'duplicate_item'],
        [8, 'barcode', 'sku_barcode_mismatch'],
      ])
      expect(r.body.errors.find((e: any) => e.code === 'duplicate_item').message).toContain('line 2')
      const refused = await send(admin, 'stock', bad, { store: code })
      expect(refused.status).toBe(422)
      expect(refused.body.error.code).toBe('import_invalid')

      // The good rows: the zero rows are counted as skipped and receive nothing.
      const good = csv([['sku', 'barcode', 'location', 'qty'], [cola.sku, '', '', '5'], [rice.sku, '', '后仓', '0'], ['', '6901234567892', '后仓', '0']])
      const applied = await send(admin, 'stock', good, { store: code })
      expect(applied.status, JSON.stringify(applied.body)).toBe(200)
      expect(applied.body).toMatchObject({ applied: true, errorCount: 0, summary: { lines: 1, skippedZero: 2, quantity: 5 } })
      expect(applied.body.warnings).toContain('2 rows with quantity 0 received nothing')
      expect(await onHand(cola.variantId, store.locationId)).toBe(5)
      expect(await onHand(rice.variantId, backId)).toBe(0)
      expect(await onHand(cola.variantId, backId)).toBe(0)
      expect(await count('stock_movements', m.merchantId)).toBe(1)
      // The zero rows are no part of the opening receipt: the file without them is the same receipt.
      const without = await send(admin, 'stock', csv([['sku', 'qty'], [cola.sku, '5']]), { store: code })
      expect(without.body.summary).toMatchObject({ alreadyImported: true, receiptKey: applied.body.summary.receiptKey })
    })

    it('one bad line refuses the whole file, and a store is required', async () => {
      const { admin, store, code, cola } = await stockShop()
      const r = await send(admin, 'stock', csv([['sku', 'qty'], [cola.sku, '5'], ['GHOST', '1']]), { store: code })
      expect(r.status).toBe(422)
      expect(errorsOf(r.body.error.details)).toEqual([[3, 'sku', 'unknown_sku']])
      expect(await onHand(cola.variantId, store.locationId)).toBe(0)
      const noStore = await send(admin, 'stock', csv([['sku', 'qty'], [cola.sku, '5']]))
      expect(noStore.status).toBe(400)
      expect(noStore.body.error.code).toBe('store_required')
      const unknownStore = await send(admin, 'stock', csv([['sku', 'qty'], [cola.sku, '5']]), { store: 'NOPE' })
      expect(unknownStore.status).toBe(422)
      expect(unknownStore.body.error.code).toBe('unknown_store')
    })
  })

  describe('catalog', () => {
    it('reads Chinese headers and units, reports bad rows by line, and a re-run changes nothing', async () => {
      const { admin } = await shop()
      const header = ['商品名称', '条码', '分类', '单位', '零售价', '进价', '状态', '库存']
      const bad = csv([header, ['可乐', '6901234567892', '饮料', '瓶', '3.00', '1.50', '上架', '10'], ['大米', '', '粮油', '公斤', '6.5.0', '', '', '']])
      const r = await send(admin, 'catalog', bad, { dryRun: true })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      // Line 3 has neither a SKU nor a barcode to stand for one (the file has no SKU column), and a bad price.
      expect(r.body.errors.map((e: any) => [e.line, e.field, e.column, e.code])).toEqual([
        [3, 'sku', null, 'missing_value'],
        [3, 'price', '零售价', 'invalid_amount'],
      ])
      expect(r.body.warnings).toContain('ignored columns: 库存')

      const good = csv([header, ['可乐', '6901234567892', '饮料', '瓶', '3.00', '1.50', '上架', '10'], ['大米', '2000000000015', '粮油', '公斤', '6.50', '4', '下架', '']])
      const applied = await send(admin, 'catalog', good)
      expect(applied.status, JSON.stringify(applied.body)).toBe(200)
      expect(applied.body).toMatchObject({ applied: true, summary: { productsCreated: 2, variantsCreated: 2, categoriesCreated: ['饮料', '粮油'] } })
      const rice = (await admin.get('/api/v1/variants/lookup?code=2000000000015')).body
      expect(rice).toMatchObject({ sku: '2000000000015', unit: 'g', pricePer: 1000 })
      const again = await send(admin, 'catalog', good)
      expect(again.body.summary).toMatchObject({ productsCreated: 0, variantsCreated: 0, variantsUnchanged: 2 })
    })

    it("prices a row without a unit cell per the unit its product's other rows give, as the catalog import does (kg: per 1000 g)", async () => {
      const { admin } = await shop()
      const r = await send(admin, 'catalog', csv([
        ['product_key', '商品名称', '商品编码', '单位', '售价'],
        ['P', '牛肉', 'BEEF-1', '公斤', '80.00'],
        ['P', '', 'BEEF-2', '', '90.00'],
      ]))
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect((await admin.get('/api/v1/variants/lookup?code=BEEF-1')).body).toMatchObject({ unit: 'g', price: 8000, pricePer: 1000 })
      expect((await admin.get('/api/v1/variants/lookup?code=BEEF-2')).body).toMatchObject({ unit: 'g', price: 9000, pricePer: 1000 })
    })

    it('refuses kg with a price_per of 1 on its line, as the catalog import does, and writes nothing', async () => {
      const { admin, m } = await shop()
      const file = csv([
        ['商品名称', '商品编码', '单位', '售价', 'price_per'],
        ['猪肉', 'PORK-1', 'kg', '28.00', '1'],
        ['牛肉', 'BEEF-1', '公斤', '80.00', '1000'],
      ])
      const r = await send(admin, 'catalog', file)
      expect(r.status, JSON.stringify(r.body)).toBe(422)
      expect(errorsOf(r.body.error.details)).toEqual([[2, 'price_per', 'invalid_price_per']])
      const n = (await hub.database.db.execute(sql`select count(*)::int as n from variants where merchant_id = ${m.merchantId}`)).rows[0] as { n: number }
      expect(n.n).toBe(0)
    })
  })

  describe('the upload', () => {
    it('takes a multipart form, refuses other media types and empty files', async () => {
      const { admin, code } = await shop()
      const form = new FormData()
      form.set('file', new Blob([csv([['手机号', '姓名'], ['13800138009', '表单']])], { type: 'text/csv' }), 'members.csv')
      const encoded = new Response(form)
      const r = await send(admin, 'members', new Uint8Array(await encoded.arrayBuffer()), { dryRun: true }, encoded.headers.get('content-type')!)
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body).toMatchObject({ kind: 'members', rows: 1, errorCount: 0, summary: { created: 1 } })
      const noFile = new Response(new FormData())
      const missing = await send(admin, 'members', new Uint8Array(await noFile.arrayBuffer()), {}, noFile.headers.get('content-type')!)
      expect(missing.status).toBe(400)
      expect(missing.body.error.code).toBe('invalid_file')
      const json = await send(admin, 'members', '{"phone":"1"}', {}, 'application/json')
      expect(json.status).toBe(415)
      const empty = await send(admin, 'members', new Uint8Array(), {}, CSV)
      expect(empty.status).toBe(400)
      expect(empty.body.error.code).toBe('invalid_file')
      const notXlsx = await send(admin, 'members', 'phone\n13800138000\n', { format: 'xlsx' })
      expect(notXlsx.status).toBe(400)
      // A multipart body that cannot be read (no boundary, or cut short) is the sender's mistake.
      for (const kind of ['catalog', 'members', 'stock']) {
        for (const [type, body] of [['multipart/form-data', 'sku,qty\nA,1\n'], ['multipart/form-data; boundary=b', '--b\r\ngarbage']]) {
          const broken = await send(admin, kind, body!, { dryRun: true, store: code }, type)
          expect([kind, type, broken.status, broken.body.error?.code]).toEqual([kind, type, 400, 'invalid_form'])
        }
      }
    })

    it('a members file of 33,000 rows is checked in full (past what one statement could list)', { timeout: 60_000 }, async () => {
      const { admin } = await shop()
      const rows = Array.from({ length: 33_000 }, (_, i) => [`139${String(i).padStart(8, '0')}`, 'n', `C${i}`])
      const r = await send(admin, 'members', csv([['手机号', '姓名', '会员卡号'], ...rows]), { dryRun: true })
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200)
      expect(r.body).toMatchObject({ rows: 33_000, errorCount: 0, summary: { created: 33_000 } })
    })
  })
})
