// Sending a batch with SendBatchSms: up to 100 numbers, one template, a signature and template parameters per number,
// in one call that Aliyun takes or refuses as a whole.
//
// How outcomes are found per recipient:
// - a number that cannot be a recipient is never sent (one malformed number fails the whole call);
// - Aliyun answers one Code per call, so a call refused for one of its numbers (illegal number, opted out, flow
//   control of a number) is split in halves and sent again until the number is alone: a refused call sent nothing,
//   so splitting never sends a message twice;
// - a number appears once per call (two members sharing one phone go in separate calls), so BizId + number names
//   one message: that is the vendor message id receipts are matched by (OutId is per call: it carries the campaign).
import { createHash } from 'node:crypto'
import type { ConnectorContext } from '../../framework/define.ts'
import type { CampaignMessage, CampaignRecipient, SendOutcome } from '../../framework/campaign.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import type { AliyunSmsConfig } from './config.ts'
import { checkAddress, vendorMessageIdOf } from './phone.ts'
import { aliyunRpc, type AliyunAnswer } from './rpc.ts'

export const ALIYUN_MAX_BATCH = 100
/** OutId is "less than 256 characters". */
const OUT_ID_MAX = 255

interface SendAnswer extends AliyunAnswer {
  BizId?: string
}

interface Pending {
  index: number
  recipient: CampaignRecipient
  e164: string
  vendorPhone: string
}

/** Codes one number of a call causes, and the outcome of that number once it is alone in a call. */
const PER_NUMBER: Record<string, (r: CampaignRecipient, e: ConnectorError) => SendOutcome> = {
  'isv.MOBILE_NUMBER_ILLEGAL': (r, e) => ({ deliveryId: r.deliveryId, status: 'failed', code: 'isv.MOBILE_NUMBER_ILLEGAL', message: vendorMessage(e), invalidAddress: true }),
  // "该手机用户已退订推广短信": the number replied TD/R to this signature before.
  'isv.CUSTOMER_REFUSED': (r, e) => ({ deliveryId: r.deliveryId, status: 'failed', code: 'isv.CUSTOMER_REFUSED', message: vendorMessage(e), optedOut: true }),
  // Per-number flow control (the same number too often for one signature and template): later it goes through.
  'isv.BUSINESS_LIMIT_CONTROL': (r, e) => ({ deliveryId: r.deliveryId, status: 'failed', code: 'isv.BUSINESS_LIMIT_CONTROL', message: vendorMessage(e), retryable: true }),
  'isv.DOMESTIC_NUMBER_NOT_SUPPORTED': (r, e) => ({ deliveryId: r.deliveryId, status: 'failed', code: 'isv.DOMESTIC_NUMBER_NOT_SUPPORTED', message: vendorMessage(e) }),
}

const vendorMessage = (e: ConnectorError) => e.message.replace(/^.*?\(([^)]*)\)\s*$/, '$1')

/** A failure of a whole call, with the recipients of that call. */
class CallFailed extends Error {
  readonly error: ConnectorError
  readonly group: Pending[]
  constructor(error: ConnectorError, group: Pending[]) {
    super(error.message)
    this.error = error
    this.group = group
  }
}

/** The campaign's correlation id for Aliyun's per-call OutId (a hash when the key is too long). */
export const outIdOf = (campaignKey: string): string => (campaignKey.length <= OUT_ID_MAX ? campaignKey : createHash('sha256').update(campaignKey).digest('hex'))

const BEIJING_MS = 8 * 3_600_000
const DAY_MS = 86_400_000

/** Milliseconds until the console's daily (or monthly) cap resets: midnight, Beijing time. */
function untilReset(now: Date, period: 'day' | 'month'): number {
  const local = now.getTime() + BEIJING_MS
  if (period === 'day') return (Math.floor(local / DAY_MS) + 1) * DAY_MS - local
  const d = new Date(local)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - local
}

/** The console's daily and monthly caps are waits until the cap resets, not refusals of the campaign. */
function asLimit(e: ConnectorError, now: Date): ConnectorError {
  const period = e.vendorCode === 'isv.DAY_LIMIT_CONTROL' ? 'day' : e.vendorCode === 'isv.MONTH_LIMIT_CONTROL' ? 'month' : null
  if (!period) return e
  return new ConnectorError('rate_limited', `${e.message}: the ${period === 'day' ? 'daily' : 'monthly'} sending cap set in the SMS console is reached`, {
    status: e.status,
    vendorCode: e.vendorCode,
    retryAfterMs: untilReset(now, period),
    cause: e,
  })
}

/** Recipients in calls where each number appears once, in their order. */
function rounds(pending: Pending[]): Pending[][] {
  const out: { phones: Set<string>; items: Pending[] }[] = []
  for (const p of pending) {
    let round = out.find((r) => !r.phones.has(p.vendorPhone))
    if (!round) out.push((round = { phones: new Set(), items: [] }))
    round.phones.add(p.vendorPhone)
    round.items.push(p)
  }
  return out.map((r) => r.items)
}

export async function sendAliyunBatch(
  ctx: ConnectorContext<AliyunSmsConfig>,
  input: { campaignKey: string; message: CampaignMessage; recipients: CampaignRecipient[] },
): Promise<SendOutcome[]> {
  const { recipients, message } = input
  if (recipients.length > ALIYUN_MAX_BATCH) throw new ConnectorError('permanent', `SendBatchSms takes at most ${ALIYUN_MAX_BATCH} numbers, not ${recipients.length}`)
  const templateCode = message.templateCode?.trim()
  if (!templateCode) throw new ConnectorError('permanent', 'the campaign message has no Aliyun TemplateCode')
  const signName = message.signName?.trim() || ctx.config.signName
  if (!signName) throw new ConnectorError('permanent', 'the campaign message has no signature (SignName) and the connection has no default one')

  const outcomes: (SendOutcome | undefined)[] = new Array(recipients.length)
  const pending: Pending[] = []
  recipients.forEach((recipient, index) => {
    const checked = checkAddress(recipient.address, ctx.config.templateScope)
    if (checked.ok) pending.push({ index, recipient, e164: checked.e164, vendorPhone: checked.vendorPhone })
    else outcomes[index] = { deliveryId: recipient.deliveryId, status: 'failed', code: checked.code, message: checked.message, ...(checked.invalidAddress ? { invalidAddress: true } : {}) }
  })

  let accepted = 0
  const send = async (group: Pending[]): Promise<void> => {
    try {
      const res = await aliyunRpc<SendAnswer>(
        ctx,
        'SendBatchSms',
        {
          PhoneNumberJson: JSON.stringify(group.map((p) => p.vendorPhone)),
          SignNameJson: JSON.stringify(group.map(() => signName)),
          TemplateCode: templateCode,
          TemplateParamJson: JSON.stringify(group.map((p) => p.recipient.params)),
          OutId: outIdOf(input.campaignKey),
        },
        { idempotent: false },
      )
      const bizId = res.data.BizId ?? null
      for (const p of group) outcomes[p.index] = { deliveryId: p.recipient.deliveryId, status: 'accepted', vendorMessageId: bizId ? vendorMessageIdOf(bizId, p.e164) : null }
      accepted += group.length
    } catch (e) {
      if (!(e instanceof ConnectorError)) throw e
      const perNumber = e.vendorCode ? PER_NUMBER[e.vendorCode] : undefined
      if (!perNumber) throw new CallFailed(e, group)
      if (group.length === 1) {
        outcomes[group[0]!.index] = perNumber(group[0]!.recipient, e)
        return
      }
      const half = Math.ceil(group.length / 2)
      await send(group.slice(0, half))
      await send(group.slice(half))
    }
  }

  try {
    for (const round of rounds(pending)) await send(round)
  } catch (e) {
    if (!(e instanceof CallFailed)) throw e
    const error = asLimit(e.error, ctx.now())
    // Nothing was taken: the batch failed as a whole, and the caller may send it again as it is.
    if (accepted === 0) throw error
    // Some numbers were taken: throwing would make the caller send them twice, so the rest get outcomes.
    const inFlight = new Set(e.group.map((p) => p.index))
    for (const p of pending) {
      if (outcomes[p.index]) continue
      const deliveryId = p.recipient.deliveryId
      if (!inFlight.has(p.index)) outcomes[p.index] = { deliveryId, status: 'failed', code: 'not_sent', message: `not sent after an earlier call of the batch failed: ${error.message}`, retryable: true }
      // Refused unread (a 503): nothing of the call went, and it is sent again like the numbers after it.
      else if (error.notSent) outcomes[p.index] = { deliveryId, status: 'failed', code: 'not_sent', message: `not sent: ${error.message}`, retryable: true }
      else if (error.kind === 'retryable') outcomes[p.index] = { deliveryId, status: 'failed', code: 'outcome_unknown', message: `${error.message}; Aliyun may have taken it: settle it from receipts, do not resend`, retryable: false }
      else outcomes[p.index] = { deliveryId, status: 'failed', code: error.vendorCode ?? error.kind, message: error.message, retryable: error.transient }
    }
  }
  return outcomes as SendOutcome[]
}
