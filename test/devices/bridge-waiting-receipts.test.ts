// Receipts that waited for the bridge's link: printed as they were when the sale was made (the member's points balance
// then), and not at all on a printer switched off meanwhile.
import { afterEach, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { deviceRig, until, type DeviceRig } from '../helpers/devices.ts'
import { seedProduct } from '../helpers/pos.ts'

let phones = 0
const phone = () => `1372${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`
const finished = (jobs: any[]) => jobs.every((j) => !['queued', 'sent'].includes(j.state))

describe('receipts that waited for the link', () => {
  const hub = useTestHub()
  let rig: DeviceRig | undefined
  afterEach(async () => {
    hub.setNow(undefined)
    await rig?.close()
    rig = undefined
  })

  it('receipts printed when the link returns show each sale’s own points balance, not today’s', async () => {
    rig = await deviceRig(hub)
    await rig.startBridge()
    const { api, store } = rig
    const item = await seedProduct(hub, store, { name: '咖啡', price: 1000, stock: 100 })
    const member = (await api.post('/api/v1/members', { phone: phone(), name: '王芳' })).body
    await rig.linkDown()
    const sales: any[] = []
    for (let i = 0; i < 2; i++) {
      const r = await api.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'wechat', amount: 1000 }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      sales.push(r.body)
    }
    expect(sales[0].pointsEarned).toBeGreaterThan(0)
    await rig.linkUp()
    const printed = await rig.waitForReceipts(2, 15_000)
    const first = printed.find((p) => p.text.includes(sales[0].receiptNo))!
    const balanceLine = first.lines.find((l) => l.includes('积分余额'))
    // After the first sale the member had the first sale's points only.
    expect(balanceLine, first.text).toMatch(new RegExp(`\\s${sales[0].pointsEarned}$`))
  })

  it('a printer disabled while its receipt waited for the link gets nothing', async () => {
    rig = await deviceRig(hub)
    await rig.startBridge()
    await rig.linkDown()
    const sale = await rig.sell({ cash: false })
    const off = await rig.api.patch(`/api/v1/devices/${rig.devices.printer.id}`, { enabled: false })
    expect(off.status, JSON.stringify(off.body)).toBe(200)
    expect(off.body.enabled).toBe(false)
    // What waited for it is dropped, with why; nothing of it is handed over once the link is back.
    const dropped = (await rig.jobs()).filter((j: any) => j.deviceId === rig!.devices.printer.id)
    expect(dropped.length).toBeGreaterThan(0)
    expect(dropped.map((j: any) => [j.state, j.reason])).toEqual(dropped.map(() => ['dropped', 'device_disabled']))
    await rig.linkUp()
    await until(() => rig!.bridge.connected, Boolean, 10_000, 'reconnect')
    await until(() => rig!.jobs(), finished, 10_000, 'jobs')
    expect(rig.receipts().filter((p) => p.text.includes(sale.receiptNo))).toHaveLength(0)
  })
})
