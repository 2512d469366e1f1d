// Statement contents for parser tests that must read a file as a stream: one on disk whose `bytes()` (the whole file
// in memory) fails the test, and one whose reading fails midway, as a disk error would.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect } from 'vitest'
import { contentOnDisk, type StatementContent } from '../../src/core/reconciliation/file.ts'

/** Writes files to a directory of the test file's own, removed after its tests; each is read only as a stream. */
export function streamedFromDisk(): (bytes: Buffer, name?: string) => StatementContent {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-streamed-'))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  let n = 0
  return (bytes, name = `file-${++n}`) => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, bytes)
    return streamOnly(contentOnDisk(file))
  }
}

/** `content` read only as a stream: asking for it whole (`bytes()`) fails the test. */
export function streamOnly(content: StatementContent): StatementContent {
  return { size: content.size, path: content.path, chunks: (o) => content.chunks(o), bytes: () => expect.fail('the file was read whole') }
}

/** The first `good` bytes of `bytes`, then a read error. */
export function failingAfter(bytes: Buffer, good: number): StatementContent {
  return {
    size: bytes.length,
    async *chunks() {
      yield bytes.subarray(0, good)
      throw new Error('EIO: the disk failed')
    },
    bytes: () => expect.fail('the file was read whole'),
  }
}
