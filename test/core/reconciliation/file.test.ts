import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { contentHead, contentInMemory, contentOnDisk, decompressedChunks, isUtf8Content, type StatementContent } from '../../../src/core/reconciliation/file.ts'
import { StatementFormatError } from '../../../src/core/reconciliation/types.ts'

/** Bytes that gzip cannot shrink much, so that a compressed file spans several of the 64 KiB chunks too. */
const noise = (n: number) => {
  const b = Buffer.alloc(n)
  let x = 2463534242
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  return b
}

const collect = async (chunks: AsyncIterable<Buffer>) => {
  const got: Buffer[] = []
  for await (const c of chunks) got.push(c)
  return got
}

describe('statement content', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-content-'))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, bytes: Buffer) => {
    const f = path.join(dir, name)
    fs.writeFileSync(f, bytes)
    return f
  }

  it('reads a file on disk in chunks of at most 64 KiB that add up to the file', async () => {
    const bytes = noise(300_000)
    const content = contentOnDisk(write('plain.bin', bytes))
    expect(content.size).toBe(300_000)
    const chunks = await collect(content.chunks())
    expect(chunks.length).toBeGreaterThan(4)
    expect(chunks.every((c) => c.length <= 64 * 1024)).toBe(true)
    expect(Buffer.compare(Buffer.concat(chunks), bytes)).toBe(0)
    // Read again from the start, and whole for layouts that need it.
    expect(Buffer.compare(Buffer.concat(await collect(content.chunks())), bytes)).toBe(0)
    expect(Buffer.compare(content.bytes(), bytes)).toBe(0)
  })

  it('gunzips a gzip file as it is read, and hands any other file over as it is', async () => {
    const text = noise(400_000)
    const gz = gzipSync(text)
    expect(gz.length).toBeGreaterThan(64 * 1024)
    for (const content of [contentOnDisk(write('bill.gz', gz)), contentInMemory(gz)]) {
      const chunks = await collect(decompressedChunks(content))
      expect(Buffer.compare(Buffer.concat(chunks), text)).toBe(0)
    }
    const plain = Buffer.from('交易时间,商户订单号\n`2026-11-10 10:00:00,`TB1\n')
    expect(Buffer.concat(await collect(decompressedChunks(contentOnDisk(write('bill.csv', plain))))).toString('utf8')).toBe(plain.toString('utf8'))
    expect(await collect(decompressedChunks(contentInMemory(Buffer.alloc(0))))).toEqual([])
  })

  it('refuses damaged gzip data as a format error, and passes on a failure to read the file itself', async () => {
    const gz = gzipSync(noise(200_000))
    gz[gz.length >> 1] = gz[gz.length >> 1]! ^ 0xff
    await expect(collect(decompressedChunks(contentInMemory(gz)))).rejects.toThrow(StatementFormatError)
    await expect(collect(decompressedChunks(contentInMemory(gz)))).rejects.toThrow(/gzip data is damaged/)
    // A source that fails after its first chunk (a file gone, a disk error): that failure, not a gzip complaint.
    const good = gzipSync(noise(200_000))
    const failing: StatementContent = {
      size: good.length,
      async *chunks() {
        yield good.subarray(0, 1000)
        throw new Error('EIO: the disk failed')
      },
      bytes: () => good,
    }
    await expect(collect(decompressedChunks(failing))).rejects.toThrow(/EIO: the disk failed/)
  })

  it('gives the first bytes of a file without reading the rest', async () => {
    const bytes = noise(300_000)
    const content = contentOnDisk(write('head.bin', bytes))
    expect(Buffer.compare(await contentHead(content, 4), bytes.subarray(0, 4))).toBe(0)
    expect(Buffer.compare(await contentHead(content, 70_000), bytes.subarray(0, 70_000))).toBe(0)
    expect((await contentHead(contentInMemory(Buffer.from('PK')), 4)).toString()).toBe('PK')
    let read = 0
    const counted: StatementContent = {
      ...content,
      async *chunks() {
        for await (const c of content.chunks()) {
          read += c.length
          yield c
        }
      },
    }
    await contentHead(counted, 4)
    expect(read).toBe(64 * 1024)
  })

  it('tells whether a whole file is UTF-8, a character split between chunks included', async () => {
    // "中" is three bytes in UTF-8; the first chunk ends after its first byte.
    const chunked = (...parts: Buffer[]): StatementContent => ({
      size: parts.reduce((a, p) => a + p.length, 0),
      async *chunks() {
        yield* parts
      },
      bytes: () => Buffer.concat(parts),
    })
    const zhong = Buffer.from('中', 'utf8')
    expect(await isUtf8Content(chunked(Buffer.from('a,'), zhong.subarray(0, 1), zhong.subarray(1), Buffer.from('\n')))).toBe(true)
    // Valid for its first 200,000 bytes; the last one (a GBK lead byte) is not.
    const lateGbk = Buffer.concat([Buffer.alloc(200_000, 'x'), Buffer.from([0xd6])])
    expect(await isUtf8Content(contentOnDisk(write('late-gbk.csv', lateGbk)))).toBe(false)
    // A character cut off at the end of the file.
    expect(await isUtf8Content(chunked(Buffer.from('a'), zhong.subarray(0, 2)))).toBe(false)
    expect(await isUtf8Content(contentInMemory(Buffer.alloc(0)))).toBe(true)
  })

  it('fails rather than hand over another file than the one measured when it changes while it is read', async () => {
    const f = write('growing.csv', noise(100_000))
    const content = contentOnDisk(f)
    fs.appendFileSync(f, noise(10))
    await expect(collect(content.chunks())).rejects.toThrow(/changed while it was read \(100000 bytes when opened, 100010 read\)/)
    expect(() => content.bytes()).toThrow(/changed while it was read/)
    const shrunk = contentOnDisk(write('shrinking.csv', noise(100_000)))
    fs.writeFileSync(path.join(dir, 'shrinking.csv'), noise(50))
    await expect(collect(shrunk.chunks())).rejects.toThrow(/100000 bytes when opened, 50 read/)
  })
})
