// A week in the life of the demo shop, played through the till's API at the times it happened: each morning the
// tills open their cash sessions, customers buy baskets (weighed goods by their scale labels, members with tier
// discounts, points, stored value and coupons, paid by WeChat Pay, Alipay, card or cash), some come back for a
// refund, members top up their cards, and each evening the drawers are counted (now and then a few yuan short).
// The hub's clock is moved to each moment (the caller's `at`), so business days, sessions and receipts fall on the
// right dates.
import type { DemoApi } from './client.ts'
import { inBatches, DEMO_TIME_ZONE, type DemoSetup, type DemoSellable, type DemoStore, type Progress } from './seed.ts'
import { scaleLabel } from './catalog.ts'
import { rng, type Rng } from './random.ts'
import { addDays, businessDate, startOfBusinessDay } from '../lib/time.ts'

/** Runs `fn` with the hub's clock at `at` (for the requests it makes). */
export type AtTime = <T>(at: Date, fn: () => Promise<T>) => Promise<T>

export interface WeekOptions {
  /** Past business days to fill, ending yesterday. */
  days: number
  now: Date
  at: AtTime
  progress: Progress
}

export interface WeekResult {
  dates: string[]
  sales: number
  refunds: number
  topups: number
  /** Sales refused by the till (stock, a spent coupon) and left out. */
  skipped: number
}

type Tender = { kind: string; amount: number }
/** `sale` events of a day may run side by side; the others (opening, refunds, top-ups, the count) one at a time. */
type Event = { at: Date; run: () => Promise<void>; sale?: boolean }

const TENDERS: [string, number][] = [
  ['wechat', 40],
  ['alipay', 26],
  ['cash', 16],
  ['card', 14],
]

const minutes = (n: number) => n * 60_000
/** Sales of one store rung up side by side (their receipts may come a few numbers out of time order). */
const SALES_AT_ONCE = 3

/** The past business days the week covers, oldest first. */
export function weekDates(now: Date, days: number): string[] {
  const today = businessDate(now, DEMO_TIME_ZONE)
  return Array.from({ length: days }, (_, i) => addDays(today, i - days))
}

export async function playWeek(api: DemoApi, setup: DemoSetup, opts: WeekOptions): Promise<WeekResult> {
  const dates = weekDates(opts.now, opts.days)
  const result: WeekResult = { dates, sales: 0, refunds: 0, topups: 0, skipped: 0 }
  const r = rng(7)
  const sellable = setup.sellables.filter((s) => s.product.kind !== 'service' || r.chance(0.5))
  // Each store serves its own members with stored value, so two stores never spend one balance at once.
  const homeMembers = setup.stores.map((_, i) => setup.members.filter((_, j) => j % setup.stores.length === i))
  const storedValue = new Map<string, number>()
  const perStore = setup.stores.map((s, i) => ({ store: s, base: i === 0 ? 46 : 34 }))
  const totalSales = dates.reduce((sum, d) => sum + perStore.reduce((s, p) => s + Math.round(p.base * dayFactor(d)), 0), 0)
  let progressed = 0
  const tick = () => opts.progress('sales', ++progressed, totalSales)

  // Each store's days are played in time order; the two stores run side by side (the clock is per request).
  await inBatches(perStore, perStore.length, async ({ store, base }, storeIndex) => {
    const sr = rng(1000 + storeIndex)
    let yesterdaysSales: SaleBody[] = []
    for (const [dayIndex, date] of dates.entries()) {
      const start = startOfBusinessDay(date, DEMO_TIME_ZONE)
      const opensAt = new Date(start.getTime() + minutes(8 * 60 + 50))
      const closesAt = new Date(start.getTime() + minutes(22 * 60 + 5))
      const events: Event[] = []
      const count = Math.round(base * dayFactor(date))
      const todaysSales: SaleBody[] = []
      let session: { id: string } | undefined

      events.push({
        at: opensAt,
        run: async () => {
          session = await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 50_000, note: '早班 morning float' })
        },
      })
      for (let i = 0; i < count; i++) {
        // Busier at lunch and after work.
        const hour = sr.weighted([9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21], (h) => (h === 12 || h === 18 || h === 19 ? 3 : h === 9 || h === 21 ? 1 : 2))
        const at = new Date(start.getTime() + minutes(hour * 60 + sr.int(0, 59)) + sr.int(0, 59) * 1000)
        events.push({
          at,
          run: async () => {
            const sold = await sell(api, store, sellable, homeMembers[storeIndex]!, storedValue, sr)
            if (sold) {
              todaysSales.push(sold)
              result.sales++
            } else result.skipped++
            tick()
          },
          sale: true,
        })
      }
      // Customers bring back something they bought yesterday (or earlier today): about one sale in thirty.
      for (const back of yesterdaysSales.filter(() => sr.chance(0.035))) {
        events.push({ at: new Date(start.getTime() + minutes(10 * 60 + sr.int(0, 240))), run: async () => void ((await refund(api, store, back, 'yesterday')) && result.refunds++) })
      }
      events.push({
        at: new Date(start.getTime() + minutes(20 * 60 + sr.int(0, 30))),
        run: async () => {
          const recent = todaysSales.filter((s) => s.at.getTime() < start.getTime() + minutes(20 * 60))
          if (recent.length && sr.chance(0.5)) if (await refund(api, store, recent[recent.length - 1]!, 'same day')) result.refunds++
        },
      })
      // Members top up their cards: the bonus rules add 10–15 %.
      for (let i = 0, n = sr.int(2, 4); i < n; i++) {
        const member = sr.pick(homeMembers[storeIndex]!)
        const amount = sr.pick([20_000, 50_000, 50_000, 100_000])
        const kind = sr.weighted(['wechat', 'alipay', 'cash'] as const, (k) => (k === 'wechat' ? 5 : k === 'alipay' ? 3 : 2))
        events.push({
          at: new Date(start.getTime() + minutes(9 * 60 + sr.int(30, 12 * 60))),
          run: async () => {
            const t = await api.post<{ balance: { principal: number; bonus: number } }>(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount, tenders: [{ kind, amount }] })
            storedValue.set(member.id, t.balance.principal + t.balance.bonus)
            result.topups++
          },
        })
      }
      // The evening count: usually right, now and then a few yuan short or over.
      events.push({
        at: closesAt,
        run: async () => {
          if (!session) return
          const report = await api.get<{ cash: { expected: number } }>(`/api/v1/cash-sessions/${session.id}/report`)
          const delta = (dayIndex + storeIndex) % 4 === 1 ? -500 : (dayIndex + storeIndex) % 5 === 3 ? 200 : 0
          await api.post(`/api/v1/cash-sessions/${session.id}/close`, { countedCash: Math.max(0, report.cash.expected + delta), note: delta ? '盘点差异 count difference' : undefined })
        },
      })

      events.sort((a, b) => a.at.getTime() - b.at.getTime())
      for (let i = 0; i < events.length; ) {
        let j = i + 1
        if (events[i]!.sale) while (j < events.length && j - i < SALES_AT_ONCE && events[j]!.sale) j++
        await Promise.all(events.slice(i, j).map((e) => opts.at(e.at, e.run)))
        i = j
      }
      yesterdaysSales = todaysSales
    }
  })
  return result
}

/** Weekends are busier. */
function dayFactor(date: string): number {
  const dow = new Date(`${date}T00:00:00Z`).getUTCDay()
  return dow === 0 || dow === 6 ? 1.3 : 1
}

interface SaleBody {
  id: string
  at: Date
  lines: { id: string; quantity: number }[]
  tenders: { kind: string }[]
}

/** A basket of 1–5 products. Weighed goods go through the till by the label the counter's scale printed. */
function basket(items: DemoSellable[], r: Rng) {
  const n = r.weighted([1, 2, 3, 4, 5], (k) => [30, 30, 20, 12, 8][k - 1]!)
  const lines: Record<string, unknown>[] = []
  const seen = new Set<string>()
  for (let i = 0; i < n; i++) {
    const s = r.weighted(items, (x) => x.product.popularity)
    if (seen.has(s.sku)) continue
    seen.add(s.sku)
    if (s.product.unit === 'g') {
      const grams = s.product.category.includes('Meat') || s.product.category.includes('Deli') ? r.int(150, 800) : r.int(250, 1800)
      lines.push({ barcode: scaleLabel(s.product.plu!, grams) })
    } else {
      lines.push({ sku: s.sku, quantity: s.product.kind === 'apparel' ? 1 : r.weighted([1, 2, 3, 6], (q) => (q === 1 ? 80 : q === 2 ? 14 : q === 3 ? 4 : 2)) })
    }
  }
  return lines
}

async function sell(api: DemoApi, store: DemoStore, items: DemoSellable[], members: { id: string }[], storedValue: Map<string, number>, r: Rng): Promise<SaleBody | undefined> {
  const cart: Record<string, unknown> = { registerId: store.registerId, lines: basket(items, r) }
  const member = r.chance(0.35) ? r.pick(members) : undefined
  if (member) cart.memberId = member.id
  let quote = await api.request('POST', '/api/v1/sales/quote', cart)
  if (quote.status !== 200) return undefined
  if (member && r.chance(0.2)) {
    // A member with a coupon in the wallet uses it when the basket qualifies.
    const coupons = await api.get<{ items: { code: string; status: string }[] }>(`/api/v1/members/${member.id}/coupons`)
    const code = coupons.items.find((c) => c.status === 'active')?.code
    if (code) {
      const withCoupon = await api.request('POST', '/api/v1/sales/quote', { ...cart, couponCodes: [code] })
      if (withCoupon.status === 200) {
        cart.couponCodes = [code]
        quote = withCoupon
      }
    }
  }
  const points = quote.body.member?.pointsBalance ?? 0
  if (member && points >= 500 && r.chance(0.3)) {
    const redeem = Math.floor(Math.min(points, 2000) / 100) * 100
    const withPoints = await api.request('POST', '/api/v1/sales/quote', { ...cart, redeemPoints: redeem })
    if (withPoints.status === 200) {
      cart.redeemPoints = redeem
      quote = withPoints
    }
  }
  let due: number = quote.body.amountDue
  if (due <= 0) return undefined
  const tenders: Tender[] = []
  const balance = member ? (storedValue.get(member.id) ?? 0) : 0
  if (member && balance > 0 && r.chance(0.6)) {
    const use = Math.min(balance, due)
    tenders.push({ kind: 'stored_value', amount: use })
    storedValue.set(member.id, balance - use)
    due -= use
  }
  if (due > 0) {
    const kind = r.weighted(TENDERS, ([, w]) => w)[0]
    if (kind === 'cash' && tenders.length === 0) {
      // Cash is rounded (抹零) by the till: ask for the amount due in cash, then hand over notes.
      const cashQuote = await api.request('POST', '/api/v1/sales/quote', { ...cart, tenders: [{ kind: 'cash', amount: due }] })
      const cashDue: number = cashQuote.status === 200 ? cashQuote.body.amountDue : due
      const note = [1000, 2000, 5000, 10_000].find((n) => n >= cashDue)
      const received = note && r.chance(0.5) ? note : Math.ceil(cashDue / 10_000) * 10_000 || cashDue
      tenders.push({ kind: 'cash', amount: Math.max(received, cashDue) })
    } else {
      tenders.push({ kind: kind === 'cash' ? 'wechat' : kind, amount: due })
    }
  }
  const sale = await api.request('POST', '/api/v1/sales', { ...cart, tenders })
  if (sale.status !== 201) {
    if (tenders[0]?.kind === 'stored_value' && member) storedValue.set(member.id, balance)
    return undefined
  }
  return { id: sale.body.id, at: new Date(sale.body.occurredAt), lines: sale.body.lines, tenders: sale.body.tenders }
}

/** Takes back one unit of the first line; the money goes back to the tenders it came from. */
async function refund(api: DemoApi, store: DemoStore, sale: SaleBody, when: string): Promise<boolean> {
  const line = sale.lines[0]
  if (!line) return false
  const r = await api.request('POST', `/api/v1/sales/${sale.id}/refunds`, {
    registerId: store.registerId,
    lines: [{ saleLineId: line.id, quantity: line.quantity, restock: true }],
    reason: when === 'yesterday' ? '顾客退货 customer return' : '收错商品 wrong item rung up',
  })
  return r.status === 201
}
