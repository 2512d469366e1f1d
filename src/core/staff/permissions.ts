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
  'reports.read': 'Read sales and session reports',
} as const
export type Permission = keyof typeof PERMISSIONS

/** Who may call a route: a permission from the matrix, any signed-in caller, or anyone. */
export type Access = Permission | 'authenticated' | 'public'

const ALL = Object.keys(PERMISSIONS) as Permission[]

const CASHIER: Permission[] = ['catalog.read', 'sales.create', 'sales.read', 'sales.discount', 'stock.count', 'cash.session']
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
]

export const DEFAULT_ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  cashier: CASHIER,
  manager: MANAGER,
  finance: ['catalog.read', 'sales.read', 'reports.read', 'audit.read', 'events.read'],
  admin: ALL,
}

/** The largest manual line discount each role may give, in basis points of the line (1000 = 10 %). */
export const DEFAULT_DISCOUNT_LIMIT_BP: Record<Role, number> = { cashier: 1000, manager: 5000, finance: 0, admin: 10_000 }

export function roleAllows(role: Role, permission: Permission): boolean {
  return DEFAULT_ROLE_PERMISSIONS[role].includes(permission)
}

export const isRole = (v: string): v is Role => (ROLES as readonly string[]).includes(v)
