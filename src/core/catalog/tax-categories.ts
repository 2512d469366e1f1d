// VAT categories of a merchant (e.g. standard 13 %, food 9 %, services 6 %, exempt 0 %).
import { and, asc, eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { taxCategories } from './schema.ts'

export type TaxCategory = typeof taxCategories.$inferSelect

/** China's VAT rates for goods and services, created for a merchant that has none yet. */
export const DEFAULT_TAX_CATEGORIES = [
  { code: 'standard', name: '13% VAT', rateBp: 1300 },
  { code: 'reduced', name: '9% VAT', rateBp: 900 },
  { code: 'services', name: '6% VAT', rateBp: 600 },
  { code: 'exempt', name: '0% VAT', rateBp: 0 },
] as const

export async function createTaxCategory(tx: Tx, actor: Actor, input: { code: string; name: string; rateBp: number }): Promise<TaxCategory> {
  if (!Number.isInteger(input.rateBp) || input.rateBp < 0 || input.rateBp > 10_000) throw invalid('invalid_tax_rate', 'tax rate must be 0–10000 basis points')
  try {
    const [row] = await tx.insert(taxCategories).values({ id: newId(), merchantId: actor.merchantId, ...input }).returning()
    await recordAudit(tx, actor, { action: 'tax_category.created', entityType: 'tax_category', entityId: row!.id, details: input })
    return row!
  } catch (e) {
    if (isUniqueViolation(e, 'tax_categories_code_key')) throw conflict('tax_category_code_taken', `tax category ${input.code} already exists`)
    throw e
  }
}

export async function ensureDefaultTaxCategories(tx: Tx, actor: Actor): Promise<TaxCategory[]> {
  const existing = await listTaxCategories(tx, actor.merchantId)
  if (existing.length > 0) return existing
  for (const t of DEFAULT_TAX_CATEGORIES) await createTaxCategory(tx, actor, t)
  return listTaxCategories(tx, actor.merchantId)
}

export const listTaxCategories = (tx: Tx, merchantId: string) => tx.select().from(taxCategories).where(eq(taxCategories.merchantId, merchantId)).orderBy(asc(taxCategories.code))

export async function getTaxCategory(tx: Tx, merchantId: string, id: string): Promise<TaxCategory> {
  const [row] = await tx.select().from(taxCategories).where(and(eq(taxCategories.merchantId, merchantId), eq(taxCategories.id, id)))
  if (!row) throw notFound('tax_category', id)
  return row
}

export async function findTaxCategoryByCode(tx: Tx, merchantId: string, code: string): Promise<TaxCategory | undefined> {
  const [row] = await tx.select().from(taxCategories).where(and(eq(taxCategories.merchantId, merchantId), eq(taxCategories.code, code)))
  return row
}

export async function updateTaxCategory(tx: Tx, actor: Actor, id: string, changes: { name?: string; rateBp?: number }): Promise<TaxCategory> {
  const before = await getTaxCategory(tx, actor.merchantId, id)
  if (changes.rateBp !== undefined && (!Number.isInteger(changes.rateBp) || changes.rateBp < 0 || changes.rateBp > 10_000)) {
    throw invalid('invalid_tax_rate', 'tax rate must be 0–10000 basis points')
  }
  const [row] = await tx.update(taxCategories).set({ ...changes, updatedAt: new Date() }).where(eq(taxCategories.id, id)).returning()
  await recordAudit(tx, actor, { action: 'tax_category.updated', entityType: 'tax_category', entityId: id, details: { before: { name: before.name, rateBp: before.rateBp }, after: changes } })
  return row!
}
