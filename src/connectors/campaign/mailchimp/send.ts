// Sending through Mailchimp: each batch upserts its recipients as list members (their params in merge fields, our
// delivery id in TBDELIVERY, the campaign's tag `tb-<campaignKey>`), and `finish` creates one regular campaign for
// that tag, sets its content and sends it. Both are safe to repeat: the upsert is one, and the campaign is looked up
// by its title (the tag) before one is created.
// https://mailchimp.com/developer/marketing/api/lists/batch-subscribe-or-unsubscribe/,
// https://mailchimp.com/developer/marketing/api/campaigns/, https://mailchimp.com/developer/marketing/api/email-activity-reports/
import type { CampaignEvent, CampaignMessage, CampaignRecipient, SendOutcome } from '../../framework/campaign.ts'
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { mailchimpRequest, subscriberHash } from './api.ts'
import { campaignHtml, campaignSubject, DELIVERY_TAG, mergeFieldsOf, neededTags } from './merge.ts'

export interface MailchimpConfig {
  apiKey: string
  listId: string
  fromName?: string
  replyTo?: string
}

type Ctx = ConnectorContext<MailchimpConfig>

/** Members per batch subscribe call, Mailchimp's maximum. */
export const MAILCHIMP_MAX_BATCH = 500

/** The tag (a static segment) of a campaign's members, also the title of its Mailchimp campaign. */
export const campaignTag = (campaignKey: string): string => `tb-${campaignKey}`.slice(0, 100)

const listPath = (ctx: Ctx, rest = '') => `/lists/${encodeURIComponent(ctx.config.listId)}${rest}`

// ---- merge fields --------------------------------------------------------------------------------------------

/** The merge tags known to exist on a list, per connection and list; looked at again after MERGE_FIELDS_TTL_MS. */
const knownTags = new Map<string, { at: number; tags: Map<string, Promise<void>> }>()
const MERGE_FIELDS_TTL_MS = 10 * 60_000

interface MergeFieldList {
  merge_fields: { tag: string }[]
  total_items: number
}

/** Creates the text merge fields the batch needs and the list lacks (Mailchimp drops values of unknown fields). */
export async function ensureMergeFields(ctx: Ctx, tags: Set<string>): Promise<void> {
  const key = `${ctx.connectionId}/${ctx.config.listId}`
  let known = knownTags.get(key)
  if (!known || Date.now() - known.at > MERGE_FIELDS_TTL_MS) {
    const { data } = await mailchimpRequest<MergeFieldList>(ctx, {
      method: 'GET',
      url: listPath(ctx, '/merge-fields'),
      params: { count: 1000, fields: 'merge_fields.tag,total_items' },
      operation: 'listMergeFields',
    })
    known = { at: Date.now(), tags: new Map(data.merge_fields.map((f) => [f.tag.toUpperCase(), Promise.resolve()])) }
    knownTags.set(key, known)
  }
  const tagsOfList = known.tags
  await Promise.all(
    [...tags].map((tag) => {
      let pending = tagsOfList.get(tag)
      if (!pending) {
        pending = createMergeField(ctx, tag).catch((e: unknown) => {
          tagsOfList.delete(tag)
          throw e
        })
        tagsOfList.set(tag, pending)
      }
      return pending
    }),
  )
}

async function createMergeField(ctx: Ctx, tag: string): Promise<void> {
  try {
    await mailchimpRequest(ctx, {
      method: 'POST',
      url: listPath(ctx, '/merge-fields'),
      data: { tag, name: tag === DELIVERY_TAG ? 'Tillbridge delivery' : `Tillbridge ${tag}`, type: 'text', required: false, public: false },
      operation: 'createMergeField',
    })
  } catch (e) {
    // Another worker created it first.
    if (e instanceof ConnectorError && e.kind === 'permanent' && /already exists/i.test(e.message)) return
    throw e
  }
}

// ---- sendBatch -----------------------------------------------------------------------------------------------

interface BatchMember {
  id: string
  email_address: string
  status: string
}

interface BatchResponse {
  new_members: BatchMember[]
  updated_members: BatchMember[]
  errors: { email_address: string; error: string; error_code?: string; field?: string; field_message?: string }[]
}

const COMPLIANCE = /compliance state|cannot be re-?subscribed|forgotten email|permanently deleted/i
const INVALID_EMAIL = /fake or invalid|invalid email|valid email address|not a valid|invalid resource: .*email/i

/** vendorMessageId of a member of a campaign: `<campaignKey>:<subscriber hash>`, read back by queryStatus. */
export const memberRef = (campaignKey: string, email: string) => `${campaignKey}:${subscriberHash(email)}`

function outcomeOfError(deliveryId: string, e: BatchResponse['errors'][number]): SendOutcome {
  const message = e.field_message ? `${e.error} (${e.field}: ${e.field_message})` : e.error
  const code = e.error_code ?? 'ERROR'
  if (COMPLIANCE.test(e.error)) return { deliveryId, status: 'failed', code, message, optedOut: true }
  if (INVALID_EMAIL.test(e.error) || INVALID_EMAIL.test(e.field_message ?? '')) return { deliveryId, status: 'failed', code, message, invalidAddress: true }
  return { deliveryId, status: 'failed', code, message }
}

export async function sendBatch(ctx: Ctx, input: { campaignKey: string; message: CampaignMessage; recipients: CampaignRecipient[] }): Promise<SendOutcome[]> {
  const { campaignKey, recipients } = input
  if (recipients.length === 0) return []
  if (recipients.length > MAILCHIMP_MAX_BATCH) throw new ConnectorError('permanent', `Mailchimp takes at most ${MAILCHIMP_MAX_BATCH} members per call, not ${recipients.length}`)
  await ensureMergeFields(ctx, neededTags(recipients))
  const tag = campaignTag(campaignKey)
  const members = recipients.map((r) => ({
    email_address: r.address.trim(),
    email_type: 'html',
    // The hub sends only members who consented to email: they are subscribed, new or not.
    status: 'subscribed',
    status_if_new: 'subscribed',
    merge_fields: mergeFieldsOf(r),
    tags: [tag],
  }))
  const { data } = await mailchimpRequest<BatchResponse>(ctx, {
    method: 'POST',
    url: listPath(ctx),
    params: { skip_merge_validation: true },
    data: { members, update_existing: true, sync_tags: false },
    // An upsert: sending it twice leaves the same members with the same fields and tag.
    idempotent: true,
    operation: 'batchSubscribe',
  })

  const done = new Map<string, BatchMember>()
  for (const m of [...(data.new_members ?? []), ...(data.updated_members ?? [])]) done.set(m.email_address.trim().toLowerCase(), m)
  const refused = new Map<string, BatchResponse['errors'][number]>()
  for (const e of data.errors ?? []) refused.set(String(e.email_address ?? '').trim().toLowerCase(), e)

  return recipients.map((r): SendOutcome => {
    const address = r.address.trim().toLowerCase()
    const error = refused.get(address)
    if (error) return outcomeOfError(r.deliveryId, error)
    const member = done.get(address)
    if (!member) return { deliveryId: r.deliveryId, status: 'failed', code: 'NOT_IN_ANSWER', message: 'Mailchimp neither added nor refused this address', retryable: true }
    if (member.status !== 'subscribed') {
      const out = member.status === 'unsubscribed' || member.status === 'cleaned'
      return { deliveryId: r.deliveryId, status: 'failed', code: `status:${member.status}`, message: `the member is ${member.status} in Mailchimp`, ...(out ? { optedOut: true } : {}) }
    }
    return { deliveryId: r.deliveryId, status: 'accepted', vendorMessageId: memberRef(campaignKey, r.address) }
  })
}

// ---- finish --------------------------------------------------------------------------------------------------

interface CampaignSummary {
  id: string
  status: 'save' | 'paused' | 'schedule' | 'sending' | 'sent' | string
  send_time?: string
  settings: { title: string }
}

const CAMPAIGN_PAGE = 1000
const MAX_CAMPAIGN_PAGES = 50

/** The campaign of this list titled `title`, newest first; null when there is none. */
export async function findCampaign(ctx: Ctx, title: string): Promise<CampaignSummary | null> {
  for (let page = 0; page < MAX_CAMPAIGN_PAGES; page++) {
    const { data } = await mailchimpRequest<{ campaigns: CampaignSummary[]; total_items: number }>(ctx, {
      method: 'GET',
      url: '/campaigns',
      params: {
        list_id: ctx.config.listId,
        count: CAMPAIGN_PAGE,
        offset: page * CAMPAIGN_PAGE,
        sort_field: 'create_time',
        sort_dir: 'DESC',
        fields: 'campaigns.id,campaigns.status,campaigns.send_time,campaigns.settings.title,total_items',
      },
      operation: 'findCampaign',
    })
    const found = data.campaigns.find((c) => c.settings?.title === title)
    if (found) return found
    if ((page + 1) * CAMPAIGN_PAGE >= data.total_items || data.campaigns.length === 0) return null
  }
  return null
}

/** The id of a tag (a static segment) of the list, or null when no member ever carried it. */
async function findTagId(ctx: Ctx, name: string): Promise<number | null> {
  const { data } = await mailchimpRequest<{ tags: { id: number; name: string }[] }>(ctx, { method: 'GET', url: listPath(ctx, '/tag-search'), params: { name }, operation: 'findTag' })
  return data.tags.find((t) => t.name === name)?.id ?? null
}

async function senderOf(ctx: Ctx): Promise<{ from_name: string; reply_to: string }> {
  if (ctx.config.fromName && ctx.config.replyTo) return { from_name: ctx.config.fromName, reply_to: ctx.config.replyTo }
  const { data } = await mailchimpRequest<{ campaign_defaults?: { from_name?: string; from_email?: string } }>(ctx, {
    method: 'GET',
    url: listPath(ctx),
    params: { fields: 'campaign_defaults' },
    operation: 'getList',
  })
  const from_name = ctx.config.fromName ?? data.campaign_defaults?.from_name
  const reply_to = ctx.config.replyTo ?? data.campaign_defaults?.from_email
  if (!from_name || !reply_to) throw new ConnectorError('permanent', 'the audience has no default sender: set fromName and replyTo on the connection')
  return { from_name, reply_to }
}

export async function finish(ctx: Ctx, input: { campaignKey: string; message: CampaignMessage; recipients: number }): Promise<{ vendorCampaignId: string | null }> {
  const title = campaignTag(input.campaignKey)
  let campaign = await findCampaign(ctx, title)
  // Already scheduled, sending or sent (or paused by someone in Mailchimp): never a second send.
  if (campaign && campaign.status !== 'save') return { vendorCampaignId: campaign.id }
  if (!campaign) {
    const tagId = await findTagId(ctx, title)
    // No member was accepted, so no one carries the tag: there is nothing to send.
    if (tagId === null || input.recipients === 0) return { vendorCampaignId: null }
    const sender = await senderOf(ctx)
    const { data } = await mailchimpRequest<CampaignSummary>(ctx, {
      method: 'POST',
      url: '/campaigns',
      data: {
        type: 'regular',
        recipients: {
          list_id: ctx.config.listId,
          segment_opts: { match: 'all', conditions: [{ condition_type: 'StaticSegment', field: 'static_segment', op: 'static_is', value: tagId }] },
        },
        settings: { subject_line: campaignSubject(input.message) || title, title, ...sender },
      },
      operation: 'createCampaign',
    })
    campaign = data
  }
  await mailchimpRequest(ctx, { method: 'PUT', url: `/campaigns/${encodeURIComponent(campaign.id)}/content`, data: { html: campaignHtml(input.message) }, operation: 'setCampaignContent' })
  await mailchimpRequest(ctx, { method: 'POST', url: `/campaigns/${encodeURIComponent(campaign.id)}/actions/send`, operation: 'sendCampaign' })
  return { vendorCampaignId: campaign.id }
}

// ---- withdraw -----------------------------------------------------------------------------------------------

/** Takes the campaign's tag off members accepted earlier, so `finish` does not send to them; one call per member. */
export async function withdraw(ctx: Ctx, input: { campaignKey: string; recipients: { deliveryId: string; address: string }[] }): Promise<void> {
  const name = campaignTag(input.campaignKey)
  for (const r of input.recipients) {
    try {
      await mailchimpRequest(ctx, {
        method: 'POST',
        url: listPath(ctx, `/members/${subscriberHash(r.address)}/tags`),
        data: { tags: [{ name, status: 'inactive' }] },
        // Setting a tag inactive twice leaves it off.
        idempotent: true,
        operation: 'removeMemberTag',
      })
    } catch (e) {
      // Not a member of the list (any more): it carries no tag to send to.
      if (e instanceof ConnectorError && e.status === 404) continue
      throw e
    }
  }
}

// ---- queryStatus ---------------------------------------------------------------------------------------------

interface EmailActivity {
  activity: { action: 'bounce' | 'open' | 'click' | string; type?: string; timestamp: string }[]
}

/**
 * What Mailchimp's email activity report says of each delivery: a bounce → failed, an open or click → delivered,
 * none yet on a sent campaign → sent. Deliveries of a campaign not sent yet, or absent from its report, get no event.
 */
export async function queryStatus(ctx: Ctx, input: { deliveries: { deliveryId: string; vendorMessageId: string | null; address: string; sentAt: string }[] }): Promise<CampaignEvent[]> {
  const campaigns = new Map<string, Promise<CampaignSummary | null>>()
  const events = await Promise.all(
    input.deliveries.map(async (d): Promise<CampaignEvent | null> => {
      const ref = d.vendorMessageId
      const cut = ref ? ref.lastIndexOf(':') : -1
      if (!ref || cut < 0) return null
      const key = ref.slice(0, cut)
      const hash = ref.slice(cut + 1)
      let found = campaigns.get(key)
      if (!found) campaigns.set(key, (found = findCampaign(ctx, campaignTag(key))))
      const campaign = await found
      if (!campaign || (campaign.status !== 'sent' && campaign.status !== 'sending')) return null
      let report: EmailActivity
      try {
        report = (
          await mailchimpRequest<EmailActivity>(ctx, {
            method: 'GET',
            url: `/reports/${encodeURIComponent(campaign.id)}/email-activity/${hash}`,
            params: { fields: 'activity' },
            operation: 'emailActivity',
          })
        ).data
      } catch (e) {
        if (e instanceof ConnectorError && e.status === 404) return null
        throw e
      }
      const base = { kind: 'status' as const, deliveryId: d.deliveryId, vendorMessageId: ref }
      const activity = report.activity ?? []
      const bounce = activity.find((a) => a.action === 'bounce')
      if (bounce) return { ...base, status: 'failed', code: `bounce:${bounce.type ?? 'unknown'}`, at: new Date(bounce.timestamp).toISOString() }
      const seen = activity.find((a) => a.action === 'open' || a.action === 'click')
      if (seen) return { ...base, status: 'delivered', at: new Date(seen.timestamp).toISOString() }
      if (campaign.status === 'sent') return { ...base, status: 'sent', at: new Date(campaign.send_time || d.sentAt).toISOString() }
      return null
    }),
  )
  return events.filter((e): e is CampaignEvent => e !== null)
}
