// A readable API reference at /docs, rendered on the server from the OpenAPI document: no scripts, no CDN.
import { html, raw } from 'hono/html'

type Json = Record<string, any>

const METHOD_ORDER = ['get', 'post', 'put', 'patch', 'delete']

function schemaText(schema: Json | undefined, components: Json): string {
  if (!schema) return ''
  const seen = new Set<string>()
  const resolve = (s: any): any => {
    if (!s || typeof s !== 'object') return s
    if (Array.isArray(s)) return s.map(resolve)
    if (typeof s.$ref === 'string') {
      const name = s.$ref.split('/').pop()!
      if (seen.has(name)) return `→ ${name}`
      seen.add(name)
      const out = resolve(components.schemas?.[name])
      seen.delete(name)
      return out
    }
    return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, resolve(v)]))
  }
  return JSON.stringify(resolve(schema), null, 2)
}

export function renderDocsPage(doc: Json) {
  const components = doc.components ?? {}
  const byTag = new Map<string, { method: string; path: string; op: Json }[]>()
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of METHOD_ORDER) {
      const op = item[method]
      if (!op) continue
      const tag = op.tags?.[0] ?? 'Other'
      if (!byTag.has(tag)) byTag.set(tag, [])
      byTag.get(tag)!.push({ method, path, op })
    }
  }
  const tags = [...byTag.keys()].sort()
  const anchor = (m: string, p: string) => `${m}-${p.replace(/[^a-z0-9]+/gi, '-')}`
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${doc.info?.title} — API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1d2430}
nav{width:280px;flex:none;height:100vh;position:sticky;top:0;overflow:auto;background:#f5f6f8;padding:16px;box-sizing:border-box;font-size:13px}
nav h3{margin:14px 0 4px;font-size:12px;text-transform:uppercase;color:#666}
nav a{display:block;color:#1d2430;text-decoration:none;padding:1px 0}
main{padding:24px 40px;max-width:980px}
.op{border:1px solid #dde1e6;border-radius:6px;margin:18px 0;padding:14px 18px}
.m{display:inline-block;min-width:58px;font-weight:700;text-transform:uppercase;font-size:12px}
.get{color:#1a7f37}.post{color:#0a58ca}.patch,.put{color:#9a6700}.delete{color:#cf222e}
code,pre{font:12.5px ui-monospace,monospace}pre{background:#f6f8fa;padding:10px;overflow:auto;border-radius:4px;max-height:420px}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #eee;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
.perm{font-size:12px;background:#eef2ff;border-radius:3px;padding:1px 6px}
</style></head><body>
<nav><strong>${doc.info?.title} ${doc.info?.version}</strong><p><a href="/openapi.json">openapi.json</a></p>
${tags.map((t) => html`<h3>${t}</h3>${byTag.get(t)!.map((o) => html`<a href="#${anchor(o.method, o.path)}"><span class="m ${o.method}">${o.method}</span>${o.path}</a>`)}`)}
</nav>
<main><h1>${doc.info?.title} API</h1><p>${doc.info?.description ?? ''}</p>
<p>Authenticate with <code>Authorization: Bearer &lt;token&gt;</code> (a session token from <code>POST /api/v1/auth/login</code> or an API key).
Errors always look like <code>{"error":{"code","message","details"}}</code>.</p>
${tags.map(
  (t) => html`<h2>${t}</h2>${byTag.get(t)!.map(({ method, path, op }) => {
    const params = (op.parameters ?? []) as Json[]
    const body = op.requestBody?.content?.['application/json']?.schema
    return html`<section class="op" id="${anchor(method, path)}">
<div><span class="m ${method}">${method}</span><code>${path}</code> <span class="perm">${[op['x-permission']].flat().join(' or ')}</span></div>
<p><strong>${op.summary ?? ''}</strong></p>${(op.description ?? '').split('\n\n').map((p: string) => html`<p>${p}</p>`)}
${params.length ? html`<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>${params.map((p) => html`<tr><td><code>${p.name}</code>${p.required ? ' *' : ''}</td><td>${p.in}</td><td>${p.schema?.type ?? ''}${p.schema?.enum ? ` (${p.schema.enum.join(', ')})` : ''}</td><td>${p.description ?? ''}</td></tr>`)}</table>` : ''}
${body ? html`<p>Request body</p><pre>${schemaText(body, components)}</pre>` : ''}
<p>Responses: ${Object.entries<Json>(op.responses ?? {}).map(([code, r]) => html`<code>${code}</code> ${r.description}; `)}</p>
${(() => {
  const ok = Object.entries<Json>(op.responses ?? {}).find(([code]) => code.startsWith('2'))?.[1]?.content?.['application/json']?.schema
  return ok ? html`<details><summary>Success response schema</summary><pre>${schemaText(ok, components)}</pre></details>` : ''
})()}
</section>`
  })}`,
)}
</main></body></html>`
}

export { raw }
