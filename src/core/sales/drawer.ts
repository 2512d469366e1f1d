// Opening the cash drawer without a sale: a sensitive action (cash can leave unseen), so it needs 'drawer.open'
// (or a manager's override) and is audited. The hub only records the request as an event; driving the drawer
// itself is the in-store device bridge's job.
import type { Tx } from '../../db/client.ts'
import { forbidden, invalid } from '../../lib/errors.ts'
import { recordEvent } from '../events/service.ts'
import { actorCan, type Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { getRegister } from '../stores/service.ts'

export async function openDrawer(tx: Tx, actor: Actor, registerId: string, input: { reason: string }, at = new Date()) {
  const access = actorCan(actor, 'drawer.open')
  if (!access.ok) throw forbidden('permission_denied', `role ${actor.role} may not open the drawer without a sale`, { permission: 'drawer.open' })
  const reason = input.reason.trim()
  if (!reason) throw invalid('reason_required', 'say why the drawer is opened without a sale')
  const register = await getRegister(tx, actor.merchantId, registerId)
  if (!register.active) throw invalid('register_inactive', `register ${register.code} is not active`)
  const approverId = access.approverId ?? actor.approvedBy ?? null
  await recordAudit(tx, actor, { action: 'drawer.opened_without_sale', entityType: 'register', entityId: register.id, approverId, details: { registerCode: register.code, reason } })
  await requestDrawer(tx, actor, register, { reason, approverId, at })
  return { registerId: register.id, reason, requestedAt: at, approverId }
}

/**
 * The drawer.open_requested event: the device trigger turns it into a kick of the register's drawer (valid for a few
 * seconds). For opening without a sale and for cash paid in or out, which go through the drawer without a sale.
 */
export async function requestDrawer(tx: Tx, actor: Actor, register: { id: string; code: string }, input: { reason: string; approverId: string | null; at: Date }) {
  await recordEvent(tx, actor.merchantId, {
    type: 'drawer.open_requested',
    entityType: 'register',
    entityId: register.id,
    data: { registerId: register.id, registerCode: register.code, reason: input.reason, requestedBy: actor.id, approverId: input.approverId, at: input.at.toISOString() },
  })
}
