// A Mailchimp campaign is one content for the whole audience; what differs per member lives in merge fields. So each
// recipient's params become merge fields on their list member (FNAME, COUPON, …, and TBDELIVERY carrying our delivery
// id), and the message's {placeholders} become merge tags (*|COUPON|*) that Mailchimp fills in per member.
import type { CampaignMessage, CampaignRecipient } from '../../framework/campaign.ts'

/** The merge field that carries our delivery id on each member, the correlation id of a Mailchimp send. */
export const DELIVERY_TAG = 'TBDELIVERY'

/** Our usual param names that map onto Mailchimp's default fields or a readable tag. */
const ALIASES: Record<string, string> = {
  firstname: 'FNAME',
  first_name: 'FNAME',
  name: 'FNAME',
  lastname: 'LNAME',
  last_name: 'LNAME',
  coupon: 'COUPON',
  couponcode: 'COUPON',
  coupon_code: 'COUPON',
}

// Tags Mailchimp keeps for itself (https://mailchimp.com/help/all-the-merge-tags-cheat-sheet/).
const RESERVED = new Set(['EMAIL', 'EMAIL_TYPE', 'DATE', 'UNSUB', 'FORWARD', 'ARCHIVE', 'REWARDS', 'INTERESTS', 'USER_URL', 'TO', 'LIST', 'MC', 'CURRENT_YEAR'])

/** Mailchimp merge tags are at most 10 upper-case letters and digits. */
export const MAX_TAG_LENGTH = 10
/** A text merge field holds at most 255 characters. */
const MAX_VALUE_LENGTH = 255

/** The merge tag a param is stored under: `firstName` → FNAME, `couponCode` → COUPON, `points_balance` → POINTSBALA. */
export function mergeTagOf(param: string): string {
  const alias = ALIASES[param.toLowerCase()]
  if (alias) return alias
  let tag = param.toUpperCase().replace(/[^A-Z0-9]/g, '')
  if (!tag || /^\d/.test(tag)) tag = `P${tag}`
  if (RESERVED.has(tag)) tag = `TB${tag}`
  return tag.slice(0, MAX_TAG_LENGTH)
}

/** A recipient's merge fields: every param under its tag (the first param wins a shared tag) and the delivery id. */
export function mergeFieldsOf(r: CampaignRecipient): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(r.params)) {
    const tag = mergeTagOf(name)
    if (tag !== DELIVERY_TAG && !(tag in out)) out[tag] = String(value ?? '').slice(0, MAX_VALUE_LENGTH)
  }
  out[DELIVERY_TAG] = r.deliveryId
  return out
}

/** The merge fields a message needs on the list: TBDELIVERY and one per param name. */
export const neededTags = (recipients: CampaignRecipient[]): Set<string> => {
  const tags = new Set<string>([DELIVERY_TAG])
  for (const r of recipients) for (const name of Object.keys(r.params)) tags.add(mergeTagOf(name))
  return tags
}

const PLACEHOLDER = /\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}/g

/** `Hello {firstName}` → `Hello *|FNAME|*`. */
export const toMergeTags = (text: string): string => text.replace(PLACEHOLDER, (_m, name: string) => `*|${mergeTagOf(name)}|*`)

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/**
 * The campaign's HTML: the body as is when it is HTML, otherwise escaped text in paragraphs. Mailchimp refuses to
 * send a campaign without an unsubscribe link, so one is added when the body has none.
 */
export function campaignHtml(message: CampaignMessage): string {
  const body = message.body ?? ''
  const isHtml = /<[a-z][\s\S]*>/i.test(body)
  const main = isHtml
    ? toMergeTags(body)
    : body
        .split(/\r?\n\s*\r?\n/)
        .map((p) => `<p>${toMergeTags(escapeHtml(p)).replace(/\r?\n/g, '<br>')}</p>`)
        .join('\n')
  const footer = main.includes('*|UNSUB|*') ? '' : '\n<p style="font-size:12px;color:#777">*|LIST:ADDRESSLINE|*<br><a href="*|UNSUB|*">Unsubscribe</a></p>'
  return `<!DOCTYPE html>\n<html><body>\n${main}${footer}\n</body></html>`
}

export const campaignSubject = (message: CampaignMessage): string => toMergeTags(message.subject ?? '').trim()
