// Stores with their stock locations and registers. A new store gets a shop-floor location that its sales take
// stock from, and a first register.
import { and, asc, eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { registers, stockLocations, stores, type LocationKind } from './schema.ts'

export type Store = typeof stores.$inferSelect
export type StockLocation = typeof stockLocations.$inferSelect
export type Register = typeof registers.$inferSelect

const CODE = /^[A-Za-z0-9_-]{1,16}$/

export async function createStore(tx: Tx, actor: Actor, input: { code: string; name: string; address?: string; phone?: string }) {
  if (!CODE.test(input.code)) throw invalid('invalid_store_code', 'store code must be 1–16 letters, digits, - or _')
  const storeId = newId()
  try {
    const [store] = await tx.insert(stores).values({ id: storeId, merchantId: actor.merchantId, code: input.code, name: input.name, address: input.address, phone: input.phone }).returning()
    const [location] = await tx
      .insert(stockLocations)
      .values({ id: newId(), merchantId: actor.merchantId, storeId, name: 'Shop floor', kind: 'floor', isSaleDefault: true })
      .returning()
    const [register] = await tx.insert(registers).values({ id: newId(), merchantId: actor.merchantId, storeId, code: '01', name: 'Register 1' }).returning()
    await recordAudit(tx, actor, { action: 'store.created', entityType: 'store', entityId: storeId, details: { code: input.code, name: input.name } })
    return { store: store!, location: location!, register: register! }
  } catch (e) {
    if (isUniqueViolation(e, 'stores_code_key')) throw conflict('store_code_taken', `a store with code ${input.code} already exists`)
    throw e
  }
}

export async function getStore(tx: Tx, merchantId: string, id: string): Promise<Store> {
  const [s] = await tx.select().from(stores).where(and(eq(stores.merchantId, merchantId), eq(stores.id, id)))
  if (!s) throw notFound('store', id)
  return s
}

/**
 * The store a merchant-level record belongs to when it names none: the merchant's only store, else its only open one;
 * null when the merchant has several (the record is then of no store).
 */
export async function soleStoreOf(tx: Tx, merchantId: string): Promise<string | null> {
  const rows = await tx.select({ id: stores.id, status: stores.status }).from(stores).where(eq(stores.merchantId, merchantId))
  if (rows.length === 1) return rows[0]!.id
  const open = rows.filter((s) => s.status === 'active')
  return open.length === 1 ? open[0]!.id : null
}

export const listStores = (tx: Tx, merchantId: string) => tx.select().from(stores).where(eq(stores.merchantId, merchantId)).orderBy(asc(stores.code))

export async function updateStore(tx: Tx, actor: Actor, id: string, changes: { name?: string; address?: string | null; phone?: string | null; status?: 'active' | 'closed' }) {
  await getStore(tx, actor.merchantId, id)
  const [s] = await tx.update(stores).set({ ...changes, updatedAt: new Date() }).where(eq(stores.id, id)).returning()
  await recordAudit(tx, actor, { action: 'store.updated', entityType: 'store', entityId: id, details: changes })
  return s!
}

export async function createLocation(tx: Tx, actor: Actor, storeId: string, input: { name: string; kind: LocationKind; isSaleDefault?: boolean }) {
  await getStore(tx, actor.merchantId, storeId)
  if (input.isSaleDefault) {
    await tx.update(stockLocations).set({ isSaleDefault: false }).where(and(eq(stockLocations.storeId, storeId), eq(stockLocations.isSaleDefault, true)))
  }
  const [l] = await tx
    .insert(stockLocations)
    .values({ id: newId(), merchantId: actor.merchantId, storeId, name: input.name, kind: input.kind, isSaleDefault: input.isSaleDefault ?? false })
    .returning()
  await recordAudit(tx, actor, { action: 'location.created', entityType: 'stock_location', entityId: l!.id, details: { storeId, name: input.name, kind: input.kind } })
  return l!
}

export const listLocations = (tx: Tx, merchantId: string, storeId?: string) =>
  tx
    .select()
    .from(stockLocations)
    .where(and(eq(stockLocations.merchantId, merchantId), storeId ? eq(stockLocations.storeId, storeId) : undefined))
    .orderBy(asc(stockLocations.createdAt))

export async function getLocation(tx: Tx, merchantId: string, id: string): Promise<StockLocation> {
  const [l] = await tx.select().from(stockLocations).where(and(eq(stockLocations.merchantId, merchantId), eq(stockLocations.id, id)))
  if (!l) throw notFound('stock_location', id)
  return l
}

/** The location a store's sales take stock from. */
export async function saleLocation(tx: Tx, merchantId: string, storeId: string): Promise<StockLocation> {
  const [l] = await tx
    .select()
    .from(stockLocations)
    .where(and(eq(stockLocations.merchantId, merchantId), eq(stockLocations.storeId, storeId), eq(stockLocations.isSaleDefault, true)))
  if (!l) throw invalid('no_sale_location', `store ${storeId} has no stock location for sales`)
  return l
}

export async function createRegister(tx: Tx, actor: Actor, storeId: string, input: { code: string; name: string }) {
  await getStore(tx, actor.merchantId, storeId)
  if (!CODE.test(input.code)) throw invalid('invalid_register_code', 'register code must be 1–16 letters, digits, - or _')
  try {
    const [r] = await tx.insert(registers).values({ id: newId(), merchantId: actor.merchantId, storeId, code: input.code, name: input.name }).returning()
    await recordAudit(tx, actor, { action: 'register.created', entityType: 'register', entityId: r!.id, details: { storeId, code: input.code } })
    return r!
  } catch (e) {
    if (isUniqueViolation(e, 'registers_code_key')) throw conflict('register_code_taken', `register ${input.code} already exists in this store`)
    throw e
  }
}

export const listRegisters = (tx: Tx, merchantId: string, storeId?: string) =>
  tx
    .select()
    .from(registers)
    .where(and(eq(registers.merchantId, merchantId), storeId ? eq(registers.storeId, storeId) : undefined))
    .orderBy(asc(registers.code))

export async function getRegister(tx: Tx, merchantId: string, id: string): Promise<Register> {
  const [r] = await tx.select().from(registers).where(and(eq(registers.merchantId, merchantId), eq(registers.id, id)))
  if (!r) throw notFound('register', id)
  return r
}
