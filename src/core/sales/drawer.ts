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
  await recordEvent(tx, actor.merchantId, {
    type: 'drawer.open_requested',
    entityType: 'register',
    entityId: register.id,
    data: { registerId: register.id, registerCode: register.code, reason, requestedBy: actor.id, approverId, at: at.toISOString() },
  })
  return { registerId: register.id, reason, requestedAt: at, approverId }
}
