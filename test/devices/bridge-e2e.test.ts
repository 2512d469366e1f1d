// A sale's device work end to end: the sale's transaction writes the jobs, the hub sends them over the bridge link,
// the bridge drives a simulated ESC/POS printer (TCP, answering DLE EOT) and pole display, and the outcomes come
// back. Prints once across reconnects, waits out a paper-out printer (the receipt that waited prints before the next
// sale's; switched off meanwhile, it never prints), delivers what queued during an outage in order, never kicks a
// drawer late.
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { startBridgeLinks } from '../../src/devices/hub-link.ts'
import { useTestHub } from '../helpers/db.ts'
import { deviceRig, rawBridge, until, type DeviceRig } from '../helpers/devices.ts'

describe('device work through the bridge', () => {
  const hub = useTestHub()
  let rig: DeviceRig | undefined
  afterEach(async () => {
    hub.setNow(undefined)
    await rig?.close()
    rig = undefined
  })

  const finished = (jobs: any[]) => jobs.every((j) => !['queued', 'sent'].includes(j.state))

  it('a cash sale prints its receipt once, kicks the drawer and shows the change', async () => {
    rig = await deviceRig(hub)
    await rig.startBridge()
    const sale = await rig.sell({ quantity: 3 })
    const [printed] = await rig.waitForReceipts(1, 10_000)
    expect(printed!.text).toContain(sale.receiptNo)
    expect(printed!.text).toContain('农夫山泉')
    expect(printed!.cuts).toBe(1)
    await until(() => rig!.printer.drawerKicks.length, (n) => n === 1, 10_000, 'the drawer kick')
    expect(rig.printer.drawerKicks[0]!.pin).toBe(2)
    const jobs = await until(() => rig!.jobs(), (js) => js.length === 3 && finished(js), 10_000, 'jobs to finish')
    expect(jobs.map((j) => [j.action, j.state])).toEqual([
      ['print', 'done'],
      ['drawer', 'done'],
      ['display', 'done'],
    ])
    // ¥6.00 paid with ¥14.00 cash: the display shows the change.
    expect(rig.display.screen().join('|')).toMatch(/14\.00.*\|.*8\.00/)
    expect(jobs[0].preview).toContain(sale.receiptNo)
    expect(rig.receipts()).toHaveLength(1)
  })

  it('prints once when the link drops after the bridge took the job and before its result came back', async () => {
    rig = await deviceRig(hub)
    const bridge = await rig.startBridge()
    const taken = new Promise<void>((resolve) => bridge.events.once('work', () => resolve()))
    rig.printer.setOffline(false)
    // Cut the hub's end the moment the bridge has the receipt: the result cannot come back on this link.
    const down = taken.then(() => rig!.linkDown())
    const sale = await rig.sell({ cash: false })
    await down
    await rig.waitForReceipts(1, 10_000)
    await rig.linkUp()
    const jobs = await until(() => rig!.jobs(), (js) => js.length === 2 && finished(js), 10_000, 'the result after the reconnect')
    expect(jobs.find((j) => j.action === 'print')).toMatchObject({ state: 'done' })
    // On the new link the bridge sends its journaled result first, and the hub sends the open receipt again unless
    // that result landed before it read its open work: either way the bridge ran each job once (a job sent
    // again is answered from its journal; test/devices/bridge-agent.test.ts holds that case exactly).
    expect(bridge.stats()).toMatchObject({ received: jobs.length, executed: jobs.length })
    await new Promise((r) => setTimeout(r, 300))
    expect(rig.receipts().filter((p) => p.text.includes(sale.receiptNo))).toHaveLength(1)
  })

  it('a printer out of paper fails the receipt with that reason, and it prints once the paper is back', async () => {
    rig = await deviceRig(hub)
    await rig.startBridge()
    rig.printer.setPaper('end')
    const sale = await rig.sell({ cash: false })
    const failed = await until(() => rig!.jobs(), (js) => js.some((j) => j.action === 'print' && j.state === 'failed'), 10_000, 'the paper-out failure')
    expect(failed.find((j) => j.action === 'print')).toMatchObject({ state: 'failed', reason: 'paper_end', retryable: true })
    expect(rig.receipts()).toHaveLength(0)
    const devices = (await rig.api.get(`/api/v1/devices/${rig.devices.printer.id}`)).body
    expect(devices.status.problem).toBe('paper_end')

    rig.printer.setPaper('ok')
    const [printed] = await rig.waitForReceipts(1, 10_000)
    expect(printed!.text).toContain(sale.receiptNo)
    const done = await until(() => rig!.jobs(), (js) => js.some((j) => j.action === 'print' && j.state === 'done'), 10_000, 'the retry')
    expect(done.find((j) => j.action === 'print')!.attempts).toBe(2)
    expect(rig.receipts()).toHaveLength(1)
  })

  it('paper back, seen first by the next sale: the receipt that waited for paper prints before the next one', async () => {
    // The bridge polls the printer's status rarely here: the next receipt is what finds the paper back.
    rig = await deviceRig(hub, { pumpIntervalMs: 200, statusIntervalMs: 60_000 })
    await rig.startBridge()
    rig.printer.setPaper('end')
    const a = await rig.sell({ cash: false })
    await until(() => rig!.jobs(), (js) => js.some((j) => j.action === 'print' && j.state === 'failed'), 10_000, 'the paper-out failure')
    rig.printer.setPaper('ok')
    const b = await rig.sell({ cash: false })
    const prints = await rig.waitForReceipts(2, 15_000)
    expect(prints.map((p) => [a, b].findIndex((s) => p.text.includes(s.receiptNo)))).toEqual([0, 1])
    const jobs = await until(() => rig!.jobs(), (js) => js.filter((j) => j.action === 'print').every((j) => j.state === 'done'), 10_000, 'both receipts done')
    expect(jobs.filter((j) => j.action === 'print').map((j) => [j.document.saleId, j.attempts])).toEqual([
      [a.id, 2],
      [b.id, 1],
    ])
  })

  it('a printer switched off while its receipt waits for paper gets nothing when its bridge then reports the paper back', async () => {
    rig = await deviceRig(hub, { pumpIntervalMs: 200 })
    const bridge = await rawBridge(rig.hubUrl, rig.store.storeId, rig.bridgeKey)
    try {
      const sale = await rig.sell({ cash: false })
      const print = (await rig.jobs()).find((j) => j.action === 'print' && j.document.saleId === sale.id)
      expect(await bridge.waitFor((m) => m.type === 'work' && m.work.jobId === print.id)).toBeDefined()
      const status = (paper: 'ok' | 'end') => ({ online: true, coverOpen: false, paper, drawerOpen: false, problem: paper === 'ok' ? null : 'paper_end', checkedAt: new Date().toISOString() })
      bridge.send({ type: 'result', result: { jobId: print.id, outcome: 'failed', reason: 'paper_end', message: 'paper end', retryable: true, status: status('end'), finishedAt: new Date().toISOString() } })
      await until(async () => (await rig!.api.get(`/api/v1/device-jobs/${print.id}`)).body.state, (s) => s === 'failed', 3000, 'the paper-out failure')
      expect((await rig.api.patch(`/api/v1/devices/${rig.devices.printer.id}`, { enabled: false })).status).toBe(200)
      expect((await rig.api.get(`/api/v1/device-jobs/${print.id}`)).body).toMatchObject({ state: 'dropped', reason: 'device_disabled', retryable: false })
      const sentBefore = bridge.msgs.filter((m) => m.type === 'work' && m.work.jobId === print.id).length
      // The bridge still polls the printer it was told about when it connected, and sees paper again.
      bridge.send({ type: 'status', deviceId: rig.devices.printer.id, status: status('ok') })
      await new Promise((r) => setTimeout(r, 1000))
      expect(bridge.msgs.filter((m) => m.type === 'work' && m.work.jobId === print.id)).toHaveLength(sentBefore)
      expect((await rig.api.get(`/api/v1/device-jobs/${print.id}`)).body).toMatchObject({ state: 'dropped', attempts: 1 })
      // A switched-off printer's status report changes nothing: the hub keeps the last one it took.
      expect((await rig.api.get(`/api/v1/devices/${rig.devices.printer.id}`)).body.status).toMatchObject({ problem: 'paper_end' })
    } finally {
      bridge.ws.terminate()
    }
  })

  it('delivers work queued during a link outage in order, and drops a drawer kick that waited too long', async () => {
    rig = await deviceRig(hub)
    await rig.startBridge()
    await rig.linkDown()
    const sales: any[] = []
    for (let i = 0; i < 4; i++) sales.push(await rig.sell({ cash: false }))
    const opened = await rig.api.post(`/api/v1/registers/${rig.store.registerId}/drawer/open`, { reason: 'count the float' })
    expect(opened.status).toBe(201)
    // The link comes back 15 s later (as the hub sees it): the drawer kick is stale.
    hub.setNow(new Date(Date.now() + 15_000))
    await rig.linkUp()
    const prints = await rig.waitForReceipts(4, 15_000)
    expect(prints.map((p) => sales.findIndex((s) => p.text.includes(s.receiptNo)))).toEqual([0, 1, 2, 3])
    const jobs = await until(() => rig!.jobs(), (js) => finished(js), 10_000, 'all jobs')
    expect(jobs.find((j) => j.action === 'drawer')).toMatchObject({ state: 'dropped', reason: 'expired' })
    expect(rig.printer.drawerKicks).toHaveLength(0)
  })

  it('a link lost in the middle of sending is unknown, settled by the printer’s status, never resent', async () => {
    rig = await deviceRig(hub)
    await rig.startBridge()
    rig.printer.dropNextJob({ afterBytes: 20 })
    await rig.sell({ cash: false })
    const jobs = await until(() => rig!.jobs(), (js) => js.some((j) => j.action === 'print' && !['queued', 'sent'].includes(j.state)), 10_000, 'the print outcome')
    const job = jobs.find((j) => j.action === 'print')
    // The printer answered its status afterwards and is fine: taken as done, marked as settled by status.
    expect(job).toMatchObject({ state: 'done', reason: 'link_lost', settledBy: 'status' })
    await new Promise((r) => setTimeout(r, 500))
    expect(rig.receipts().length).toBeLessThanOrEqual(1)
    const reprint = await rig.api.post(`/api/v1/device-jobs/${job.id}/reprint`, {})
    expect(reprint.status).toBe(201)
    const [copy] = (await rig.waitForReceipts(rig.receipts().length + 1, 10_000)).slice(-1)
    expect(copy!.text).toMatch(/REPRINT/)
  })

  it('links that were closed leave their listener to the pool: the database going away afterwards takes nothing down', async () => {
    // The hub's shutdown closes the links, then the pool, then its database; a connection the database ends on the way
    // must not be handed back a second time (that throws, and the hub exited 1 instead of 0).
    const links = await startBridgeLinks(hub)
    await links.close()
    const uncaught: unknown[] = []
    const record = (e: unknown) => uncaught.push(e)
    process.on('uncaughtException', record)
    // From a connection of its own: the pool hands its idle clients (the listener among them) to whoever asks.
    const outside = new pg.Client({ connectionString: hub.config.databaseUrl })
    await outside.connect()
    try {
      const ended = await outside.query(
        `select count(*)::int as n from (select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend') t`,
      )
      expect(ended.rows[0].n).toBeGreaterThan(0)
      // Each ended connection reaches its client as an error event, and the pool drops it after the handlers ran.
      await until(() => hub.database.pool.totalCount, (n) => n === 0, 5_000, 'the pool to drop the ended connections')
    } finally {
      process.off('uncaughtException', record)
      await outside.end()
    }
    expect(uncaught).toEqual([])
    // The pool still serves.
    expect((await hub.database.pool.query('select 1 as one')).rows).toEqual([{ one: 1 }])
  })
})
