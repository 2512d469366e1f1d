// A new merchant with its first admin, the start of every installation (`tillbridge admin create`).
import type { Tx } from '../../db/client.ts'
import { systemActor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { createUser } from '../staff/users.ts'
import { ensureDefaultTaxCategories } from '../catalog/tax-categories.ts'
import { createMerchant, type MerchantSettings } from './service.ts'

export async function createMerchantWithAdmin(
  tx: Tx,
  input: MerchantSettings & { name: string; admin: { email: string; password: string; name?: string } },
) {
  const merchant = await createMerchant(tx, input)
  const actor = systemActor(merchant.id, 'admin create')
  await recordAudit(tx, actor, { action: 'merchant.created', entityType: 'merchant', entityId: merchant.id, details: { name: merchant.name } })
  const user = await createUser(tx, actor, { email: input.admin.email, password: input.admin.password, name: input.admin.name ?? input.admin.email, role: 'admin' })
  // China's VAT categories (13 %, 9 %, 6 %, 0 %), so that the first product can be created at once; renamed, changed
  // or added to like any other.
  await ensureDefaultTaxCategories(tx, actor)
  return { merchant, user }
}
