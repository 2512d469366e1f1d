// The address guard at connection time: a host name is resolved and its refused addresses left out before the socket
// connects. DNS is the one thing simulated here (a resolver that answers as a rebinding name would); the sockets and
// the server are real.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADDRESS_REFUSED, guardedLookup, isRefusedAddress, refusedHost } from '../../src/lib/net-guard.ts'

describe('address guard', () => {
  let server: http.Server
  let port = 0
  let hits = 0
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      hits++
      res.end('ok')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
  })
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  /** A resolver that answers for made-up names as DNS would (for a name that rebinds, say). */
  const zone: Record<string, { address: string; family: number }[]> = {
    'receiver.shop.test': [{ address: '127.0.0.1', family: 4 }],
    'rebound.shop.test': [{ address: '169.254.169.254', family: 4 }],
    'both.shop.test': [
      { address: '169.254.169.254', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ],
    'mapped.shop.test': [{ address: '::ffff:169.254.169.254', family: 6 }],
  }
  const resolve = (name: string, _o: unknown, cb: (err: NodeJS.ErrnoException | null, a: { address: string; family: number }[]) => void) =>
    setImmediate(() => (zone[name] ? cb(null, zone[name]!) : cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' }), [])))

  const get = (host: string) =>
    new Promise<{ status?: number; code?: string }>((done) => {
      const agent = new http.Agent({ lookup: guardedLookup(resolve) as never })
      const req = http.get({ host, port, path: '/', agent }, (res) => {
        res.resume()
        res.on('end', () => done({ status: res.statusCode }))
      })
      req.on('error', (e: NodeJS.ErrnoException) => done({ code: e.code }))
    })

  it('connects to a name that resolves to an allowed address, and refuses one that resolves only to a metadata address before connecting', async () => {
    expect(await get('receiver.shop.test')).toEqual({ status: 200 })
    const before = hits
    expect(await get('rebound.shop.test')).toEqual({ code: ADDRESS_REFUSED })
    expect(await get('mapped.shop.test')).toEqual({ code: ADDRESS_REFUSED })
    expect(hits).toBe(before)
    // Of a name with both, only the allowed address is used.
    expect(await get('both.shop.test')).toEqual({ status: 200 })
    expect(hits).toBe(before + 1)
    expect(await get('nowhere.shop.test')).toEqual({ code: 'ENOTFOUND' })
  })

  it('tells refused addresses and hosts from allowed ones', () => {
    for (const a of ['169.254.169.254', '169.254.0.23', '100.100.100.200', '0.0.0.0', '::', 'fe80::1', 'fd00:ec2::254', '::ffff:169.254.169.254']) expect([a, isRefusedAddress(a)]).toEqual([a, true])
    for (const a of ['10.0.0.5', '192.168.1.20', '172.16.0.1', '127.0.0.1', '::1', '100.100.100.201', '8.8.8.8', 'shop.example']) expect([a, isRefusedAddress(a)]).toEqual([a, false])
    expect(refusedHost('https://[::ffff:a9fe:a9fe]/x')).toMatch(/link-local/)
    expect(refusedHost('https://Metadata.Google.Internal./computeMetadata')).toMatch(/metadata service/)
    expect(refusedHost('https://shop.example/hooks')).toBeNull()
    expect(refusedHost('not a url')).toBeNull()
  })
})
