// API keys let machines (integrations, the in-store bridge) call the hub. The key is shown once; only its hash is kept.
import { and, desc, eq, isNull } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { randomToken, sha256Hex } from '../../lib/secrets.ts'
import type { Actor } from './actor.ts'
import { recordAudit } from './audit.ts'
import { API_KEY_PREFIX } from './auth.ts'
import type { Role } from './permissions.ts'
import { apiKeys } from './schema.ts'
import { assertRoleWithinGrants } from './matrix.ts'

export type ApiKeyRow = typeof apiKeys.$inferSelect
export type PublicApiKey = Omit<ApiKeyRow, 'tokenHash'>

export const toPublicApiKey = ({ tokenHash: _t, ...rest }: ApiKeyRow): PublicApiKey => rest

/** A key for one store's bridge: it opens that store's device link and is refused everywhere else. */
export async function createApiKey(tx: Tx, actor: Actor, input: { name: string; role: Role; expiresAt?: Date; storeId?: string }, now = new Date()) {
  if (input.expiresAt && input.expiresAt <= now) throw invalid('invalid_expiry', 'expiresAt is in the past: the key could never be used', { expiresAt: input.expiresAt.toISOString() })
  const approverId = await assertRoleWithinGrants(tx, actor, input.role)
  const token = randomToken(API_KEY_PREFIX)
  const [row] = await tx
    .insert(apiKeys)
    .values({
      id: newId(),
      merchantId: actor.merchantId,
      name: input.name.trim(),
      role: input.role,
      prefix: token.slice(0, 12),
      tokenHash: sha256Hex(token),
      storeId: input.storeId ?? null,
      createdBy: actor.id,
      expiresAt: input.expiresAt ?? null,
    })
    .returning()
  await recordAudit(tx, actor, { action: 'api_key.created', entityType: 'api_key', entityId: row!.id, approverId, details: { name: row!.name, role: row!.role, storeId: row!.storeId } })
  return { key: token, apiKey: row! }
}

export async function listApiKeys(tx: Tx, merchantId: string, opts: { includeRevoked?: boolean } = {}) {
  return tx
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.merchantId, merchantId), opts.includeRevoked ? undefined : isNull(apiKeys.revokedAt)))
    .orderBy(desc(apiKeys.createdAt))
}

export async function revokeApiKey(tx: Tx, actor: Actor, id: string): Promise<ApiKeyRow> {
  // Nobody acts on a key above their own grants (as on a person): a manager cannot cut off an admin's integration.
  const [held] = await tx.select({ role: apiKeys.role }).from(apiKeys).where(and(eq(apiKeys.merchantId, actor.merchantId), eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
  if (!held) throw notFound('api_key', id)
  const approverId = await assertRoleWithinGrants(tx, actor, held.role)
  const [row] = await tx
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.merchantId, actor.merchantId), eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning()
  if (!row) throw notFound('api_key', id)
  await recordAudit(tx, actor, { action: 'api_key.revoked', entityType: 'api_key', entityId: id, approverId, details: { name: row.name } })
  return row
}
