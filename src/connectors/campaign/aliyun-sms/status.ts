// Settling deliveries with QuerySendDetails: one number, one send date (Beijing), one BizId per query.
// SendStatus 1 waits for the carrier's receipt, 2 failed (ErrCode says why), 3 delivered.
import type { ConnectorContext } from '../../framework/define.ts'
import type { CampaignEvent } from '../../framework/campaign.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import type { AliyunSmsConfig } from './config.ts'
import { checkAddress, splitVendorMessageId } from './phone.ts'
import { aliyunRpc, type AliyunAnswer } from './rpc.ts'

interface SendDetail {
  PhoneNum: string
  SendStatus: number
  ErrCode?: string
  TemplateCode?: string
  Content?: string
  SendDate?: string
  ReceiveDate?: string
  OutId?: string
}

interface QueryAnswer extends AliyunAnswer {
  TotalCount?: number
  SmsSendDetailDTOs?: { SmsSendDetailDTO?: SendDetail[] }
}

const BEIJING_MS = 8 * 3_600_000

/** `yyyyMMdd` of an instant in Beijing time. */
export function beijingDate(at: Date): string {
  return new Date(at.getTime() + BEIJING_MS).toISOString().slice(0, 10).replace(/-/g, '')
}

/** Aliyun's `2017-01-01 00:00:00` (Beijing time) as ISO 8601 UTC; null when it is not such a time. */
export function beijingTimeToIso(value: string | undefined | null): string | null {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})$/.exec(value?.trim() ?? '')
  if (!m) return null
  const t = Date.parse(`${m[1]}T${m[2]}+08:00`)
  return Number.isNaN(t) ? null : new Date(t).toISOString()
}

/**
 * One query per delivery that has a vendor message id (a send whose answer was lost has none: its receipt cannot
 * be matched either, and it stays unknown). A failed query ends the round: the events found so far are returned,
 * and the deliveries not looked at are asked about again next time (the first failure is thrown when none was found).
 */
export async function queryAliyunStatus(
  ctx: ConnectorContext<AliyunSmsConfig>,
  input: { deliveries: { deliveryId: string; vendorMessageId: string | null; address: string; sentAt: string }[] },
): Promise<CampaignEvent[]> {
  const events: CampaignEvent[] = []
  for (const d of input.deliveries) {
    const id = d.vendorMessageId ? splitVendorMessageId(d.vendorMessageId) : null
    if (!id) continue
    const checked = checkAddress(id.e164, ctx.config.templateScope)
    if (!checked.ok) continue
    const sentAt = new Date(d.sentAt)
    let res
    try {
      res = await aliyunRpc<QueryAnswer>(
        ctx,
        'QuerySendDetails',
        { PhoneNumber: checked.vendorPhone, SendDate: beijingDate(Number.isNaN(sentAt.getTime()) ? ctx.now() : sentAt), BizId: id.bizId, PageSize: '10', CurrentPage: '1' },
        { idempotent: true },
      )
    } catch (e) {
      if (e instanceof ConnectorError && events.length > 0) break
      throw e
    }
    const rows = res.data.SmsSendDetailDTOs?.SmsSendDetailDTO ?? []
    const row = rows.find((r) => r.PhoneNum === checked.vendorPhone) ?? rows[0]
    if (!row || (row.SendStatus !== 2 && row.SendStatus !== 3)) continue
    const at = beijingTimeToIso(row.ReceiveDate) ?? beijingTimeToIso(row.SendDate) ?? ctx.now().toISOString()
    events.push({
      kind: 'status',
      deliveryId: d.deliveryId,
      vendorMessageId: d.vendorMessageId,
      status: row.SendStatus === 3 ? 'delivered' : 'failed',
      ...(row.ErrCode ? { code: row.ErrCode } : {}),
      at,
    })
  }
  return events
}
