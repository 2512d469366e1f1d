// The account mapping: which account (and fixed dimensions) each kind of voucher line posts to. Defaults follow the
// Chinese chart of accounts (企业会计准则); a merchant edits them, and a store may override any key. A key is
// resolved most specific first: the store's `tender:wechat`, the merchant's, then the default; `revenue:<tax code>`
// and `vat:<rate bp>` fall back to `revenue` and `vat`.
import { and, eq, isNull, or, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { getSettings } from '../merchants/settings.ts'
import { stores } from '../stores/schema.ts'
import { voucherAccounts } from './schema.ts'

export interface AccountRef {
  code: string
  name: string
  dimensions: Record<string, string>
}

/** The keys a voucher line can post to, with their default accounts. */
export const DEFAULT_ACCOUNTS: Record<string, { code: string; name: string }> = {
  revenue: { code: '6001', name: '主营业务收入' },
  vat: { code: '2221.01.01', name: '应交税费-应交增值税(销项税额)' },
  'tender:cash': { code: '1001', name: '库存现金' },
  'tender:card': { code: '1122.01', name: '应收账款-银行卡' },
  'tender:wechat': { code: '1012.01', name: '其他货币资金-微信' },
  'tender:alipay': { code: '1012.02', name: '其他货币资金-支付宝' },
  'tender:unionpay_qr': { code: '1012.03', name: '其他货币资金-云闪付' },
  'tender:on_account': { code: '1122.02', name: '应收账款-挂账' },
  'tender:coupon_voucher': { code: '6601.02', name: '销售费用-代金券' },
  'tender:points': { code: '6601.01', name: '销售费用-积分抵现' },
  'stored_value:principal': { code: '2203.01', name: '预收账款-会员储值本金' },
  'stored_value:bonus': { code: '2203.02', name: '预收账款-会员储值赠送' },
  'stored_value:bonus_expense': { code: '6601.03', name: '销售费用-储值赠送' },
  // A member's stored value corrected by hand (a balance lost in an old system, goodwill, a top-up keyed twice):
  // finance settles it from the reasons the drill-down lists.
  'stored_value:adjustment': { code: '6601.04', name: '销售费用-储值调整' },
  fee: { code: '6603.01', name: '财务费用-手续费' },
  'settlement:adjustment': { code: '6603.03', name: '财务费用-渠道结算差异' },
  'cash:short': { code: '6711.01', name: '营业外支出-现金短缺损失' },
  'cash:over': { code: '6301.01', name: '营业外收入-现金溢余收益' },
  // Cash put into or taken out of a drawer without a sale (a float from the safe, a supplier paid from the till): a
  // clearing account finance settles from the reasons the drill-down lists.
  'cash:paid_in': { code: '1221.02', name: '其他应收款-门店现金存取' },
  'cash:paid_out': { code: '1221.02', name: '其他应收款-门店现金存取' },
  cogs: { code: '6401', name: '主营业务成本' },
  inventory: { code: '1405', name: '库存商品' },
  // A returned item written off (not put back in stock): its cost leaves the cost of sales as a stock loss.
  'stock:write_off': { code: '6711.02', name: '营业外支出-存货报废损失' },
  rounding: { code: '6603.02', name: '财务费用-尾差' },
}

/** A key a merchant may set: a default key, or a more specific revenue/vat key. */
export function isMappableKey(key: string): boolean {
  return Object.hasOwn(DEFAULT_ACCOUNTS, key) || /^revenue:[A-Za-z0-9_.-]{1,40}$/.test(key) || /^vat:\d{1,5}$/.test(key) || /^tender:[a-z_]{1,30}$/.test(key)
}

const fallbacks = (key: string): string[] => {
  const m = /^(revenue|vat):/.exec(key)
  return m ? [key, m[1]!] : [key]
}

export type Mapping = Map<string, AccountRef & { source: 'default' | 'merchant' | 'store' }>

/**
 * The mapping in force for a store (or the merchant when storeId is null): store overrides, merchant, and the
 * defaults unless the merchant turned them off (settings.vouchers.useDefaultAccounts).
 */
export async function loadMapping(tx: Tx, merchantId: string, storeId: string | null): Promise<Mapping> {
  const { vouchers: settings } = await getSettings(tx, merchantId)
  const rows = await tx
    .select()
    .from(voucherAccounts)
    .where(and(eq(voucherAccounts.merchantId, merchantId), storeId ? or(isNull(voucherAccounts.storeId), eq(voucherAccounts.storeId, storeId)) : isNull(voucherAccounts.storeId)))
  const out: Mapping = new Map()
  if (settings.useDefaultAccounts) for (const [key, a] of Object.entries(DEFAULT_ACCOUNTS)) out.set(key, { ...a, dimensions: {}, source: 'default' })
  for (const r of rows.filter((r) => r.storeId === null)) out.set(r.key, { code: r.code, name: r.name, dimensions: r.dimensions, source: 'merchant' })
  for (const r of rows.filter((r) => r.storeId !== null)) out.set(r.key, { code: r.code, name: r.name, dimensions: r.dimensions, source: 'store' })
  return out
}

export function resolveAccount(mapping: Mapping, key: string): (AccountRef & { key: string }) | null {
  for (const k of fallbacks(key)) {
    const a = mapping.get(k)
    if (a) return { key: k, code: a.code, name: a.name, dimensions: a.dimensions }
  }
  return null
}

export interface AccountInput {
  key: string
  code: string
  name: string
  dimensions?: Record<string, string>
}

const CODE = /^[0-9A-Za-z][0-9A-Za-z._-]{0,39}$/

/** Sets accounts of the merchant (storeId null) or a store's overrides; `code: null` removes one (the default applies again). */
export async function setAccounts(tx: Tx, merchantId: string, storeId: string | null, input: (Omit<AccountInput, 'code'> & { code: string | null })[], at: Date): Promise<void> {
  if (storeId) {
    const [s] = await tx.select({ id: stores.id }).from(stores).where(and(eq(stores.id, storeId), eq(stores.merchantId, merchantId)))
    if (!s) throw notFound('store', storeId)
  }
  for (const a of input) {
    if (!isMappableKey(a.key)) throw invalid('unknown_account_key', `"${a.key}" is not a voucher line key (see GET /api/v1/vouchers/mappings for the keys)`, { key: a.key })
    if (a.code !== null && !CODE.test(a.code)) throw invalid('invalid_account_code', `account code "${a.code}" for ${a.key}: letters, digits, dots, dashes (e.g. 1012.01)`, { key: a.key })
    for (const [k, v] of Object.entries(a.dimensions ?? {})) {
      if (!['department', 'customer', 'supplier', 'employee', 'project'].includes(k) || typeof v !== 'string' || v.length === 0 || v.length > 60) {
        throw invalid('invalid_dimension', `dimension ${k} of ${a.key}: one of department, customer, supplier, employee, project with a code of 1–60 characters`, { key: a.key })
      }
    }
  }
  for (const a of input) {
    const where = and(eq(voucherAccounts.merchantId, merchantId), storeId ? eq(voucherAccounts.storeId, storeId) : isNull(voucherAccounts.storeId), eq(voucherAccounts.key, a.key))
    await tx.delete(voucherAccounts).where(where)
    if (a.code !== null) {
      await tx.insert(voucherAccounts).values({ id: newId(), merchantId, storeId, key: a.key, code: a.code, name: a.name, dimensions: a.dimensions ?? {}, updatedAt: at })
    }
  }
}

export interface MappingCheck {
  ok: boolean
  /** Keys used by the merchant's recent activity that resolve to no account. */
  missing: { key: string; storeId: string | null; message: string }[]
  /** Keys used that still post to a default account (worth confirming against the merchant's own chart). */
  defaults: { key: string; code: string; name: string }[]
  /** Stores without a code for the store dimension. */
  stores: { storeId: string; code: string }[]
}

/** The line keys the merchant's last `days` of activity need, and whether each resolves (per store). */
export async function checkMapping(tx: Tx, merchantId: string, since: string): Promise<MappingCheck> {
  const { rows } = await tx.execute<{ store_id: string; key: string }>(sql`
    select distinct s.store_id, 'tender:' || t.kind as key
      from sales s join sale_tenders t on t.sale_id = s.id
     where s.merchant_id = ${merchantId} and s.business_date >= ${since} and t.kind <> 'stored_value'
    union
    select distinct s.store_id, 'revenue:' || tc.code from sales s join sale_lines l on l.sale_id = s.id join tax_categories tc on tc.id = l.tax_category_id
     where s.merchant_id = ${merchantId} and s.business_date >= ${since}
    union
    select distinct s.store_id, 'vat:' || l.tax_rate_bp from sales s join sale_lines l on l.sale_id = s.id
     where s.merchant_id = ${merchantId} and s.business_date >= ${since} and l.tax_amount <> 0
    union
    select distinct u.store_id, 'tender:' || t.kind from stored_value_topups u join topup_tenders t on t.topup_id = u.id
     where u.merchant_id = ${merchantId} and u.business_date >= ${since}
    union
    select distinct c.store_id, k.key from cash_movements m join cash_sessions c on c.id = m.session_id
     cross join lateral (values ('tender:cash'), ('cash:' || m.kind)) as k(key)
     where m.merchant_id = ${merchantId} and m.kind in ('paid_in', 'paid_out') and m.business_date >= ${since}
    union
    select distinct v.store_id, 'stored_value:adjustment' from stored_value_ledger v
     where v.merchant_id = ${merchantId} and v.kind = 'adjust' and v.store_id is not null and v.business_date >= ${since}`)
  const base = ['stored_value:principal', 'stored_value:bonus', 'stored_value:bonus_expense', 'stored_value:adjustment', 'fee', 'cash:short', 'cash:over', 'cogs', 'inventory', 'stock:write_off', 'rounding', 'settlement:adjustment']
  const storeIds = [...new Set(rows.map((r) => r.store_id))]
  const missing: MappingCheck['missing'] = []
  const defaults = new Map<string, { key: string; code: string; name: string }>()
  for (const storeId of storeIds) {
    const mapping = await loadMapping(tx, merchantId, storeId)
    const keys = [...new Set([...rows.filter((r) => r.store_id === storeId).map((r) => r.key), ...base])]
    for (const key of keys.sort()) {
      const a = resolveAccount(mapping, key)
      if (!a) missing.push({ key, storeId, message: `no account for ${key}: map it (PUT /api/v1/vouchers/mappings)` })
      else if (mapping.get(a.key)?.source === 'default') defaults.set(a.key, { key: a.key, code: a.code, name: a.name })
    }
  }
  const storeRows = await tx.select({ id: stores.id, code: stores.code }).from(stores).where(eq(stores.merchantId, merchantId))
  return { ok: missing.length === 0, missing, defaults: [...defaults.values()], stores: storeRows.map((s) => ({ storeId: s.id, code: s.code })) }
}
