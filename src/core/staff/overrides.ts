// Manager override: a request carries a second person's credentials (a manager's till PIN, or their session token
// or API key), and what that person may do also counts for the request. Core asks actorCan/discountLimit, which
// name the approver whenever only the approver's grants allowed something, so the audit log shows both people.
//
// Approver PINs are guessed from a signed-in session, not at a register, so their failures are throttled per
// caller (the caller's id is the throttle key), with the same policy as PIN sign-in. An email and password are
// deliberately not accepted as approver credentials: headers end up in proxy and browser logs, and the PIN (or a
// token the manager already holds) does the job without exposing a password.
import type { Tx } from '../../db/client.ts'
import { badRequest, forbidden, unauthorized } from '../../lib/errors.ts'
import type { SecretBox } from '../../lib/secrets.ts'
import type { Approver, Grants } from './actor.ts'
import { recordAudit } from './audit.ts'
import { authenticate, type Principal } from './auth.ts'
import { loadGrants } from './matrix.ts'
import { countPinFailure, findUserByPin, pinLocked, pinLockedUntil, type PinPolicy } from './pins.ts'
import type { Role } from './permissions.ts'

export interface ApproverCredentials {
  /** A manager's till PIN (X-Approver-Pin). */
  pin?: string
  /** A manager's session token or API key (X-Approver-Token). */
  token?: string
}

const badApprover = () => unauthorized('invalid_approver', 'the approver PIN or token is not valid for this merchant')

/**
 * Resolves the approver a request names, with the grants of their role in the merchant; undefined when it names
 * none. A wrong PIN or token is 401 (429 once the caller is locked out of approver PINs); an approver who is the
 * caller is refused (403): an override takes two people.
 */
export async function resolveApprover(db: Tx, secrets: SecretBox, caller: Principal, creds: ApproverCredentials, policy: PinPolicy, now: Date): Promise<Approver | undefined> {
  if (creds.pin === undefined && creds.token === undefined) return undefined
  if (creds.pin !== undefined && creds.token !== undefined) throw badRequest('one_approver', 'send either X-Approver-Pin or X-Approver-Token, not both')
  let approver: { id: string; name: string; role: Role; grants?: Grants }
  if (creds.token !== undefined) {
    // The token's check reads the approver's grants too.
    const p = await authenticate(db, creds.token, now)
    // A store's bridge key opens its bridge link and nothing else: it approves nothing either.
    if (!p || p.merchantId !== caller.merchantId || p.storeId) throw badApprover()
    approver = { id: p.id, name: p.name, role: p.role, grants: p.grants }
  } else {
    const key = caller.id
    const locked = await pinLockedUntil(db, key, now)
    if (locked) throw pinLocked(locked, now)
    const user = await findUserByPin(db, secrets, caller.merchantId, creds.pin!)
    if (!user) {
      const t = await countPinFailure(db, key, caller.merchantId, now, policy)
      await recordAudit(db, caller, { action: 'auth.approver_pin_failed', entityType: caller.type, entityId: caller.id, details: { failures: t.failures, locked: t.lockedUntil !== null } })
      if (t.lockedUntil) throw pinLocked(t.lockedUntil, now)
      throw badApprover()
    }
    approver = { id: user.id, name: user.email, role: user.role as Role }
  }
  if (approver.id === caller.id) throw forbidden('self_approval', 'an override needs a second person: the approver is the caller')
  return { ...approver, grants: approver.grants ?? (await loadGrants(db, caller.merchantId, approver.role)) }
}
