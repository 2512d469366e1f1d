// The reports of one seeded business day (2026-03-14, Asia/Shanghai), every figure recomputed here from the raw
// inputs — the sales and refunds as the till answered them, the times they were rung at, the costs and receipts the
// test set up — and compared exactly with what the API reports.
import { randomUUID } from 'node:crypto'
import { parse } from 'csv-parse/sync'
import { beforeAll, describe, expect, it } from 'vitest'
import { useTestHub, type TestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api } from '../helpers/api.ts'
import { seedProduct, seedStore, setSettings, type SeededStore } from '../helpers/pos.ts'
import { createUser } from '../../src/core/staff/users.ts'
import { login } from '../../src/core/staff/auth.ts'
import { systemActor } from '../../src/core/staff/actor.ts'

const D0 = '2026-03-13'
const D = '2026-03-14'
const D2 = '2026-03-15'
/** An instant given on the Shanghai wall clock. */
const local = (day: string, time: string) => new Date(`${day}T${time}+08:00`)

// ---- independent arithmetic: the rules the reports state, written out again

/** round(a ÷ b), half away from zero. */
function roundDiv(a: number, b: number): number {
  const n = BigInt(a)
  const d = BigInt(b)
  const neg = n < 0n !== d < 0n && n !== 0n
  const an = n < 0n ? -n : n
  const ad = d < 0n ? -d : d
  const q = (2n * an + ad) / (2n * ad)
  return Number(neg ? -q : q)
}
const dec = (minor: number, places = 2) => {
  const abs = Math.abs(minor)
  const scale = 10 ** places
  return `${minor < 0 ? '-' : ''}${Math.floor(abs / scale)}${places ? `.${String(abs % scale).padStart(places, '0')}` : ''}`
}
const sumOf = <T>(xs: T[], f: (x: T) => number) => xs.reduce((a, x) => a + f(x), 0)
function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>()
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x])
  return m
}
const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0)

// ---- the seeded world

type StoreKey = 'main' | 'east'

interface Person {
  id: string
  name: string
  token: string
}

interface SaleRec {
  label: string
  body: any
  day: string
  hour: number
  store: StoreKey
  cashier: string
  approver: string | null
  voided: boolean
}

interface RefundRec {
  body: any
  sale: SaleRec
  day: string
  at: Date
  store: StoreKey
  by: string
  approver: string | null
  kind: 'refund' | 'void'
}

interface Item {
  key: string
  sku: string
  name: string
  variantId: string
  productId: string
  price: number
  pricePer: number
  cost: number
  category: string
}

interface World {
  merchantId: string
  admin: Api
  adminToken: string
  alice: Person
  bob: Person
  stores: Record<StoreKey, SeededStore & { code: string; name: string }>
  categories: Record<'tea' | 'green' | 'ware', { id: string; name: string; parentId: string | null }>
  items: Record<string, Item>
  sales: SaleRec[]
  refunds: RefundRec[]
  receipts: { at: Date; store: StoreKey; variantId: string; quantity: number }[]
  sessions: { A: string; B: string; C: string }
  /** The over/short each close was counted to give, from the drawer's cash worked out here. */
  overShort: { A: number; B: number; C: number }
  expectedCash: { A: number; B: number; C: number }
  promotions: { tea: string; threshold: string }
}

async function seedDay(hub: TestHub): Promise<World> {
  const m = await seedMerchant(hub, { name: '龙井茶庄' })
  await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
  const admin = createApi(hub).as(m.adminToken)
  const password = 'correct-horse-1'
  const person = async (name: string, role: 'cashier' | 'manager'): Promise<Person> => {
    const email = `${role}-${randomUUID()}@example.com`
    const u = await createUser(hub.database.db, systemActor(m.merchantId), { email, name, role, password })
    return { id: u.id, name, token: (await login(hub.database.db, { email, password })).token }
  }
  const alice = await person('李娜', 'cashier')
  const bob = await person('王强', 'manager')
  const aliceApi = createApi(hub).as(alice.token)
  const bobApi = createApi(hub).as(bob.token)

  const main = { ...(await seedStore(hub, m.merchantId, { code: 'SH01', openSession: false })), code: 'SH01' }
  const east = { ...(await seedStore(hub, m.merchantId, { code: 'SH02', openSession: false })), code: 'SH02' }
  const storeNames = (await admin.get('/api/v1/stores')).body.items as any[]
  const stores = {
    main: { ...main, name: storeNames.find((s) => s.id === main.storeId).name },
    east: { ...east, name: storeNames.find((s) => s.id === east.storeId).name },
  }

  const category = async (name: string, parentId: string | null = null) => {
    const r = await admin.post('/api/v1/categories', { name, ...(parentId ? { parentId } : {}) })
    expect(r.status).toBe(201)
    return { id: r.body.id as string, name, parentId }
  }
  const tea = await category('茶叶')
  const green = await category('绿茶', tea.id)
  const ware = await category('器具')
  const categories = { tea, green, ware }

  const specs = [
    { key: 'longjing', sku: 'TEA-LJ', name: '龙井', price: 3000, cost: 1200, tax: 'reduced', category: green.id },
    { key: 'puer', sku: 'TEA-PE', name: '普洱', price: 4500, cost: 2000, tax: 'reduced', category: tea.id },
    { key: 'cup', sku: 'CUP', name: 'Tasting cup', price: 1990, cost: 800, tax: 'standard', category: ware.id },
    { key: 'goji', sku: 'GOJI', name: '枸杞', price: 698, pricePer: 1000, cost: 301, unit: 'g', tax: 'reduced', category: tea.id },
    { key: 'pot', sku: 'POT', name: '紫砂壶', price: 28800, cost: 15000, tax: 'standard', category: ware.id },
    { key: 'gift', sku: 'GIFT', name: 'Gift box', price: 500, cost: 200, tax: 'standard', category: ware.id },
  ] as const
  const items: Record<string, Item> = {}
  for (const s of specs) {
    const pricePer = 'pricePer' in s ? s.pricePer : 1
    const unit = 'unit' in s ? s.unit : 'piece'
    const p = await seedProduct(hub, main, { sku: s.sku, name: s.name, price: s.price, pricePer, cost: s.cost, tax: s.tax, unit, categoryId: s.category })
    items[s.key] = { key: s.key, sku: s.sku, name: s.name, variantId: p.variantId, productId: p.productId, price: s.price, pricePer, cost: s.cost, category: s.category }
  }

  const p1 = await admin.post('/api/v1/promotions', { name: '茶叶9折', kind: 'percent_off', level: 'item', params: { percentBp: 1000 }, categoryIds: [tea.id] })
  const p2 = await admin.post('/api/v1/promotions', { name: '满100减10', kind: 'spend_threshold', level: 'order', params: { tiers: [{ threshold: 10000, amount: 1000 }] } })
  expect([p1.status, p2.status]).toEqual([201, 201])

  const receipts: World['receipts'] = []
  const receive = async (at: Date, store: StoreKey, lines: [string, number][]) => {
    hub.setNow(at)
    const r = await admin.post('/api/v1/stock/receipts', { locationId: stores[store].locationId, lines: lines.map(([k, quantity]) => ({ variantId: items[k]!.variantId, quantity })) })
    expect(r.status).toBe(201)
    for (const [k, quantity] of lines) receipts.push({ at, store, variantId: items[k]!.variantId, quantity })
  }
  await receive(local('2026-03-01', '10:00:00'), 'main', [
    ['longjing', 50],
    ['puer', 50],
    ['cup', 50],
    ['goji', 10_000],
    ['pot', 3],
  ])
  await receive(local('2026-03-01', '10:30:00'), 'east', [['cup', 20]])

  const sales: SaleRec[] = []
  const refunds: RefundRec[] = []
  const at = (day: string, time: string) => {
    hub.setNow(local(day, time))
    return { day, hour: Number(time.slice(0, 2)) }
  }
  const ring = async (
    label: string,
    who: Person,
    store: StoreKey,
    when: { day: string; hour: number },
    body: { lines: any[]; tenders?: any[]; customerName?: string },
    pay?: (due: number) => any[],
    approver?: Person,
  ) => {
    const api = createApi(hub).as(who.token)
    const headers = approver ? { 'x-approver-token': approver.token } : undefined
    let tenders = body.tenders
    if (pay) tenders = pay((await api.post('/api/v1/sales/quote', { registerId: stores[store].registerId, lines: body.lines }, { headers })).body.amountDue)
    const r = await api.post('/api/v1/sales', { registerId: stores[store].registerId, ...body, tenders }, { headers })
    expect(r.status, `${label}: ${JSON.stringify(r.body)}`).toBe(201)
    const rec: SaleRec = { label, body: r.body, day: when.day, hour: when.hour, store, cashier: who.id, approver: approver?.id ?? null, voided: false }
    sales.push(rec)
    return rec
  }
  const refund = async (sale: SaleRec, who: Person, store: StoreKey, day: string, time: string, lines: [string, number][], approver?: Person) => {
    hub.setNow(local(day, time))
    const r = await createApi(hub)
      .as(who.token)
      .post(
        `/api/v1/sales/${sale.body.id}/refunds`,
        {
          registerId: stores[store].registerId,
          lines: lines.map(([k, quantity]) => ({ saleLineId: sale.body.lines.find((l: any) => l.variantId === items[k]!.variantId).id, quantity })),
        },
        { headers: approver ? { 'x-approver-token': approver.token } : undefined },
      )
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    refunds.push({ body: r.body.sale.refunds.find((x: any) => x.id === r.body.refundId), sale, day, at: local(day, time), store, by: who.id, approver: approver?.id ?? null, kind: 'refund' })
  }
  const openSession = async (who: Person, store: StoreKey, float: number) => {
    const r = await createApi(hub).as(who.token).post('/api/v1/cash-sessions', { registerId: stores[store].registerId, openingFloat: float })
    expect(r.status).toBe(201)
    return r.body.id as string
  }
  const close = async (who: Person, id: string, counted: number) => {
    const r = await createApi(hub).as(who.token).post(`/api/v1/cash-sessions/${id}/close`, { countedCash: counted })
    expect(r.status).toBe(200)
    return r.body.session
  }
  const cashIn = (s: SaleRec) => sumOf(s.body.tenders.filter((t: any) => t.kind === 'cash'), (t: any) => t.amount)

  // Session A on the main till opens the evening before and sees the first sale of the day.
  at(D0, '23:30:00')
  const A = await openSession(bob, 'main', 20_000)
  const s0 = await ring('s0', alice, 'main', at(D0, '23:59:30'), { lines: [{ sku: 'TEA-LJ', quantity: 2 }, { sku: 'CUP' }], tenders: [{ kind: 'cash', amount: 10_000 }] })
  await ring('s1', bob, 'main', at(D, '00:00:30'), { lines: [{ sku: 'CUP', quantity: 3 }] }, (due) => [{ kind: 'wechat', amount: due }])
  at(D, '00:20:00')
  const expectedA = 20_000 + cashIn(s0)
  await close(bob, A, expectedA - 100)

  at(D, '00:25:00')
  const B = await openSession(bob, 'main', 10_000)
  at(D, '08:00:00')
  const C = await openSession(alice, 'east', 5_000)

  const s2 = await ring('s2', alice, 'main', at(D, '09:15:00'), { lines: [{ sku: 'TEA-LJ' }, { sku: 'TEA-PE' }, { sku: 'GOJI', quantity: 333 }], tenders: [{ kind: 'cash', amount: 7_000 }] })
  const s3 = await ring('s3', alice, 'main', at(D, '10:40:00'), { lines: [{ sku: 'CUP', quantity: 2, discount: { percentBp: 1000 } }, { sku: 'TEA-PE', quantity: 2 }] }, (due) => [
    { kind: 'card', amount: 5_000 },
    { kind: 'alipay', amount: due - 5_000 },
  ])
  // A cashier may not refund on her own: the manager approves it with his token.
  await refund(s3, alice, 'main', D, '11:00:00', [['puer', 1]], bob)
  const t1 = await ring('t1', alice, 'east', at(D, '12:00:00'), { lines: [{ sku: 'CUP' }], tenders: [{ kind: 'cash', amount: 2_000 }] })
  await ring('s4', bob, 'main', at(D, '14:05:00'), { lines: [{ sku: 'TEA-LJ', quantity: 3 }], customerName: '王记茶馆' }, (due) => [{ kind: 'on_account', amount: due }])
  const s5 = await ring('s5', bob, 'main', at(D, '15:30:00'), { lines: [{ sku: 'CUP' }], tenders: [{ kind: 'cash', amount: 2_000 }] })
  at(D, '15:35:00')
  const voided = await bobApi.post(`/api/v1/sales/${s5.body.id}/void`, { reason: 'rang the wrong cup' })
  expect(voided.status).toBe(200)
  s5.voided = true
  s5.body = voided.body
  refunds.push({ body: voided.body.refunds[0], sale: s5, day: D, at: local(D, '15:35:00'), store: 'main', by: bob.id, approver: null, kind: 'void' })

  // A 20 % discount is over the cashier's 10 % limit: the manager's override lets it through and the sale names him.
  await ring('s6', alice, 'main', at(D, '16:00:00'), { lines: [{ sku: 'CUP', discount: { percentBp: 2000 } }], tenders: [{ kind: 'card', amount: 1592 }] }, undefined, bob)

  // Yesterday's sale comes back today: the refund is today's.
  await refund(s0, bob, 'main', D, '17:00:00', [['longjing', 1]])

  at(D, '20:00:00')
  const expectedC = 5_000 + cashIn(t1)
  await close(alice, C, expectedC + 50)
  const s7 = await ring('s7', alice, 'main', at(D, '23:59:30'), { lines: [{ sku: 'TEA-PE' }, { sku: 'GOJI', quantity: 777 }], tenders: [{ kind: 'cash', amount: 5_000 }] })
  await ring('s8', alice, 'main', at(D2, '00:00:30'), { lines: [{ sku: 'CUP' }] }, (due) => [{ kind: 'card', amount: due }])
  at(D2, '00:10:00')
  const r2cash = sumOf(refunds[refunds.length - 1]!.body.tenders.filter((t: any) => t.kind === 'cash'), (t: any) => t.amount)
  const expectedB = 10_000 + cashIn(s2) + cashIn(s7) - r2cash
  await close(bob, B, expectedB - 20)
  await receive(local(D2, '10:00:00'), 'main', [['cup', 10]])
  hub.setNow(undefined)

  return {
    merchantId: m.merchantId,
    admin,
    adminToken: m.adminToken,
    alice,
    bob,
    stores,
    categories,
    items,
    sales,
    refunds,
    receipts,
    sessions: { A, B, C },
    overShort: { A: -100, B: -20, C: 50 },
    expectedCash: { A: expectedA, B: expectedB, C: expectedC },
    promotions: { tea: p1.body.id, threshold: p2.body.id },
  }
}

// ---- expected figures, from the records

const completedOf = (w: World, store: StoreKey | undefined, from: string, to: string) =>
  w.sales.filter((s) => !s.voided && s.day >= from && s.day <= to && (!store || s.store === store))
const refundsOf = (w: World, kind: 'refund' | 'void', store: StoreKey | undefined, from: string, to: string) =>
  w.refunds.filter((r) => r.kind === kind && r.day >= from && r.day <= to && (!store || r.store === store))

function expectedDaily(w: World, store: StoreKey, day: string) {
  const sales = completedOf(w, store, day, day)
  const refunds = refundsOf(w, 'refund', store, day, day)
  const voids = refundsOf(w, 'void', store, day, day)
  const lines = sales.flatMap((s) => s.body.lines as any[])
  const adjustments = lines.flatMap((l) => l.adjustments as any[])
  const netSales = sumOf(sales, (s) => s.body.total + s.body.roundingAdjustment)
  const refundAmount = sumOf(refunds, (r) => r.body.total)
  const items = sumOf(lines, (l) => (l.unit === 'piece' ? l.quantity : 1))
  const saleTenders = sales.flatMap((s) => s.body.tenders as any[])
  const refundTenders = refunds.flatMap((r) => r.body.tenders as any[])
  const kinds = [...new Set([...saleTenders, ...refundTenders].map((t) => t.kind as string))].sort(cmp)
  return {
    storeId: w.stores[store].storeId,
    storeCode: w.stores[store].code,
    storeName: w.stores[store].name,
    businessDate: day,
    transactions: sales.length,
    gross: sumOf(sales, (s) => s.body.grossTotal),
    discounts: {
      total: sumOf(sales, (s) => s.body.discountTotal),
      bySource: [...groupBy(adjustments, (a) => `${a.source}|${a.sourceId}|${a.label}`).values()]
        .map((g) => ({ source: g[0].source, sourceId: g[0].sourceId, label: g[0].label, amount: sumOf(g, (a) => a.amount) }))
        .sort((a, b) => b.amount - a.amount || cmp(a.source, b.source) || cmp(a.label, b.label)),
    },
    total: sumOf(sales, (s) => s.body.total),
    rounding: sumOf(sales, (s) => s.body.roundingAdjustment),
    netSales,
    tax: {
      total: sumOf(sales, (s) => s.body.taxTotal),
      byRate: [...groupBy(lines, (l) => String(l.taxRateBp)).values()]
        .map((g) => ({ rateBp: g[0].taxRateBp, netExTax: sumOf(g, (l) => l.netExTax), tax: sumOf(g, (l) => l.taxAmount), total: sumOf(g, (l) => l.total) }))
        .sort((a, b) => b.rateBp - a.rateBp),
    },
    refunds: { count: refunds.length, amount: refundAmount, tax: sumOf(refunds, (r) => r.body.taxTotal) },
    voids: { count: voids.length, amount: sumOf(voids, (r) => r.body.total) },
    netAfterRefunds: netSales - refundAmount,
    tenders: kinds.map((kind) => {
      const s = sumOf(saleTenders.filter((t) => t.kind === kind), (t) => t.amount)
      const r = sumOf(refundTenders.filter((t) => t.kind === kind), (t) => t.amount)
      return { kind, sales: s, refunds: r, net: s - r }
    }),
    tenderDifference: 0,
    hours: Array.from({ length: 24 }, (_, hour) => {
      const inHour = sales.filter((s) => s.hour === hour)
      return { hour, count: inHour.length, amount: sumOf(inHour, (s) => s.body.total + s.body.roundingAdjustment) }
    }),
    basket: {
      averageAmount: sales.length ? roundDiv(netSales, sales.length) : null,
      items,
      averageItems: sales.length ? roundDiv(items * 100, sales.length) / 100 : null,
    },
  }
}

/** Every stock movement the scenario made, with when it happened. */
function movements(w: World) {
  const out: { at: Date; locationId: string; variantId: string; quantity: number; kind: string }[] = []
  for (const r of w.receipts) out.push({ at: r.at, locationId: w.stores[r.store].locationId, variantId: r.variantId, quantity: r.quantity, kind: 'receipt' })
  for (const s of w.sales) {
    for (const l of s.body.lines) out.push({ at: new Date(s.body.occurredAt), locationId: w.stores[s.store].locationId, variantId: l.variantId, quantity: -l.quantity, kind: 'sale' })
  }
  for (const r of w.refunds) {
    for (const rl of r.body.lines) {
      const line = r.sale.body.lines.find((l: any) => l.id === rl.saleLineId)
      out.push({ at: r.at, locationId: w.stores[r.sale.store].locationId, variantId: line.variantId, quantity: rl.quantity, kind: r.kind === 'void' ? 'void' : 'return' })
    }
  }
  return out
}

const itemByVariant = (w: World, variantId: string) => Object.values(w.items).find((i) => i.variantId === variantId)!
const categoryName = (w: World, id: string) => Object.values(w.categories).find((c) => c.id === id)!.name

function onHandNow(w: World, store?: StoreKey) {
  const locations = store ? [w.stores[store].locationId] : Object.values(w.stores).map((s) => s.locationId)
  const by = new Map<string, number>()
  for (const m of movements(w)) if (locations.includes(m.locationId)) by.set(m.variantId, (by.get(m.variantId) ?? 0) + m.quantity)
  return by
}

function expectedProductRows(w: World, q: { from: string; to: string; store?: StoreKey; categoryIds?: string[] }) {
  const sales = completedOf(w, q.store, q.from, q.to)
  const refunds = refundsOf(w, 'refund', q.store, q.from, q.to)
  const stock = onHandNow(w, q.store)
  const rows = new Map<string, { quantity: number; netSales: number; cost: number; sold: boolean }>()
  const row = (variantId: string) => rows.get(variantId) ?? rows.set(variantId, { quantity: 0, netSales: 0, cost: 0, sold: true }).get(variantId)!
  for (const s of sales) {
    for (const l of s.body.lines) {
      const r = row(l.variantId)
      const item = itemByVariant(w, l.variantId)
      r.quantity += l.quantity
      r.netSales += l.netExTax
      r.cost += roundDiv(l.quantity * item.cost, item.pricePer)
    }
  }
  for (const rf of refunds) {
    for (const rl of rf.body.lines) {
      const line = rf.sale.body.lines.find((l: any) => l.id === rl.saleLineId)
      const item = itemByVariant(w, line.variantId)
      const r = row(line.variantId)
      r.quantity -= rl.quantity
      r.netSales -= rl.amount - rl.taxAmount
      r.cost -= roundDiv(rl.quantity * item.cost, item.pricePer)
    }
  }
  for (const [variantId, onHand] of stock) if (onHand > 0 && !rows.has(variantId)) rows.set(variantId, { quantity: 0, netSales: 0, cost: 0, sold: false })
  return [...rows]
    .map(([variantId, r]) => {
      const item = itemByVariant(w, variantId)
      return { variantId, sku: item.sku, name: item.name, categoryId: item.category, categoryName: categoryName(w, item.category), ...r, onHand: stock.get(variantId) ?? 0 }
    })
    .filter((r) => !q.categoryIds || q.categoryIds.includes(r.categoryId))
}

function figures(r: { quantity: number; netSales: number; cost: number }) {
  const margin = r.netSales - r.cost
  const marginBp = r.netSales === 0 ? null : roundDiv(margin * 10_000, r.netSales)
  return { margin, marginBp, marginPercent: marginBp === null ? null : dec(marginBp) }
}

function expectedProducts(w: World, q: { from: string; to: string; store?: StoreKey; categoryIds?: string[]; by: 'quantity' | 'margin'; groupBy: 'variant' | 'category'; limit: number }) {
  const variants = expectedProductRows(w, q)
  let units = variants.map((v) => ({
    variantId: v.variantId as string | null,
    sku: v.sku as string | null,
    name: v.name as string | null,
    categoryId: v.categoryId,
    categoryName: v.categoryName,
    variants: 1,
    quantity: v.quantity,
    netSales: v.netSales,
    cost: v.cost,
    ...figures(v),
    onHand: v.onHand,
    sortKey: v.sku,
  }))
  if (q.groupBy === 'category') {
    units = [...groupBy(variants, (v) => v.categoryId).values()].map((g) => {
      const sums = { quantity: sumOf(g, (v) => v.quantity), netSales: sumOf(g, (v) => v.netSales), cost: sumOf(g, (v) => v.cost) }
      return {
        variantId: null,
        sku: null,
        name: g[0]!.categoryName,
        categoryId: g[0]!.categoryId,
        categoryName: g[0]!.categoryName,
        variants: g.length,
        ...sums,
        ...figures(sums),
        onHand: sumOf(g, (v) => v.onHand),
        sortKey: g[0]!.categoryName,
      }
    })
  }
  const measure = (u: (typeof units)[number]) => (q.by === 'quantity' ? u.quantity : u.margin)
  const strip = ({ sortKey: _s, ...u }: (typeof units)[number]) => u
  const best = units
    .filter((u) => u.quantity > 0)
    .sort((a, b) => measure(b) - measure(a) || b.netSales - a.netSales || cmp(a.sortKey, b.sortKey))
    .slice(0, q.limit)
    .map(strip)
  const slow = [...units]
    .sort((a, b) => measure(a) - measure(b) || a.netSales - b.netSales || cmp(a.sortKey, b.sortKey))
    .slice(0, q.limit)
    .map(strip)
  const netSales = sumOf(variants, (v) => v.netSales)
  const cost = sumOf(variants, (v) => v.cost)
  return {
    totals: { variants: variants.length, quantity: sumOf(variants, (v) => v.quantity), netSales, cost, margin: netSales - cost, marginBp: figures({ quantity: 0, netSales, cost }).marginBp },
    bestSellers: best,
    slowMovers: slow,
  }
}

function expectedValuation(w: World, q: { until: Date; windowStart: Date; windowDays: number; store?: StoreKey }) {
  const all = movements(w).filter((m) => !q.store || m.locationId === w.stores[q.store].locationId)
  const key = (m: { locationId: string; variantId: string }) => `${m.locationId}|${m.variantId}`
  const onHand = groupBy(
    all.filter((m) => m.at < q.until),
    key,
  )
  const sold = groupBy(
    all.filter((m) => m.at >= q.windowStart && m.at < q.until && ['sale', 'return', 'void'].includes(m.kind)),
    key,
  )
  const storeOf = (locationId: string) => Object.values(w.stores).find((s) => s.locationId === locationId)!
  return [...onHand]
    .map(([k, ms]) => {
      const [locationId, variantId] = k.split('|') as [string, string]
      const item = itemByVariant(w, variantId)
      const qty = sumOf(ms, (m) => m.quantity)
      const unitsSold = 0 - sumOf(sold.get(k) ?? [], (m) => m.quantity)
      return {
        locationId,
        variantId,
        sku: item.sku,
        name: item.name,
        onHand: qty,
        unitCost: item.cost,
        costPer: item.pricePer,
        value: roundDiv(qty * item.cost, item.pricePer),
        unitsSold,
        averageDailyUnits: dec(roundDiv(unitsSold * 1000, q.windowDays), 3),
        turnoverDays: unitsSold <= 0 ? null : qty <= 0 ? 0 : roundDiv(qty * q.windowDays * 10, unitsSold) / 10,
        storeCode: storeOf(locationId).code,
      }
    })
    .filter((r) => r.onHand !== 0)
    .sort((a, b) => cmp(a.storeCode, b.storeCode) || cmp(a.sku, b.sku))
}

function expectedStaff(w: World, from: string, to: string) {
  const inPeriod = w.sales.filter((s) => s.day >= from && s.day <= to)
  const people = [w.alice, w.bob]
  return people
    .map((p) => {
      const sales = inPeriod.filter((s) => !s.voided && s.cashier === p.id)
      const amount = sumOf(sales, (s) => s.body.total + s.body.roundingAdjustment)
      const refunds = refundsOf(w, 'refund', undefined, from, to).filter((r) => r.by === p.id)
      const voids = inPeriod.filter((s) => s.voided && refundsOf(w, 'void', undefined, from, to).some((r) => r.sale === s && r.by === p.id))
      const manual = sales.flatMap((s) => s.body.lines.flatMap((l: any) => l.adjustments)).filter((a: any) => a.source === 'manual')
      return {
        userId: p.id,
        type: 'user',
        name: p.name,
        sales: { count: sales.length, amount },
        averageBasket: sales.length ? roundDiv(amount, sales.length) : null,
        refunds: { count: refunds.length, amount: sumOf(refunds, (r) => r.body.total) },
        voids: { count: voids.length, amount: sumOf(voids, (s) => s.body.total + s.body.roundingAdjustment) },
        manualDiscounts: { count: manual.length, amount: sumOf(manual, (a: any) => a.amount) },
        overridesApproved: inPeriod.filter((s) => s.approver === p.id).length + w.refunds.filter((r) => r.day >= from && r.day <= to && r.approver === p.id).length,
      }
    })
    .sort((a, b) => b.sales.amount - a.sales.amount)
}

const csvRows = (body: string) => parse(body, { columns: true, bom: true }) as Record<string, string>[]

describe('reports of a seeded business day', () => {
  const hub = useTestHub()
  let w: World

  beforeAll(async () => {
    w = await seedDay(hub)
  })

  it('the seeded day is what the test thinks it is: the business-day cut, a rounding, a void, an override and yesterday refunded today', () => {
    expect(w.sales.map((s) => [s.label, s.body.businessDate])).toEqual([
      ['s0', D0],
      ['s1', D],
      ['s2', D],
      ['s3', D],
      ['t1', D],
      ['s4', D],
      ['s5', D],
      ['s6', D],
      ['s7', D],
      ['s8', D2],
    ])
    const s = Object.fromEntries(w.sales.map((x) => [x.label, x.body]))
    expect(s.s2).toMatchObject({ total: 6959, roundingAdjustment: 1 })
    expect(s.s3).toMatchObject({ grossTotal: 12_980, total: 10_682 })
    expect(s.s6).toMatchObject({ total: 1592, approverId: w.bob.id })
    expect(s.s7).toMatchObject({ total: 4538, roundingAdjustment: 2 })
    expect(s.s5.status).toBe('voided')
    expect(w.refunds.map((r) => [r.sale.label, r.kind, r.body.businessDate])).toEqual([
      ['s3', 'refund', D],
      ['s5', 'void', D],
      ['s0', 'refund', D],
    ])
  })

  it('daily sales of a store and day add up from the sales and refunds, cut at midnight in Shanghai', async () => {
    const r = await w.admin.get(`/api/v1/reports/daily-sales?storeId=${w.stores.main.storeId}&date=${D}`)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ from: D, to: D, currency: 'CNY', timeZone: 'Asia/Shanghai' })
    expect(r.body.entries).toEqual([expectedDaily(w, 'main', D)])
    const e = r.body.entries[0]
    // s1 (00:00:30) is in, s0 (23:59:30 the night before) and s8 (00:00:30 the day after) are not; s5 was voided.
    expect(e.transactions).toBe(6)
    expect(e.hours.filter((h: any) => h.count > 0).map((h: any) => h.hour)).toEqual([0, 9, 10, 14, 16, 23])
    expect(e.rounding).toBe(3)
    expect(e.voids.count).toBe(1)
    expect(e.refunds.count).toBe(2)
    expect(e.discounts.bySource.map((d: any) => d.source).sort()).toEqual(['manual', 'manual', 'promotion', 'promotion'])
    expect(e.tax.byRate.map((t: any) => t.rateBp)).toEqual([1300, 900])
    expect(e.tenders.map((t: any) => t.kind)).toEqual(['alipay', 'card', 'cash', 'on_account', 'wechat'])
    // The parts add up to the wholes.
    expect(e.discounts.bySource.reduce((a: number, d: any) => a + d.amount, 0)).toBe(e.discounts.total)
    expect(e.tax.byRate.reduce((a: number, t: any) => a + t.tax, 0)).toBe(e.tax.total)
    expect(e.tenders.reduce((a: number, t: any) => a + t.net, 0)).toBe(e.netAfterRefunds + e.tenderDifference)
    expect(e.hours.reduce((a: number, h: any) => a + h.amount, 0)).toBe(e.netSales)
  })

  it('a range gives one entry per store and day, each from its own day', async () => {
    const r = await w.admin.get(`/api/v1/reports/daily-sales?from=${D0}&to=${D2}`)
    expect(r.status).toBe(200)
    const expected = [D0, D, D2].flatMap((day) => (['main', 'east'] as const).map((store) => expectedDaily(w, store, day)))
    expect(r.body.entries).toEqual(expected)
    expect(r.body.entries.map((e: any) => [e.storeCode, e.businessDate, e.transactions])).toEqual([
      ['SH01', D0, 1],
      ['SH02', D0, 0],
      ['SH01', D, 6],
      ['SH02', D, 1],
      ['SH01', D2, 1],
      ['SH02', D2, 0],
    ])
    const empty = r.body.entries[1]
    expect(empty.basket).toEqual({ averageAmount: null, items: 0, averageItems: null })
    expect(empty.hours).toHaveLength(24)
  })

  it('daily sales as CSV: a BOM, one row per store and day, money as decimals', async () => {
    const r = await w.admin.get(`/api/v1/reports/daily-sales?storeId=${w.stores.main.storeId}&date=${D}&format=csv`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    expect(r.headers.get('content-disposition')).toBe(`attachment; filename="daily-sales_SH01_${D}.csv"`)
    const e = expectedDaily(w, 'main', D)
    const [row, ...more] = csvRows(r.body)
    expect(more).toEqual([])
    expect(row).toMatchObject({
      business_date: D,
      store_code: 'SH01',
      transactions: String(e.transactions),
      gross: dec(e.gross),
      discounts: dec(e.discounts.total),
      net_sales: dec(e.netSales),
      rounding: dec(e.rounding),
      refunds_amount: dec(e.refunds.amount),
      voids_amount: dec(e.voids.amount),
      net_after_refunds: dec(e.netAfterRefunds),
      average_basket: dec(e.basket.averageAmount!),
      average_items: e.basket.averageItems!.toFixed(2),
      'tax 9.00% tax': dec(e.tax.byRate.find((t) => t.rateBp === 900)!.tax),
      'tax 13.00% net_ex_tax': dec(e.tax.byRate.find((t) => t.rateBp === 1300)!.netExTax),
      'tender cash net': dec(e.tenders.find((t) => t.kind === 'cash')!.net),
      'tender on_account sales': dec(e.tenders.find((t) => t.kind === 'on_account')!.sales),
      'discount promotion: 茶叶9折': dec(e.discounts.bySource.find((d) => d.label === '茶叶9折')!.amount),
      'hour 23 count': '1',
      'hour 09 amount': dec(e.hours[9]!.amount),
      'hour 15 count': '0',
    })
  })

  it('best sellers and slow movers by quantity: sold minus refunded, cost at the sale lines, unsold stock among the slow', async () => {
    const r = await w.admin.get(`/api/v1/reports/products?storeId=${w.stores.main.storeId}&from=${D}&to=${D}&limit=3`)
    expect(r.status).toBe(200)
    const expected = expectedProducts(w, { from: D, to: D, store: 'main', by: 'quantity', groupBy: 'variant', limit: 3 })
    expect(r.body).toMatchObject({ from: D, to: D, by: 'quantity', groupBy: 'variant', limit: 3, currency: 'CNY' })
    expect(r.body.totals).toEqual(expected.totals)
    expect(r.body.bestSellers).toEqual(expected.bestSellers)
    expect(r.body.slowMovers).toEqual(expected.slowMovers)
    // The teapot sold nothing but sits in stock: it is the slowest; the gift box has no stock and no sales and is nowhere.
    expect(r.body.slowMovers[0]).toMatchObject({ sku: 'POT', quantity: 0, netSales: 0, onHand: 3 })
    expect([...r.body.bestSellers, ...r.body.slowMovers].map((x: any) => x.sku)).not.toContain('GIFT')
    // Yesterday's longjing came back today: it counts against today.
    const lj = expectedProductRows(w, { from: D, to: D, store: 'main' }).find((x) => x.sku === 'TEA-LJ')!
    expect(lj.quantity).toBe(1 + 3 - 1)
  })

  it('best sellers and slow movers by margin, for all stores, with weighed goods costed per line', async () => {
    const r = await w.admin.get(`/api/v1/reports/products?from=${D}&to=${D}&by=margin&limit=10`)
    expect(r.status).toBe(200)
    const expected = expectedProducts(w, { from: D, to: D, by: 'margin', groupBy: 'variant', limit: 10 })
    expect(r.body.totals).toEqual(expected.totals)
    expect(r.body.bestSellers).toEqual(expected.bestSellers)
    expect(r.body.slowMovers).toEqual(expected.slowMovers)
    // 333 g and 777 g of goji at ¥3.01/kg: round(100.233) + round(233.877) = 100 + 234.
    expect(r.body.bestSellers.find((x: any) => x.sku === 'GOJI').cost).toBe(334)
  })

  it('rolled up per category, and limited to a category with everything below it', async () => {
    const byCategory = await w.admin.get(`/api/v1/reports/products?from=${D}&to=${D}&groupBy=category&limit=5`)
    expect(byCategory.status).toBe(200)
    const expected = expectedProducts(w, { from: D, to: D, by: 'quantity', groupBy: 'category', limit: 5 })
    expect(byCategory.body.bestSellers).toEqual(expected.bestSellers)
    expect(byCategory.body.slowMovers).toEqual(expected.slowMovers)
    expect(byCategory.body.totals).toEqual(expected.totals)

    const teaOnly = await w.admin.get(`/api/v1/reports/products?from=${D}&to=${D}&categoryId=${w.categories.tea.id}&limit=10`)
    const teaIds = [w.categories.tea.id, w.categories.green.id]
    const expectedTea = expectedProducts(w, { from: D, to: D, categoryIds: teaIds, by: 'quantity', groupBy: 'variant', limit: 10 })
    expect(teaOnly.body.bestSellers).toEqual(expectedTea.bestSellers)
    expect(teaOnly.body.slowMovers).toEqual(expectedTea.slowMovers)
    expect(teaOnly.body.bestSellers.map((x: any) => x.sku).sort()).toEqual(['GOJI', 'TEA-LJ', 'TEA-PE'])
    expect((await w.admin.get(`/api/v1/reports/products?from=${D}&to=${D}&categoryId=${randomUUID()}`)).status).toBe(404)
  })

  it('products as CSV: both lists with their rank, Chinese names intact', async () => {
    const r = await w.admin.get(`/api/v1/reports/products?storeId=${w.stores.main.storeId}&from=${D}&to=${D}&limit=3&format=csv`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-disposition')).toBe(`attachment; filename="products_variant_quantity_${D}_${D}.csv"`)
    const expected = expectedProducts(w, { from: D, to: D, store: 'main', by: 'quantity', groupBy: 'variant', limit: 3 })
    const rows = csvRows(r.body)
    expect(rows.map((x) => [x.list, x.rank, x.sku, x.name, x.quantity, x.net_sales, x.cost, x.margin, x.margin_percent])).toEqual([
      ...expected.bestSellers.map((x, i) => ['best', String(i + 1), x.sku, x.name, String(x.quantity), dec(x.netSales), dec(x.cost), dec(x.margin), x.marginPercent ?? '']),
      ...expected.slowMovers.map((x, i) => ['slow', String(i + 1), x.sku, x.name, String(x.quantity), dec(x.netSales), dec(x.cost), dec(x.margin), x.marginPercent ?? '']),
    ])
    expect(rows.some((x) => x.name === '紫砂壶')).toBe(true)
  })

  it('stock valuation at the end of a past day replays the ledger; turnover days from the 30 days before', async () => {
    const r = await w.admin.get(`/api/v1/reports/stock-valuation?date=${D}`)
    expect(r.status).toBe(200)
    const windowStart = local('2026-02-13', '00:00:00')
    const expected = expectedValuation(w, { until: local(D2, '00:00:00'), windowStart, windowDays: 30 })
    expect(r.body).toMatchObject({ date: D, onHandSource: 'ledger', windowDays: 30, windowFrom: '2026-02-13', windowTo: D })
    expect(r.body.items).toEqual(expected.map(({ storeCode: _s, ...x }) => x))
    // The cups received the day after are not in it; the voided cup went back on the shelf.
    const cup = r.body.items.find((x: any) => x.sku === 'CUP' && x.locationId === w.stores.main.locationId)
    expect(cup.onHand).toBe(50 - 1 - 3 - 2 - 1 + 1 - 1)
    expect(r.body.totals).toEqual({ items: expected.length, value: sumOf(expected, (x) => x.value), inTransitValue: 0, totalValue: sumOf(expected, (x) => x.value) })
    expect(r.body.inTransit).toEqual([])
    expect(r.body.locations).toEqual(
      (['main', 'east'] as const).map((k) => {
        const at = expected.filter((x) => x.locationId === w.stores[k].locationId)
        return { locationId: w.stores[k].locationId, locationName: 'Shop floor', storeId: w.stores[k].storeId, storeCode: w.stores[k].code, items: at.length, onHand: sumOf(at, (x) => x.onHand), value: sumOf(at, (x) => x.value) }
      }),
    )
    expect(r.body.items.find((x: any) => x.sku === 'POT')).toMatchObject({ onHand: 3, unitsSold: 0, turnoverDays: null, value: 45_000 })
  })

  it('stock valuation today reads the levels; a shorter window and one store narrow it', async () => {
    hub.setNow(local(D2, '12:00:00'))
    try {
      const r = await w.admin.get(`/api/v1/reports/stock-valuation?storeId=${w.stores.main.storeId}&windowDays=2`)
      expect(r.status).toBe(200)
      expect(r.body).toMatchObject({ date: D2, onHandSource: 'levels', windowDays: 2, windowFrom: D, windowTo: D2 })
      const expected = expectedValuation(w, { until: local('2026-03-16', '00:00:00'), windowStart: local(D, '00:00:00'), windowDays: 2, store: 'main' })
      expect(r.body.items).toEqual(expected.map(({ storeCode: _s, ...x }) => x))
      expect(r.body.items.every((x: any) => x.locationId === w.stores.main.locationId)).toBe(true)
      const future = await w.admin.get(`/api/v1/reports/stock-valuation?date=2026-03-16`)
      expect(future.status).toBe(422)
      expect(future.body.error.code).toBe('future_date')

      const file = await w.admin.get(`/api/v1/reports/stock-valuation?locationId=${w.stores.east.locationId}&format=csv`)
      expect(file.headers.get('content-disposition')).toBe(`attachment; filename="stock-valuation_${D2}.csv"`)
      const eastExpected = expectedValuation(w, { until: local('2026-03-16', '00:00:00'), windowStart: local('2026-02-14', '00:00:00'), windowDays: 30, store: 'east' })
      expect(csvRows(file.body)).toEqual(
        eastExpected.map((x) => ({
          store_code: 'SH02',
          location: 'Shop floor',
          sku: x.sku,
          name: x.name,
          on_hand: String(x.onHand),
          unit_cost: dec(x.unitCost),
          cost_per: String(x.costPer),
          value: dec(x.value),
          units_sold: String(x.unitsSold),
          average_daily_units: x.averageDailyUnits,
          turnover_days: x.turnoverDays === null ? '' : x.turnoverDays.toFixed(1),
          in_transit_from: '',
        })),
      )
    } finally {
      hub.setNow(undefined)
    }
  })

  it('staff performance per person: sales rung, refunds and voids made, manual discounts given, overrides approved', async () => {
    const r = await w.admin.get(`/api/v1/reports/staff?from=${D}&to=${D}`)
    expect(r.status).toBe(200)
    expect(r.body.staff).toEqual(expectedStaff(w, D, D))
    const bob = r.body.staff.find((p: any) => p.userId === w.bob.id)
    expect(bob).toMatchObject({ name: '王强', refunds: { count: 1 }, voids: { count: 1 }, overridesApproved: 2 })
    const alice = r.body.staff.find((p: any) => p.userId === w.alice.id)
    expect(alice).toMatchObject({ name: '李娜', refunds: { count: 1 }, manualDiscounts: { count: 2 }, overridesApproved: 0 })

    const east = await w.admin.get(`/api/v1/reports/staff?storeId=${w.stores.east.storeId}&from=${D}&to=${D}`)
    const t1 = w.sales.find((s) => s.label === 't1')!.body
    expect(east.body.staff).toEqual([
      {
        userId: w.alice.id,
        type: 'user',
        name: '李娜',
        sales: { count: 1, amount: t1.total + t1.roundingAdjustment },
        averageBasket: t1.total + t1.roundingAdjustment,
        refunds: { count: 0, amount: 0 },
        voids: { count: 0, amount: 0 },
        manualDiscounts: { count: 0, amount: 0 },
        overridesApproved: 0,
      },
    ])

    const file = await w.admin.get(`/api/v1/reports/staff?from=${D}&to=${D}&format=csv`)
    expect(file.headers.get('content-disposition')).toBe(`attachment; filename="staff_${D}_${D}.csv"`)
    expect(csvRows(file.body).map((x) => [x.name, x.sales_count, x.sales_amount, x.refunds_amount, x.voids_count, x.manual_discounts_amount, x.overrides_approved])).toEqual(
      expectedStaff(w, D, D).map((p) => [p.name, String(p.sales.count), dec(p.sales.amount), dec(p.refunds.amount), String(p.voids.count), dec(p.manualDiscounts.amount), String(p.overridesApproved)]),
    )
  })

  it('the sessions of a day with their over/short, and each session’s X/Z report', async () => {
    const r = await w.admin.get(`/api/v1/reports/sessions?date=${D}`)
    expect(r.status).toBe(200)
    expect(r.body.sessions.map((s: any) => [s.id, s.storeCode, s.status, s.expectedCash, s.countedCash, s.overShort])).toEqual([
      [w.sessions.B, 'SH01', 'closed', w.expectedCash.B, w.expectedCash.B + w.overShort.B, w.overShort.B],
      [w.sessions.C, 'SH02', 'closed', w.expectedCash.C, w.expectedCash.C + w.overShort.C, w.overShort.C],
    ])
    expect(r.body.totals).toEqual({ open: 0, closed: 2, overShort: w.overShort.B + w.overShort.C })
    expect(r.body.sessions[0]).toMatchObject({ openedByName: '王强', closedByName: '王强', openingFloat: 10_000, registerCode: '01' })
    const before = await w.admin.get(`/api/v1/reports/sessions?date=${D0}&storeId=${w.stores.main.storeId}`)
    expect(before.body.sessions.map((s: any) => [s.id, s.overShort])).toEqual([[w.sessions.A, w.overShort.A]])

    const z = await w.admin.get(`/api/v1/reports/sessions/${w.sessions.B}`)
    expect(z.status).toBe(200)
    expect(z.body).toEqual((await w.admin.get(`/api/v1/cash-sessions/${w.sessions.B}/report`)).body)
    expect(z.body).toMatchObject({ type: 'Z', cash: { expected: w.expectedCash.B, overShort: w.overShort.B } })

    const zFile = await w.admin.get(`/api/v1/reports/sessions/${w.sessions.B}?format=csv`)
    expect(zFile.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    const zRows = csvRows(zFile.body)
    expect(zRows.find((x) => x.section === 'cash' && x.item === 'over_short')!.amount).toBe(dec(w.overShort.B))
    expect(zRows.find((x) => x.section === 'sales' && x.item === 'count')!.count).toBe(String(z.body.sales.count))
    const list = csvRows((await w.admin.get(`/api/v1/reports/sessions?date=${D}&format=csv`)).body)
    expect(list.map((x) => [x.store_code, x.over_short, x.opened_by])).toEqual([
      ['SH01', dec(w.overShort.B), '王强'],
      ['SH02', dec(w.overShort.C), '李娜'],
    ])
    // Times as the till's clock reads them, with the merchant's offset: the same instants as the JSON's.
    const json = r.body.sessions as any[]
    expect(list.map((x) => [x.opened_at, x.closed_at])).toEqual(json.map((s) => [s.openedAt, s.closedAt].map((t: string) => new Date(new Date(t).getTime() + 8 * 3600_000).toISOString().slice(0, 19) + '+08:00')))
  })

  it('CSV files start with a UTF-8 BOM so Excel reads the Chinese names', async () => {
    const res = await w.admin.app.request(`/api/v1/reports/staff?from=${D}&to=${D}&format=csv`, { headers: { authorization: `Bearer ${w.adminToken}` } })
    const bytes = new Uint8Array(await res.arrayBuffer())
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    expect(new TextDecoder('utf-8', { fatal: true }).decode(bytes)).toContain('李娜')
  })
})
