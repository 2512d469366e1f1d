// A Mailchimp Marketing API 3.0 simulator for msw, kept in Maps so a benchmark can push 200 000 members through it:
// basic auth with the key and its data center (https://{dc}.api.mailchimp.com/3.0), problem-document errors
// ({type, title, status, detail, instance}), the limit of 10 simultaneous connections (429 past it; a bare 403 on
// demand, as Mailchimp answers under load), batch subscribe with per-member errors (fake or invalid address,
// compliance state) and values of unknown merge fields dropped, merge fields, tags as static segments, campaigns
// (create, content, send to a tag, with merge tags rendered per member), the email activity report, and unsigned
// form-encoded list webhooks with the token of the webhook URL.
// https://mailchimp.com/developer/marketing/api/, https://mailchimp.com/developer/marketing/docs/errors/,
// https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/
import { createHash, randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { http, HttpResponse } from 'msw'

export interface MailchimpSandboxOptions {
  /** `<32 hex>-us21`: the suffix is the data center the sandbox answers on. */
  apiKey: string
  listId?: string
  listName?: string
  /** The audience's default sender (used by campaigns created without one). */
  campaignDefaults?: { from_name: string; from_email: string }
  /** The token in the webhook URL registered with the list (`…?token=`), put on webhook deliveries. */
  webhookToken?: string
  latencyMs?: number
  /** Simultaneous connections allowed (Mailchimp: 10); past it, 429. */
  maxConcurrent?: number
  /** Keep request bodies in the log (a benchmark of 200 000 members may turn this off). */
  keepBodies?: boolean
}

export interface SimMember {
  id: string
  email_address: string
  status: 'subscribed' | 'unsubscribed' | 'cleaned' | 'pending' | 'transactional'
  merge_fields: Record<string, string>
  tags: Set<string>
  last_changed: Date
}

export interface SimCampaign {
  id: string
  web_id: number
  type: string
  status: 'save' | 'sending' | 'sent'
  list_id: string
  segment_opts: unknown
  settings: { subject_line?: string; title?: string; from_name?: string; reply_to?: string }
  html: string | null
  create_time: Date
  send_time: Date | null
  /** Subscriber hashes the campaign went to. */
  recipients: string[]
}

export interface SimEmail {
  campaignId: string
  subject: string
  html: string
  from: string
  at: Date
}

export interface SimRequest {
  at: Date
  method: string
  path: string
  query: URLSearchParams
  /** Whether the Authorization header carried the sandbox's key. */
  auth: 'ok' | 'wrong' | 'missing'
  status: number
  body?: unknown
}

export interface WebhookDelivery {
  headers: Record<string, string>
  body: string
  /** The query of the webhook URL Mailchimp posts to (`token=…`). */
  query: string
}

interface SimList {
  id: string
  name: string
  campaignDefaults: { from_name: string; from_email: string; subject: string; language: string }
  mergeFields: Map<string, { merge_id: number; tag: string; name: string; type: string }>
  members: Map<string, SimMember>
  /** Tag name → id (a tag is a static segment). */
  tags: Map<string, number>
}

const hashOf = (email: string) => createHash('md5').update(email.trim().toLowerCase()).digest('hex')
const EMAIL = /^[^\s@]+@[^\s@]+\.[a-z]{2,}$/i
const mcTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, '+00:00')

export function mailchimpSandbox(opts: MailchimpSandboxOptions) {
  const dc = /-([a-z]+\d+)$/.exec(opts.apiKey)?.[1]
  if (!dc) throw new Error('the sandbox key needs a data center suffix, like -us21')
  const base = `https://${dc}.api.mailchimp.com/3.0`
  const listId = opts.listId ?? 'a1b2c3d4e5'
  let serial = 0
  const hexId = () => createHash('sha1').update(`${opts.apiKey}/${++serial}`).digest('hex').slice(0, 10)

  const state = {
    requests: [] as SimRequest[],
    down: false,
    latencyMs: opts.latencyMs ?? 0,
    maxConcurrent: opts.maxConcurrent ?? 10,
    inFlight: 0,
    /** The most simultaneous requests seen. */
    maxInFlight: 0,
    /** The next this many requests are refused with 429. */
    rateLimitNext: 0,
    /** The next this many requests get a bare 403 without a body. */
    bareForbiddenNext: 0,
    /** Addresses Mailchimp refuses as fake or invalid (besides malformed ones). */
    invalidAddresses: new Set<string>(),
    keepBodies: opts.keepBodies ?? true,
    lists: new Map<string, SimList>(),
    campaigns: new Map<string, SimCampaign>(),
    /** Emails sent per subscriber hash. */
    sent: new Map<string, SimEmail[]>(),
    /** Email activity per campaign and subscriber hash. */
    activity: new Map<string, { action: string; type?: string; timestamp: Date }[]>(),
  }

  function addList(id: string, name: string): SimList {
    const list: SimList = {
      id,
      name,
      campaignDefaults: { from_name: opts.campaignDefaults?.from_name ?? 'Tea House', from_email: opts.campaignDefaults?.from_email ?? 'news@teahouse.example', subject: '', language: 'en' },
      mergeFields: new Map(),
      members: new Map(),
      tags: new Map(),
    }
    for (const [i, [tag, fname]] of [['FNAME', 'First Name'], ['LNAME', 'Last Name'], ['ADDRESS', 'Address'], ['PHONE', 'Phone Number']].entries()) {
      list.mergeFields.set(tag!, { merge_id: i + 1, tag: tag!, name: fname!, type: tag === 'ADDRESS' ? 'address' : tag === 'PHONE' ? 'phone' : 'text' })
    }
    state.lists.set(id, list)
    return list
  }
  addList(listId, opts.listName ?? 'Tea House members')
  const mainList = () => state.lists.get(listId)!

  // ---- answers ----

  const problem = (status: number, title: string, detail: string, extra: Record<string, unknown> = {}) =>
    HttpResponse.json(
      { type: 'https://mailchimp.com/developer/marketing/docs/errors/', title, status, detail, instance: randomUUID(), ...extra },
      { status, headers: { 'content-type': 'application/problem+json; charset=utf-8' } },
    )
  const notFound = () => problem(404, 'Resource Not Found', 'The requested resource could not be found.')
  const invalid = (detail: string, errors?: { field: string; message: string }[]) => problem(400, 'Invalid Resource', detail, errors ? { errors } : {})

  const memberJson = (list: SimList, m: SimMember) => ({
    id: m.id,
    email_address: m.email_address,
    unique_email_id: m.id.slice(0, 10),
    contact_id: m.id.slice(0, 26),
    full_name: [m.merge_fields.FNAME, m.merge_fields.LNAME].filter(Boolean).join(' '),
    email_type: 'html',
    status: m.status,
    merge_fields: m.merge_fields,
    tags_count: m.tags.size,
    tags: [...m.tags].map((t) => ({ id: list.tags.get(t), name: t })),
    list_id: list.id,
    last_changed: mcTime(m.last_changed),
  })

  const campaignJson = (c: SimCampaign) => ({
    id: c.id,
    web_id: c.web_id,
    type: c.type,
    create_time: mcTime(c.create_time),
    status: c.status,
    emails_sent: c.recipients.length,
    send_time: c.send_time ? mcTime(c.send_time) : '',
    content_type: 'html',
    recipients: { list_id: c.list_id, segment_opts: c.segment_opts, recipient_count: c.recipients.length },
    settings: c.settings,
  })

  function tagId(list: SimList, name: string): number {
    let id = list.tags.get(name)
    if (id === undefined) list.tags.set(name, (id = 10_000 + list.tags.size + 1))
    return id
  }

  /** Sets member fields as Mailchimp does: values of merge fields the list does not have are dropped. */
  function applyMergeFields(list: SimList, m: SimMember, fields: unknown) {
    if (!fields || typeof fields !== 'object') return
    for (const [k, v] of Object.entries(fields as Record<string, unknown>)) if (list.mergeFields.has(k)) m.merge_fields[k] = String(v ?? '')
  }

  function batchSubscribe(list: SimList, body: Record<string, unknown>) {
    const members = body.members
    if (!Array.isArray(members)) return invalid('The resource submitted could not be validated. For field-specific details, see the \'errors\' array.', [{ field: 'members', message: 'Schema describes array, NULL found instead' }])
    if (members.length > 500) return invalid('The resource submitted could not be validated.', [{ field: 'members', message: 'Array has too many elements (max 500)' }])
    const updateExisting = body.update_existing === true
    const out = { new_members: [] as unknown[], updated_members: [] as unknown[], errors: [] as unknown[] }
    const now = new Date()
    for (const raw of members as Record<string, unknown>[]) {
      const email = String(raw.email_address ?? '').trim()
      const status = String(raw.status ?? raw.status_if_new ?? '')
      const refuse = (error: string, error_code = 'ERROR_GENERIC', extra: Record<string, string> = {}) => out.errors.push({ email_address: email, error, error_code, ...extra })
      if (!EMAIL.test(email) || state.invalidAddresses.has(email.toLowerCase())) {
        refuse(`${email} looks fake or invalid, please enter a real email address.`, 'ERROR_GENERIC', { field: 'email_address', field_message: 'Invalid email address' })
        continue
      }
      if (!['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional'].includes(status)) {
        refuse('Invalid status', 'ERROR_GENERIC', { field: 'status', field_message: `status must be one of subscribed, unsubscribed, cleaned, pending, transactional` })
        continue
      }
      const id = hashOf(email)
      const existing = list.members.get(id)
      if (existing && !updateExisting) {
        refuse(`${email} is already a list member. Use PUT to insert or update list members.`, 'ERROR_CONTACT_EXISTS')
        continue
      }
      // Unsubscribed and cleaned addresses cannot be put back to subscribed through the API.
      if (existing && (existing.status === 'unsubscribed' || existing.status === 'cleaned') && status === 'subscribed') {
        refuse(`${email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed.`)
        continue
      }
      const m: SimMember = existing ?? { id, email_address: email, status: status as SimMember['status'], merge_fields: {}, tags: new Set(), last_changed: now }
      m.status = status as SimMember['status']
      m.last_changed = now
      applyMergeFields(list, m, raw.merge_fields)
      if (body.sync_tags === true) m.tags.clear()
      if (Array.isArray(raw.tags)) for (const t of raw.tags) m.tags.add(String(t)), tagId(list, String(t))
      list.members.set(id, m)
      ;(existing ? out.updated_members : out.new_members).push(memberJson(list, m))
    }
    return HttpResponse.json({ ...out, total_created: out.new_members.length, total_updated: out.updated_members.length, error_count: out.errors.length, _links: [] })
  }

  /** Renders the merge tags of a text for one member. */
  function render(list: SimList, m: SimMember, text: string): string {
    return text.replace(/\*\|([A-Z0-9_:]+)\|\*/g, (whole, tag: string) => {
      if (tag === 'EMAIL') return m.email_address
      if (tag === 'UNSUB') return `https://example.${dc}.list-manage.com/unsubscribe?u=sim&id=${list.id}&e=${m.id.slice(0, 10)}`
      if (tag === 'LIST:ADDRESSLINE') return `${list.name}, 1 Tea Street, Shanghai`
      return tag in m.merge_fields ? m.merge_fields[tag]! : list.mergeFields.has(tag) ? '' : whole
    })
  }

  function sendCampaign(c: SimCampaign) {
    const list = state.lists.get(c.list_id)!
    const conditions = (c.segment_opts as { conditions?: { condition_type?: string; op?: string; value?: unknown }[] } | undefined)?.conditions ?? []
    const segmentIds = conditions.filter((x) => x.condition_type === 'StaticSegment' && x.op === 'static_is').map((x) => Number(x.value))
    const tagNames = [...list.tags].filter(([, id]) => segmentIds.includes(id)).map(([name]) => name)
    const now = new Date()
    c.status = 'sent'
    c.send_time = now
    for (const m of list.members.values()) {
      if (m.status !== 'subscribed') continue
      if (conditions.length > 0 && !tagNames.some((t) => m.tags.has(t))) continue
      c.recipients.push(m.id)
      const mail: SimEmail = { campaignId: c.id, subject: render(list, m, c.settings.subject_line ?? ''), html: render(list, m, c.html ?? ''), from: `${c.settings.from_name} <${c.settings.reply_to}>`, at: now }
      const box = state.sent.get(m.id)
      if (box) box.push(mail)
      else state.sent.set(m.id, [mail])
    }
  }

  // ---- the endpoint ----

  type Route = (req: Request, params: Record<string, string>, body: Record<string, unknown> | null, url: URL) => Response | Promise<Response>

  function route(method: 'get' | 'post' | 'put', path: string, fn: Route) {
    return http[method](`${base}${path}`, async ({ request, params }) => {
      const url = new URL(request.url)
      const entry: SimRequest = { at: new Date(), method: request.method, path: url.pathname, query: url.searchParams, auth: 'missing', status: 0 }
      state.requests.push(entry)
      state.inFlight++
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight)
      try {
        const answer = await (async (): Promise<Response> => {
          if (state.inFlight > state.maxConcurrent) return problem(429, 'Too Many Requests', `You have exceeded the limit of ${state.maxConcurrent} simultaneous connections.`)
          if (state.latencyMs > 0) await delay(state.latencyMs)
          if (state.down) return new HttpResponse('<html><body><h1>503 Service Unavailable</h1>No server is available to handle this request.</body></html>', { status: 503, headers: { 'content-type': 'text/html' } })
          if (state.rateLimitNext > 0) {
            state.rateLimitNext--
            return problem(429, 'Too Many Requests', `You have exceeded the limit of ${state.maxConcurrent} simultaneous connections.`)
          }
          if (state.bareForbiddenNext > 0) {
            state.bareForbiddenNext--
            return new HttpResponse(null, { status: 403 })
          }
          const auth = request.headers.get('authorization')
          const password = auth?.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':').slice(1).join(':') : null
          entry.auth = password === null ? 'missing' : password === opts.apiKey ? 'ok' : 'wrong'
          if (entry.auth !== 'ok') return problem(401, 'API Key Invalid', "Your API key may be invalid, or you've attempted to access the wrong datacenter.")
          let body: Record<string, unknown> | null = null
          if (request.method !== 'GET') {
            const text = await request.text()
            if (text) {
              try {
                body = JSON.parse(text) as Record<string, unknown>
              } catch {
                return problem(400, 'JSON Parse Error', "We encountered an unspecified JSON parsing error.")
              }
            }
          }
          if (state.keepBodies && body) entry.body = body
          return fn(request, params as Record<string, string>, body, url)
        })()
        entry.status = answer.status
        return answer
      } finally {
        state.inFlight--
      }
    })
  }

  const listOf = (params: Record<string, string>) => state.lists.get(params.listId ?? '')

  const handlers = [
    route('get', '/lists/:listId', (_r, p) => {
      const list = listOf(p)
      if (!list) return notFound()
      const subscribed = [...list.members.values()].filter((m) => m.status === 'subscribed').length
      return HttpResponse.json({ id: list.id, web_id: 1, name: list.name, campaign_defaults: list.campaignDefaults, stats: { member_count: subscribed } })
    }),
    route('post', '/lists/:listId', (_r, p, body) => {
      const list = listOf(p)
      if (!list) return notFound()
      return batchSubscribe(list, body ?? {})
    }),
    route('get', '/lists/:listId/merge-fields', (_r, p) => {
      const list = listOf(p)
      if (!list) return notFound()
      const fields = [...list.mergeFields.values()].map((f) => ({ ...f, list_id: list.id, required: false, public: true }))
      return HttpResponse.json({ merge_fields: fields, list_id: list.id, total_items: fields.length })
    }),
    route('post', '/lists/:listId/merge-fields', (_r, p, body) => {
      const list = listOf(p)
      if (!list) return notFound()
      const tag = String(body?.tag ?? '')
      if (!/^[A-Z0-9_]{1,10}$/.test(tag)) return invalid('The resource submitted could not be validated.', [{ field: 'tag', message: 'Merge tags must be at most 10 upper-case letters, digits or _' }])
      if (list.mergeFields.has(tag)) return invalid(`A Merge Field with the tag "${tag}" already exists for this list.`)
      const f = { merge_id: list.mergeFields.size + 1, tag, name: String(body?.name ?? tag), type: String(body?.type ?? 'text') }
      list.mergeFields.set(tag, f)
      return HttpResponse.json({ ...f, list_id: list.id, required: false, public: body?.public === true })
    }),
    // Add or remove member tags: 204 without a body; a tag set inactive comes off the member.
    route('post', '/lists/:listId/members/:hash/tags', (_r, p, body) => {
      const list = listOf(p)
      if (!list) return notFound()
      const member = [...list.members.values()].find((m) => m.id === p.hash)
      if (!member) return notFound()
      const tags = Array.isArray(body?.tags) ? (body.tags as { name?: unknown; status?: unknown }[]) : null
      if (!tags || tags.some((t) => typeof t?.name !== 'string' || (t.status !== 'active' && t.status !== 'inactive'))) {
        return invalid('The resource submitted could not be validated.', [{ field: 'tags', message: 'Each tag needs a name and a status of active or inactive' }])
      }
      for (const t of tags) {
        if (t.status === 'active') member.tags.add(t.name as string), tagId(list, t.name as string)
        else member.tags.delete(t.name as string)
      }
      return new HttpResponse(null, { status: 204 })
    }),
    route('get', '/lists/:listId/tag-search', (_r, p, _b, url) => {
      const list = listOf(p)
      if (!list) return notFound()
      const q = url.searchParams.get('name') ?? ''
      const tags = [...list.tags].filter(([name]) => name.includes(q)).map(([name, id]) => ({ id, name }))
      return HttpResponse.json({ tags, total_items: tags.length })
    }),
    route('get', '/campaigns', (_r, _p, _b, url) => {
      const q = url.searchParams
      let list = [...state.campaigns.values()].filter((c) => !q.get('list_id') || c.list_id === q.get('list_id'))
      list.sort((a, b) => a.create_time.getTime() - b.create_time.getTime() || a.web_id - b.web_id)
      if (q.get('sort_dir') === 'DESC') list.reverse()
      const total = list.length
      const offset = Number(q.get('offset') ?? 0)
      const count = Math.min(1000, Number(q.get('count') ?? 10))
      list = list.slice(offset, offset + count)
      return HttpResponse.json({ campaigns: list.map(campaignJson), total_items: total })
    }),
    route('post', '/campaigns', (_r, _p, body) => {
      const recipients = (body?.recipients ?? {}) as { list_id?: string; segment_opts?: { conditions?: { condition_type?: string; value?: unknown }[] } }
      const list = state.lists.get(recipients.list_id ?? '')
      if (body?.type !== 'regular' && body?.type !== 'plaintext') return invalid('The resource submitted could not be validated.', [{ field: 'type', message: 'Value is not one of the enum values' }])
      if (!list) return invalid('The resource submitted could not be validated.', [{ field: 'recipients.list_id', message: 'The list does not exist' }])
      for (const c of recipients.segment_opts?.conditions ?? []) {
        if (c.condition_type === 'StaticSegment' && ![...list.tags.values()].includes(Number(c.value))) return invalid('The resource submitted could not be validated.', [{ field: 'recipients.segment_opts', message: 'The segment does not exist' }])
      }
      const c: SimCampaign = {
        id: hexId(),
        web_id: 100_000 + state.campaigns.size,
        type: body.type,
        status: 'save',
        list_id: list.id,
        segment_opts: recipients.segment_opts ?? null,
        settings: (body.settings ?? {}) as SimCampaign['settings'],
        html: null,
        create_time: new Date(),
        send_time: null,
        recipients: [],
      }
      state.campaigns.set(c.id, c)
      return HttpResponse.json(campaignJson(c))
    }),
    route('put', '/campaigns/:campaignId/content', (_r, p, body) => {
      const c = state.campaigns.get(p.campaignId ?? '')
      if (!c) return notFound()
      if (c.status !== 'save') return problem(400, 'Bad Request', `This campaign cannot be updated because it has status ${c.status}.`)
      c.html = typeof body?.html === 'string' ? body.html : null
      return HttpResponse.json({ html: c.html, plain_text: (c.html ?? '').replace(/<[^>]+>/g, '') })
    }),
    route('post', '/campaigns/:campaignId/actions/send', (_r, p) => {
      const c = state.campaigns.get(p.campaignId ?? '')
      if (!c) return notFound()
      if (c.status !== 'save') return problem(400, 'Bad Request', `Cannot send a campaign with status "${c.status}".`)
      const ready = c.html && c.html.includes('*|UNSUB|*') && c.settings.subject_line && c.settings.from_name && c.settings.reply_to
      if (!ready) return problem(400, 'Bad Request', 'Your Campaign is not ready to send.')
      sendCampaign(c)
      return new HttpResponse(null, { status: 204 })
    }),
    route('get', '/reports/:campaignId/email-activity/:hash', (_r, p) => {
      const c = state.campaigns.get(p.campaignId ?? '')
      const hash = p.hash ?? ''
      if (!c || !c.recipients.includes(hash)) return notFound()
      const m = state.lists.get(c.list_id)!.members.get(hash)!
      const activity = (state.activity.get(`${c.id}/${hash}`) ?? []).map((a) => ({ ...a, timestamp: mcTime(a.timestamp), ip: '' }))
      return HttpResponse.json({ campaign_id: c.id, list_id: c.list_id, email_id: hash, email_address: m.email_address, activity })
    }),
  ]

  // ---- helpers for tests, the benchmark and the demo ----

  /** The member of the audience with this address. */
  const member = (email: string) => mainList().members.get(hashOf(email))

  /** Adds (or changes) a member directly, as a signup form would. */
  function addMember(email: string, m: { status?: SimMember['status']; merge_fields?: Record<string, string>; tags?: string[] } = {}): SimMember {
    const list = mainList()
    const id = hashOf(email)
    const existing = list.members.get(id)
    const member: SimMember = existing ?? { id, email_address: email, status: 'subscribed', merge_fields: {}, tags: new Set(), last_changed: new Date() }
    member.status = m.status ?? member.status
    Object.assign(member.merge_fields, m.merge_fields ?? {})
    for (const t of m.tags ?? []) member.tags.add(t), tagId(list, t)
    list.members.set(id, member)
    return member
  }

  const firedAt = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ')

  /** A list webhook delivery as Mailchimp posts it: form-encoded, unsigned, to the URL with the token. */
  function webhookDelivery(type: string, data: Record<string, string>, o: { firedAt?: Date; token?: string } = {}): WebhookDelivery {
    const form = new URLSearchParams()
    form.set('type', type)
    form.set('fired_at', firedAt(o.firedAt ?? new Date()))
    for (const [k, v] of Object.entries(data)) form.set(`data[${k}]`, v)
    const token = o.token ?? opts.webhookToken ?? ''
    return { headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'MailChimp' }, body: form.toString(), query: new URLSearchParams({ token }).toString() }
  }

  /** The person unsubscribes (by the link in a campaign): the member is unsubscribed and the webhook is returned. */
  function unsubscribe(email: string, o: { reason?: 'manual' | 'abuse'; campaignId?: string; firedAt?: Date; token?: string } = {}): WebhookDelivery {
    const m = addMember(email, { status: 'unsubscribed' })
    return webhookDelivery('unsubscribe', { action: 'unsub', reason: o.reason ?? 'manual', id: m.id.slice(0, 10), list_id: listId, email: m.email_address, email_type: 'html', 'merges][EMAIL': m.email_address, ip_opt: '203.0.113.7', campaign_id: o.campaignId ?? '' }, o)
  }

  /** The address bounced hard (or was reported): the member is cleaned and the webhook is returned. */
  function clean(email: string, o: { reason?: 'hard' | 'abuse'; campaignId?: string; firedAt?: Date; token?: string } = {}): WebhookDelivery {
    const m = addMember(email, { status: 'cleaned' })
    if (o.campaignId) state.activity.set(`${o.campaignId}/${m.id}`, [...(state.activity.get(`${o.campaignId}/${m.id}`) ?? []), { action: 'bounce', type: 'hard', timestamp: new Date() }])
    return webhookDelivery('cleaned', { list_id: listId, campaign_id: o.campaignId ?? '', reason: o.reason ?? 'hard', email: m.email_address }, o)
  }

  /** Records an open, a click or a bounce of a campaign's email to an address. */
  function addActivity(campaignId: string, email: string, action: 'open' | 'click' | 'bounce', type?: 'hard' | 'soft', at = new Date()) {
    const key = `${campaignId}/${hashOf(email)}`
    state.activity.set(key, [...(state.activity.get(key) ?? []), { action, ...(type ? { type } : {}), timestamp: at }])
  }

  return {
    handlers,
    state,
    base,
    listId,
    member,
    addMember,
    /** Mailchimp will refuse this address as fake or invalid. */
    markInvalid: (email: string) => void state.invalidAddresses.add(email.toLowerCase()),
    /** The emails a campaign sent to an address, merge tags rendered. */
    sentTo: (email: string): SimEmail[] => state.sent.get(hashOf(email)) ?? [],
    /** Addresses with the tag, in the audience. */
    tagged: (tag: string) => [...mainList().members.values()].filter((m) => m.tags.has(tag)).map((m) => m.email_address),
    campaignByTitle: (title: string) => [...state.campaigns.values()].find((c) => c.settings.title === title),
    webhookDelivery,
    unsubscribe,
    clean,
    addActivity,
    subscriberHash: hashOf,
    /** Requests to a path (without /3.0), optionally of one method. */
    requestsTo: (path: string | RegExp, method?: string) =>
      state.requests.filter((r) => (typeof path === 'string' ? r.path === `/3.0${path}` : path.test(r.path)) && (!method || r.method === method)),
  }
}

export type MailchimpSandbox = ReturnType<typeof mailchimpSandbox>
