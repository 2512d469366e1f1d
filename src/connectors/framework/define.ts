// A connector is a declaration, not a subclass (DESIGN section 5): its id, family, a zod config schema with the
// secret fields marked, the policies of its HTTP client, an optional webhook verifier/parser, a check that tells
// whether a connection works, and the capabilities of its family as typed functions.
import { z } from 'zod'
import type { ConnectorHttp, HttpPolicy } from './http-types.ts'
import type { StatementContent } from '../../core/reconciliation/file.ts'
import type { Spooled } from '../../lib/spool.ts'
import type { ParsedStatement } from '../../core/reconciliation/types.ts'
import type { MarketplaceCapabilities } from './marketplace.ts'
import type { AccountingCapabilities } from './accounting.ts'
import type { CampaignCapabilities } from './campaign.ts'

export const FAMILIES = ['payment', 'marketplace', 'accounting', 'campaign'] as const
export type Family = (typeof FAMILIES)[number]

/** Marks a config field as a secret: sealed at rest, never returned, redacted from every log. */
export const secret = <T extends z.ZodType>(schema: T): T => schema.meta({ writeOnly: true, 'x-secret': true }) as T

const isSecretSchema = (schema: z.ZodType): boolean => {
  let s: any = schema
  for (let i = 0; i < 5 && s; i++) {
    if (z.globalRegistry.get(s)?.['x-secret'] === true) return true
    s = s.unwrap?.() ?? s._zod?.def?.innerType
  }
  return false
}

/** The names of the secret fields of a connector's config schema. */
export function secretFields(schema: z.ZodObject): string[] {
  return Object.entries(schema.shape)
    .filter(([, field]) => isSecretSchema(field as z.ZodType))
    .map(([name]) => name)
}

/** What a connector's functions are given: the connection's config and its shared HTTP client. */
export interface ConnectorContext<C> {
  merchantId: string
  connectionId: string
  config: C
  http: ConnectorHttp
  now(): Date
  signal?: AbortSignal
  /**
   * Writes a file the connector assembles from several answers (Stripe's pages of balance transactions) to the
   * hub's downloads as it is produced, never held whole. A source that fails midway leaves no file.
   */
  saveDownload(source: AsyncIterable<Buffer>): Promise<Spooled>
  /**
   * Stores new values of secret config fields (an OAuth refresh token the vendor rotated), sealed like the rest;
   * the connection's status is left as it is. Fields that are not secret are refused.
   */
  updateSecrets?(patch: Record<string, string>): Promise<void>
}

export interface CheckResult {
  ok: boolean
  /** A sentence a merchant can act on: "Signed in as shop example.myshopify.com", "The API key was refused". */
  message: string
  details?: Record<string, unknown>
}

/** An inbound webhook request as received, before anything is parsed. */
export interface InboundRequest {
  rawBody: Buffer
  /** Header names in lower case. */
  headers: Record<string, string>
  /** Path and query of the request, for vendors that sign the URL. */
  url: string
}

export interface ParsedWebhook {
  /** The vendor's id of this event; the same on every redelivery. */
  eventId: string
  topic: string
  occurredAt?: Date
  data: unknown
}

export interface WebhookSpec<C> {
  /** True when the request is signed by the vendor with this connection's secret. Compare in constant time. */
  verify(req: InboundRequest, config: C, now: Date): boolean
  parse(req: InboundRequest): ParsedWebhook
  /** The body the vendor expects as acknowledgement (default: 200 with `{"received":true}`). */
  ack?: { status: number; contentType: string; body: string }
  /**
   * Answers the vendor's GET check of the address (WeChat's signed `echostr`, Mailchimp's validation GET); null
   * when the check is not the vendor's (a wrong signature or token).
   */
  challenge?(req: { url: string; headers: Record<string, string> }, config: C, now: Date): { status: number; contentType: string; body: string } | null
}

/**
 * The capabilities of each family. Every later integration adds its functions here, so jobs call them through one
 * typed interface whatever the vendor.
 */
export interface FamilyCapabilities<C> {
  payment: PaymentCapabilities<C>
  marketplace: MarketplaceCapabilities<C>
  accounting: AccountingCapabilities<C>
  campaign: CampaignCapabilities<C>
}

export type Capability<C, I, O> = (ctx: ConnectorContext<C>, input: I) => Promise<O>

/** A statement the channel published for one business date, as fetched. */
export type FetchedStatement =
  | { status: 'ready'; files: StatementFile[] }
  /** Not generated yet (WeChat "Bill Creating", Alipay bill not ready): try again later, until the deadline. */
  | { status: 'not_ready'; message: string }
  /** Generated, and there was nothing that day (WeChat "No Bill Exist"). */
  | { status: 'empty'; message: string }

export interface StatementFile {
  /** The layout, which names its parser: 'wechat_trade', 'wechat_fundflow', 'alipay_trade', 'unionpay_inn', 'allinpay', 'stripe_balance', 'stripe_itemized', 'mapped'. */
  format: string
  name: string
  contentType: string
  /**
   * The original file as received (compressed if the channel sent it so), stored for download: on disk where the
   * connector downloaded it to a file (responseType 'file'), so that a bill of any size is never held whole.
   */
  content: StatementContent
  /** Removes what the download left on disk; the caller calls it once the file is imported or given up. */
  discard?: () => Promise<void>
  /** A hash the channel gave for the file (WeChat v3 SHA-1 of the decompressed bill), checked before import. */
  vendorHash?: { algorithm: 'sha1' | 'sha256' | 'md5'; value: string; over: 'raw' | 'decompressed' }
}

/** Removes what a fetch left on disk (its downloaded files), when they will not be imported. */
export async function discardFetched(fetched: FetchedStatement): Promise<void> {
  if (fetched.status === 'ready') await Promise.all(fetched.files.map((f) => f.discard?.()))
}

export interface PaymentCapabilities<C> {
  /**
   * Downloads the channel's statement(s) for a business date (in the channel's own time zone). Channels without a
   * day of their own (Stripe: Unix times) cut the day in `timeZone`, the merchant's (default Asia/Shanghai).
   */
  fetchStatement?: Capability<C, { businessDate: string; timeZone?: string }, FetchedStatement>
  /**
   * Whether this connection fetches (its credentials for the channel's interface are set); absent: every connection
   * of the connector does. A connection that does not is upload-only: the daily fetch leaves it alone.
   */
  fetches?: (config: C) => boolean
  /**
   * Parses a fetched or uploaded file into statement lines, streaming (a layout read front to back reads the file's
   * chunks as the lines are taken); throws StatementFormatError. `businessDate` (YYYY-MM-DD) is the date the file is
   * imported for: layouts whose times carry no year (UnionPay's MMDDhhmmss) take it from there. `timeZone` is the zone
   * that day is cut in (the channel's, else the merchant's), for layouts that tell the day's rows from others by it.
   */
  parseStatement?: (file: { format: string; content: StatementContent; businessDate?: string; timeZone?: string }, config: C) => ParsedStatement
  /**
   * The fee the contract says a payment of `amount` fen costs, in thousandths of a fen (before the channel's rounding);
   * null when the connection has no contracted rate, whose fees are then not checked.
   */
  expectedFeeMilli?: (line: { kind: string; amount: number }, config: C) => number | null
  [name: string]: unknown
}

export interface ConnectorDefinition<F extends Family = Family, S extends z.ZodObject = z.ZodObject> {
  id: string
  family: F
  title: string
  description?: string
  /** Marks a connector that talks to a built-in sandbox rather than a real vendor. */
  sandbox?: boolean
  config: S
  http: HttpPolicy | ((config: z.infer<S>) => HttpPolicy)
  webhook?: WebhookSpec<z.infer<S>>
  check(ctx: ConnectorContext<z.infer<S>>): Promise<CheckResult>
  capabilities: FamilyCapabilities<z.infer<S>>[F]
}

export type AnyConnector = ConnectorDefinition<Family, z.ZodObject>

export function defineConnector<F extends Family, S extends z.ZodObject>(def: ConnectorDefinition<F, S>): ConnectorDefinition<F, S> {
  if (!/^[a-z][a-z0-9_-]*$/.test(def.id)) throw new Error(`connector id "${def.id}" must be lower case letters, digits, - and _`)
  return def
}

/** The connector's config schema as JSON Schema, secret fields flagged with `x-secret` (and `writeOnly`). */
export function configJsonSchema(connector: AnyConnector): Record<string, unknown> {
  return z.toJSONSchema(connector.config, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
}

export const capabilityNames = (connector: AnyConnector): string[] =>
  Object.entries(connector.capabilities as Record<string, unknown>)
    .filter(([, f]) => typeof f === 'function')
    .map(([name]) => name)
    .sort()
