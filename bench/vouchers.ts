// The daily voucher of a busy store: one business day of N sales (three lines each, 13 % and 9 % VAT), every tender
// kind, ~2 % refunds, stored value, cash sessions with over/short — built by buildVoucher and timed, with the peak
// memory of the process that builds it; previewVoucher and dayPostings' statement are timed on their own. The voucher
// must balance and its revenue, VAT and tenders must equal what was seeded.
// Usage: npm run bench:vouchers [-- --sales 100000 --history 0 --explain]
// --history K: K earlier days of the same volume before the measured one (what a store's tables hold after a while).
// --explain: EXPLAIN (ANALYZE, BUFFERS) of dayPostings' statement for the measured day; --statements: where the
// database spent its time during the measured run (pg_stat_statements).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { sql, type SQL } from 'drizzle-orm'
import { openDatabase, type Tx } from '../src/db/client.ts'
import { migrate } from '../src/db/migrate.ts'
import { createMerchantWithAdmin } from '../src/core/merchants/onboard.ts'
import { updateSettings } from '../src/core/merchants/settings.ts'
import { systemActor, type Actor } from '../src/core/staff/actor.ts'
import { createRegister, createStore } from '../src/core/stores/service.ts'
import { ensureDefaultTaxCategories } from '../src/core/catalog/tax-categories.ts'
import { createProduct } from '../src/core/catalog/products.ts'
import { applyMovements } from '../src/core/stock/ledger.ts'
import { registerMember } from '../src/core/members/members.ts'
import { splitSpend, topUp } from '../src/core/members/stored-value.ts'
import { closeSession, expectedCash, openSession } from '../src/core/sales/cash-sessions.ts'
import { receiptPrefix } from '../src/core/sales/numbers.ts'
import { buildVoucher, previewVoucher, voucherLinesOf } from '../src/core/vouchers/service.ts'
import { dayPostings } from '../src/core/vouchers/build.ts'
import { newId } from '../src/lib/ids.ts'
import { addDays } from '../src/lib/time.ts'
import { benchDatabase, freshDatabase, logger, resetStatements, round1, topStatements } from './lib.ts'

const { values: args } = parseArgs({
  options: {
    sales: { type: 'string', default: '100000' },
    history: { type: 'string', default: '0' },
    explain: { type: 'boolean', default: false },
    statements: { type: 'boolean', default: false },
    // Internal: the measured run, in a process of its own (see measure()).
    child: { type: 'string' },
  },
})

const TIME_ZONE = 'Asia/Shanghai'
const BUSINESS_DATE = '2026-03-14'
const STORE_CODE = 'SH01'
const DAY_MS = 86_400_000
/** Trading from 08:00 to 22:00 local; refunds up to 30 minutes after their sale; drawers counted at 22:45. */
const OPEN_HOUR = 8
const SPAN_MS = 14 * 3600_000
const REFUND_AFTER_MS = 30 * 60_000
const PRODUCTS = 100
const MEMBERS = 50
const LINES_PER_SALE = 3
/** Sales per register and day: a register's receipt sequence stays within its four digits. */
const SALES_PER_REGISTER = 5000

const localMs = (date: string, hour: number, minute = 0) => Date.parse(`${date}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00+08:00`)
const raw = (n: number | string) => sql.raw(String(n))

interface Spec {
  url: string
  merchantId: string
  storeId: string
  businessDate: string
}

interface Seeded extends Spec {
  sales: number
  lines: number
  refunds: number
  /** What the day's ledgers hold, summed straight from the tables: the voucher must agree. */
  expected: Record<string, number>
}

/**
 * Merchant, store, registers, tax categories, catalog, members, stock receipts, top-ups and cash sessions go through
 * the core, as the hub makes them; the day's sales, lines, tenders, refunds, stock and stored-value movements and
 * drawer cash go straight in SQL (through the API they would take longer than the bench), keeping what checkout and
 * refundSale keep: sale total = Σ line totals, tax per line from the inclusive price, Σ tenders = total + cash
 * rounding, refunds with their share of the rounding, on-hand = Σ movements, stored value split by the balances.
 */
async function seed(url: string, n: number, history: number): Promise<Seeded> {
  const database = openDatabase(url, { logger, max: 2 })
  const db = database.db
  const firstDate = addDays(BUSINESS_DATE, -history)
  const days = history + 1
  const registerCount = Math.max(1, Math.ceil(n / SALES_PER_REGISTER))
  try {
    await migrate(database.pool, logger)
    // --- Through the core: who sells what, where.
    const base = await db.transaction(async (tx) => {
      const { merchant, user } = await createMerchantWithAdmin(tx, { name: 'Bench Retail', timeZone: TIME_ZONE, admin: { email: 'bench@example.com', password: 'bench-password-1' } })
      const actor: Actor = { ...systemActor(merchant.id, 'bench') }
      await updateSettings(tx, merchant.id, { cashRounding: { unit: 10, mode: 'down' } })
      const { store, location, register } = await createStore(tx, actor, { code: STORE_CODE, name: '上海一店' })
      const registers = [register]
      for (let r = 2; r <= registerCount; r++) registers.push(await createRegister(tx, actor, store.id, { code: String(r).padStart(2, '0'), name: `Register ${r}` }))
      const taxes = await ensureDefaultTaxCategories(tx, actor)
      const taxOf = (code: string) => taxes.find((t) => t.code === code)!
      const catalog: { vidx: number; variantId: string; productId: string; sku: string; name: string; taxCategoryId: string; rateBp: number; price: number; cost: number }[] = []
      for (let v = 0; v < PRODUCTS; v++) {
        const tax = taxOf(v % 2 === 0 ? 'standard' : 'reduced')
        const price = 190 + ((v * 7919) % 29_810)
        const sku = `BENCH-${String(v).padStart(4, '0')}`
        const p = await createProduct(tx, actor, { name: `商品 ${v}`, taxCategoryId: tax.id, unit: 'piece', variants: [{ sku, price, cost: Math.floor((price * 55) / 100) }] })
        const variant = p.variants[0]!
        catalog.push({ vidx: v, variantId: variant.id, productId: p.id, sku, name: p.name, taxCategoryId: tax.id, rateBp: tax.rateBp, price, cost: variant.cost })
      }
      const memberIds: string[] = []
      for (let m = 0; m <= MEMBERS; m++) memberIds.push((await registerMember(tx, actor, { phone: `1380000${String(m).padStart(4, '0')}`, storeId: store.id }, new Date(localMs(addDays(firstDate, -30), 10)))).id)
      return { merchantId: merchant.id, cashierId: user.id, actor, storeId: store.id, storeCode: store.code, locationId: location.id, registers, catalog, memberIds }
    })
    const { merchantId, storeId, locationId, actor, registers, catalog, memberIds } = base

    // --- The plan of every seeded day, in unlogged tables dropped at the end. Ids are UUIDv7-shaped (the sale's
    // instant, then a namespace and the row number where v7 has random bits), as time-ordered as the hub's.
    const ex = (q: SQL) => db.execute(q)
    const v7 = (ms: string, ns: string, i: string) => sql.raw(`(lpad(to_hex(${ms}), 12, '0') || '7${ns}' || '8' || lpad(to_hex(${i}), 15, '0'))::uuid`)
    await ex(sql`create unlogged table bench_catalog (vidx int primary key, variant_id uuid, product_id uuid, sku text, name text, tax_category_id uuid, rate_bp int, price bigint, cost bigint)`)
    await ex(sql`
      insert into bench_catalog
      select * from unnest(${sql.param(catalog.map((c) => c.vidx))}::int[], ${sql.param(catalog.map((c) => c.variantId))}::uuid[], ${sql.param(catalog.map((c) => c.productId))}::uuid[],
                           ${sql.param(catalog.map((c) => c.sku))}::text[], ${sql.param(catalog.map((c) => c.name))}::text[], ${sql.param(catalog.map((c) => c.taxCategoryId))}::uuid[],
                           ${sql.param(catalog.map((c) => c.rateBp))}::int[], ${sql.param(catalog.map((c) => c.price))}::bigint[], ${sql.param(catalog.map((c) => c.cost))}::bigint[])`)
    await ex(sql`create unlogged table bench_registers (r int primary key, register_id uuid, code text, session_id uuid)`)
    await ex(sql`insert into bench_registers (r, register_id, code) select * from unnest(${sql.param(registers.map((_, i) => i))}::int[], ${sql.param(registers.map((r) => r.id))}::uuid[], ${sql.param(registers.map((r) => r.code))}::text[])`)
    // Sales: day d, number j of the day, g overall; register j mod R, its sequence j div R + 1.
    await ex(sql`
      create unlogged table bench_sales as
      select d, j, g, ms, (${firstDate}::date + d) as business_date, j % ${raw(registerCount)} as r, j / ${raw(registerCount)} + 1 as seq,
             ${v7('ms', '001', 'g')} as sale_id,
             case when g % 20 < 6 then 'cash' when g % 20 < 12 then 'wechat' when g % 20 < 16 then 'alipay' when g % 20 < 18 then 'card' else 'stored_value' end as pay,
             case when g % 20 >= 18 then ((g / 20) % ${raw(MEMBERS)})::int end as member_idx
        from (select d, j, d::bigint * ${raw(n)} + j as g,
                     ${raw(localMs(firstDate, OPEN_HOUR))}::bigint + d::bigint * ${raw(DAY_MS)} + (j::bigint * ${raw(SPAN_MS)}) / ${raw(n)} as ms
                from generate_series(0, ${raw(days - 1)}) d, generate_series(0, ${raw(n - 1)}) j) x`)
    // Lines: three per sale over the catalog (odd and even products: 13 % and 9 %), 1–3 pieces, a tenth of the sales
    // with 10 % off their first line; tax from the inclusive total, half up, as taxFromInclusive.
    await ex(sql`
      create unlogged table bench_lines as
      select y.*, y.total - round(y.total * 10000.0 / (10000 + y.rate_bp))::bigint as tax
        from (select x.*, x.gross - x.discount as total
                from (select s.d, s.g, s.ms, s.sale_id, k, ${v7('s.ms', '002', `s.g * ${LINES_PER_SALE} + k`)} as line_id,
                             c.variant_id, c.product_id, c.sku, c.name, c.tax_category_id, c.rate_bp, c.price, c.cost,
                             1 + (s.g + k) % 3 as qty, (1 + (s.g + k) % 3) * c.price as gross,
                             case when s.g % 10 = 3 and k = 0 then ((1 + (s.g + k) % 3) * c.price) / 10 else 0 end as discount
                        from bench_sales s cross join generate_series(0, ${raw(LINES_PER_SALE - 1)}) k
                        join bench_catalog c on c.vidx = (s.g * 7 + k * 31) % ${raw(PRODUCTS)}) x) y`)
    await ex(sql`create index on bench_lines (sale_id, k)`)
    await ex(sql`
      create unlogged table bench_totals as
      select s.*, t.gross, t.discount, t.total, t.tax,
             case when s.pay = 'cash' then -(t.total % 10) else 0 end as rounding
        from bench_sales s join (select sale_id, sum(gross)::bigint as gross, sum(discount)::bigint as discount, sum(total)::bigint as total, sum(tax)::bigint as tax
                                   from bench_lines group by 1) t using (sale_id)`)
    await ex(sql`create unique index on bench_totals (sale_id)`)
    // Tenders: cash (rounded down to 0.10, handed over in 100-yuan notes), WeChat, Alipay, card, stored value — every
    // other stored-value sale paying half by WeChat.
    await ex(sql`
      create unlogged table bench_tenders as
      select t.d, t.g, t.ms, t.sale_id, x.seq, x.kind, x.amount,
             case when x.kind = 'cash' then ((x.amount + 9999) / 10000) * 10000 end as received,
             ${v7('t.ms', '003', 't.g * 2 + x.seq')} as tender_id,
             case when x.kind in ('wechat', 'alipay', 'card') then 'TB' || lpad(t.g::text, 12, '0') || x.seq end as payment_no,
             t.member_idx, null::bigint as principal, null::bigint as bonus
        from bench_totals t
        cross join lateral (
          select 0 as seq, t.pay as kind, case when t.pay = 'stored_value' and t.g % 40 = 19 then t.total / 2 else t.total + t.rounding end as amount
          union all
          select 1, 'wechat', t.total - t.total / 2 where t.pay = 'stored_value' and t.g % 40 = 19) x`)
    await ex(sql`create index on bench_tenders (sale_id)`)
    // Refunds: about 2 % of the sales not paid by stored value, their first line in full, back to the tender it was
    // paid with; a cash sale's refund carries its share of the sale's rounding (as refundSale computes it).
    await ex(sql`
      create unlogged table bench_refunds as
      select t.d, t.g, t.business_date, t.r, t.sale_id, t.ms + ${raw(REFUND_AFTER_MS)} as rms,
             ${v7(`t.ms + ${REFUND_AFTER_MS}`, '004', 't.g')} as refund_id, ${v7(`t.ms + ${REFUND_AFTER_MS}`, '005', 't.g')} as refund_line_id,
             ${v7(`t.ms + ${REFUND_AFTER_MS}`, '006', 't.g')} as refund_tender_id,
             l.line_id, l.variant_id, l.qty, l.cost, l.total as amount, l.tax,
             case when t.rounding = 0 then 0 else round(t.rounding::numeric * l.total / t.total)::bigint end as share,
             x.tender_id, x.kind,
             row_number() over (partition by t.d, t.r order by t.ms, t.g) as rseq
        from bench_totals t
        join bench_lines l on l.sale_id = t.sale_id and l.k = 0
        join bench_tenders x on x.sale_id = t.sale_id and x.seq = 0
       where t.g % 47 = 5 and t.pay <> 'stored_value'`)

    // --- Through the core, the day before the first: stock received for what will sell, members' top-ups (a bonus
    // rule reached by each), stored value to spend.
    const eve = new Date(localMs(addDays(firstDate, -1), 18))
    const sold = (await ex(sql`select c.variant_id, c.cost, coalesce(sum(l.qty), 0)::bigint as qty from bench_catalog c left join bench_lines l using (variant_id) group by 1, 2 order by c.variant_id`)).rows as { variant_id: string; cost: number; qty: number }[]
    const needs = (await ex(sql`select member_idx, sum(amount)::bigint as amount from bench_tenders where kind = 'stored_value' group by 1 order by 1`)).rows as { member_idx: number; amount: number }[]
    const topups = needs.map((x) => ({ member: Number(x.member_idx), amount: Number(x.amount) + 10_000 }))
    const threshold = Math.min(...topups.map((t) => t.amount))
    await db.transaction(async (tx) => {
      await applyMovements(tx, actor, sold.map((s) => ({ variantId: s.variant_id, locationId, quantity: Number(s.qty) + 100, kind: 'receipt' as const, causeType: 'receipt' as const, unitCost: Number(s.cost), costPer: 1, occurredAt: eve })), { policy: 'allow' })
      // As POST /topup-bonus-rules writes them: 100 yuan earns 10, and every member's large top-up a fifth more.
      await tx.execute(sql`insert into topup_bonus_rules (id, merchant_id, threshold, bonus) values (${newId()}, ${merchantId}, 10000, 1000), (${newId()}, ${merchantId}, ${threshold}, ${Math.floor(threshold / 5)})`)
      for (const t of topups) await topUp(tx, actor, { memberId: memberIds[t.member]!, registerId: registers[0]!.id, amount: t.amount, tenders: [{ kind: 'wechat', amount: t.amount }] }, eve)
    })
    // Each member's spends in time order, split as spendStoredValue splits them (in proportion to the balances then).
    const balances = new Map<number, { principal: number; bonus: number }>()
    for (const m of (await ex(sql`select id, stored_principal, stored_bonus from members where merchant_id = ${merchantId}`)).rows as { id: string; stored_principal: number; stored_bonus: number }[]) {
      balances.set(memberIds.indexOf(m.id), { principal: Number(m.stored_principal), bonus: Number(m.stored_bonus) })
    }
    const spends = (await ex(sql`select tender_id, member_idx, amount from bench_tenders where kind = 'stored_value' order by ms, g`)).rows as { tender_id: string; member_idx: number; amount: number }[]
    const split = { id: [] as string[], principal: [] as number[], bonus: [] as number[], principalAfter: [] as number[], bonusAfter: [] as number[] }
    for (const s of spends) {
      const b = balances.get(Number(s.member_idx))!
      const part = splitSpend(Number(s.amount), b)
      b.principal -= part.principal
      b.bonus -= part.bonus
      split.id.push(s.tender_id)
      split.principal.push(part.principal)
      split.bonus.push(part.bonus)
      split.principalAfter.push(b.principal)
      split.bonusAfter.push(b.bonus)
    }
    await ex(sql`create unlogged table bench_sv (tender_id uuid primary key, principal bigint, bonus bigint, principal_after bigint, bonus_after bigint)`)
    await ex(sql`insert into bench_sv select * from unnest(${sql.param(split.id)}::uuid[], ${sql.param(split.principal)}::bigint[], ${sql.param(split.bonus)}::bigint[], ${sql.param(split.principalAfter)}::bigint[], ${sql.param(split.bonusAfter)}::bigint[])`)
    await ex(sql`update bench_tenders t set principal = v.principal, bonus = v.bonus from bench_sv v where v.tender_id = t.tender_id`)

    // --- Day by day: the registers' sessions opened (core), the day's rows (SQL), a top-up (core), the drawers
    // counted (core: over/short from the cash ledger).
    const m = sql`${merchantId}::uuid`
    for (let d = 0; d < days; d++) {
      const date = addDays(firstDate, d)
      await db.transaction(async (tx) => {
        for (const [r, reg] of registers.entries()) {
          const s = await openSession(tx, actor, { registerId: reg.id, openingFloat: 50_000, at: new Date(localMs(date, 7, 30)) })
          await tx.execute(sql`update bench_registers set session_id = ${s.id} where r = ${r}`)
        }
      })
      await db.transaction(async (tx) => {
        const run = (q: SQL) => tx.execute(q)
        const prefix = (kind: 'sale' | 'refund') => sql.raw(`'${receiptPrefix(STORE_CODE, '~', date, kind).replace('~', `' || b.code || '`)}'`)
        await run(sql`
          insert into sales (id, merchant_id, store_id, register_id, session_id, receipt_no, business_date, status, currency, tax_inclusive,
                             gross_total, discount_total, tax_total, total, rounding_adjustment, change_given, cashier_id, cashier_type,
                             member_id, occurred_at, created_at)
          select t.sale_id, ${m}, ${storeId}, b.register_id, b.session_id, ${prefix('sale')} || lpad(t.seq::text, greatest(4, length(t.seq::text)), '0'),
                 t.business_date, 'completed', 'CNY', true, t.gross, t.discount, t.tax, t.total, t.rounding,
                 coalesce((select x.received - x.amount from bench_tenders x where x.sale_id = t.sale_id and x.kind = 'cash'), 0),
                 ${base.cashierId}, 'user', (${sql.param(memberIds)}::uuid[])[t.member_idx + 1], to_timestamp(t.ms / 1000.0), to_timestamp(t.ms / 1000.0)
            from bench_totals t join bench_registers b using (r) where t.d = ${d} order by t.ms, t.g`)
        await run(sql`
          insert into sale_lines (id, merchant_id, sale_id, line_no, variant_id, product_id, sku, name, location_id, quantity, unit, unit_price,
                                  price_per, gross, discount_total, net_ex_tax, tax_category_id, tax_rate_bp, tax_amount, total, unit_cost)
          select line_id, ${m}, sale_id, k + 1, variant_id, product_id, sku, name, ${locationId}, qty, 'piece', price, 1, gross, discount,
                 total - tax, tax_category_id, rate_bp, tax, total, cost
            from bench_lines where d = ${d} order by ms, g, k`)
        await run(sql`
          insert into sale_tenders (id, merchant_id, sale_id, kind, amount, received, payment_no, account_ref, stored_principal, stored_bonus)
          select x.tender_id, ${m}, x.sale_id, x.kind, x.amount, x.received, x.payment_no,
                 case when x.kind = 'stored_value' then mb.card_no end, x.principal, x.bonus
            from bench_tenders x left join members mb on mb.id = (${sql.param(memberIds)}::uuid[])[x.member_idx + 1]
           where x.d = ${d} order by x.ms, x.g, x.seq`)
        await run(sql`
          insert into stored_value_ledger (merchant_id, member_id, kind, principal_delta, bonus_delta, principal_after, bonus_after, sale_id, actor_id, created_at, business_date)
          select ${m}, (${sql.param(memberIds)}::uuid[])[x.member_idx + 1], 'spend', -v.principal, -v.bonus, v.principal_after, v.bonus_after, x.sale_id,
                 ${base.cashierId}, to_timestamp(x.ms / 1000.0), t.business_date
            from bench_tenders x join bench_sv v using (tender_id) join bench_totals t using (sale_id) where x.d = ${d} order by x.ms, x.g`)
        await run(sql`
          insert into cash_movements (merchant_id, session_id, kind, amount, sale_id, actor_id, at, business_date)
          select ${m}, b.session_id, 'sale', x.amount, x.sale_id, ${base.cashierId}, to_timestamp(x.ms / 1000.0), t.business_date
            from bench_tenders x join bench_totals t using (sale_id) join bench_registers b using (r)
           where x.d = ${d} and x.kind = 'cash' order by x.ms, x.g`)
        // Refunds, then what they change on the sale: refunded quantity and tender amount.
        await run(sql`
          insert into refunds (id, merchant_id, sale_id, store_id, register_id, session_id, refund_no, business_date, kind, total, tax_total, created_by, occurred_at, created_at)
          select f.refund_id, ${m}, f.sale_id, ${storeId}, b.register_id, b.session_id, ${prefix('refund')} || lpad(f.rseq::text, greatest(4, length(f.rseq::text)), '0'),
                 f.business_date, 'refund', f.amount + f.share, f.tax, ${base.cashierId}, to_timestamp(f.rms / 1000.0), to_timestamp(f.rms / 1000.0)
            from bench_refunds f join bench_registers b using (r) where f.d = ${d} order by f.rms, f.g`)
        await run(sql`
          insert into refund_lines (id, merchant_id, refund_id, sale_line_id, quantity, amount, tax_amount, restock, location_id)
          select refund_line_id, ${m}, refund_id, line_id, qty, amount, tax, true, ${locationId} from bench_refunds where d = ${d} order by rms, g`)
        await run(sql`
          insert into refund_tenders (id, merchant_id, refund_id, sale_tender_id, kind, amount, refund_no)
          select refund_tender_id, ${m}, refund_id, tender_id, kind, amount + share,
                 case when kind in ('wechat', 'alipay', 'card') then 'TR' || lpad(g::text, 12, '0') end
            from bench_refunds where d = ${d} order by rms, g`)
        await run(sql`update sale_lines l set refunded_quantity = f.qty from bench_refunds f where f.d = ${d} and l.id = f.line_id`)
        await run(sql`update sale_tenders t set refunded_amount = f.amount + f.share from bench_refunds f where f.d = ${d} and t.id = f.tender_id`)
        await run(sql`
          insert into cash_movements (merchant_id, session_id, kind, amount, sale_id, refund_id, actor_id, at, business_date)
          select ${m}, b.session_id, 'refund', -(f.amount + f.share), f.sale_id, f.refund_id, ${base.cashierId}, to_timestamp(f.rms / 1000.0), f.business_date
            from bench_refunds f join bench_registers b using (r) where f.d = ${d} and f.kind = 'cash' order by f.rms, f.g`)
        // The stock ledger: a 'sale' movement per line and a 'return' per refunded line, in time order, on-hand after
        // each running from the level's on-hand; then the levels.
        await run(sql`
          insert into stock_movements (merchant_id, variant_id, location_id, kind, quantity, on_hand_after, cause_type, cause_id, unit_cost, cost_per,
                                       actor_type, actor_id, occurred_at)
          select ${m}, x.variant_id, ${locationId}, x.kind, x.quantity, lv.on_hand + sum(x.quantity) over (partition by x.variant_id order by x.ms, x.g, x.k rows unbounded preceding),
                 x.cause_type, x.cause_id, x.cost, 1, 'user', ${base.cashierId}, to_timestamp(x.ms / 1000.0)
            from (select variant_id, 'sale' as kind, -qty as quantity, 'sale_line' as cause_type, line_id::text as cause_id, cost, ms, g, k from bench_lines where d = ${d}
                  union all
                  select variant_id, 'return', qty, 'refund_line', refund_line_id::text, cost, rms, g, 9 from bench_refunds where d = ${d}) x
            join stock_levels lv on lv.location_id = ${locationId} and lv.variant_id = x.variant_id
           order by x.ms, x.g, x.k`)
        await run(sql`
          update stock_levels lv set on_hand = lv.on_hand + x.delta, updated_at = now()
            from (select variant_id, sum(q)::bigint as delta from (select variant_id, -qty as q from bench_lines where d = ${d}
                                                                 union all select variant_id, qty from bench_refunds where d = ${d}) y group by 1) x
           where lv.location_id = ${locationId} and lv.variant_id = x.variant_id`)
        await run(sql`
          insert into receipt_sequences (merchant_id, store_id, register_id, business_date, kind, last_seq)
          select ${m}, ${storeId}, b.register_id, ${date}::date, k.kind, k.last_seq
            from bench_registers b
            join (select r, 'sale' as kind, max(seq) as last_seq from bench_sales where d = ${d} group by r
                  union all select r, 'refund', max(rseq) from bench_refunds where d = ${d} group by r) k using (r)
          on conflict (register_id, business_date, kind) do update set last_seq = excluded.last_seq`)
      })
      await db.transaction(async (tx) => {
        // A walk-in top-up by WeChat at noon, by the one member who never spends here.
        await topUp(tx, actor, { memberId: memberIds[MEMBERS]!, registerId: registers[0]!.id, amount: 100_000, tenders: [{ kind: 'wechat', amount: 100_000 }] }, new Date(localMs(date, 12)))
        const sessions = (await tx.execute(sql`select r, session_id from bench_registers order by r`)).rows as { r: number; session_id: string }[]
        for (const s of sessions) {
          const expected = await expectedCash(tx, s.session_id)
          // Every third drawer 0.50 short, every third 0.20 over.
          const counted = expected + (s.r % 3 === 0 ? -50 : s.r % 3 === 1 ? 20 : 0)
          await closeSession(tx, actor, s.session_id, { countedCash: counted }, new Date(localMs(date, 22, 45)))
        }
      })
    }
    await ex(sql`
      update members mb set stored_principal = l.principal_after, stored_bonus = l.bonus_after, updated_at = now()
        from (select distinct on (member_id) member_id, principal_after, bonus_after from stored_value_ledger where merchant_id = ${merchantId} order by member_id, id desc) l
       where mb.id = l.member_id`)
    for (const t of ['bench_sv', 'bench_refunds', 'bench_tenders', 'bench_totals', 'bench_lines', 'bench_sales', 'bench_registers', 'bench_catalog']) await ex(sql.raw(`drop table ${t}`))
    await ex(sql`vacuum analyze`)
    await checkSeed(db, merchantId)
    return { url, merchantId, storeId, businessDate: BUSINESS_DATE, ...(await expectations(db, merchantId, storeId, BUSINESS_DATE)) }
  } finally {
    await database.close()
  }
}

/** The invariants the seeding must keep, checked on the tables themselves. */
async function checkSeed(db: Tx, merchantId: string): Promise<void> {
  const one = async (what: string, q: SQL) => {
    const n = Number(((await db.execute<{ n: number }>(q)).rows[0] as { n: number }).n)
    if (n !== 0) throw new Error(`seeding broke an invariant: ${n} ${what}`)
  }
  await one('sales whose total is not the sum of their lines', sql`
    select count(*) as n from sales s join (select sale_id, sum(total) as total, sum(tax_amount) as tax from sale_lines group by 1) l on l.sale_id = s.id
     where s.merchant_id = ${merchantId} and (s.total <> l.total or s.tax_total <> l.tax)`)
  await one('sales whose tenders are not total + rounding', sql`
    select count(*) as n from sales s join (select sale_id, sum(amount) as amount from sale_tenders group by 1) t on t.sale_id = s.id
     where s.merchant_id = ${merchantId} and t.amount <> s.total + s.rounding_adjustment`)
  await one('stock levels whose on-hand is not the sum of their movements', sql`
    select count(*) as n from stock_levels l
      left join (select location_id, variant_id, sum(quantity) as total from stock_movements where merchant_id = ${merchantId} group by 1, 2) m using (location_id, variant_id)
     where l.merchant_id = ${merchantId} and l.on_hand <> coalesce(m.total, 0)`)
  await one('members whose stored value is not their ledger', sql`
    select count(*) as n from members mb
      left join (select member_id, sum(principal_delta) as p, sum(bonus_delta) as b from stored_value_ledger group by 1) l on l.member_id = mb.id
     where mb.merchant_id = ${merchantId} and (mb.stored_principal <> coalesce(l.p, 0) or mb.stored_bonus <> coalesce(l.b, 0))`)
  await one('stored-value tenders whose principal and bonus do not add up', sql`
    select count(*) as n from sale_tenders where merchant_id = ${merchantId} and kind = 'stored_value' and stored_principal + stored_bonus <> amount`)
}

/** What the measured day holds, summed without the voucher code: the voucher's lines must come to the same. */
async function expectations(db: Tx, merchantId: string, storeId: string, day: string) {
  const q = async (s: SQL) => Object.fromEntries(Object.entries((await db.execute(s)).rows[0] as Record<string, unknown>).map(([k, v]) => [k, Number(v)]))
  const sales = await q(sql`
    select count(*) as sales, coalesce(sum(total), 0) as sales_total, coalesce(sum(tax_total), 0) as sales_tax, coalesce(sum(rounding_adjustment), 0) as sales_rounding
      from sales where merchant_id = ${merchantId} and store_id = ${storeId} and business_date = ${day} and status = 'completed'`)
  const lines = await q(sql`
    select count(*) as lines from sale_lines l join sales s on s.id = l.sale_id where s.merchant_id = ${merchantId} and s.store_id = ${storeId} and s.business_date = ${day}`)
  const tenders = await q(sql`
    select coalesce(sum(t.amount), 0) as tenders from sale_tenders t join sales s on s.id = t.sale_id
     where s.merchant_id = ${merchantId} and s.store_id = ${storeId} and s.business_date = ${day} and t.status = 'captured'`)
  const refunds = await q(sql`
    select count(distinct r.id) as refunds, coalesce(sum(rl.amount), 0) as refund_lines_total, coalesce(sum(rl.tax_amount), 0) as refund_tax,
           (select coalesce(sum(r2.total), 0) from refunds r2 where r2.merchant_id = ${merchantId} and r2.store_id = ${storeId} and r2.business_date = ${day}) as refunds_total
      from refunds r join refund_lines rl on rl.refund_id = r.id where r.merchant_id = ${merchantId} and r.store_id = ${storeId} and r.business_date = ${day}`)
  const topups = await q(sql`
    select coalesce(sum(principal), 0) as topups from stored_value_topups where merchant_id = ${merchantId} and store_id = ${storeId} and business_date = ${day}`)
  const drawers = await q(sql`
    select coalesce(sum(over_short), 0) as over_short from cash_sessions where merchant_id = ${merchantId} and store_id = ${storeId} and business_date = ${day} and status = 'closed'`)
  const { sales: n, ...rest } = sales
  const { lines: l, ...noLines } = lines
  const { refunds: r, ...refundSums } = refunds
  return { sales: n!, lines: l!, refunds: r!, expected: { ...rest, ...noLines, ...tenders, ...refundSums, ...topups, ...drawers } }
}

interface Measured {
  seconds: number
  preview_seconds: number
  sql_seconds: number
  peak_rss_mb: number
  sampled_peak_rss_mb: number
  baseline_rss_mb: number
  outcome: string
  voucher_lines: number
  total_debit: number
  total_credit: number
  rounding: number
  problems: string[]
  /** Σ (debit − credit) per line kind and per account key. */
  by_kind: Record<string, number>
  by_key: Record<string, number>
  sources_sales: number
  preview_lines: number
  postings: number
}

/**
 * The measured run, in a fresh Node process so that its peak memory is its own (not the seeding's). The voucher is
 * built as the vouchers.build job builds it (one transaction per store and day), then previewed, then dayPostings is
 * run alone; RSS is sampled every 20 ms and the kernel's high-water mark (getrusage maxrss) catches the rest.
 */
async function childRun(spec: Spec): Promise<Measured> {
  let sampled = process.memoryUsage().rss
  const baseline = sampled
  const sampler = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage().rss)
  }, 20)
  const database = openDatabase(spec.url, { logger, max: 2 })
  try {
    const db = database.db
    const day = { merchantId: spec.merchantId, storeId: spec.storeId, businessDate: spec.businessDate }
    await db.execute(sql`select 1`)
    const t0 = performance.now()
    const built = await db.transaction((tx) => buildVoucher(tx, day, new Date()))
    const t1 = performance.now()
    const preview = await db.transaction((tx) => previewVoucher(tx, day))
    const t2 = performance.now()
    const postings = await db.transaction((tx) => dayPostings(tx, { ...day, noStoreTo: null }))
    const t3 = performance.now()
    clearInterval(sampler)
    sampled = Math.max(sampled, process.memoryUsage().rss)
    const maxRss = process.resourceUsage().maxRSS * 1024
    const v = built.voucher!
    const lines = await voucherLinesOf(db, v.id)
    const byKind: Record<string, number> = {}
    const byKey: Record<string, number> = {}
    for (const l of lines) {
      byKind[l.kind] = (byKind[l.kind] ?? 0) + l.debit - l.credit
      byKey[l.accountKey] = (byKey[l.accountKey] ?? 0) + l.debit - l.credit
    }
    const mb = (b: number) => round1(b / 2 ** 20)
    return {
      seconds: Math.round(t1 - t0) / 1000,
      preview_seconds: Math.round(t2 - t1) / 1000,
      sql_seconds: Math.round(t3 - t2) / 1000,
      peak_rss_mb: mb(Math.max(sampled, maxRss)),
      sampled_peak_rss_mb: mb(sampled),
      baseline_rss_mb: mb(baseline),
      outcome: built.outcome,
      voucher_lines: lines.length,
      total_debit: v.totalDebit,
      total_credit: v.totalCredit,
      rounding: v.rounding,
      problems: v.problems.map((p) => p.message),
      by_kind: byKind,
      by_key: byKey,
      sources_sales: postings.sources.sales.length,
      preview_lines: preview.lines.length,
      postings: postings.postings.length,
    }
  } finally {
    clearInterval(sampler)
    await database.close()
  }
}

function measure(spec: Spec): Promise<Measured> {
  const self = fileURLToPath(import.meta.url)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, self, '--child', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`the measured run failed (exit ${code})\n${out}`))
      resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as Measured)
    })
  })
}

/** EXPLAIN (ANALYZE, BUFFERS) of the statement dayPostings sends, caught on its way to the database. */
async function explainDayPostings(spec: Spec): Promise<string> {
  const database = openDatabase(spec.url, { logger, max: 1 })
  try {
    let plan = ''
    await database.db.transaction(async (tx) => {
      const spy = new Proxy(tx, {
        get(target, prop, receiver) {
          if (prop !== 'execute') return Reflect.get(target, prop, receiver)
          return async (q: SQL) => {
            const r = await target.execute(sql`explain (analyze, buffers) ${q}`)
            plan = (r.rows as { 'QUERY PLAN': string }[]).map((x) => x['QUERY PLAN']).join('\n')
            return { rows: [] }
          }
        },
      })
      await dayPostings(spy as Tx, { merchantId: spec.merchantId, storeId: spec.storeId, businessDate: spec.businessDate, noStoreTo: null })
    })
    return plan
  } finally {
    await database.close()
  }
}

/** The voucher against the seeded ledgers: each a [what, voucher, seeded] triple that must agree. */
function agreement(m: Measured, e: Record<string, number>): [string, number, number][] {
  const k = (kind: string) => m.by_kind[kind] ?? 0
  return [
    ['sales revenue + output VAT (credit)', -(k('sale_revenue') + k('sale_vat')), e.sales_total!],
    ['output VAT (credit)', -k('sale_vat'), e.sales_tax!],
    ['refunded revenue + VAT (debit)', k('refund_revenue') + k('refund_vat'), e.refund_lines_total!],
    ['tenders incl. stored value (debit)', k('tender') + k('stored_value_spend'), e.tenders!],
    // Sales' cash rounding, less the share their refunds gave back (refund total − refund lines).
    ['cash rounding of sales and refunds', -k('cash_rounding'), e.sales_rounding! - (e.refunds_total! - e.refund_lines_total!)],
    ['refund tenders (credit)', -k('refund_tender'), e.refunds_total!],
    ['top-ups (credit to stored value)', -k('topup_principal'), e.topups!],
    ['drawers over (+) / short (−)', -((m.by_key['cash:short'] ?? 0) + (m.by_key['cash:over'] ?? 0)), e.over_short!],
  ]
}

if (args.child) {
  const result = await childRun(JSON.parse(args.child) as Spec)
  console.log(JSON.stringify(result))
} else {
  const N = Number(args.sales)
  const HISTORY = Number(args.history)
  if (!Number.isInteger(N) || N < 100) throw new Error('--sales must be a whole number of at least 100')
  if (!Number.isInteger(HISTORY) || HISTORY < 0) throw new Error('--history must be a whole number ≥ 0')
  const db = await benchDatabase({ statements: args.statements })
  try {
    const url = await freshDatabase(db, 'tillbridge_bench_vouchers')
    console.log(`seeding ${N.toLocaleString('en')} sales (${(N * LINES_PER_SALE).toLocaleString('en')} lines) on ${BUSINESS_DATE} in store ${STORE_CODE}${HISTORY ? `, after ${HISTORY} earlier day(s) of the same` : ''}…`)
    let t = performance.now()
    const seeded = await seed(url, N, HISTORY)
    console.log(`  seeded in ${round1((performance.now() - t) / 1000)} s: ${seeded.sales} sales, ${seeded.lines} lines, ${seeded.refunds} refunds; ledgers consistent`)
    if (args.statements) await resetStatements(url)
    const m = await measure(seeded)
    if (args.statements) await topStatements(url)
    console.log(`buildVoucher: ${m.seconds} s (${m.outcome}, ${m.voucher_lines} lines, ${m.sources_sales.toLocaleString('en')} source sales); previewVoucher ${m.preview_seconds} s; dayPostings alone ${m.sql_seconds} s`)
    console.log(`  peak RSS ${m.peak_rss_mb} MB (sampled ${m.sampled_peak_rss_mb} MB, ${m.baseline_rss_mb} MB at start)`)
    console.log(`  debit ${m.total_debit} = credit ${m.total_credit}? ${m.total_debit === m.total_credit}; rounding ${m.rounding}${m.problems.length ? `; problems: ${m.problems.join('; ')}` : ''}`)
    const checks = agreement(m, seeded.expected)
    for (const [what, got, want] of checks) console.log(`  ${got === want ? 'ok   ' : 'WRONG'} ${what}: voucher ${got}, seeded ${want}`)
    const refundRounding = seeded.expected.refunds_total! - seeded.expected.refund_lines_total!
    if (m.rounding !== 0) {
      console.log(`  the ${m.rounding} on the rounding account: the refunds' share of their sales' cash rounding (Σ refunds.total − Σ refund_lines.amount = ${refundRounding}) is not posted`)
    }
    if (args.explain) console.log(`EXPLAIN (ANALYZE, BUFFERS) of dayPostings:\n${await explainDayPostings(seeded)}`)
    const balanced = m.total_debit === m.total_credit && m.rounding === 0 && m.problems.length === 0
    const agrees = checks.every(([, got, want]) => got === want)
    console.log(`${m.seconds < 5 ? 'within' : 'OVER'} the 5 s target`)
    const result = {
      sales: seeded.sales,
      lines: seeded.lines,
      refunds: seeded.refunds,
      history_days: HISTORY,
      seconds: m.seconds,
      preview_seconds: m.preview_seconds,
      sql_seconds: m.sql_seconds,
      peak_rss_mb: m.peak_rss_mb,
      rss_at_start_mb: m.baseline_rss_mb,
      voucher_lines: m.voucher_lines,
      total_debit: m.total_debit,
      rounding: m.rounding,
      balanced,
      matches_seed: agrees,
    }
    console.log(JSON.stringify(result))
    if (!balanced || !agrees) process.exitCode = 1
  } finally {
    await db.close()
  }
}
