// The hub events a merchant may subscribe a URL to. A subscription names some of these, or '*' for all, so a typo
// is refused when subscribing instead of silently never matching.

export const EVENT_TYPES = {
  'sale.completed': 'A sale was completed at a till or through the API',
  'sale.refunded': 'A sale was refunded, in full or in part',
  'sale.voided': 'A sale was voided',
  'stock.changed': 'On-hand, reserved or available stock of a variant at a location changed',
  'stock.low': 'Stock of a variant at a location fell to or below its safety stock',
  'stock.negative': 'Stock of a variant at a location went below zero',
  'cash_session.closed': 'A cash session of a register was closed and counted',
  'drawer.open_requested': 'A cash drawer was opened without a sale',
  'member.registered': 'A member was registered',
  'member.merged': 'One member was merged into another',
  'member.tier_changed': "A member's tier changed",
  'stored_value.topped_up': "A member's stored value was topped up",
  'stored_value.topup_refunded': 'A stored value top-up was refunded',
  'approval.requested': 'An action was held for a manager’s approval',
  'approval.decided': 'A held action was approved or rejected',
  'settlement.exception': 'Reconciliation of a payment settlement found a difference',
  'settlement.adjusted': 'A reconciliation exception was resolved by accepting the channel’s side',
  'voucher.exported': 'A daily accounting voucher was exported',
  'voucher.export_failed': 'A voucher could not be exported after its retries, or the target refused it',
  'voucher.corrected': 'A past day changed after its voucher was exported: a correcting voucher was built',
  'channel_order.flagged': 'An online order could not be fully held from store stock (or has lines or a location we do not know)',
  'channel_order.collected': 'A pickup order was handed over at the till',
} as const

export type EventType = keyof typeof EVENT_TYPES

/** Subscribes to every event type, including ones added later. */
export const ALL_EVENTS = '*'

export const isKnownEventType = (t: string): t is EventType => Object.hasOwn(EVENT_TYPES, t)

export const listEventTypes = () => Object.entries(EVENT_TYPES).map(([type, description]) => ({ type, description }))
