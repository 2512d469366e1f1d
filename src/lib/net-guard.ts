// Addresses the hub never sends a request to: link-local ones, where clouds serve their instance metadata (and with
// it the machine's credentials: 169.254.169.254 on AWS, GCP, Azure and Huawei Cloud, 169.254.0.23 on Tencent Cloud,
// 100.100.100.200 on Alibaba Cloud, fd00:ec2::254 on AWS over IPv6), and the unspecified ones. A webhook receiver or
// a vendor address an integrator types in could otherwise point the hub at them. Private networks (10/8, 192.168/16,
// a shop's own server) stay reachable: they are an intended use.
//
// Two checks, because one cannot see everything: a URL whose host is an address is checked as it stands (Node
// connects to it without resolving it), and a host name is checked on every address it resolves to when the
// connection is made (`guardedLookup`, the agents' lookup), so a name that resolves somewhere else later (DNS
// rebinding) is still caught.
import dns from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'

const REFUSED = new net.BlockList()
REFUSED.addSubnet('169.254.0.0', 16, 'ipv4')
REFUSED.addSubnet('0.0.0.0', 8, 'ipv4')
REFUSED.addAddress('100.100.100.200', 'ipv4')
REFUSED.addSubnet('fe80::', 10, 'ipv6')
REFUSED.addAddress('::', 'ipv6')
REFUSED.addAddress('fd00:ec2::254', 'ipv6')

/** Metadata services' own names, refused before any lookup. */
const REFUSED_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata.tencentyun.com'])

export const ADDRESS_REFUSED = 'ADDRESS_REFUSED'

/** Whether an IP address (v4 or v6, IPv4-mapped included) is one the hub never sends to. */
export function isRefusedAddress(address: string): boolean {
  const family = net.isIP(address)
  return family !== 0 && REFUSED.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

/** Why a URL's host is refused (an address or a metadata name), or null; a host name is checked again when resolved. */
export function refusedHost(url: string | URL): string | null {
  let host: string
  try {
    host = (typeof url === 'string' ? new URL(url) : url).hostname.toLowerCase()
  } catch {
    return null
  }
  const bare = host.startsWith('[') ? host.slice(1, -1) : host.replace(/\.$/, '')
  if (isRefusedAddress(bare)) return `${bare} is a link-local, cloud metadata or unspecified address`
  if (REFUSED_NAMES.has(bare)) return `${bare} is a cloud metadata service`
  return null
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void
type Resolve = (hostname: string, options: dns.LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void

/**
 * A `lookup` for sockets that resolves as usual and leaves out the refused addresses; a name with nothing else fails
 * with code ADDRESS_REFUSED, before any connection. `resolve` is dns.lookup unless given.
 */
export function guardedLookup(resolve: Resolve = dns.lookup) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, [])
      const allowed = addresses.filter((a) => !isRefusedAddress(a.address))
      if (allowed.length === 0) {
        const e: NodeJS.ErrnoException = new Error(`${hostname} resolves only to link-local, cloud metadata or unspecified addresses: not sent`)
        e.code = ADDRESS_REFUSED
        return callback(e, [])
      }
      if (options.all) return callback(null, allowed)
      callback(null, allowed[0]!.address, allowed[0]!.family)
    })
  }
}

/** Keep-alive agents whose connections go only to addresses that are not refused (for axios' httpAgent/httpsAgent). */
export function guardedAgents(): { httpAgent: http.Agent; httpsAgent: https.Agent } {
  const lookup = guardedLookup() as unknown as net.LookupFunction
  return { httpAgent: new http.Agent({ keepAlive: true, lookup }), httpsAgent: new https.Agent({ keepAlive: true, lookup }) }
}
