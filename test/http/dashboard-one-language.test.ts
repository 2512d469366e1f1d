// Each dashboard page is in one language, the reader's (`<html lang>` says which): its status chips, placeholders,
// choices and messages too, not English and Chinese side by side.
import { beforeAll, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { seedDevices, type DevicesState } from '../helpers/devices-dashboard.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp, type App } from '../../src/http/app.ts'

const CJK = /[\u4e00-\u9fff]/

describe('the devices page in one language', () => {
  const hub = useTestHub()
  let app: App
  let s: DevicesState
  beforeAll(async () => {
    app = createApp(hub)
    s = await seedDevices(hub)
  })

  const chipsOf = (text: string) => [...text.matchAll(/<span class="chip chip-[^"]*" data-status="[^"]*">([^<]*)<\/span>/g)].map((m) => m[1]!)

  it('writes chips, placeholders and choices in English for an English reader, and in Chinese for a Chinese one', async () => {
    const c = formClient(app)
    expect((await c.login(s.m.adminEmail, s.m.password)).status).toBe(303)
    const en = await c.get('/dashboard/devices')
    expect(en.text).toContain('<html lang="en">')
    const chips = chipsOf(en.text)
    expect(chips.length).toBeGreaterThan(0)
    expect(chips.filter((t) => CJK.test(t))).toEqual([])
    expect(en.text).toContain('<option value="">All stores</option>')
    for (const placeholder of en.text.matchAll(/placeholder="([^"]*)"/g)) expect(placeholder[1]).not.toMatch(CJK)

    expect((await s.api.patch('/api/v1/me', { locale: 'zh-CN' })).status).toBe(200)
    const zh = await c.get('/dashboard/devices')
    expect(zh.text).toContain('<html lang="zh-CN">')
    // Chinese labels only (a problem a device reported stays as it said it).
    expect(chipsOf(zh.text).map((t) => t.split(' · ')[0]!).filter((t) => /[a-z]{3,}/i.test(t))).toEqual([])
    expect(zh.text).toContain('<option value="">全部门店</option>')
    expect((await s.api.patch('/api/v1/me', { locale: 'en' })).status).toBe(200)
  })
})
