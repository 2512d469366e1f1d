// Members from another POS: each row becomes a member registered through the members core, with the card number,
// tier and consents the old system had, and its points and stored value brought over as OPENING balances through
// the ledgers (a points adjustment and a stored-value adjustment, both with the reason "opening balance from
// <source>"), never written into the balance columns.
//
// Re-running is safe: a row whose card number or phone belongs to a member already is reported as existing and
// skipped (its balances are not added again). A card number and a phone that belong to two different members is a
// problem of the row.
import { and, eq, or, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { conflict, forbidden, isDomainError } from '../../lib/errors.ts'
import { formatDecimal, MAX_PAYMENT_AMOUNT } from '../../lib/money.ts'
import { getSettings } from '../merchants/settings.ts'
import { registerMember, type ConsentInput } from '../members/members.ts'
import { phoneCountry, normalisePhone } from '../members/phone.ts'
import { adjustPoints } from '../members/points.ts'
import { members } from '../members/schema.ts'
import { openStoredValue } from '../members/stored-value.ts'
import { listTiers, moveTier } from '../members/tiers.ts'
import { actorCan, type Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { cellsOf, REQUIRED, type MemberField } from './headers.ts'
import {
  beginImport,
  CHECK_STEP,
  checkHeader,
  openingReason,
  readAmount,
  readBirthday,
  readBoolean,
  readWhole,
  type Birthday,
  type ImportOptions,
  type PosImportReport,
} from './report.ts'
import type { Table } from './table.ts'

export interface MembersSummary {
  /** Members the file creates (or would create). */
  created: number
  /** Rows whose member exists already (by card number, else phone): skipped. */
  existing: number
  /** Opening points, summed over the members created. */
  points: number
  /** Opening stored value in minor units: principal and bonus, summed over the members created. */
  storedValue: number
  storedBonus: number
  /** Members created in a tier the file names (others start in the entry tier). */
  tiersSet: number
  /** The first 1000 rows skipped as existing, with the member they matched. */
  existingMembers: { line: number; memberId: string; matchedBy: 'card_no' | 'phone' }[]
}

const CARD_NO = /^[0-9A-Za-z-]{1,32}$/
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const CHANNELS = [
  ['consent_sms', 'sms'],
  ['consent_email', 'email'],
  ['consent_wechat', 'wechat'],
] as const

interface Draft {
  line: number
  phone: string
  cardNo?: string
  name?: string
  email?: string
  tierId?: string
  points: number
  principal: number
  bonus: number
  birthday?: Birthday
  consents: { channel: 'sms' | 'email' | 'wechat'; granted: boolean }[]
}

/** Member import: check every row; unless a dry run or a row is bad, create the members with their balances. */
export async function importMembers(tx: Tx, actor: Actor, table: Table, opts: ImportOptions & { storeId?: string | null }): Promise<PosImportReport<MembersSummary>> {
  const merchantId = actor.merchantId
  const summary: MembersSummary = { created: 0, existing: 0, points: 0, storedValue: 0, storedBonus: 0, tiersSet: 0, existingMembers: [] }
  const { map, p, report } = beginImport('members', table, opts, summary)
  if (!checkHeader(p, table.headerLine, REQUIRED.members)) return report(false)

  const settings = await getSettings(tx, merchantId)
  const country = phoneCountry(settings)
  const thisYear = (opts.now ?? new Date()).getUTCFullYear()
  const tiers = await listTiers(tx, merchantId)
  const tierOf = new Map<string, string>()
  for (const t of tiers) for (const k of [t.name, t.code]) if (!tierOf.has(k.trim().toLowerCase())) tierOf.set(k.trim().toLowerCase(), t.id)

  // Each row on its own.
  const drafts: Draft[] = []
  const total = table.rows.length
  for (const [i, row] of table.rows.entries()) {
    const c = cellsOf(map, row.values) as Partial<Record<MemberField, string>>
    const before = p.count
    const bad = (field: MemberField, code: string, message: string) => p.add(row.line, field, c[field] ?? null, code, message)
    const d: Draft = { line: row.line, phone: '', points: 0, principal: 0, bonus: 0, consents: [] }
    if (!c.phone) bad('phone', 'missing_value', 'phone is required')
    else {
      try {
        d.phone = normalisePhone(c.phone, country)
      } catch (e) {
        if (!isDomainError(e)) throw e
        bad('phone', 'invalid_phone', e.message)
      }
    }
    if (c.card_no !== undefined) {
      const card = c.card_no.replace(/\s/g, '')
      if (CARD_NO.test(card)) d.cardNo = card
      else bad('card_no', 'invalid_card_no', 'a card number is 1–32 letters, digits or -')
    }
    if (c.name !== undefined) {
      if (c.name.length > 100) bad('name', 'too_long', 'name has more than 100 characters')
      else d.name = c.name
    }
    if (c.email !== undefined) {
      if (EMAIL.test(c.email)) d.email = c.email
      else bad('email', 'invalid_email', `${c.email} is not an email address`)
    }
    if (c.tier !== undefined) {
      d.tierId = tierOf.get(c.tier.toLowerCase())
      if (!d.tierId) bad('tier', 'unknown_tier', `no tier is named ${c.tier} (known: ${tiers.map((t) => t.name).join(', ') || 'none; set up tiers first'})`)
    }
    if (c.points !== undefined) {
      const n = readWhole(c.points, table.decimalMark)
      if (n === undefined) bad('points', 'invalid_number', `points must be a whole number, not "${c.points}"`)
      else if (n < 0) bad('points', 'negative_balance', 'an opening points balance cannot be negative')
      else d.points = n
    }
    for (const [field, key] of [
      ['stored_value', 'principal'],
      ['stored_bonus', 'bonus'],
    ] as const) {
      const v = c[field]
      if (v === undefined) continue
      const n = readAmount(v, settings.currency, table.decimalMark)
      if (n === undefined) bad(field, 'invalid_amount', `${field} must be an amount in ${settings.currency} like 12.50, not "${v}"`)
      else if (n < 0) bad(field, 'negative_balance', `an opening ${field.replace('_', ' ')} cannot be negative`)
      else if (n > MAX_PAYMENT_AMOUNT) bad(field, 'balance_too_large', `a member's stored value is at most ${formatDecimal(MAX_PAYMENT_AMOUNT, settings.currency)} ${settings.currency}`)
      else d[key] = n
    }
    // The limit is on principal and bonus together, as the ledger enforces it (stored-value.ts, move); each read
    // above is within it, so this is the row whose two amounts only go over it added up.
    if (d.principal + d.bonus > MAX_PAYMENT_AMOUNT) {
      bad('stored_bonus', 'balance_too_large', `a member's stored value, principal and bonus together, is at most ${formatDecimal(MAX_PAYMENT_AMOUNT, settings.currency)} ${settings.currency}`)
    }
    if (c.birthday !== undefined) {
      d.birthday = readBirthday(c.birthday, thisYear)
      if (!d.birthday) bad('birthday', 'invalid_birthday', 'birthday is a date like 1990-05-20 (or 05-20 without the year)')
    }
    for (const [field, channel] of CHANNELS) {
      const v = c[field]
      if (v === undefined) continue
      const granted = readBoolean(v)
      if (granted === undefined) bad(field, 'invalid_boolean', `${field} is yes or no (是/否, 1/0, true/false)`)
      else d.consents.push({ channel, granted })
    }
    if (p.count === before) drafts.push(d)
    if ((i + 1) % CHECK_STEP === 0) await opts.onProgress?.({ kind: 'members', phase: 'check', done: i + 1, total })
  }

  // Across rows: a phone or a card number once per file.
  const phoneLine = new Map<string, number>()
  const cardLine = new Map<string, number>()
  const unique: Draft[] = []
  for (const d of drafts) {
    const phoneAt = phoneLine.get(d.phone)
    const cardAt = d.cardNo ? cardLine.get(d.cardNo) : undefined
    if (phoneAt !== undefined) p.add(d.line, 'phone', d.phone, 'duplicate_phone', `phone ${d.phone} is also on line ${phoneAt}`)
    if (cardAt !== undefined) p.add(d.line, 'card_no', d.cardNo!, 'duplicate_card_no', `card number ${d.cardNo} is also on line ${cardAt}`)
    if (!phoneLine.has(d.phone)) phoneLine.set(d.phone, d.line)
    if (d.cardNo && !cardLine.has(d.cardNo)) cardLine.set(d.cardNo, d.line)
    if (phoneAt === undefined && cardAt === undefined) unique.push(d)
  }

  // Against the members there are: existing ones are skipped; a card and a phone of two members is a conflict.
  const phones = unique.map((d) => d.phone)
  const cards = unique.flatMap((d) => (d.cardNo ? [d.cardNo] : []))
  const found = phones.length
    ? await tx
        .select({ id: members.id, phone: members.phone, cardNo: members.cardNo, status: members.status, mergedInto: members.mergedInto })
        .from(members)
        // Each list as one array parameter: a file of 100,000 rows would pass PostgreSQL's 65,535 parameters as a list.
        .where(
          and(
            eq(members.merchantId, merchantId),
            or(and(eq(members.status, 'active'), sql`${members.phone} = any(${sql.param(phones)}::text[])`), cards.length ? sql`${members.cardNo} = any(${sql.param(cards)}::text[])` : sql`false`),
          ),
        )
    : []
  const byPhone = new Map(found.filter((m) => m.status === 'active').map((m) => [m.phone, m]))
  const byCard = new Map(found.map((m) => [m.cardNo, m]))
  const creates: Draft[] = []
  for (const d of unique) {
    const card = d.cardNo ? byCard.get(d.cardNo) : undefined
    const phone = byPhone.get(d.phone)
    // A card of a member merged into another belongs to the member that remains.
    const cardMember = card && card.status === 'merged' && card.mergedInto ? card.mergedInto : card?.id
    if (cardMember && phone && cardMember !== phone.id) {
      p.add(d.line, 'card_no', d.cardNo!, 'member_conflict', `card number ${d.cardNo} belongs to one member and phone ${d.phone} to another (member ${phone.id}); settle which is right first`)
      continue
    }
    const memberId = cardMember ?? phone?.id
    if (memberId) {
      summary.existing++
      if (summary.existingMembers.length < 1000) summary.existingMembers.push({ line: d.line, memberId, matchedBy: cardMember ? 'card_no' : 'phone' })
      continue
    }
    creates.push(d)
    summary.created++
    summary.points += d.points
    summary.storedValue += d.principal
    summary.storedBonus += d.bonus
    if (d.tierId) summary.tiersSet++
  }
  await opts.onProgress?.({ kind: 'members', phase: 'check', done: total, total })

  // Opening balances are adjustments: whoever imports them must be allowed to make them.
  const needs = [...(summary.points > 0 ? (['points.adjust'] as const) : []), ...(summary.storedValue + summary.storedBonus > 0 ? (['stored_value.adjust'] as const) : [])]
  for (const permission of needs) {
    if (!actorCan(actor, permission).ok) throw forbidden('permission_denied', `role ${actor.role} lacks permission ${permission}, which opening balances need`, { permission, role: actor.role })
  }
  if (opts.dryRun || p.count > 0) return report(false)

  const reason = openingReason(opts.source)
  const at = opts.now ?? new Date()
  for (const [i, d] of creates.entries()) {
    const consents: ConsentInput[] = d.consents.map((c) => ({ ...c, source: 'import', evidence: reason.replace('opening balance', 'consent') }))
    const m = await registerMember(tx, actor, { phone: d.phone, name: d.name, email: d.email, birthday: d.birthday, storeId: opts.storeId ?? undefined, consents }, at)
    if (d.cardNo) {
      // The card the member already carries keeps working: its number replaces the one given at registration.
      try {
        await tx.transaction((sp) => sp.update(members).set({ cardNo: d.cardNo!, updatedAt: at }).where(eq(members.id, m.id)))
      } catch (e) {
        if (isUniqueViolation(e, 'members_card_key')) throw conflict('card_no_taken', `card number ${d.cardNo} (line ${d.line}) was given to another member meanwhile; run the import again`)
        throw e
      }
    }
    if (d.tierId && d.tierId !== m.tierId) {
      const byId = (id: string | null) => tiers.find((t) => t.id === id) ?? null
      await moveTier(tx, merchantId, m.id, { from: byId(m.tierId), to: byId(d.tierId)!, rollingSpend: 0, reason: `opening tier from ${opts.source}`, at })
    }
    if (d.points > 0) await adjustPoints(tx, actor, m.id, d.points, reason, settings.loyalty, settings.timeZone)
    if (d.principal + d.bonus > 0) await openStoredValue(tx, actor, m.id, { principal: d.principal, bonus: d.bonus, reason }, at)
    if ((i + 1) % 100 === 0 || i === creates.length - 1) await opts.onProgress?.({ kind: 'members', phase: 'write', done: i + 1, total: creates.length })
  }
  const { existingMembers: _, ...counts } = summary
  await recordAudit(tx, actor, { action: 'members.imported', entityType: 'member', entityId: null, details: { source: opts.source, rows: table.rows.length, ...counts } })
  return report(true)
}
