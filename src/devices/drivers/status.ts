// A printer's own status answers turned into the one DeviceStatus shape: the four DLE EOT bytes of an ESC/POS printer
// (reference §3.2) and the ASB mask of an ePOS-Print response (§4.1). Also the result shape the printer drivers return.
import type { DeviceStatus, WorkResult } from '../types.ts'

/** What a driver reports; the caller adds the job id it ran the work for. */
export type DriverResult = Omit<WorkResult, 'jobId'>

export const driverResult = (
  outcome: DriverResult['outcome'],
  reason: string | null,
  fields: { message?: string | null; retryable?: boolean; status?: DeviceStatus | null } = {},
): DriverResult => ({
  outcome,
  reason,
  message: fields.message ?? null,
  retryable: fields.retryable ?? false,
  status: fields.status ?? null,
  finishedAt: new Date().toISOString(),
})

export const unreachableStatus = (at = new Date()): DeviceStatus => ({ online: false, problem: 'unreachable', checkedAt: at.toISOString() })

/** Conditions that stop printing, worst first: the problem code is the first one present. */
function worstProblem(s: Omit<DeviceStatus, 'problem' | 'checkedAt'>): string | null {
  if (s.unrecoverableError) return 'unrecoverable_error'
  if (s.cutterError) return 'cutter_error'
  if (s.coverOpen) return 'cover_open'
  if (s.paper === 'end') return 'paper_end'
  if (s.online === false) return 'offline'
  return null
}

/** The replies to DLE EOT 1 (printer), 2 (offline cause), 3 (error cause), 4 (paper sensor); null when unanswered. */
export interface DleEotReplies {
  printer: number | null
  offline: number | null
  error: number | null
  paper: number | null
}

// Every real-time status byte has bit 1 and bit 4 set and bits 0 and 7 clear (0x12 when idle); anything else is not a
// status reply (a clone echoing bytes, noise) and counts as unanswered.
const statusByte = (b: number | null): number | null => (b !== null && (b & 0x93) === 0x12 ? b : null)
const bit = (b: number | null, mask: number): boolean | undefined => (b === null ? undefined : (b & mask) !== 0)

/**
 * A status from DLE EOT replies. No reply at all is "unknown" (online null, no problem): many clones never answer, and
 * that does not mean the printer is offline. Paper near end is a warning, never a problem.
 */
export function fromDleEot(replies: DleEotReplies, at = new Date()): DeviceStatus {
  const printer = statusByte(replies.printer)
  const offline = statusByte(replies.offline)
  const error = statusByte(replies.error)
  const paper = statusByte(replies.paper)
  if (printer === null && offline === null && error === null && paper === null) return { online: null, problem: null, checkedAt: at.toISOString() }
  const paperEnd = bit(paper, 0x60) || bit(offline, 0x20)
  const s: Omit<DeviceStatus, 'problem' | 'checkedAt'> = {
    online: printer === null ? null : !bit(printer, 0x08),
    ...(printer !== null && { drawerOpen: bit(printer, 0x04) }),
    ...(offline !== null && { coverOpen: bit(offline, 0x04) }),
    ...((paper !== null || paperEnd) && { paper: paperEnd ? 'end' : bit(paper, 0x0c) ? 'near_end' : 'ok' }),
    ...(error !== null && { cutterError: bit(error, 0x08), unrecoverableError: bit(error, 0x20) }),
  }
  return { ...s, problem: worstProblem(s), checkedAt: at.toISOString() }
}

/** ePOS `status` bits (Epson ePOS SDK ASB_* constants). */
export const ASB = {
  NO_RESPONSE: 0x1,
  PRINT_SUCCESS: 0x2,
  DRAWER_KICK: 0x4,
  OFF_LINE: 0x8,
  COVER_OPEN: 0x20,
  AUTOCUTTER_ERR: 0x800,
  UNRECOVER_ERR: 0x2000,
  RECEIPT_NEAR_END: 0x20000,
  RECEIPT_END: 0x80000,
} as const

/** A status from an ePOS response's `status` mask. ASB_NO_RESPONSE: the printer behind the ePOS service did not answer. */
export function fromEposStatus(mask: number, at = new Date()): DeviceStatus {
  const has = (flag: number) => (mask & flag) !== 0
  if (has(ASB.NO_RESPONSE)) return { online: null, problem: 'no_response', checkedAt: at.toISOString() }
  const s: Omit<DeviceStatus, 'problem' | 'checkedAt'> = {
    online: !has(ASB.OFF_LINE),
    drawerOpen: has(ASB.DRAWER_KICK),
    coverOpen: has(ASB.COVER_OPEN),
    paper: has(ASB.RECEIPT_END) ? 'end' : has(ASB.RECEIPT_NEAR_END) ? 'near_end' : 'ok',
    cutterError: has(ASB.AUTOCUTTER_ERR),
    unrecoverableError: has(ASB.UNRECOVER_ERR),
  }
  return { ...s, problem: worstProblem(s), checkedAt: at.toISOString() }
}
