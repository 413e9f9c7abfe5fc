// HTTP calls a check makes to a student's program, each returning what a person needs as evidence:
// the request line, the status and the answer's text (bounded).
export const MAX_ANSWER_CHARS = 64 * 1024
export const HTTP_TIMEOUT_MS = 5000

export interface HttpAnswer {
  /** 0 when no answer came (refused, timed out). */
  status: number
  text: string
  /** The parsed JSON answer, or undefined. */
  json: unknown
  /** `GET http://.../ → 200 {"message": ...}` or `... → no answer (reason)` */
  evidence: string
}

function short(text: string, max = 300): string {
  const flat = text.replace(/\s*\n\s*/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max)}…` : flat
}

/**
 * One request; never throws. `body` is sent as given when it is a string (so a check can send
 * broken JSON), else as JSON.
 */
export async function httpCall(
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
  timeoutMs = HTTP_TIMEOUT_MS,
): Promise<HttpAnswer> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  const request = `${method} ${url}${payload === undefined ? '' : ` ${short(payload, 200)}`}`
  try {
    // Own fetch, not NodeClient: talks to a student's foreign program, never throws, keeps raw evidence.
    const res = await fetch(url, {
      method,
      headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      body: payload,
      signal: AbortSignal.timeout(timeoutMs),
    })
    const raw = await res.text()
    const text = raw.length > MAX_ANSWER_CHARS ? raw.slice(0, MAX_ANSWER_CHARS) : raw
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: res.status, text, json, evidence: `${request} → ${res.status} ${short(text)}` }
  } catch (err) {
    const e = err as Error & { cause?: Error }
    const reason = e.cause?.message ?? e.message
    return { status: 0, text: '', json: undefined, evidence: `${request} → no answer (${reason})` }
  }
}

/** Resolves when something accepts TCP connections at host:port, or false after timeoutMs. */
export async function waitListening(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const a = await httpCall('GET', url, undefined, 2000)
    if (a.status !== 0) return true
    if (Date.now() >= deadline) return false
    await new Promise((r) => setTimeout(r, 150))
  }
}
