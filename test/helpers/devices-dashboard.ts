// A tea shop's devices in every state the devices dashboard shows: a till's receipt printer and pole display
// registered through the API, three real cash sales whose device jobs the sale trigger queued, run as a bridge would
// run them — the receipt rendered by buildWork (its preview decoded from the very ESC/POS bytes), handed over with
// markSent and finished with applyOutcome: printed, reprinted, outcome lost, failed on paper end, display
// unreachable — and a second store whose printers and scale report each other status (one device named with HTML).
// api.ts first: it loads the app, whose zod (with .openapi) the schemas of the core must be made with.
import { createApi, seedMerchant, type Api, type SeededMerchant } from './api.ts'
import { and, eq } from 'drizzle-orm'
import { expect } from 'vitest'
import { applyOutcome, getJob, markSent, type DeviceJob, type JobOutcome } from '../../src/core/devices/jobs.ts'
import { getDevice, recordDeviceStatus } from '../../src/core/devices/registry.ts'
import { deviceJobs } from '../../src/core/devices/schema.ts'
import type { DeviceStatus } from '../../src/devices/types.ts'
import { buildWork } from '../../src/devices/work.ts'
import type { TestHub } from './db.ts'
import { seedProduct, seedStore, type SeededStore } from './pos.ts'

export const TZ = 'Asia/Shanghai'
export const EVIL_DEVICE_NAME = '<script>alert("x")</script><b>Till 2</b> & co'
export const PRODUCT_NAME = '龙井茶 Longjing tea'
export const LOST_MESSAGE = 'the bridge lost its link before the printer answered'
export const PAPER_MESSAGE = 'the printer reported paper end before printing'
export const DISPLAY_MESSAGE = 'connect ECONNREFUSED 192.168.1.51:4001'

export interface DevicesState {
  m: SeededMerchant
  api: Api
  store: SeededStore
  /** The second store, with no sale: only device statuses. */
  store2: SeededStore
  /** Device ids. */
  printer: string
  display: string
  others: { kitchen: string; labels: string; back: string; scale: string; evil: string }
  /** The sales' receipt numbers and their jobs, as the seeding left them. */
  sales: { receiptNo: string; receipt: DeviceJob; display: DeviceJob }[]
  /** The reprint of the first receipt, printed. */
  reprint: DeviceJob
  /** When each device's status was read. */
  statusAt: Date
}

const status = (s: Omit<DeviceStatus, 'checkedAt'>, at: Date): DeviceStatus => ({ ...s, checkedAt: at.toISOString() })

export async function seedDevices(hub: TestHub): Promise<DevicesState> {
  const m = await seedMerchant(hub, { name: '西湖茶社 West Lake Tea', timeZone: TZ, currency: 'CNY', userLocale: 'en' })
  const api = createApi(hub).as(m.adminToken)
  const store = await seedStore(hub, m.merchantId)
  const store2 = await seedStore(hub, m.merchantId, { openSession: false })
  const tea = await seedProduct(hub, store, { sku: `TEA-${m.merchantId.slice(0, 8)}`, name: PRODUCT_NAME, price: 3000, stock: 50 })
  const db = hub.database.db

  const register = async (body: object) => {
    const r = await api.post('/api/v1/devices', body)
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    return r.body.id as string
  }
  const printer = await register({ storeId: store.storeId, registerId: store.registerId, name: 'Till 1 printer 前台打印机', kind: 'receipt_printer', driver: 'escpos_tcp', address: '192.168.1.50', paperWidth: 80 })
  const display = await register({ storeId: store.storeId, registerId: store.registerId, name: 'Pole display 顾客屏', kind: 'customer_display', driver: 'display_tcp', address: '192.168.1.51:4001' })
  const others = {
    kitchen: await register({ storeId: store2.storeId, name: 'Kitchen 厨房', kind: 'kitchen_printer', driver: 'escpos_tcp', address: '10.0.2.20', paperWidth: 58 }),
    labels: await register({ storeId: store2.storeId, name: 'Labels 标签', kind: 'label_printer', driver: 'escpos_tcp', address: '10.0.2.21' }),
    back: await register({ storeId: store2.storeId, name: 'Back office 后台', kind: 'receipt_printer', driver: 'escpos_tcp', address: '10.0.2.23', route: 'hub' }),
    scale: await register({ storeId: store2.storeId, name: 'Scale 电子秤', kind: 'scale', driver: 'scale_tcp', address: '10.0.2.22:8001' }),
    evil: await register({ storeId: store2.storeId, name: EVIL_DEVICE_NAME, kind: 'receipt_printer', driver: 'escpos_tcp', address: '10.0.2.24' }),
  }

  /** Runs a job as the bridge does: render it, hand it over with its preview, and apply the device's outcome. */
  const run = async (jobId: string, outcome: Omit<JobOutcome, 'jobId' | 'finishedAt'>) =>
    db.transaction(async (tx) => {
      const job = await getJob(tx, m.merchantId, jobId)
      const device = await getDevice(tx, m.merchantId, job.deviceId)
      const now = new Date()
      const { preview } = await buildWork(tx, job, device, now)
      await markSent(tx, [job.id], now, preview === null ? undefined : new Map([[job.id, preview]]))
      const r = await applyOutcome(tx, job.storeId, { jobId, ...outcome, finishedAt: new Date().toISOString() })
      expect(r.applied).toBe(true)
      return r.job!
    })
  const jobOf = async (key: string) => {
    const [job] = await db.select().from(deviceJobs).where(and(eq(deviceJobs.merchantId, m.merchantId), eq(deviceJobs.idempotencyKey, key)))
    expect(job, key).toBeDefined()
    return job!
  }

  const ready = status({ online: true, coverOpen: false, paper: 'ok', drawerOpen: false, problem: null }, new Date())
  const sales: DevicesState['sales'] = []
  for (let i = 0; i < 3; i++) {
    const sale = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: tea.sku }], tenders: [{ kind: 'cash', amount: 5000 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    const receipt = await jobOf(`sale:${sale.body.id}:receipt`)
    const shown = await jobOf(`sale:${sale.body.id}:display`)
    expect([receipt.deviceId, shown.deviceId]).toEqual([printer, display])
    sales.push({ receiptNo: sale.body.receiptNo, receipt, display: shown })
  }

  // The first sale printed and showed its change; a person then asked for its receipt again, and that printed too.
  sales[0]!.receipt = await run(sales[0]!.receipt.id, { outcome: 'done', reason: null, message: null, retryable: false, status: ready })
  sales[0]!.display = await run(sales[0]!.display.id, { outcome: 'done', reason: null, message: null, retryable: false, status: null })
  const again = await api.post(`/api/v1/device-jobs/${sales[0]!.receipt.id}/reprint`, {})
  expect(again.status, JSON.stringify(again.body)).toBe(201)
  const reprint = await run(again.body.id, { outcome: 'done', reason: null, message: null, retryable: false, status: ready })

  // The second: the link dropped after the bytes went out (unknown), and the display could not be reached.
  sales[1]!.receipt = await run(sales[1]!.receipt.id, { outcome: 'unknown', reason: 'link_lost', message: LOST_MESSAGE, retryable: false, status: null })
  const unreachable = status({ online: false, problem: 'unreachable' }, new Date())
  sales[1]!.display = await run(sales[1]!.display.id, { outcome: 'failed', reason: 'unreachable', message: DISPLAY_MESSAGE, retryable: true, status: unreachable })

  // The third: the printer was out of paper; its change screen came too late and was dropped.
  const paperEnd = status({ online: true, coverOpen: false, paper: 'end', drawerOpen: false, problem: 'paper_end' }, new Date())
  sales[2]!.receipt = await run(sales[2]!.receipt.id, { outcome: 'failed', reason: 'paper_end', message: PAPER_MESSAGE, retryable: true, status: paperEnd })
  sales[2]!.display = await run(sales[2]!.display.id, { outcome: 'dropped', reason: 'expired', message: 'not delivered in time', retryable: false, status: null })
  expect(sales.map((s) => [s.receipt.state, s.display.state])).toEqual([
    ['done', 'done'],
    ['unknown', 'failed'],
    ['failed', 'dropped'],
  ])

  const statusAt = new Date(Date.now() - 90_000)
  await db.transaction(async (tx) => {
    await recordDeviceStatus(tx, printer, paperEnd, statusAt)
    await recordDeviceStatus(tx, display, unreachable, statusAt)
    await recordDeviceStatus(tx, others.kitchen, status({ online: true, coverOpen: false, paper: 'near_end', problem: null }, statusAt), statusAt)
    await recordDeviceStatus(tx, others.labels, status({ online: true, coverOpen: true, paper: 'ok', problem: 'cover_open' }, statusAt), statusAt)
    await recordDeviceStatus(tx, others.back, status({ online: false, problem: 'offline' }, statusAt), statusAt)
    await recordDeviceStatus(tx, others.scale, status({ online: true, problem: null }, statusAt), statusAt)
  })

  return { m, api, store, store2, printer, display, others, sales, reprint, statusAt }
}
