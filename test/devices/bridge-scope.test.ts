// A bridge linked for one store speaks for that store's devices only: a status it reports for any other device
// (another store's, another merchant's) is refused and changes nothing.
import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'
import { deviceRig, type DeviceRig } from '../helpers/devices.ts'

describe('bridge link scope', () => {
  const hub = useTestHub()
  let rig: DeviceRig | undefined
  afterEach(async () => {
    await rig?.close()
    rig = undefined
  })

  it("a bridge of another merchant cannot write the status of this merchant's printer", async () => {
    rig = await deviceRig(hub)
    const printer = rig.devices.printer
    const before = (await rig.api.get(`/api/v1/devices/${printer.id}`)).body.status
    const other = await seedMerchant(hub)
    const otherStore = await seedStore(hub, other.merchantId)
    const key = (await createApi(hub).as(other.adminToken).post(`/api/v1/stores/${otherStore.storeId}/bridge-keys`, { name: 'Their PC' })).body.key
    const ws = new WebSocket(`${rig.hubUrl.replace('http', 'ws')}/api/v1/bridge/link?store=${otherStore.storeId}`, { headers: { authorization: `Bearer ${key}` } })
    const replies: { type: string; code?: string }[] = []
    ws.on('message', (d) => replies.push(JSON.parse(d.toString())))
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    ws.send(JSON.stringify({ type: 'hello', storeId: otherStore.storeId, protocol: 1, agent: 'test', bridgeId: randomUUID() }))
    ws.send(JSON.stringify({ type: 'status', deviceId: printer.id, status: { online: false, problem: 'paper_out', checkedAt: new Date().toISOString() } }))
    const deadline = Date.now() + 5000
    while (!replies.some((r) => r.type === 'error') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    ws.close()
    expect(replies.find((r) => r.type === 'error')).toMatchObject({ code: 'unknown_device' })
    expect((await rig.api.get(`/api/v1/devices/${printer.id}`)).body.status).toEqual(before)
  })
})
