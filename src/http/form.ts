// Form bodies (the dashboard's forms, multipart uploads): read once, and a body that cannot be read (a multipart body
// without its boundary, or cut short) is the sender's mistake, a 400, never a 500.
import type { Context } from 'hono'
import { badRequest } from '../lib/errors.ts'

export type FormBody = Awaited<ReturnType<Context['req']['parseBody']>>

export async function readForm(c: Context): Promise<FormBody> {
  try {
    return await c.req.parseBody()
  } catch (e) {
    throw badRequest('invalid_form', `the form body cannot be read: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** A text field of a form, '' when absent or a file. */
export const formText = (form: Record<string, unknown>, k: string) => (typeof form[k] === 'string' ? (form[k] as string) : '')
