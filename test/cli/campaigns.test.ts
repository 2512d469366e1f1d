import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_SECRET_KEY, useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { lastJsonLine, runCli } from '../helpers/processes.ts'
import { queuedJobs } from '../helpers/jobs.ts'
import { localTimeOfDay } from '../../src/lib/time.ts'

describe('tillbridge campaigns', { timeout: 120_000 }, () => {
  const hub = useTestHub()
  let dir: string
  let env: Record<string, string>
  let campaignId: string
  let quietCampaignId: string
  let admin: ReturnType<typeof createApi>

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-campaigns-'))
    env = { DATABASE_URL: hub.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    admin = createApi(hub).as(m.adminToken)
    for (const phone of ['+8613900001001', '+8613900001002', '+8613900001003']) {
      expect((await admin.post('/api/v1/members', { phone, consents: [{ channel: 'sms', granted: true, source: 'till' }] })).status).toBe(201)
    }
    const conn = await admin.post('/api/v1/connections', { connectorId: 'aliyun-sms', name: 'SMS', config: { accessKeyId: 'LTAI5tCliTest0001', accessKeySecret: 'cli-test-access-key-secret-01', signName: '茶语小铺' } })
    const segment = await admin.post('/api/v1/segments', { name: 'all', rule: { points: { min: 0 } } })
    const campaign = await admin.post('/api/v1/campaigns', { name: 'CLI', segmentId: segment.body.id, connectionId: conn.body.id, message: { templateCode: 'SMS_1' } })
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201)
    campaignId = campaign.body.id
    // Quiet from an hour ago to two hours on, in the merchant's time zone.
    const shift = (hhmm: string, minutes: number) => {
      const t = (((Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5)) + minutes) % 1440) + 1440) % 1440
      return `${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`
    }
    const local = localTimeOfDay(new Date(), 'Asia/Shanghai')
    const quiet = await admin.post('/api/v1/campaigns', { name: 'CLI quiet', segmentId: segment.body.id, connectionId: conn.body.id, message: { templateCode: 'SMS_1' }, quietStart: shift(local, -60), quietEnd: shift(local, 120) })
    expect(quiet.status, JSON.stringify(quiet.body)).toBe(201)
    quietCampaignId = quiet.body.id
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('counts the audience with --dry-run --json and sends nothing', async () => {
    const r = await runCli(['campaigns', 'send', '--campaign', campaignId, '--dry-run', '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    expect(lastJsonLine(r.stdout)).toMatchObject({ campaignId, runKey: 'once', dryRun: true, audience: 3 })
    expect(r.stdout).toContain('nothing sent')
  })

  it('a send inside the quiet hours leaves the run to the worker: the campaign is sending and its job queued for the end of them', async () => {
    const r = await runCli(['campaigns', 'send', '--campaign', quietCampaignId, '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('the worker picks it up')
    expect(lastJsonLine(r.stdout)).toMatchObject({ done: false, resumeAt: expect.any(String), sent: 0 })
    const jobs = (await queuedJobs(hub, 'campaigns.send')).filter((j) => j.payload.campaignId === quietCampaignId)
    expect(jobs).toHaveLength(1)
    expect((await admin.get(`/api/v1/campaigns/${quietCampaignId}`)).body.status).toBe('sending')
  })

  it('refuses a malformed or unknown campaign with a clear error', async () => {
    const bad = await runCli(['campaigns', 'send', '--campaign', 'nope'], env)
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toContain('must be a campaign id')
    const unknown = await runCli(['campaigns', 'send', '--campaign', '01a2344d-0000-7000-8000-0000000000ff'], env)
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toContain('no campaign')
  })
})
