// Constant-time comparison of signatures, for webhook verifiers.
import { timingSafeEqual } from 'node:crypto'

/** True when the two strings are equal, in time that depends only on their length. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
