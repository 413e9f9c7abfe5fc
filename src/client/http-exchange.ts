// One HTTP exchange over node:http with kept-alive connections, for NodeClient's plain-HTTP calls.
// fetch (undici) cost a node process about 35 ms of CPU to load on its first call and several times
// node:http's CPU per call after (0.85-1.3 ms against 0.09-0.3 ms a POST, client and server in one
// process, side by side); a node calls its master every second (telemetry) and every few seconds
// (the member list). Like fetch with `redirect: 'manual'` it follows no redirect.
import { Agent, request, type IncomingMessage } from 'node:http'
import { AnswerTooLarge, readBoundedText } from './read.js'

/**
 * An idle kept-alive connection is closed after this long, in ms: below the servers' own idle limit
 * (node/http-limits.ts, 5 s, announced in `Keep-Alive: timeout=5`, which the agent also honours), so
 * that a call does not go out on a connection the server is closing.
 */
export const CLIENT_KEEPALIVE_MS = 4000

/** Shared by every NodeClient of the process; its idle connections do not keep the process alive. */
const agent = new Agent({ keepAlive: true, timeout: CLIENT_KEEPALIVE_MS })

export interface ExchangeInit {
  method: string
  headers: Record<string, string>
  body?: string
  /** Aborts the call: the promise rejects with the signal's reason. */
  signal: AbortSignal
  /** Largest answer body read, in bytes; past it the call fails with AnswerTooLarge. */
  maxBytes: number
}

/** The answer's status and its body as UTF-8 text. */
export interface Exchanged {
  status: number
  text: string
}

/**
 * One request and its answer's text: over node:http for http: URLs, through fetch (with
 * `redirect: 'manual'`) for https: ones.
 */
export async function exchange(url: string, init: ExchangeInit): Promise<Exchanged> {
  if (url.startsWith('http:')) return httpExchange(url, init)
  const { method, headers, body, signal } = init
  const res = await fetch(url, { method, redirect: 'manual', headers, body, signal })
  return { status: res.status, text: await readBoundedText(res, init.maxBytes) }
}

/**
 * Sends one request to `url` (http: only) and reads the answer. A connection error is node's own
 * (with its `code`: ECONNREFUSED, ECONNRESET, ...); a kept-alive connection the server had closed is
 * retried once on a new one, as it never carried the request.
 */
export function httpExchange(url: string, init: ExchangeInit, retry = true): Promise<Exchanged> {
  return new Promise((resolve, reject) => {
    if (init.signal.aborted) return reject(init.signal.reason)
    let settled = false
    const finish = (err: unknown, value?: Exchanged) => {
      if (settled) return
      settled = true
      init.signal.removeEventListener('abort', onAbort)
      if (err === undefined) resolve(value!)
      else reject(err)
    }
    const headers: Record<string, string> = { ...init.headers }
    if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body))
    const req = request(url, { method: init.method, headers, agent })
    const onAbort = () => {
      req.destroy()
      finish(init.signal.reason)
    }
    init.signal.addEventListener('abort', onAbort, { once: true })
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (retry && req.reusedSocket && !settled && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
        settled = true
        init.signal.removeEventListener('abort', onAbort)
        httpExchange(url, init, false).then(resolve, reject)
        return
      }
      finish(err)
    })
    req.on('response', (res) => readAnswer(res, init.maxBytes, finish))
    req.end(init.body)
  })
}

/** Reads `res` into text, at most `maxBytes` bytes (its Content-Length checked first). */
function readAnswer(
  res: IncomingMessage,
  maxBytes: number,
  finish: (err: unknown, value?: Exchanged) => void,
): void {
  const declared = Number(res.headers['content-length'])
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy()
    return finish(new AnswerTooLarge(maxBytes, declared))
  }
  const chunks: Buffer[] = []
  let total = 0
  res.on('data', (chunk: Buffer) => {
    total += chunk.length
    if (total > maxBytes) {
      res.destroy()
      finish(new AnswerTooLarge(maxBytes, total))
      return
    }
    chunks.push(chunk)
  })
  res.on('end', () =>
    finish(undefined, { status: res.statusCode ?? 0, text: Buffer.concat(chunks, total).toString('utf8') }),
  )
  res.on('error', (err) => finish(err))
  res.on('close', () => {
    if (!res.complete) finish(Object.assign(new Error('the connection was closed'), { code: 'ECONNRESET' }))
  })
}
