// Helpers shared by the connector tests: the error a call is expected to fail with, and a parsed statement's lines.
import type { ParsedStatement, StatementLine } from '../../src/core/reconciliation/types.ts'

/**
 * The error of class `type` that `p` rejects with; any other error is rethrown, and a `p` that settles fails the
 * test with `failure`.
 */
export async function rejection<E extends Error>(p: Promise<unknown>, type: abstract new (...args: any[]) => E, failure = 'expected the call to fail'): Promise<E> {
  try {
    await p
  } catch (e) {
    if (e instanceof type) return e
    throw e
  }
  throw new Error(failure)
}

/** Every line of a parsed statement, read to the end. */
export async function collectLines(p: ParsedStatement): Promise<StatementLine[]> {
  const out: StatementLine[] = []
  for await (const l of p.lines) out.push(l)
  return out
}
