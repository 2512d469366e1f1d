// A merchant with a store open for sales, its admin's API and one member: the start of a member checkout test.
import type { TestHub } from './db.ts'
import { createApi, seedMerchant } from './api.ts'
import { seedStore } from './pos.ts'

let phones = 0
/** A mainland mobile number starting with `prefix` (four digits), unique to this process and call. */
export const uniquePhone = (prefix: string) => `${prefix}${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

/** `prefix`: the first four digits of the member's mainland mobile number (the rest is unique to this process). */
export async function memberShop(hub: TestHub, prefix: string) {
  const m = await seedMerchant(hub)
  const store = await seedStore(hub, m.merchantId)
  const admin = createApi(hub).as(m.adminToken)
  const created = await admin.post('/api/v1/members', { phone: uniquePhone(prefix) })
  if (created.status !== 201) throw new Error(`member not created: ${JSON.stringify(created.body)}`)
  return { m, store, admin, member: created.body }
}
