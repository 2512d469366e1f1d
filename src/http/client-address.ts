// The address a request came from, as sign-in throttling counts it: the connection's peer, or behind a trusted
// reverse proxy (TRUST_PROXY) the last X-Forwarded-For entry, the one the proxy itself appended. An IPv4 address
// mapped into IPv6 is the IPv4 address; an IPv6 client counts by its /64 (one subscriber's usual allocation).
import { isIPv4, isIPv6 } from 'node:net'
import type { HttpBindings } from '@hono/node-server'
import type { Context } from 'hono'
import type { AppEnv } from './env.ts'

export function clientAddress<E extends AppEnv>(c: Context<E>): string | null {
  const forwarded = c.var.hub.config.trustProxy ? c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim() : undefined
  const peer = forwarded || (c.env as Partial<HttpBindings> | undefined)?.incoming?.socket?.remoteAddress
  return peer ? addressKey(peer) : null
}

/** The throttling key of an address (a port after it, as some proxies write, aside); null for something that is not an IP address. */
export function addressKey(raw: string): string | null {
  const text = raw.trim()
  const withPort = /^\[([^\]]+)\](?::\d+)?$/.exec(text) ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(text)
  const a = (withPort ? withPort[1]! : text).replace(/%.*$/, '')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a)
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!
  if (isIPv4(a)) return a
  if (!isIPv6(a)) return null
  return `${expandIPv6(a).slice(0, 4).join(':')}::/64`
}

/** The eight groups of an IPv6 address, without leading zeros ('::' filled in; an IPv4 tail as two groups). */
function expandIPv6(a: string): string[] {
  let text = a.toLowerCase()
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number]
    text = text.slice(0, v4.index) + ((b0 << 8) | b1).toString(16) + ':' + ((b2 << 8) | b3).toString(16)
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const left = head ? head.split(':') : []
  const right = tail === undefined ? [] : tail ? tail.split(':') : []
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0')
  return [...left, ...fill, ...right].map((g) => parseInt(g, 16).toString(16))
}
