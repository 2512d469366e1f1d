import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { answerDigestHex, base64Decoded, NotAnAnswerError, readAnswerFile, streamRange, verifyAnswer } from '../../src/connectors/payment/unionpay/answer-file.ts'
import { formatAnswer, parseAnswer, signFields, signingString } from '../../src/connectors/payment/unionpay/signing.ts'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unionpay-answer-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
let n = 0
const onDisk = (text: string | Buffer) => {
  const p = path.join(dir, `answer-${++n}`)
  fs.writeFileSync(p, text)
  return p
}
const text = async (source: AsyncIterable<Buffer>) => {
  const parts: Buffer[] = []
  for await (const c of source) parts.push(c)
  return Buffer.concat(parts).toString('utf8')
}
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 })

describe('a UnionPay answer read from disk', () => {
  // fileContent first and long, a Chinese respMsg, a pair without =, an empty name and value, a trailing newline.
  const content = randomBytes(2_400).toString('base64')
  const fields = { fileContent: content, respCode: '00', respMsg: '成功[0000000]', merId: '777290058110048', fileName: 'a.zip', empty: '' }
  const answer = `fileContent=${content}&respCode=00&respMsg=成功[0000000]&junk&=dropped&merId=777290058110048&fileName=a.zip&empty=\n`

  it('reads the fields as parseAnswer does, whatever the chunks, keeping a long value as its place in the file', async () => {
    const p = onDisk(answer)
    const { fileContent: _, ...small } = parseAnswer(answer)
    for (const chunkBytes of [1, 2, 7, 4096]) {
      const read = await readAnswerFile(p, { chunkBytes, holdBytes: 1024 })
      expect(read.fields).toEqual(small)
      expect(Object.keys(read.large)).toEqual(['fileContent'])
      expect(await text(streamRange(p, read.large.fileContent!))).toBe(content)
    }
    // Held in memory when short enough, exactly parseAnswer's fields.
    expect((await readAnswerFile(p, { chunkBytes: 5, holdBytes: 100_000 })).fields).toEqual(parseAnswer(answer))
    // A field named to stay on disk does, however short; empty, it is left out.
    const named = await readAnswerFile(onDisk('respCode=00&fileContent=QUJD\r\n'), { onDisk: ['fileContent'], chunkBytes: 3 })
    expect(named.fields).toEqual({ respCode: '00' })
    expect(await text(streamRange(named.path, named.large.fileContent!))).toBe('QUJD')
    expect((await readAnswerFile(onDisk('respCode=98&fileContent='), { onDisk: ['fileContent'] })).large).toEqual({})
  })

  it('hashes the signing string with the long value streamed from the file, and verifies its signature', async () => {
    const signed = { ...fields, signature: signFields(fields, keys.privateKey) }
    const p = onDisk(formatAnswer(signed))
    const read = await readAnswerFile(p, { chunkBytes: 999, holdBytes: 1000 })
    expect(read.large.fileContent).toBeDefined()
    expect(await answerDigestHex(read)).toBe(createHash('sha256').update(signingString(signed), 'utf8').digest('hex'))
    expect(await verifyAnswer(read, keys.publicKey)).toBe(true)
    // One character of the long value changed: the signature no longer verifies.
    const bytes = fs.readFileSync(p)
    const at = bytes.indexOf('fileContent=') + 12 + 1_500
    bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41
    expect(await verifyAnswer(await readAnswerFile(onDisk(bytes), { holdBytes: 1000 }), keys.publicKey)).toBe(false)
    const { signature: _, ...unsigned } = signed
    expect(await verifyAnswer(await readAnswerFile(onDisk(formatAnswer(unsigned))), keys.publicKey)).toBe(false)
  })

  it('refuses text that is not an answer rather than hold a run of bytes without =', async () => {
    await expect(readAnswerFile(onDisk(Buffer.alloc(5000, 0x41)), { chunkBytes: 64 })).rejects.toThrow(NotAnAnswerError)
  })

  it('decodes base64 split anywhere', async () => {
    const raw = randomBytes(10_001)
    const b64 = Buffer.from(raw.toString('base64'), 'latin1')
    for (const size of [1, 3, 5, 4096]) {
      const chunks = Array.from({ length: Math.ceil(b64.length / size) }, (_, i) => b64.subarray(i * size, (i + 1) * size))
      const out: Buffer[] = []
      for await (const c of base64Decoded((async function* () { yield* chunks })())) out.push(c)
      expect(Buffer.concat(out).equals(raw)).toBe(true)
    }
  })
})
