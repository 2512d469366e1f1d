// A merchant's business rules. Stored as JSON on the merchant and always read through this schema, so every rule
// has a documented default.
import { z } from 'zod'
import { eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { notFound } from '../../lib/errors.ts'
import { merchants } from './schema.ts'

export const ScaleBarcodeSchema = z.object({
  /** EAN-13 prefixes of in-store scale labels (the 2x range is reserved for internal use by GS1). */
  prefixes: z.array(z.string().regex(/^\d{2}$/)).min(1),
  /** Digits of the item code (PLU) after the prefix; the rest before the check digit carries the value. */
  pluDigits: z.number().int().min(4).max(6),
  /** Whether the value is the weight in grams or the price in minor units. */
  valueKind: z.enum(['weight', 'price']),
})

export const MerchantSettingsSchema = z.object({
  /** Catalog prices include VAT (usual in China) or exclude it. */
  taxInclusive: z.boolean().default(true),
  /**
   * 'per_line': each line's tax is rounded on its own (half up). 'per_order_rate_bucket': tax is rounded once per
   * rate over the whole sale and spread back to lines by largest remainder. Either way Σ line taxes = sale tax.
   */
  taxRounding: z.enum(['per_line', 'per_order_rate_bucket']).default('per_line'),
  /** 'block': a sale may never take on-hand below zero or into reserved stock; 'allow': it may, with an alert. */
  negativeStock: z.enum(['block', 'allow']).default('block'),
  /** Cash rounding (抹零) of the amount due when cash is tendered: to a multiple of `unit` minor units. */
  cashRounding: z
    .object({ unit: z.union([z.literal(1), z.literal(5), z.literal(10), z.literal(50), z.literal(100)]), mode: z.enum(['half_up', 'down']) })
    .default({ unit: 1, mode: 'half_up' }),
  scaleBarcode: ScaleBarcodeSchema.default({ prefixes: ['20', '21', '22', '23', '24', '25', '26', '27', '28', '29'], pluDigits: 5, valueKind: 'weight' }),
  /** Days after which an unpaid reservation of an online order is released. */
  reservationHoldDays: z.number().int().min(1).max(60).default(7),
})

export type MerchantSettings = z.infer<typeof MerchantSettingsSchema>

export const parseSettings = (raw: unknown): MerchantSettings => MerchantSettingsSchema.parse(raw ?? {})

export async function getSettings(tx: Tx, merchantId: string): Promise<MerchantSettings & { currency: string; timeZone: string }> {
  const [m] = await tx.select({ settings: merchants.settings, currency: merchants.currency, timeZone: merchants.timeZone }).from(merchants).where(eq(merchants.id, merchantId))
  if (!m) throw notFound('merchant', merchantId)
  return { ...parseSettings(m.settings), currency: m.currency, timeZone: m.timeZone }
}

export async function updateSettings(tx: Tx, merchantId: string, patch: Partial<MerchantSettings>): Promise<{ before: MerchantSettings; after: MerchantSettings }> {
  const [m] = await tx.select({ settings: merchants.settings }).from(merchants).where(eq(merchants.id, merchantId)).for('update')
  if (!m) throw notFound('merchant', merchantId)
  const before = parseSettings(m.settings)
  const after = MerchantSettingsSchema.parse({ ...before, ...patch })
  await tx.update(merchants).set({ settings: after, updatedAt: new Date() }).where(eq(merchants.id, merchantId))
  return { before, after }
}
