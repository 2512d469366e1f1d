// A browser without a browser for the server-rendered dashboard: keeps the session cookie, posts forms, never follows
// redirects, and reads hidden form fields (the CSRF and login tokens).
import type { App } from '../../src/http/app.ts'

export function formClient(app: App) {
  const jar = new Map<string, string>()
  const request = async (method: string, path: string, form?: Record<string, string>, headers: Record<string, string> = {}) => {
    const h = new Headers(headers)
    if (jar.size) h.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '))
    let body: string | undefined
    if (form) {
      body = new URLSearchParams(form).toString()
      h.set('content-type', 'application/x-www-form-urlencoded')
    }
    const res = await app.request(path, { method, headers: h, body, redirect: 'manual' })
    const setCookies = res.headers.getSetCookie()
    for (const sc of setCookies) {
      const [pair] = sc.split(';')
      const i = pair!.indexOf('=')
      const name = pair!.slice(0, i)
      const value = pair!.slice(i + 1)
      if (/max-age=0/i.test(sc) || value === '') jar.delete(name)
      else jar.set(name, value)
    }
    return { status: res.status, location: res.headers.get('location'), setCookies, headers: res.headers, text: await res.text() }
  }
  const hidden = (page: string, name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(page)?.[1]
  return {
    jar,
    get: (path: string) => request('GET', path),
    post: (path: string, form: Record<string, string>, headers?: Record<string, string>) => request('POST', path, form, headers),
    hidden,
    async login(email: string, password: string) {
      const page = await request('GET', '/dashboard/login')
      return request('POST', '/dashboard/login', { _login: hidden(page.text, '_login')!, next: '/dashboard/reconciliation', email, password })
    },
  }
}
