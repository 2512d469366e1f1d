import { describe, expect, it } from 'vitest'
import iconv from 'iconv-lite'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore, setSettings } from '../helpers/pos.ts'
import { createCategory } from '../../src/core/catalog/categories.ts'
import { updateStore } from '../../src/core/stores/service.ts'
import { kitchenTickets, loadReceipt } from '../../src/devices/receipt.ts'
import { receiptEscpos } from '../../src/devices/render/escpos.ts'
import { defaultProfile, type ReceiptModel } from '../../src/devices/types.ts'

const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
let phones = 0
const phone = () => `1390000${String(++phones).padStart(4, '0')}`

/** "YYYY-MM-DD HH:MM" of an instant shifted by `hours` (UTC+8 has no daylight saving). */
const local = (iso: string, hours: number) => new Date(Date.parse(iso) + hours * 3_600_000).toISOString().slice(0, 16).replace('T', ' ')

describe('receipts from the database', () => {
  const hub = useTestHub()
  const db = () => hub.database.db

  /** A sale of bottled water with a 10 % manual discount, weighed apples at 9 %, a member, WeChat + cash with change, 抹零 to the jiao. */
  async function makeSale() {
    const m = await seedMerchant(hub, { name: '鲜果超市' })
    const store = await seedStore(hub, m.merchantId)
    await db().transaction((tx) => updateStore(tx, store.actor, store.storeId, { address: '上海市徐汇区漕溪北路 88 号', phone: '021-6464 8888' }))
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'down' } })
    const water = await seedProduct(hub, store, { name: '农夫山泉 550ml', price: 250, stock: 100 })
    const apples = await seedProduct(hub, store, { name: '散装苹果', price: 1280, pricePer: 1000, unit: 'g', tax: 'reduced', stock: 10_000 })
    const admin = createApi(hub).as(m.adminToken)
    const member = (await admin.post('/api/v1/members', { phone: phone(), name: '李娜' })).body
    const cashier = await m.staff('cashier')
    const r = await createApi(hub)
      .as(cashier.token)
      .post('/api/v1/sales', {
        registerId: store.registerId,
        memberId: member.id,
        lines: [
          { sku: water.sku, quantity: 3, discount: { percentBp: 1000 } },
          { sku: apples.sku, quantity: 350 },
        ],
        tenders: [
          { kind: 'wechat', amount: 500 },
          { kind: 'cash', amount: 1000 },
        ],
      })
    expect(r.status).toBe(201)
    return { m, store, member, sale: r.body, admin }
  }

  function expectBalanced(model: ReceiptModel) {
    expect(total(model.lines.map((l) => l.gross))).toBe(model.subtotal)
    expect(total(model.lines.map((l) => l.discount))).toBe(model.discountTotal)
    expect(total(model.lines.map((l) => l.total))).toBe(model.subtotal - model.discountTotal)
    expect(total(model.taxes.map((t) => t.amount))).toBe(model.taxTotal)
    expect(total(model.tenders.map((t) => t.amount))).toBe(model.total + model.rounding)
  }

  it('builds a sale receipt whose every amount agrees with the sale to the fen', async () => {
    const { m, sale, member } = await makeSale()
    const model = await loadReceipt(db(), m.merchantId, { saleId: sale.id }, { reprint: false })
    expect(model).toMatchObject({
      kind: 'sale',
      reprint: false,
      merchantName: '鲜果超市',
      storeAddress: '上海市徐汇区漕溪北路 88 号',
      storePhone: '021-6464 8888',
      registerCode: sale.receiptNo.split('-')[2],
      receiptNo: sale.receiptNo,
      originalReceiptNo: null,
      printedAt: local(sale.occurredAt, 8),
      cashier: 'cashier',
      currency: 'CNY',
      taxInclusive: true,
      qr: null,
    })
    expect(model.lines).toEqual([
      { name: '农夫山泉 550ml', sku: sale.lines[0].sku, quantity: '3', unitPrice: 250, priceUnit: '', gross: 750, discount: 75, total: 675, discountLabels: [expect.any(String)] },
      { name: '散装苹果', sku: sale.lines[1].sku, quantity: '0.350kg', unitPrice: 1280, priceUnit: '', gross: 448, discount: 0, total: 448, discountLabels: [] },
    ])
    expect(model).toMatchObject({ subtotal: sale.grossTotal, discountTotal: sale.discountTotal, taxTotal: sale.taxTotal, total: sale.total, rounding: sale.roundingAdjustment })
    expect(model).toMatchObject({ subtotal: 1198, discountTotal: 75, total: 1123, rounding: -3, change: 380 })
    expect(model.change).toBe(sale.changeGiven)
    expect(model.taxes).toEqual([
      { rateBp: 1300, amount: sale.lines[0].taxAmount },
      { rateBp: 900, amount: sale.lines[1].taxAmount },
    ])
    expect(model.tenders).toEqual([
      { kind: 'wechat', label: '微信支付 WeChat Pay', amount: 500, received: null },
      { kind: 'cash', label: '现金 Cash', amount: 620, received: 1000 },
    ])
    expect(model.member).toEqual({ cardNo: member.cardNo, name: '李娜', pointsEarned: sale.pointsEarned, pointsRedeemed: 0, pointsBalance: sale.pointsEarned })
    expect(model.footer).toEqual(['谢谢惠顾 Thank you'])
    expectBalanced(model)

    const bytes = receiptEscpos(model, defaultProfile(80))
    expect(bytes.includes(iconv.encode('  0.350kg x 12.80', 'gbk'))).toBe(true)
    expect(bytes.includes(iconv.encode('找零 Change', 'gbk'))).toBe(true)
  })

  it('prints a price that is not per one printed unit with what it is per, so quantity × price reads as the amount', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    // Eggs at ¥12.00 a dozen, apples at ¥6.40 a jin (500 g), milk at ¥5.00 a piece.
    const eggs = await seedProduct(hub, store, { name: '鸡蛋', price: 1200, pricePer: 12, stock: 100 })
    const apples = await seedProduct(hub, store, { name: '散装苹果', price: 640, pricePer: 500, unit: 'g', stock: 10_000 })
    const milk = await seedProduct(hub, store, { name: '牛奶', price: 500, stock: 10 })
    const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: eggs.sku, quantity: 6 }, { sku: apples.sku, quantity: 350 }, { sku: milk.sku }], tenders: [{ kind: 'card', amount: 1548 }] })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    const model = await loadReceipt(db(), m.merchantId, { saleId: r.body.id }, { reprint: false })
    expect(model.lines.map((l) => [l.quantity, l.unitPrice, l.priceUnit, l.gross])).toEqual([
      ['6', 1200, '12', 600],
      ['0.350kg', 640, '500g', 448],
      ['1', 500, '', 500],
    ])
    const text = iconv.decode(Buffer.from(receiptEscpos(model, defaultProfile(80))), 'gbk')
    expect(text).toMatch(/6 x 12\.00\/12 +6\.00/)
    expect(text).toMatch(/0\.350kg x 6\.40\/500g +4\.48/)
    expect(text).toMatch(/1 x 5\.00 +5\.00/)
  })

  it('a reprint is marked, stamped with when it was reprinted, and leaves off the points balance of today', async () => {
    const { m, sale } = await makeSale()
    const now = new Date('2026-12-03T02:05:00Z')
    const model = await loadReceipt(db(), m.merchantId, { saleId: sale.id }, { reprint: true, timeZone: 'UTC', now })
    expect(model.reprint).toBe(true)
    expect(model.printedAt).toBe(local(sale.occurredAt, 0))
    expect(model.footer).toEqual(['谢谢惠顾 Thank you', '重印时间 Reprinted 2026-12-03 02:05'])
    expect(model.member?.pointsBalance).toBeNull()
  })

  it('builds a refund receipt of what the refund returned, naming the receipt it refunds', async () => {
    const { m, store, sale, admin } = await makeSale()
    const r = await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(r.status).toBe(201)
    const refund = r.body.sale.refunds[0]
    const model = await loadReceipt(db(), m.merchantId, { refundId: r.body.refundId }, { reprint: false })
    expect(model).toMatchObject({ kind: 'refund', receiptNo: refund.refundNo, originalReceiptNo: sale.receiptNo, cashier: expect.any(String), change: 0 })
    // One of three discounted bottles: a third of 7.50 gross less a third of the 0.75 discount.
    expect(model.lines).toEqual([
      { name: '农夫山泉 550ml', sku: sale.lines[0].sku, quantity: '1', unitPrice: 250, priceUnit: '', gross: 250, discount: 25, total: 225, discountLabels: [expect.any(String)] },
    ])
    expect(model.total).toBe(refund.lines[0].amount)
    expect(model.total + model.rounding).toBe(refund.total)
    expect(model.taxTotal).toBe(refund.taxTotal)
    expect(model.taxes).toEqual([{ rateBp: 1300, amount: refund.taxTotal }])
    expect(model.tenders.map((t) => t.kind).sort()).toEqual(refund.tenders.map((t: any) => t.kind).sort())
    expect(model.member?.pointsEarned).toBe(0)
    expectBalanced(model)
  })

  it('refuses a refund of another merchant', async () => {
    const a = await makeSale()
    const b = await seedMerchant(hub)
    const r = await a.admin.post(`/api/v1/sales/${a.sale.id}/refunds`, { registerId: a.store.registerId, lines: [{ saleLineId: a.sale.lines[1].id, quantity: 350 }] })
    expect(r.status).toBe(201)
    await expect(loadReceipt(db(), b.merchantId, { refundId: r.body.refundId }, { reprint: false })).rejects.toMatchObject({ kind: 'not_found' })
    await expect(loadReceipt(db(), b.merchantId, { saleId: a.sale.id }, { reprint: false })).rejects.toMatchObject({ kind: 'not_found' })
  })
})

describe('kitchen tickets', () => {
  const hub = useTestHub()

  it('routes each line to the printers of its category or of a parent category; printers with no line get no ticket', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const cat = (name: string, parentId?: string) => hub.database.db.transaction((tx) => createCategory(tx, store.actor, { name, parentId }))
    const hot = await cat('热菜')
    const wok = await cat('炒菜', hot.id)
    const drinks = await cat('饮料')
    const desserts = await cat('甜品')
    const chicken = await seedProduct(hub, store, { name: '宫保鸡丁', price: 3800, categoryId: wok.id, stock: 50 })
    const soup = await seedProduct(hub, store, { name: '酸辣汤', price: 1800, categoryId: hot.id, stock: 50 })
    const cola = await seedProduct(hub, store, { name: '可乐', price: 500, categoryId: drinks.id, stock: 50 })
    const rice = await seedProduct(hub, store, { name: '米饭', price: 200, stock: 50 })
    const r = await createApi(hub)
      .as(m.adminToken)
      .post('/api/v1/sales', {
        registerId: store.registerId,
        lines: [{ sku: chicken.sku, quantity: 2 }, { sku: cola.sku }, { sku: rice.sku }, { sku: soup.sku }],
        tenders: [{ kind: 'card', amount: 2 * 3800 + 500 + 200 + 1800 }],
      })
    expect(r.status).toBe(201)
    const printers = [
      { deviceId: 'kp-hot', name: '热菜 Hot', categoryIds: [hot.id] },
      { deviceId: 'kp-bar', name: '吧台 Bar', categoryIds: [drinks.id, desserts.id] },
      { deviceId: 'kp-dessert', name: '甜品 Dessert', categoryIds: [desserts.id] },
    ]
    const tickets = await kitchenTickets(hub.database.db, m.merchantId, r.body.id, printers, { reprint: false, timeZone: 'UTC' })
    expect(tickets).toEqual([
      {
        deviceId: 'kp-hot',
        ticket: {
          reprint: false,
          storeName: expect.any(String),
          station: '热菜 Hot',
          receiptNo: r.body.receiptNo,
          printedAt: local(r.body.occurredAt, 0),
          lines: [
            { name: '宫保鸡丁', quantity: '2', note: null },
            { name: '酸辣汤', quantity: '1', note: null },
          ],
        },
      },
      { deviceId: 'kp-bar', ticket: expect.objectContaining({ station: '吧台 Bar', lines: [{ name: '可乐', quantity: '1', note: null }] }) },
    ])
    const again = await kitchenTickets(hub.database.db, m.merchantId, r.body.id, [{ deviceId: 'kp-wok', name: '炒锅 Wok', categoryIds: [wok.id] }], { reprint: true })
    expect(again).toEqual([{ deviceId: 'kp-wok', ticket: expect.objectContaining({ reprint: true, printedAt: local(r.body.occurredAt, 8), lines: [{ name: '宫保鸡丁', quantity: '2', note: null }] }) }])
  })
})
