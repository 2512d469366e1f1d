import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { removeLeftoverFiles } from '../../src/jobs/maintenance.ts'

describe('housekeeping of statement files left on disk', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-maintenance-'))
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const put = (dir: string, name: string, at: Date) => {
    fs.mkdirSync(path.join(dataDir, dir), { recursive: true })
    const f = path.join(dataDir, dir, name)
    fs.writeFileSync(f, 'x')
    fs.utimesSync(f, at, at)
    return f
  }

  it('removes downloads and uploads older than the cut-off, and nothing else', async () => {
    const now = new Date('2026-11-20T03:17:00Z')
    const dayAgo = new Date(now.getTime() - 86_400_000)
    const old = new Date(dayAgo.getTime() - 60_000)
    const recent = new Date(now.getTime() - 60_000)
    const gone = [put('downloads', 'a.part', old), put('uploads', 'b.part', old)]
    const kept = [put('downloads', 'c.part', recent), put('uploads', 'd.part', recent), put('uploads', 'notes.txt', old), put('pg', 'e.part', old)]
    expect(await removeLeftoverFiles(dataDir, dayAgo)).toBe(2)
    expect(gone.filter((f) => fs.existsSync(f))).toEqual([])
    expect(kept.filter((f) => fs.existsSync(f))).toEqual(kept)
    // A data dir without the spool directories is nothing to do.
    expect(await removeLeftoverFiles(path.join(dataDir, 'elsewhere'), dayAgo)).toBe(0)
  })
})
