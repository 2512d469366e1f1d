// Roles and what each may do. Every API route declares one permission (or 'authenticated'/'public'), and the
// check is made against this matrix before the route runs.

export const ROLES = ['cashier', 'manager', 'finance', 'admin'] as const
export type Role = (typeof ROLES)[number]

export const PERMISSIONS = {
  'merchant.manage': 'Change the merchant settings (name, currency, time zone, locale, business rules)',
  'staff.manage': 'Create, change and disable staff users',
  'apiKeys.manage': 'Create and revoke API keys',
  'audit.read': 'Read the audit log',
  'events.read': 'Read the event feed',
  'stores.manage': 'Create and change stores, stock locations and registers',
  'catalog.read': 'Look up products, prices and stock levels',
  'catalog.manage': 'Create, change, import and export products, categories and tax categories',
  'promotions.manage': 'Create and change promotions',
  'stock.receive': 'Receive goods into stock',
  'stock.adjust': 'Adjust stock with a reason, set low-stock thresholds, hold and release reservations',
  'stock.count': 'Open stock counts and enter counted quantities',
  'stock.count.post': 'Post a stock count as adjustments',
  'stock.transfer': 'Send and receive stock transfers between locations',
  'sales.create': 'Ring up sales and quotes at the till',
  'sales.read': 'Look up sales and refunds',
  'sales.discount': 'Give a manual line discount, up to the role limit',
  'sales.price_override': 'Override a catalog price at the till',
  'sales.refund': 'Refund or return items of a sale',
  'sales.refund_cash': 'Refund in cash instead of the original tenders',
  'sales.void': 'Void a whole sale on its business day',
  'cash.session': 'Open and close a cash session on a register',
  'cash.paid_in_out': 'Put cash into or take cash out of a drawer without a sale',
  'reports.read': 'Read sales, product, staff, member and session reports',
  'finance.export': 'Export finance data (vouchers, reconciliation, report files)',
  'connections.manage': 'Create and change connections to third parties',
  'drawer.open': 'Open the cash drawer without a sale',
  'members.read': 'Look up members, their points, stored value and coupons',
  'members.manage': 'Register, change and merge members; record consent',
  'stored_value.topup': 'Top up a member’s stored value',
  'stored_value.adjust': 'Correct stored value or refund a top-up',
  'points.adjust': 'Add or take away points by hand',
  'loyalty.manage': 'Set up tiers, points rules, top-up bonuses, coupon templates and birthday gifts',
  'coupons.issue': 'Issue and void coupons',
  'roles.manage': 'Change what each role may do',
  'approvals.decide': 'Approve or reject actions held for approval',
  'timeclock.manage': 'Correct others’ time clock entries: add one they missed, void one that should not count',
  'connections.read': 'See connections, their call logs, sync runs, bindings and received webhooks',
  'webhooks.manage': 'Subscribe URLs to hub events; replay received webhooks and outbound deliveries',
  'jobs.manage': 'See, retry and cancel background jobs',
  'campaigns.manage': 'Define segments and campaigns, and send them to members',
  'devices.use': 'See the store’s devices and jobs; print, reprint, show on the display, weigh, take card payments on a terminal',
  'devices.manage': 'Register and change devices; create bridge keys; settle device jobs whose outcome is unknown',
} as const
export type Permission = keyof typeof PERMISSIONS

/** Who may call a route: a permission from the matrix, any of several, any signed-in caller, or anyone. */
export type Access = Permission | readonly Permission[] | 'authenticated' | 'public'

const ALL = Object.keys(PERMISSIONS) as Permission[]

const CASHIER: Permission[] = ['catalog.read', 'sales.create', 'sales.read', 'sales.discount', 'stock.count', 'cash.session', 'members.read', 'members.manage', 'stored_value.topup', 'devices.use']
const MANAGER: Permission[] = [
  ...CASHIER,
  'catalog.manage',
  'promotions.manage',
  'stock.receive',
  'stock.adjust',
  'stock.count.post',
  'stock.transfer',
  'sales.price_override',
  'sales.refund',
  'sales.refund_cash',
  'sales.void',
  'cash.paid_in_out',
  'reports.read',
  'drawer.open',
  'stored_value.adjust',
  'points.adjust',
  'coupons.issue',
  'approvals.decide',
  'timeclock.manage',
  'campaigns.manage',
  'devices.manage',
]

export const DEFAULT_ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  cashier: CASHIER,
  manager: MANAGER,
  finance: ['catalog.read', 'sales.read', 'reports.read', 'audit.read', 'events.read', 'finance.export', 'members.read', 'connections.read'],
  admin: ALL,
}

/** The largest manual line discount each role may give, in basis points of the line (1000 = 10 %). */
export const DEFAULT_DISCOUNT_LIMIT_BP: Record<Role, number> = { cashier: 1000, manager: 5000, finance: 0, admin: 10_000 }


export const isRole = (v: string): v is Role => (ROLES as readonly string[]).includes(v)
