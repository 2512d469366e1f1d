// Seeds the demo merchant through the public API: business rules, VAT categories, two stores with their tills, the
// catalog (imported as a spreadsheet), opening stock in both stores, member tiers, top-up bonuses, promotions,
// coupon templates, and members — what a merchant moving onto Tillbridge would set up in its first week.
import type { DemoApi } from './client.ts'
import { catalogCsv, CATEGORIES, demoCatalog, type DemoProduct } from './catalog.ts'
import { rng } from './random.ts'

export const DEMO_MERCHANT = 'Tillbridge Demo 演示商户'
export const DEMO_EMAIL = 'demo@tillbridge.local'
export const DEMO_TIME_ZONE = 'Asia/Shanghai'

export const DEMO_STORES = [
  { code: 'SH01', name: '上海静安店', address: '上海市静安区南京西路1266号', phone: '021-6288 0000' },
  { code: 'HZ01', name: '杭州西湖店', address: '杭州市西湖区北山街88号', phone: '0571-8797 0000' },
] as const

export interface DemoStore {
  id: string
  code: string
  name: string
  locationId: string
  registerId: string
}

export interface DemoSellable {
  sku: string
  variantId: string
  productId: string
  product: DemoProduct
  price: number
}

export interface DemoMember {
  id: string
  name: string
  phone: string
}

export interface DemoSetup {
  stores: DemoStore[]
  catalog: DemoProduct[]
  sellables: DemoSellable[]
  categoryIds: Record<string, string>
  members: DemoMember[]
  couponTemplates: { welcome: string; comeBack: string; birthday: string }
  productCount: number
}

export type Progress = (step: string, done?: number, total?: number) => void

/** Calls `fn` on every item, `width` at a time, reporting progress. */
export async function inBatches<T>(items: T[], width: number, fn: (item: T, i: number) => Promise<void>, progress?: (done: number) => void): Promise<void> {
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      await fn(items[i]!, i)
      progress?.(++done)
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker))
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '徐', '孙', '马', '朱', '胡', '郭', '何', '林', '高', '罗', '郑', '梁', '谢', '宋', '唐', '许', '韩', '冯', '邓', '曹']
const GIVEN = ['伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '洋', '艳', '勇', '军', '杰', '娟', '涛', '明', '超', '秀英', '霞', '平', '刚', '桂英', '子涵', '浩然', '欣怡', '梓萱', '宇轩', '思远', '一诺', '雨桐', '晨曦', '嘉怡']

/** Everything the shop needs before its first sale. Returns what the week of activity works with. */
export async function seedSetup(api: DemoApi, progress: Progress, opts: { members?: number } = {}): Promise<DemoSetup> {
  const r = rng(88)
  progress('rules and VAT categories')
  await api.patch('/api/v1/merchant/settings', {
    // 抹零: cash payments are rounded down to the jiao, as many Chinese tills do.
    cashRounding: { unit: 10, mode: 'down' },
    loyalty: { spendPerPoint: 100, redeemStep: 100, pointsPerMinorUnit: 1, maxRedeemBp: 3000, expiry: 'end_of_next_year', tierWindowDays: 365, lapsedDays: 60, nonEarningTenders: ['stored_value', 'on_account', 'points', 'coupon_voucher'], birthdayGift: null },
  })
  const existingTax = (await api.get<{ items: { code: string }[] }>('/api/v1/tax-categories')).items.map((t) => t.code)
  for (const t of [
    { code: 'standard', name: '增值税 13%', rateBp: 1300 },
    { code: 'reduced', name: '增值税 9%', rateBp: 900 },
    { code: 'services', name: '增值税 6%', rateBp: 600 },
    { code: 'exempt', name: '免税 0%', rateBp: 0 },
  ]) {
    if (!existingTax.includes(t.code)) await api.post('/api/v1/tax-categories', t)
  }

  progress('stores and registers')
  const stores: DemoStore[] = []
  for (const s of DEMO_STORES) {
    const created = await api.post<{ store: { id: string }; location: { id: string }; register: { id: string } }>('/api/v1/stores', s)
    stores.push({ id: created.store.id, code: s.code, name: s.name, locationId: created.location.id, registerId: created.register.id })
  }

  const catalog = demoCatalog()
  progress('catalog import')
  const report = await api.request('POST', '/api/v1/catalog/import', undefined, { raw: catalogCsv(catalog), headers: { 'content-type': 'text/csv' } })
  if (report.status !== 200) throw new Error(`the demo catalog was refused: ${JSON.stringify(report.body).slice(0, 2000)}`)

  const bySku = new Map(catalog.flatMap((p) => p.variants.map((v) => [v.sku, { product: p, price: v.price }] as const)))
  const sellables: DemoSellable[] = []
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page: { items: { id: string; variants: { id: string; sku: string }[] }[]; nextCursor: string | null } = await api.get(`/api/v1/products?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    for (const p of page.items) {
      for (const v of p.variants) {
        const known = bySku.get(v.sku)
        if (known) sellables.push({ sku: v.sku, variantId: v.id, productId: p.id, product: known.product, price: known.price })
      }
    }
    cursor = page.nextCursor
  }
  const categoryIds: Record<string, string> = {}
  for (const c of (await api.get<{ items: { id: string; path: string }[] }>('/api/v1/categories')).items) categoryIds[c.path] = c.id

  progress('opening stock')
  for (const store of stores) {
    const lines = sellables
      .filter((s) => s.product.kind !== 'service')
      .map((s) => ({
        sku: s.sku,
        quantity: s.product.unit === 'g' ? r.int(40, 120) * 1000 : s.product.kind === 'apparel' ? r.int(6, 20) : s.product.kind === 'book' ? r.int(5, 15) : r.int(60, 240),
      }))
    for (let i = 0; i < lines.length; i += 500) {
      await api.post('/api/v1/stock/receipts', { locationId: store.locationId, reference: `OPEN-${store.code}-${i / 500 + 1}`, note: '开业备货 Opening stock', lines: lines.slice(i, i + 500) })
    }
  }

  progress('loyalty: tiers, top-up bonuses, coupons, promotions')
  for (const t of [
    { code: 'member', name: '普通会员 Member', rank: 0, minSpend: 0, discountBp: 0, pointsMultiplierBp: 10_000 },
    { code: 'silver', name: '银卡 Silver', rank: 1, minSpend: 50_000, discountBp: 200, pointsMultiplierBp: 12_000 },
    { code: 'gold', name: '金卡 Gold', rank: 2, minSpend: 200_000, discountBp: 500, pointsMultiplierBp: 15_000 },
    { code: 'diamond', name: '钻石卡 Diamond', rank: 3, minSpend: 1_000_000, discountBp: 800, pointsMultiplierBp: 20_000 },
  ]) {
    await api.post('/api/v1/tiers', t)
  }
  await api.post('/api/v1/topup-bonus-rules', { threshold: 50_000, bonus: 5_000 })
  await api.post('/api/v1/topup-bonus-rules', { threshold: 100_000, bonus: 15_000 })
  const welcome = (await api.post<{ id: string }>('/api/v1/coupon-templates', { name: '新会员礼 满50减10 Welcome ¥10 off ¥50', kind: 'amount_off', amount: 1000, minSpend: 5000, validDays: 30, perMemberLimit: 1 })).id
  const comeBack = (await api.post<{ id: string }>('/api/v1/coupon-templates', { name: '回店礼 满100减20 Come back ¥20 off ¥100', kind: 'amount_off', amount: 2000, minSpend: 10_000, validDays: 14 })).id
  const birthday = (await api.post<{ id: string }>('/api/v1/coupon-templates', { name: '生日85折 Birthday 15% off', kind: 'percent_off', percentBp: 1500, minSpend: 0, validDays: 31, perMemberLimit: 1 })).id

  const weekAgo = new Date(Date.now() - 30 * 86_400_000).toISOString()
  await api.post('/api/v1/promotions', { name: '饮料9折 Drinks 10% off', kind: 'percent_off', level: 'item', params: { percentBp: 1000 }, categoryIds: [categoryIds[CATEGORIES.drinks]], startsAt: weekAgo })
  await api.post('/api/v1/promotions', {
    name: '满100减10，满200减30 Spend ¥100 save ¥10, ¥200 save ¥30',
    kind: 'spend_threshold',
    level: 'order',
    params: { tiers: [{ threshold: 10_000, amount: 1_000 }, { threshold: 20_000, amount: 3_000 }] },
    startsAt: weekAgo,
  })
  await api.post('/api/v1/promotions', { name: '乳品买二送一 Dairy buy 2 get 1', kind: 'buy_x_get_y', level: 'item', params: { buy: 2, get: 1 }, categoryIds: [categoryIds[CATEGORIES.dairy]], startsAt: weekAgo, priority: 50 })

  progress('members')
  const members: DemoMember[] = []
  const phones = new Set<string>()
  const count = opts.members ?? 160
  const specs = Array.from({ length: count }, (_, i) => {
    let phone: string
    do phone = `+86 1${r.pick(['38', '39', '58', '86', '35', '77'])}${String(r.int(0, 99_999_999)).padStart(8, '0')}`
    while (phones.has(phone))
    phones.add(phone)
    const name = `${r.pick(SURNAMES)}${r.pick(GIVEN)}`
    return {
      phone,
      name,
      birthday: { month: r.int(1, 12), day: r.int(1, 28), year: r.int(1960, 2004) },
      storeId: stores[i % stores.length]!.id,
      tags: r.chance(0.2) ? ['office'] : r.chance(0.2) ? ['family'] : [],
      consents: [
        { channel: 'sms', granted: r.chance(0.85), source: 'till' },
        { channel: 'email', granted: r.chance(0.3), source: 'till' },
      ],
    }
  })
  await inBatches(specs, 4, async (spec) => {
    const m = await api.post<{ id: string }>('/api/v1/members', spec)
    members.push({ id: m.id, name: spec.name, phone: spec.phone })
  }, (done) => progress('members', done, count))
  members.sort((a, b) => a.phone.localeCompare(b.phone))
  await api.post('/api/v1/coupons/issue', { templateId: welcome, memberIds: members.slice(0, 60).map((m) => m.id) })

  return { stores, catalog, sellables, categoryIds, members, couponTemplates: { welcome, comeBack, birthday }, productCount: catalog.length }
}
