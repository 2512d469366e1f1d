// The back office's part of the demo: each day's accounting voucher per store, exported to the Kingdee sandbox;
// a member campaign by SMS through the Aliyun sandbox with a coupon attached; and this morning at the Shanghai till,
// with its printers, drawer, display and scale attached, so receipts and kitchen tickets come out of the simulators.
import type { DemoApi } from './client.ts'
import { scaleLabel, CATEGORIES } from './catalog.ts'
import { DEMO_TIME_ZONE, type DemoSetup, type DemoStore, type Progress } from './seed.ts'
import { SANDBOX } from '../sandboxes/index.ts'
import { localTimeOfDay } from '../lib/time.ts'
import { rng } from './random.ts'

/** Builds every store's voucher of every day and queues its export to the finance connection. */
export async function exportVouchers(api: DemoApi, stores: DemoStore[], dates: string[], financeConnectionId: string, progress: Progress): Promise<number> {
  // From now on yesterday's vouchers go to the ledger by themselves every night.
  await api.patch('/api/v1/merchant/settings', { vouchers: { exportTo: [financeConnectionId] } })
  let queued = 0
  const total = dates.length * stores.length
  for (const date of dates) {
    for (const store of stores) {
      const built = await api.post<{ voucher: { id: string; status: string } | null }>('/api/v1/vouchers/build', { date, storeId: store.id })
      if (built.voucher && built.voucher.status === 'built') {
        await api.post(`/api/v1/vouchers/${built.voucher.id}/export`, { connectionId: financeConnectionId, queue: true })
        queued++
      }
      progress('vouchers', queued, total)
    }
  }
  return queued
}

/** Quiet hours that keep a campaign from texting people at night; when the demo runs at night, they are moved. */
function quietHours(now: Date): { quietStart: string; quietEnd: string } {
  const hour = Number(localTimeOfDay(now, DEMO_TIME_ZONE).slice(0, 2))
  if (hour >= 9 && hour < 21) return { quietStart: '21:00', quietEnd: '09:00' }
  const pad = (h: number) => `${String(h % 24).padStart(2, '0')}:00`
  return { quietStart: pad(hour + 12), quietEnd: pad(hour + 20) }
}

/** "Members who earned points": an SMS with a come-back coupon, sent now through the Aliyun SMS sandbox. */
export async function sendCampaign(api: DemoApi, setup: Pick<DemoSetup, 'couponTemplates'>, smsConnectionId: string, now: Date): Promise<{ id: string; audience: number | null }> {
  const segment = await api.post<{ id: string }>('/api/v1/segments', { name: '有积分的会员 Members with points', rule: { points: { min: 1 } } })
  const campaign = await api.post<{ id: string }>('/api/v1/campaigns', {
    name: '回店礼短信 Come-back coupon SMS',
    segmentId: segment.id,
    connectionId: smsConnectionId,
    message: { templateCode: SANDBOX.aliyunSms.templateCode, signName: SANDBOX.aliyunSms.signName },
    couponTemplateId: setup.couponTemplates.comeBack,
    schedule: 'now',
    ...quietHours(now),
    ratePerSecond: 50,
  })
  const sent = await api.post<{ audience: number | null }>(`/api/v1/campaigns/${campaign.id}/send`, { dryRun: false })
  return { id: campaign.id, audience: sent.audience }
}

/**
 * This morning: the tills open, and a few customers buy at the Shanghai till with its devices attached — receipts
 * print, the drawer kicks for cash, the pole display shows the change, deli items print at the deli counter — and
 * one in Hangzhou. The counter scale is read once.
 */
export async function openToday(api: DemoApi, setup: DemoSetup, scaleId: string): Promise<number> {
  const r = rng(99)
  for (const store of setup.stores) {
    const open = await api.get<{ items: unknown[] }>(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)
    if (open.items.length === 0) await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 50_000, note: '早班 morning float' })
  }
  const deli = setup.sellables.filter((s) => s.product.category === CATEGORIES.deli)
  const packaged = setup.sellables.filter((s) => s.product.kind === 'packaged')
  let sold = 0
  for (const [i, store] of [setup.stores[0]!, setup.stores[0]!, setup.stores[0]!, setup.stores[0]!, setup.stores[1]!].entries()) {
    const lines: Record<string, unknown>[] = [{ sku: r.pick(packaged).sku, quantity: r.int(1, 2) }]
    const d = r.pick(deli)
    lines.push(d.product.unit === 'g' ? { barcode: scaleLabel(d.product.plu!, r.int(200, 600)) } : { sku: d.sku, quantity: 1 })
    const quote = await api.post<{ amountDue: number }>('/api/v1/sales/quote', { registerId: store.registerId, lines, tenders: [{ kind: 'cash', amount: 1 }] })
    const cash = i % 2 === 0
    const tenders = cash ? [{ kind: 'cash', amount: Math.ceil(quote.amountDue / 5000) * 5000 }] : [{ kind: 'wechat', amount: quote.amountDue }]
    if (!cash) {
      const exact = await api.post<{ amountDue: number }>('/api/v1/sales/quote', { registerId: store.registerId, lines })
      tenders[0]!.amount = exact.amountDue
    }
    await api.post('/api/v1/sales', { registerId: store.registerId, lines, tenders })
    sold++
  }
  await api.post(`/api/v1/devices/${scaleId}/jobs`, { action: 'weigh' })
  return sold
}
