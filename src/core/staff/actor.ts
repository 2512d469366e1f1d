// Who is acting: a signed-in staff user, a machine API key, or the hub itself (jobs). Core operations take one
// so the audit log can name them.
import type { Role } from './permissions.ts'

export interface Actor {
  type: 'user' | 'api_key' | 'system'
  id: string | null
  name: string
  merchantId: string
  role: Role
  /** The request that carried the action, for tracing it through logs. */
  requestId?: string
}

export const systemActor = (merchantId: string, name = 'system'): Actor => ({ type: 'system', id: null, name, merchantId, role: 'admin' })
