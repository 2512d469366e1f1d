// Roles and what each may do. Every API route declares one permission (or 'authenticated'/'public'), and the
// check is made against this matrix before the route runs.

export const ROLES = ['cashier', 'manager', 'finance', 'admin'] as const
export type Role = (typeof ROLES)[number]

export const PERMISSIONS = {
  'merchant.manage': 'Change the merchant settings (name, currency, time zone, locale)',
  'staff.manage': 'Create, change and disable staff users',
  'apiKeys.manage': 'Create and revoke API keys',
  'audit.read': 'Read the audit log',
} as const
export type Permission = keyof typeof PERMISSIONS

/** Who may call a route: a permission from the matrix, any signed-in caller, or anyone. */
export type Access = Permission | 'authenticated' | 'public'

const ALL = Object.keys(PERMISSIONS) as Permission[]

export const DEFAULT_ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  cashier: [],
  manager: [],
  finance: ['audit.read'],
  admin: ALL,
}

export function roleAllows(role: Role, permission: Permission): boolean {
  return DEFAULT_ROLE_PERMISSIONS[role].includes(permission)
}

export const isRole = (v: string): v is Role => (ROLES as readonly string[]).includes(v)
