// Members: registered at the till or by API, found by phone, card number or the QR on their card; consent per
// channel with its history; tags.
import { randomInt } from 'node:crypto'
import { and, asc, desc, eq, gt, ilike, or, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { getSettings } from '../merchants/settings.ts'
import { getStore } from '../stores/service.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { recordEvent } from '../events/service.ts'
import { phoneCountry, normalisePhone } from './phone.ts'
import { memberConsents, members, tiers, type ConsentChannel } from './schema.ts'
import { keysetPage } from '../../db/page.ts'

export type Member = typeof members.$inferSelect

export interface ConsentInput {
  channel: ConsentChannel
  granted: boolean
  /** How it was given: 'till', 'api', 'import', 'sms_reply', 'unsubscribe_link', … */
  source: string
  evidence?: string
}

export interface MemberInput {
  phone: string
  name?: string
  email?: string
  birthday?: { month: number; day: number; year?: number }
  storeId?: string
  tags?: string[]
  consents?: ConsentInput[]
  wechatOpenId?: string
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

function checkBirthday(b: MemberInput['birthday']) {
  if (!b) return
  const year = b.year ?? 2000 // a leap year, so 29 February is a valid birthday without a year
  const d = new Date(Date.UTC(year, b.month - 1, b.day))
  if (b.month < 1 || b.month > 12 || d.getUTCMonth() !== b.month - 1 || d.getUTCDate() !== b.day) throw invalid('invalid_birthday', 'birthday is not a calendar date')
  if (b.year !== undefined && (b.year < 1900 || b.year > new Date().getUTCFullYear())) throw invalid('invalid_birthday', 'birth year is out of range')
}

/** A 16-digit card number: "8" + 14 random digits + a Luhn check digit. */
export function newCardNo(): string {
  let body = '8'
  for (let i = 0; i < 14; i++) body += String(randomInt(10))
  return body + luhnDigit(body)
}

export function luhnDigit(body: string): number {
  let sum = 0
  for (let i = 0; i < body.length; i++) {
    let d = body.charCodeAt(body.length - 1 - i) - 48
    if (i % 2 === 0) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return (10 - (sum % 10)) % 10
}

/** The text of the QR code on a member's card. */
export const memberQr = (cardNo: string) => `TBM1:${cardNo}`

async function entryTier(tx: Tx, merchantId: string): Promise<string | null> {
  const [t] = await tx.select({ id: tiers.id }).from(tiers).where(eq(tiers.merchantId, merchantId)).orderBy(asc(tiers.rank)).limit(1)
  return t?.id ?? null
}

export async function recordConsents(tx: Tx, actor: Actor, memberId: string, list: ConsentInput[]): Promise<void> {
  if (list.length === 0) return
  await tx.insert(memberConsents).values(
    list.map((c) => ({ merchantId: actor.merchantId, memberId, channel: c.channel, granted: c.granted, source: c.source, evidence: c.evidence ?? null, actorId: actor.id })),
  )
  const set: Partial<typeof members.$inferInsert> = { updatedAt: new Date() }
  for (const c of list) {
    if (c.channel === 'sms') set.consentSms = c.granted
    if (c.channel === 'email') set.consentEmail = c.granted
    if (c.channel === 'wechat') set.consentWechat = c.granted
  }
  await tx.update(members).set(set).where(eq(members.id, memberId))
}

export async function registerMember(tx: Tx, actor: Actor, input: MemberInput, at = new Date()): Promise<Member> {
  const phone = normalisePhone(input.phone, phoneCountry(await getSettings(tx, actor.merchantId)))
  if (input.email && !EMAIL.test(input.email)) throw invalid('invalid_email', `${input.email} is not an email address`)
  checkBirthday(input.birthday)
  if (input.storeId) await getStore(tx, actor.merchantId, input.storeId)
  const id = newId()
  const tierId = await entryTier(tx, actor.merchantId)
  for (let attempt = 0; ; attempt++) {
    try {
      await tx.transaction(async (sp) => {
        await sp.insert(members).values({
          id,
          merchantId: actor.merchantId,
          phone,
          cardNo: newCardNo(),
          name: input.name?.trim() || null,
          email: input.email?.trim().toLowerCase() || null,
          birthMonth: input.birthday?.month ?? null,
          birthDay: input.birthday?.day ?? null,
          birthYear: input.birthday?.year ?? null,
          storeId: input.storeId ?? null,
          tags: [...new Set(input.tags ?? [])],
          tierId,
          wechatOpenId: input.wechatOpenId ?? null,
          createdAt: at,
        })
      })
      break
    } catch (e) {
      if (isUniqueViolation(e, 'members_phone_key')) throw conflict('phone_taken', `a member with phone ${phone} already exists`)
      if (isUniqueViolation(e, 'members_card_key') && attempt < 5) continue
      throw e
    }
  }
  await recordConsents(tx, actor, id, input.consents ?? [])
  await recordAudit(tx, actor, { action: 'member.registered', entityType: 'member', entityId: id, details: { phone, storeId: input.storeId ?? null } })
  await recordEvent(tx, actor.merchantId, { type: 'member.registered', entityType: 'member', entityId: id, data: { memberId: id, storeId: input.storeId ?? null } })
  return getMember(tx, actor.merchantId, id)
}

export async function getMember(tx: Tx, merchantId: string, id: string, opts: { lock?: boolean } = {}): Promise<Member> {
  const q = tx.select().from(members).where(and(eq(members.merchantId, merchantId), eq(members.id, id)))
  const [m] = opts.lock ? await q.for('update') : await q
  if (!m) throw notFound('member', id)
  return m
}

const MAX_MERGE_HOPS = 1000

/** An active member, following merges: a member merged into another resolves to the one that remains. */
export async function getActiveMember(tx: Tx, merchantId: string, id: string, opts: { lock?: boolean } = {}): Promise<Member> {
  let m = await getMember(tx, merchantId, id, opts)
  // A chain of merges ends at an active member (a merge needs both active, so it never loops); the bound only
  // guards against a damaged row.
  for (let hops = 0; m.status === 'merged' && m.mergedInto && hops < MAX_MERGE_HOPS; hops++) m = await getMember(tx, merchantId, m.mergedInto, opts)
  if (m.status !== 'active') throw notFound('member', id)
  return m
}

/**
 * Finds an active member by phone (any common format), card number, or the QR on the card. A member merged into
 * another is found as the one it was merged into (the customer still carries the old card); an active member on a
 * phone comes before a merged one that had it.
 */
export async function lookupMember(tx: Tx, merchantId: string, by: { phone?: string; cardNo?: string; qr?: string }): Promise<Member> {
  let where: SQL | undefined
  if (by.phone) {
    where = eq(members.phone, normalisePhone(by.phone, phoneCountry(await getSettings(tx, merchantId))))
  } else if (by.cardNo) where = eq(members.cardNo, by.cardNo.replace(/\s/g, ''))
  else if (by.qr) {
    const m = /^TBM1:(\d{16})$/.exec(by.qr.trim())
    if (!m) throw invalid('invalid_member_qr', 'this QR code is not a member card')
    where = eq(members.cardNo, m[1]!)
  } else throw invalid('lookup_required', 'look up by phone, cardNo or qr')
  const [row] = await tx
    .select()
    .from(members)
    .where(and(eq(members.merchantId, merchantId), where))
    .orderBy(sql`${members.status} = 'active' desc`, desc(members.updatedAt))
    .limit(1)
  if (!row) throw notFound('member')
  return row.status === 'active' ? row : getActiveMember(tx, merchantId, row.id)
}

export interface MemberChanges {
  phone?: string
  name?: string | null
  email?: string | null
  birthday?: { month: number; day: number; year?: number } | null
  storeId?: string | null
  tags?: string[]
  wechatOpenId?: string | null
  consents?: ConsentInput[]
}

export async function updateMember(tx: Tx, actor: Actor, id: string, changes: MemberChanges): Promise<Member> {
  const before = await getMember(tx, actor.merchantId, id, { lock: true })
  if (before.status !== 'active') throw conflict('member_merged', 'this member was merged into another')
  const set: Partial<typeof members.$inferInsert> = { updatedAt: new Date() }
  if (changes.phone !== undefined) {
    set.phone = normalisePhone(changes.phone, phoneCountry(await getSettings(tx, actor.merchantId)))
  }
  if (changes.name !== undefined) set.name = changes.name?.trim() || null
  if (changes.email !== undefined) {
    if (changes.email && !EMAIL.test(changes.email)) throw invalid('invalid_email', `${changes.email} is not an email address`)
    set.email = changes.email?.trim().toLowerCase() || null
  }
  if (changes.birthday !== undefined) {
    checkBirthday(changes.birthday ?? undefined)
    set.birthMonth = changes.birthday?.month ?? null
    set.birthDay = changes.birthday?.day ?? null
    set.birthYear = changes.birthday?.year ?? null
  }
  if (changes.storeId) await getStore(tx, actor.merchantId, changes.storeId)
  if (changes.storeId !== undefined) set.storeId = changes.storeId
  if (changes.tags !== undefined) set.tags = [...new Set(changes.tags)]
  if (changes.wechatOpenId !== undefined) set.wechatOpenId = changes.wechatOpenId
  try {
    await tx.update(members).set(set).where(eq(members.id, id))
  } catch (e) {
    if (isUniqueViolation(e, 'members_phone_key')) throw conflict('phone_taken', 'another member has this phone number')
    throw e
  }
  await recordConsents(tx, actor, id, changes.consents ?? [])
  const { consents: _c, ...fields } = changes
  await recordAudit(tx, actor, { action: 'member.updated', entityType: 'member', entityId: id, details: { fields: Object.keys(fields), consents: changes.consents ?? [] } })
  return getMember(tx, actor.merchantId, id)
}

export async function consentHistory(tx: Tx, merchantId: string, memberId: string) {
  return tx
    .select()
    .from(memberConsents)
    .where(and(eq(memberConsents.merchantId, merchantId), eq(memberConsents.memberId, memberId)))
    .orderBy(asc(memberConsents.id))
}

export async function listMembers(tx: Tx, merchantId: string, f: { q?: string; tierId?: string; tag?: string; storeId?: string; after?: string; limit: number }) {
  const like = f.q ? `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined
  const rows = await tx
    .select()
    .from(members)
    .where(
      and(
        eq(members.merchantId, merchantId),
        eq(members.status, 'active'),
        like ? or(ilike(members.name, like), ilike(members.phone, like), ilike(members.cardNo, like), ilike(members.email, like)) : undefined,
        f.tierId ? eq(members.tierId, f.tierId) : undefined,
        f.tag ? sql`${members.tags} ? ${f.tag}` : undefined,
        f.storeId ? eq(members.storeId, f.storeId) : undefined,
        f.after ? gt(members.id, f.after) : undefined,
      ),
    )
    .orderBy(asc(members.id))
    .limit(f.limit + 1)
  return keysetPage(rows, f.limit, (r) => r.id)
}
