// One typed client for the HTTP API of a distlab node or master (and of the supervisor of a cluster
// started by `distlab up`, which speaks the same error shape). Every caller in the library and the
// CLI that talks to a node's API goes through here, so every failure is the same NodeApiError: the
// message names the node and the action in words and never the URL; the URL stays in `err.url`.
import type { z } from 'zod'
import { NodeApiError, type NodeApiFailure } from '../core/errors.js'
import type { LeaveBody, MessageBody } from '../node/api-schemas.js'
import {
  ErrorAnswer,
  HealthAnswer,
  MemberListAnswer,
  RefreshAnswer,
  type MemberBody,
} from '../node/api-schemas.js'
import { AnswerTooLarge, readBoundedText } from './read.js'
import { exchange, type Exchanged } from './http-exchange.js'

/** Time a call may take, answer included, when the caller does not say, in ms. */
export const NODE_CALL_TIMEOUT_MS = 5000
/** Largest answer read, in bytes (the biggest real answers, member lists and delivered logs, are far smaller). */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024
/** Longest piece of a node's own error message quoted in ours. */
const MAX_QUOTED_CHARS = 300

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE'

export interface NodeClientInit {
  /** Base URL of the API, e.g. `http://127.0.2.1:5000` (no trailing slash needed). */
  url: string
  /**
   * Who answers there, as messages name it: `node2`, `the master`, `the cluster supervisor`.
   * @default the URL's host:port
   */
  name?: string
  /** `Authorization` value for a keyed cluster (`Bearer <token>`); sent on every call. */
  authorization?: string
  /** Further headers sent on every call (the supervisor's control token). */
  headers?: Readonly<Record<string, string>>
  /** @default NODE_CALL_TIMEOUT_MS (5000 ms) */
  timeoutMs?: number
  /** @default MAX_ANSWER_BYTES (8 MiB) */
  maxAnswerBytes?: number
}

export interface CallOptions<T> {
  /** Sent as JSON. */
  body?: unknown
  /** Checks the answer; a mismatch is a NodeApiError (`failure: 'bad_answer'`). */
  answer?: z.ZodType<T>
  /** @default the client's timeoutMs */
  timeoutMs?: number
  /** What the call does, in words, for messages ("send a unicast to node3"). @default `METHOD /path` */
  action?: string
  /** The node the request is about (a receiver, a link peer): an `unknown_peer` answer names it. */
  about?: string
  /** Cancels the call (a caller's own deadline or shutdown). */
  signal?: AbortSignal
}

/** `1500` → `1.5 s`, `5000` → `5 s`. */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 1000 ? 2 : 1))} s`
}

/** A node's own message, without any URL in it and cut to a line. */
function quoted(text: string): string {
  const flat = text
    .replace(/\bhttps?:\/\/[^\s"'`),]+/gi, '(address)')
    .replace(/\s*\n\s*/g, ' ')
    .trim()
  return flat.length > MAX_QUOTED_CHARS ? `${flat.slice(0, MAX_QUOTED_CHARS)}…` : flat
}

/** The socket-level reason a fetch failed, in words, without the address undici puts in it. */
function networkReason(err: unknown): string {
  let e: unknown = err
  for (let depth = 0; depth < 4 && e; depth++) {
    const code = (e as { code?: unknown }).code
    switch (code) {
      case 'ECONNREFUSED':
        return 'connection refused: is it running?'
      case 'ECONNRESET':
      case 'UND_ERR_SOCKET':
        return 'the connection was closed before an answer'
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return 'its address cannot be reached from here'
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return 'its host name does not resolve'
      case 'EADDRNOTAVAIL':
        return 'its address is not available on this machine'
      case 'UND_ERR_HEADERS_OVERFLOW':
        return 'its answer headers are too large'
    }
    e = (e as { cause?: unknown }).cause
  }
  return 'no connection'
}

const isAbort = (err: unknown): boolean =>
  (err as { name?: string } | undefined)?.name === 'AbortError' ||
  (err as { name?: string } | undefined)?.name === 'TimeoutError'

/** A client for one node's (or master's, or supervisor's) HTTP API. */
export class NodeClient {
  readonly url: string
  readonly name: string
  private readonly headers: Readonly<Record<string, string>>
  private readonly timeoutMs: number
  private readonly maxAnswerBytes: number

  constructor(init: NodeClientInit) {
    this.url = init.url.replace(/\/+$/, '')
    this.name = init.name ?? hostOf(this.url)
    this.headers = {
      ...init.headers,
      ...(init.authorization ? { authorization: init.authorization } : {}),
    }
    this.timeoutMs = init.timeoutMs ?? NODE_CALL_TIMEOUT_MS
    this.maxAnswerBytes = init.maxAnswerBytes ?? MAX_ANSWER_BYTES
  }

  /**
   * One call: the answer parsed as JSON (checked with `opts.answer` when given), or its text when it
   * is not JSON and no schema was given. Every failure is a NodeApiError.
   */
  async call<T = unknown>(method: HttpMethod, path: string, opts: CallOptions<T> = {}): Promise<T> {
    const text = await this.exchange(method, path, opts)
    const action = opts.action ?? `${method} ${pathOnly(path)}`
    let parsed: unknown = text
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      if (opts.answer)
        throw this.fail(
          `answered ${action} with something that is not JSON`,
          'bad_answer',
          method,
          path,
          opts,
        )
    }
    if (!opts.answer) return parsed as T
    const r = opts.answer.safeParse(parsed)
    if (r.success) return r.data
    const issue = r.error.issues[0]
    const where = issue?.path.join('.') || 'answer'
    throw this.fail(
      `answered ${action} with an answer distlab does not understand (${where}: ${issue?.message ?? 'invalid'})`,
      'bad_answer',
      method,
      path,
      opts,
    )
  }

  /** One call whose answer is text (GET /metrics). */
  text(method: HttpMethod, path: string, opts: Omit<CallOptions<string>, 'answer'> = {}): Promise<string> {
    return this.exchange(method, path, opts)
  }

  get<T = unknown>(path: string, opts?: Omit<CallOptions<T>, 'body'>): Promise<T> {
    return this.call('GET', path, opts)
  }

  post<T = unknown>(path: string, body?: unknown, opts?: Omit<CallOptions<T>, 'body'>): Promise<T> {
    return this.call('POST', path, { ...opts, body })
  }

  put<T = unknown>(path: string, body?: unknown, opts?: Omit<CallOptions<T>, 'body'>): Promise<T> {
    return this.call('PUT', path, { ...opts, body })
  }

  /** GET /health: name, role, state, uptime and how many members it knows. */
  health(opts?: Omit<CallOptions<HealthAnswer>, 'body' | 'answer'>): Promise<HealthAnswer> {
    return this.get('/health', { action: 'the health check', ...opts, answer: HealthAnswer })
  }

  /** POST /members/refresh: the node copies the master's member list; answers how many it knows. */
  refreshMembers(opts?: Omit<CallOptions<RefreshAnswer>, 'body' | 'answer'>): Promise<RefreshAnswer> {
    return this.post(
      '/members/refresh',
      {},
      {
        action: 'the member-list refresh',
        ...opts,
        answer: RefreshAnswer,
      },
    )
  }

  /** The master's GET /cluster/members; without `members` when `version` is already the newest. */
  members(
    version?: number,
    opts?: Omit<CallOptions<MemberListAnswer>, 'body' | 'answer'>,
  ): Promise<MemberListAnswer> {
    const q = version === undefined ? '' : `?version=${encodeURIComponent(String(version))}`
    return this.get(`/cluster/members${q}`, { action: 'the member list', ...opts, answer: MemberListAnswer })
  }

  /** The master's POST /cluster/join: admits `self` and answers the member list. */
  join(
    self: z.infer<typeof MemberBody>,
    opts?: Omit<CallOptions<MemberListAnswer>, 'body' | 'answer'>,
  ): Promise<MemberListAnswer> {
    return this.post('/cluster/join', self, {
      action: `the join of ${self.name}`,
      ...opts,
      answer: MemberListAnswer,
    })
  }

  /** The master's POST /cluster/leave. */
  leave(
    who: z.infer<typeof LeaveBody>,
    opts?: Omit<CallOptions<unknown>, 'body' | 'answer'>,
  ): Promise<unknown> {
    return this.post('/cluster/leave', who, { action: `the leave of ${who.name}`, ...opts })
  }

  /** Seed 002's POST /message. */
  message(
    m: z.infer<typeof MessageBody>,
    opts?: Omit<CallOptions<unknown>, 'body' | 'answer'>,
  ): Promise<unknown> {
    return this.post('/message', m, { action: 'a message', ...opts })
  }

  /**
   * A GET whose answer never ends (GET /telemetry/stream): resolves with the body once the node has
   * answered 2xx within the time limit; the caller reads it until `signal` aborts. A failure to
   * connect or a refusal is a NodeApiError like any other call's.
   */
  async stream(
    path: string,
    opts: Omit<CallOptions<unknown>, 'body' | 'answer'> = {},
  ): Promise<AsyncIterable<Uint8Array>> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs
    const action = opts.action ?? `GET ${pathOnly(path)}`
    const ctrl = new AbortController()
    const timer = setTimeout(() => ctrl.abort(new DOMException('no answer', 'TimeoutError')), timeoutMs)
    const onAbort = (): void => ctrl.abort(opts.signal?.reason)
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    let res: Response
    try {
      res = await fetch(this.url + path, {
        redirect: 'manual',
        headers: { ...this.headers },
        signal: ctrl.signal,
      })
    } catch (err) {
      if (isAbort(err) && !opts.signal?.aborted)
        throw this.fail(
          `did not answer ${action} within ${seconds(timeoutMs)}`,
          'timeout',
          'GET',
          path,
          opts,
          {
            cause: err,
          },
        )
      if (isAbort(err))
        throw this.fail(`: ${action} was cancelled`, 'timeout', 'GET', path, opts, { cause: err })
      throw this.fail(`did not answer ${action} (${networkReason(err)})`, 'unreachable', 'GET', path, opts, {
        cause: err,
      })
    } finally {
      clearTimeout(timer)
    }
    if (res.status >= 200 && res.status < 300 && res.body)
      return res.body as unknown as AsyncIterable<Uint8Array>
    const text = await readBoundedText(res, 64 * 1024).catch(() => '')
    ctrl.abort()
    throw this.refusal(res.status, text, 'GET', path, opts)
  }

  /** Sends the request and reads the answer's text (bounded); non-2xx answers become NodeApiErrors. */
  private async exchange(method: HttpMethod, path: string, opts: CallOptions<unknown>): Promise<string> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs
    const action = opts.action ?? `${method} ${pathOnly(path)}`
    // A timer cleared with the answer, not AbortSignal.timeout(): that one fires after every call
    // (building a DOMException and its stack), which was about 8% of an idle node's CPU.
    const timeout = new AbortController()
    const timer = setTimeout(() => timeout.abort(new DOMException('no answer', 'TimeoutError')), timeoutMs)
    const signal = opts.signal ? AbortSignal.any([timeout.signal, opts.signal]) : timeout.signal
    let res: Exchanged
    try {
      res = await this.send(method, path, opts, signal)
    } catch (err) {
      if (err instanceof AnswerTooLarge)
        throw this.fail(
          `answered ${action} with more than ${err.limit} bytes; distlab stopped reading`,
          'too_large',
          method,
          path,
          opts,
          { cause: err },
        )
      if (isAbort(err) && timeout.signal.aborted)
        throw this.fail(
          `did not answer ${action} within ${seconds(timeoutMs)}`,
          'timeout',
          method,
          path,
          opts,
          {
            cause: err,
          },
        )
      if (isAbort(err))
        throw this.fail(`: ${action} was cancelled`, 'timeout', method, path, opts, { cause: err })
      throw this.fail(`did not answer ${action} (${networkReason(err)})`, 'unreachable', method, path, opts, {
        cause: err,
      })
    } finally {
      clearTimeout(timer)
    }
    const { text } = res
    if (res.status >= 200 && res.status < 300) return text
    if (res.status >= 300 && res.status < 400)
      throw this.fail(
        `answered ${action} with a redirect (HTTP ${res.status}), which distlab does not follow`,
        'bad_answer',
        method,
        path,
        opts,
        { status: res.status },
      )
    throw this.refusal(res.status, text, method, path, opts)
  }

  /** One request and its answer's text (http-exchange.ts: node:http, or fetch for https:). */
  private send(
    method: HttpMethod,
    path: string,
    opts: CallOptions<unknown>,
    signal: AbortSignal,
  ): Promise<Exchanged> {
    const headers = {
      ...this.headers,
      ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
    }
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body)
    return exchange(this.url + path, { method, headers, body, signal, maxBytes: this.maxAnswerBytes })
  }

  /** The error for a 4xx/5xx answer, in the node's own words where it gave some. */
  private refusal(
    status: number,
    text: string,
    method: HttpMethod,
    path: string,
    opts: CallOptions<unknown>,
  ): NodeApiError {
    const action = opts.action ?? `${method} ${pathOnly(path)}`
    let body: ErrorAnswer | undefined
    try {
      const r = ErrorAnswer.safeParse(JSON.parse(text))
      if (r.success) body = r.data
    } catch {
      // not the API's error shape: something else answered, or a plain-text error
    }
    const extra = { status, error: body?.error, field: body?.field }
    const said = quoted(body?.message ?? text) || `HTTP ${status}`
    if (body?.error === 'unknown_peer' && opts.about)
      return this.fail(
        `${opts.about} is not a member of this cluster`,
        'refused',
        method,
        path,
        opts,
        extra,
        true,
      )
    if (status === 401)
      return this.fail(
        `refused ${action} (HTTP 401): this cluster has a key and the call carried no valid token (\`distlab token\` prints it)`,
        'refused',
        method,
        path,
        opts,
        extra,
      )
    if (status === 404 && (body?.error === 'not_found' || !body))
      return this.fail(`has no ${method} ${pathOnly(path)} endpoint`, 'refused', method, path, opts, extra)
    if (status >= 500)
      return this.fail(`failed ${action} (HTTP ${status}): ${said}`, 'refused', method, path, opts, extra)
    return this.fail(`refused ${action}: ${said}`, 'refused', method, path, opts, extra)
  }

  private fail(
    what: string,
    failure: NodeApiFailure,
    method: HttpMethod,
    path: string,
    opts: CallOptions<unknown>,
    extra: { status?: number; error?: string; field?: string; cause?: unknown } = {},
    whole = false,
  ): NodeApiError {
    const message = whole ? what : what.startsWith(':') ? `${this.name}${what}` : `${this.name} ${what}`
    return new NodeApiError(message, {
      node: this.name,
      action: opts.action ?? `${method} ${pathOnly(path)}`,
      url: this.url + path,
      failure,
      ...extra,
    })
  }
}

function pathOnly(path: string): string {
  return path.split('?')[0] ?? path
}

function hostOf(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return 'the node'
  }
}
