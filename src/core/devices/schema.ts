// In-store devices and the jobs they run. A device belongs to a store (and optionally one register) and is driven
// either through the store's bridge (the default: the hub in the cloud cannot reach the shop's network) or by the
// hub directly. Every print, drawer kick, display update and weighing is a device job with an idempotency key and
// a lifecycle; jobs for a sale are written by a trigger on its sale.completed event, in the sale's own transaction.
import { sql } from 'drizzle-orm'
import { bigint, boolean, check, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, timestamptz, updatedAt } from '../../db/columns.ts'

export const DEVICE_KINDS = ['receipt_printer', 'kitchen_printer', 'label_printer', 'cash_drawer', 'customer_display', 'scale', 'card_terminal'] as const
export type DeviceKind = (typeof DEVICE_KINDS)[number]

/**
 * How a device is spoken to. escpos_tcp: raw ESC/POS on TCP (port 9100) with DLE EOT status; epos_http: Epson
 * ePOS-Print XML over HTTP; display_tcp / display_serial: a 2×20 pole display in Epson mode; scale_tcp / scale_serial:
 * a scale streaming a continuous-output format; drawer_via_printer: a cash drawer kicked through a printer's drawer
 * port; stripe_terminal: a Stripe Terminal reader driven through the Stripe API (server-driven).
 */
export const DEVICE_DRIVERS = ['escpos_tcp', 'epos_http', 'display_tcp', 'display_serial', 'scale_tcp', 'scale_serial', 'drawer_via_printer', 'stripe_terminal'] as const
export type DeviceDriver = (typeof DEVICE_DRIVERS)[number]

export const TEXT_ENCODINGS = ['gbk', 'gb18030', 'big5', 'shift_jis', 'cp437', 'cp858', 'utf8'] as const
export type TextEncoding = (typeof TEXT_ENCODINGS)[number]

export type DeviceRoute = 'bridge' | 'hub'

/** What core needs of a device's status (the devices layer's DeviceStatus has more). */
export interface DeviceStatusLike {
  online?: boolean | null
  problem: string | null
  checkedAt?: string
}

export const devices = pgTable(
  'devices',
  {
    id: id(),
    merchantId: merchantId(),
    storeId: uuid('store_id').notNull(),
    /** The till it serves; null: the whole store (a kitchen printer, a shared scale). */
    registerId: uuid('register_id'),
    name: text('name').notNull(),
    kind: text('kind').$type<DeviceKind>().notNull(),
    driver: text('driver').notNull(),
    /** host:port, an ePOS URL, a serial path or a reader id, by driver. */
    address: text('address').notNull(),
    /** Through the store's bridge, or straight from the hub. */
    route: text('route').$type<DeviceRoute>().notNull().default('bridge'),
    paperWidth: integer('paper_width'),
    encoding: text('encoding'),
    /** Printer profile details beyond width and encoding: columns, cjkMode, drawerPin. */
    options: jsonb('options').$type<Record<string, unknown>>().notNull().default({}),
    /** A cash drawer: the printer whose drawer port kicks it. */
    printerId: uuid('printer_id'),
    /** A kitchen printer: the categories (and their children) whose lines it prints. */
    categoryIds: uuid('category_ids').array().notNull().default(sql`'{}'::uuid[]`),
    /** A card terminal: the connection whose API drives it. */
    connectionId: uuid('connection_id'),
    enabled: boolean('enabled').notNull().default(true),
    /** The last status read (DeviceStatus), and when. */
    status: jsonb('status').$type<Record<string, unknown>>(),
    statusAt: timestamptz('status_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('devices_store_name_key').on(t.merchantId, t.storeId, t.name),
    index('devices_store_idx').on(t.storeId, t.kind),
    check('devices_kind_check', sql`${t.kind} in ('receipt_printer', 'kitchen_printer', 'label_printer', 'cash_drawer', 'customer_display', 'scale', 'card_terminal')`),
    check('devices_route_check', sql`${t.route} in ('bridge', 'hub')`),
    check('devices_paper_width_check', sql`${t.paperWidth} is null or ${t.paperWidth} in (58, 80)`),
  ],
)

export type DeviceJobState = 'queued' | 'sent' | 'done' | 'failed' | 'unknown' | 'dropped'
export type DeviceJobAction = 'print' | 'drawer' | 'display' | 'weigh'

/** What a job prints or shows, resolved when it is sent (a receipt is rendered from the sale then). */
export type DeviceDocument =
  | { type: 'receipt'; saleId: string }
  | { type: 'refund_receipt'; refundId: string }
  /** `station`: whose ticket it is, when it prints elsewhere (a reprint on another kitchen printer); else the printer's own. */
  | { type: 'kitchen'; saleId: string; station?: { deviceId: string; name: string; categoryIds: string[] } }
  | { type: 'drawer'; reason: string | null; saleId?: string; refundId?: string }
  | { type: 'display'; screen: 'change' | 'total' | 'item' | 'idle' | 'text'; saleId?: string; lines?: [string, string] }
  | { type: 'weigh' }
  | { type: 'test_page' }

export const deviceJobs = pgTable(
  'device_jobs',
  {
    id: id(),
    merchantId: merchantId(),
    storeId: uuid('store_id').notNull(),
    deviceId: uuid('device_id').notNull(),
    /** The store's order of work: a bridge runs each device's jobs in this order. */
    seq: bigint('seq', { mode: 'number' }).generatedAlwaysAsIdentity(),
    action: text('action').$type<DeviceJobAction>().notNull(),
    /** Unique per merchant: the same request (a sale's receipt, a retried API call) never makes a second job. */
    idempotencyKey: text('idempotency_key').notNull(),
    document: jsonb('document').$type<DeviceDocument>().notNull(),
    /** A person asked for this copy again: printed with a reprint marker, never under the original's key. */
    reprintOf: uuid('reprint_of'),
    source: text('source').$type<'sale' | 'refund' | 'drawer' | 'api' | 'reprint'>().notNull(),
    requestedBy: uuid('requested_by'),
    state: text('state').$type<DeviceJobState>().notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    /** Why it failed, is unknown or was dropped (paper_end, cover_open, unreachable, link_lost, expired, …). */
    reason: text('reason'),
    message: text('message'),
    retryable: boolean('retryable').notNull().default(false),
    /** How an 'unknown' was settled: by the device's status, or by a person. */
    settledBy: text('settled_by'),
    /** The device's status reported with the outcome, a weighing's result. */
    result: jsonb('result').$type<Record<string, unknown>>(),
    /** The text the printer was sent, decoded from the exact bytes (for the dashboard and support). */
    preview: text('preview'),
    expiresAt: timestamptz('expires_at'),
    createdAt: createdAt(),
    sentAt: timestamptz('sent_at'),
    /**
     * The bridge a job was handed to (its journal's id; null for the hub's own drivers): sent again only to that bridge,
     * which answers from its journal. Another bridge taking over the store never gets it: it may have run.
     */
    sentTo: text('sent_to'),
    finishedAt: timestamptz('finished_at'),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('device_jobs_idempotency_key').on(t.merchantId, t.idempotencyKey),
    index('device_jobs_open_idx').on(t.storeId, t.seq).where(sql`${t.state} in ('queued', 'sent')`),
    index('device_jobs_device_idx').on(t.deviceId, t.createdAt),
    check('device_jobs_state_check', sql`${t.state} in ('queued', 'sent', 'done', 'failed', 'unknown', 'dropped')`),
    check('device_jobs_action_check', sql`${t.action} in ('print', 'drawer', 'display', 'weigh')`),
  ],
)

/** A card payment started on a terminal: the hub owns its state; the key makes a repeated start the same payment. */
export const terminalPayments = pgTable(
  'terminal_payments',
  {
    id: id(),
    merchantId: merchantId(),
    deviceId: uuid('device_id').notNull(),
    idempotencyKey: text('idempotency_key').notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    currency: text('currency').notNull(),
    reference: text('reference').notNull(),
    /** pending → approved | declined | canceled; cancel_requested while the terminal has not confirmed. */
    state: text('state').$type<'pending' | 'cancel_requested' | 'approved' | 'declined' | 'canceled' | 'failed'>().notNull().default('pending'),
    vendorPaymentId: text('vendor_payment_id'),
    vendorChargeId: text('vendor_charge_id'),
    cardBrand: text('card_brand'),
    last4: text('last4'),
    failureCode: text('failure_code'),
    failureMessage: text('failure_message'),
    requestedBy: uuid('requested_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('terminal_payments_key').on(t.merchantId, t.idempotencyKey), index('terminal_payments_device_idx').on(t.deviceId, t.createdAt)],
)
