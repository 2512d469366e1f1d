// A voided sale's receipt is no proof of purchase: a copy rendered after the void (a reprint, or a receipt that
// waited for its printer) is marked VOID with the void time at its head and foot, in ESC/POS and in ePOS; and what
// of the sale still waited for a device when it was voided (its receipt, kitchen tickets, display screen) is dropped
// in the void's transaction, while the void's own drawer kick stays.
import iconv from 'iconv-lite'
import { sql } from 'drizzle-orm'
import { afterEach, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { deviceRig, hubDrivenPrinter, until, type DeviceRig } from '../helpers/devices.ts'
import { kitchenTickets, loadReceipt } from '../../src/devices/receipt.ts'
import { kitchenBlocks, receiptBlocks, type Block } from '../../src/devices/render/text.ts'
import { receiptEscpos } from '../../src/devices/render/escpos.ts'
import { receiptEpos } from '../../src/devices/render/epos.ts'
import type { SimPrinter } from '../../src/devices/simulators/escpos-printer.ts'
import { defaultProfile, type ReceiptModel } from '../../src/devices/types.ts'

/** "YYYY-MM-DD HH:MM" in Asia/Shanghai (UTC+8, no daylight saving), the merchants' default time zone. */
const shanghai = (iso: string) => new Date(Date.parse(iso) + 8 * 3_600_000).toISOString().slice(0, 16).replace('T', ' ')
const texts = (blocks: Block[]) => blocks.flatMap((b) => (b.type === 'text' ? [b] : []))
const VOID = /VOID|作废/

const sold: ReceiptModel = {
  kind: 'sale',
  reprint: true,
  merchantName: '鲜果超市',
  storeName: '鲜果超市 徐汇店',
  storeAddress: null,
  storePhone: null,
  registerCode: '01',
  receiptNo: 'S01-20261202-01-0042',
  originalReceiptNo: null,
  printedAt: '2026-12-02 11:42',
  cashier: '王小明',
  currency: 'CNY',
  lines: [{ name: '农夫山泉 550ml', sku: '6921168509256', quantity: '2', unitPrice: 250, priceUnit: '', gross: 500, discount: 0, total: 500, discountLabels: [] }],
  subtotal: 500,
  discountTotal: 0,
  taxes: [{ rateBp: 1300, amount: 58 }],
  taxTotal: 58,
  taxInclusive: true,
  total: 500,
  rounding: 0,
  tenders: [{ kind: 'wechat', label: '微信支付 WeChat Pay', amount: 500, received: null }],
  change: 0,
  member: null,
  qr: null,
  footer: ['谢谢惠顾 Thank you', '重印时间 Reprinted 2026-12-02 12:10'],
}

describe('rendering a voided sale’s receipt', () => {
  const voided: ReceiptModel = { ...sold, voidedAt: '2026-12-02 11:50' }

  it('marks it VOID with the void time under the header and again at the foot, on 80 and 58 mm paper', () => {
    for (const profile of [defaultProfile(80), defaultProfile(58)]) {
      const lines = texts(receiptBlocks(voided, profile))
      const at = lines.findIndex((b) => b.text === '作废 VOID')
      expect(lines[at]).toMatchObject({ align: 'center', bold: true, size: 2 })
      expect(lines[at + 1]).toMatchObject({ text: '作废时间 Voided 2026-12-02 11:50', align: 'center', bold: true })
      // Under the store's name, before the title: the first thing read about the sale.
      expect(at).toBeLessThan(lines.findIndex((b) => b.text === '销售单 SALE'))
      // After the footer (thanks, when it was reprinted): the last thing on the paper.
      const foot = lines.findIndex((b) => b.text === '作废 VOID 2026-12-02 11:50')
      expect(lines[foot]).toMatchObject({ align: 'center', bold: true, size: 1 })
      expect(foot).toBeGreaterThan(lines.findIndex((b) => b.text.startsWith('重印时间')))
      expect(lines.slice(foot + 1).map((b) => b.text).join(' ')).toBe('已作废 非购物凭证 Not a proof of purchase')
      for (const b of lines) expect(iconv.encode(b.text, 'gbk').length).toBeLessThanOrEqual(profile.columns / b.size)
    }
  })

  it('prints the marks in GBK on an ESC/POS printer and in the ePOS document, with nothing unprintable', () => {
    const bytes = receiptEscpos(voided, defaultProfile(80))
    expect(bytes.includes(iconv.encode('作废 VOID', 'gbk'))).toBe(true)
    expect(bytes.includes(iconv.encode('作废时间 Voided 2026-12-02 11:50', 'gbk'))).toBe(true)
    expect(iconv.decode(bytes, 'gbk')).not.toContain('?')
    const xml = receiptEpos(voided, defaultProfile(80))
    expect(xml).toContain('<text lang="zh-cn" align="center" em="true" dw="true" dh="true">作废 VOID&#10;</text>')
    expect(xml).toContain('作废时间 Voided 2026-12-02 11:50&#10;</text>')
    expect(xml).toContain('作废 VOID 2026-12-02 11:50&#10;</text>')
  })

  it('uses the merchant’s language for the marks, and leaves a sale that stands unmarked', () => {
    const en = texts(receiptBlocks(voided, defaultProfile(80), 'en')).map((b) => b.text)
    expect(en).toContain('VOID')
    expect(en).toContain('Voided 2026-12-02 11:50')
    expect(en).toContain('VOIDED - not a proof of purchase')
    const tw = texts(receiptBlocks(voided, defaultProfile(80, 'big5'), 'zh-TW')).map((b) => b.text)
    expect(tw).toContain('作廢 VOID')
    expect(tw).toContain('作廢時間 Voided 2026-12-02 11:50')
    expect(tw.filter((t) => t.includes('作廢')).join('\n')).not.toContain('?')
    for (const m of [sold, { ...sold, voidedAt: null }]) expect(texts(receiptBlocks(m, defaultProfile(80))).map((b) => b.text).join('\n')).not.toMatch(VOID)
  })

  it('a kitchen ticket of a voided sale (a reprint) is marked VOID above its station: nothing to prepare', () => {
    const ticket = { reprint: true, storeName: '鲜果超市 徐汇店', station: '热菜 Hot', receiptNo: sold.receiptNo, printedAt: sold.printedAt, lines: [{ name: '宫保鸡丁', quantity: '2', note: null }] }
    const lines = texts(kitchenBlocks({ ...ticket, voidedAt: '2026-12-02 11:50' }, defaultProfile(58)))
    expect(lines.slice(0, 2)).toMatchObject([
      { text: '作废 VOID', align: 'center', bold: true, size: 2 },
      { text: '作废时间 Voided 2026-12-02 11:50', align: 'center', bold: true },
    ])
    expect(texts(kitchenBlocks(ticket, defaultProfile(58))).map((b) => b.text).join('\n')).not.toMatch(VOID)
  })
})

describe('receipts of a voided sale', () => {
  const hub = useTestHub()
  let rig: DeviceRig | undefined
  let sim: SimPrinter | undefined
  afterEach(async () => {
    await rig?.close()
    rig = undefined
    await sim?.close()
    sim = undefined
  })

  const jobsOfSale = async (storeId: string, saleId: string) =>
    (
      await hub.database.db.execute(
        sql`select j.action, j.document, j.state, j.reason, j.idempotency_key from device_jobs j where j.store_id = ${storeId} and (j.document->>'saleId' = ${saleId} or j.document->>'refundId' in (select r.id::text from refunds r where r.sale_id = ${saleId})) order by j.seq`,
      )
    ).rows as any[]

  it('the receipt model of a voided sale carries the void time in the merchant’s time zone', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const item = await seedProduct(hub, store, { price: 500, stock: 10 })
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 500 }] })).body
    expect((await loadReceipt(hub.database.db, m.merchantId, { saleId: sale.id }, { reprint: false })).voidedAt).toBeNull()
    const v = await admin.post(`/api/v1/sales/${sale.id}/void`, { reason: 'wrong item' })
    expect(v.status).toBe(200)
    const model = await loadReceipt(hub.database.db, m.merchantId, { saleId: sale.id }, { reprint: true })
    expect(model.voidedAt).toBe(shanghai(v.body.voidedAt))
    expect(model).toMatchObject({ kind: 'sale', receiptNo: sale.receiptNo, total: sale.total })
  })

  it('a reprint after the void is printed, marked VOID with the void time at its head and foot', async () => {
    rig = await deviceRig(hub)
    await rig.startBridge()
    const sale = await rig.sell({ cash: false })
    const [first] = await rig.waitForReceipts(1)
    expect(first!.text).not.toMatch(VOID)
    const print = (await rig.jobs()).find((j) => j.action === 'print' && j.document.saleId === sale.id)
    await until(async () => (await rig!.api.get(`/api/v1/device-jobs/${print.id}`)).body.state, (s) => s === 'done', 5000, 'the receipt printed')
    const v = await rig.api.post(`/api/v1/sales/${sale.id}/void`, { reason: 'customer changed mind' })
    expect(v.status).toBe(200)
    // The store may need the copy for its records: the reprint is not refused.
    const rp = await rig.api.post(`/api/v1/device-jobs/${print.id}/reprint`, {})
    expect(rp.status).toBe(201)
    const [, copy] = await rig.waitForReceipts(2)
    const at = shanghai(v.body.voidedAt)
    expect(copy!.text).toContain(sale.receiptNo)
    expect(copy!.text).toContain('重印 REPRINT')
    const lines = copy!.lines.map((l) => l.trim())
    expect(lines.indexOf('作废 VOID')).toBeGreaterThanOrEqual(0)
    expect(lines.indexOf('作废 VOID')).toBeLessThan(lines.indexOf('销售单 SALE'))
    expect(lines).toContain(`作废时间 Voided ${at}`)
    expect(lines).toContain(`作废 VOID ${at}`)
    expect(lines.indexOf(`作废 VOID ${at}`)).toBeGreaterThan(lines.findIndex((l) => l.startsWith('重印时间')))
  })

  it('a receipt waiting for the link when its sale is voided is dropped and never prints; the void’s drawer kick stays', async () => {
    rig = await deviceRig(hub)
    const sale = await rig.sell({ cash: true })
    const before = await jobsOfSale(rig.store.storeId, sale.id)
    expect(before.map((j) => [j.action, j.state])).toEqual([
      ['print', 'queued'],
      ['drawer', 'queued'],
      ['display', 'queued'],
    ])
    expect((await rig.api.post(`/api/v1/sales/${sale.id}/void`, { reason: 'mistake' })).status).toBe(200)
    const after = await jobsOfSale(rig.store.storeId, sale.id)
    expect(after.map((j) => [j.action, j.idempotency_key.split(':')[0], j.state, j.reason])).toEqual([
      ['print', 'sale', 'dropped', 'sale_voided'],
      ['drawer', 'sale', 'queued', null],
      ['display', 'sale', 'dropped', 'sale_voided'],
      ['drawer', 'refund', 'queued', null],
    ])
    await rig.startBridge()
    const refundDrawer = after[3]
    await until(() => jobsOfSale(rig!.store.storeId, sale.id), (js) => js.every((j) => !['queued', 'sent'].includes(j.state)), 10_000, 'the drawer kicks')
    const settled = await jobsOfSale(rig.store.storeId, sale.id)
    expect(settled.find((j) => j.idempotency_key === refundDrawer.idempotency_key)!.state).toBe('done')
    expect(settled.filter((j) => j.action !== 'drawer').map((j) => j.state)).toEqual(['dropped', 'dropped'])
    expect(rig.receipts().filter((p) => p.text.includes(sale.receiptNo))).toEqual([])
  })

  it('a kitchen ticket still queued when its sale is voided is dropped with the receipt', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const food = (await admin.post('/api/v1/categories', { name: 'Food' })).body
    const base = { storeId: store.storeId, driver: 'escpos_tcp' }
    expect((await admin.post('/api/v1/devices', { ...base, registerId: store.registerId, name: 'Till printer', kind: 'receipt_printer', address: '10.0.0.10' })).status).toBe(201)
    expect((await admin.post('/api/v1/devices', { ...base, name: 'Kitchen', kind: 'kitchen_printer', address: '10.0.0.20', categoryIds: [food.id] })).status).toBe(201)
    const ramen = await seedProduct(hub, store, { price: 3800, stock: 5, categoryId: food.id })
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: ramen.sku }], tenders: [{ kind: 'wechat', amount: 3800 }] })).body
    expect((await jobsOfSale(store.storeId, sale.id)).map((j) => [j.document.type, j.state])).toEqual([
      ['receipt', 'queued'],
      ['kitchen', 'queued'],
    ])
    expect((await admin.post(`/api/v1/sales/${sale.id}/void`, { reason: 'mistake' })).status).toBe(200)
    expect((await jobsOfSale(store.storeId, sale.id)).map((j) => [j.document.type, j.state, j.reason])).toEqual([
      ['receipt', 'dropped', 'sale_voided'],
      ['kitchen', 'dropped', 'sale_voided'],
    ])
    const kitchen = (await admin.get(`/api/v1/devices?storeId=${store.storeId}`)).body.items.find((d: any) => d.kind === 'kitchen_printer')
    const [reprinted] = await kitchenTickets(hub.database.db, m.merchantId, sale.id, [{ deviceId: kitchen.id, name: kitchen.name, categoryIds: [food.id] }], { reprint: true })
    expect(reprinted!.ticket.voidedAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/)
  })

  it('a receipt waiting for paper when its sale is voided is dropped and never prints; a reprint then prints marked VOID', async () => {
    const rig = await hubDrivenPrinter(hub)
    sim = rig.sim
    const { admin, sell, job } = rig
    const printedOf = (receiptNo: string) => sim!.printed().filter((p) => p.text.includes(receiptNo))

    sim.setPaper('end')
    const a = await sell()
    await drainJobs(hub)
    expect(await job(a.id)).toMatchObject({ state: 'failed', reason: 'paper_end', retryable: true })
    const v = await admin.post(`/api/v1/sales/${a.id}/void`, { reason: 'customer changed mind' })
    expect(v.status).toBe(200)
    expect(await job(a.id)).toMatchObject({ state: 'dropped', reason: 'sale_voided', retryable: false })

    // Paper back: the next sale prints, the voided one's receipt does not come out with it.
    sim.setPaper('ok')
    const b = await sell()
    await hub.database.db.execute(sql`select graphile_worker.add_job('device.poll', '{}'::json)`)
    await drainJobs(hub)
    expect(printedOf(b.receiptNo)).toHaveLength(1)
    expect(printedOf(a.receiptNo)).toEqual([])
    expect(await job(a.id)).toMatchObject({ state: 'dropped', reason: 'sale_voided' })

    const rp = await admin.post(`/api/v1/device-jobs/${(await job(a.id)).id}/reprint`, {})
    expect(rp.status).toBe(201)
    await drainJobs(hub)
    const [copy, ...more] = printedOf(a.receiptNo)
    expect(more).toEqual([])
    expect(copy!.text).toContain('重印 REPRINT')
    expect(copy!.text).toContain(`作废时间 Voided ${shanghai(v.body.voidedAt)}`)
    expect(copy!.text).toContain('已作废 非购物凭证')
  })
})
