// The anycast client: picks one of several replicas of a service for each request, by a policy
// (random, as the seed's network-level load balancing; nearest, by measured latency; least-loaded,
// by requests in flight), and fails over to another replica when one does not answer, so that no
// request is lost while any replica lives.
import { connect } from 'node:net'
import { InvalidArgumentError, TimeoutError } from '../../core/errors.js'
import { checkInteger, parseHostPort } from '../../core/options.js'
import {
  ANSWER_TIMEOUT_MS,
  CONNECT_TIMEOUT_MS,
  LATENCY_EWMA_WEIGHT,
  MAX_ANSWER_BYTES,
  REPLICA_COOLDOWN_MS,
  REQUEST_DEADLINE_MS,
} from './constants.js'
import { parseAnswer } from './wire.js'

export const POLICIES = ['random', 'nearest', 'least-loaded'] as const
export type AnycastPolicy = (typeof POLICIES)[number]

export interface AnycastTarget {
  host: string
  port: number
  /** Known name of the replica (from the cluster); otherwise the one it answers with, or host:port. */
  name?: string
}

export interface AnycastClientInit {
  targets: AnycastTarget[]
  /** @default 'random' */
  policy?: AnycastPolicy
  /** @default 15000 */
  requestDeadlineMs?: number
  /** @default 5000 */
  cooldownMs?: number
}

export interface AnycastAnswer {
  /** The answer's first line: `Hello from server`. */
  greeting: string
  /** Which replica answered: its name, or host:port. */
  replica: string
  target: string
  latencyMs: number
  /** Replicas tried, 1 when the first answered. */
  attempts: number
}

interface Replica {
  target: AnycastTarget
  key: string
  inFlight: number
  sent: number
  failures: number
  downUntil: number
  latencyMs?: number
}

export function parseTargets(text: string): AnycastTarget[] {
  const list = text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
  if (list.length === 0) throw new InvalidArgumentError('--targets needs at least one host:port', '--targets')
  return list.map((t) => parseHostPort('--targets', t))
}

export class AnycastClient {
  private readonly replicas: Replica[]
  readonly policy: AnycastPolicy
  private readonly deadlineMs: number
  private readonly cooldownMs: number
  readonly counts = { requests: 0, answered: 0, lost: 0, failovers: 0 }

  constructor(init: AnycastClientInit) {
    if (!Array.isArray(init.targets) || init.targets.length === 0)
      throw new InvalidArgumentError('targets must list at least one replica', 'targets')
    this.policy = init.policy ?? 'random'
    if (!POLICIES.includes(this.policy))
      throw new InvalidArgumentError(`policy must be one of ${POLICIES.join(', ')}`, 'policy')
    this.deadlineMs = checkInteger('requestDeadlineMs', init.requestDeadlineMs ?? REQUEST_DEADLINE_MS, 1)
    this.cooldownMs = checkInteger('cooldownMs', init.cooldownMs ?? REPLICA_COOLDOWN_MS, 0)
    this.replicas = init.targets.map((t) => ({
      target: t,
      key: `${t.host}:${t.port}`,
      inFlight: 0,
      sent: 0,
      failures: 0,
      downUntil: 0,
    }))
  }

  /** Per replica: requests sent and answered, failures, latency average. */
  spread(): Array<{ target: string; name?: string; sent: number; failures: number; latencyMs?: number }> {
    return this.replicas.map((r) => ({
      target: r.key,
      name: r.target.name,
      sent: r.sent,
      failures: r.failures,
      latencyMs: r.latencyMs === undefined ? undefined : Math.round(r.latencyMs * 100) / 100,
    }))
  }

  private pick(exclude: Set<Replica>): Replica | undefined {
    const now = Date.now()
    let candidates = this.replicas.filter((r) => !exclude.has(r) && r.downUntil <= now)
    // Every replica looks down: try the ones not yet tried for this request anyway.
    if (candidates.length === 0) candidates = this.replicas.filter((r) => !exclude.has(r))
    if (candidates.length === 0) return undefined
    const random = (xs: Replica[]) => xs[Math.floor(Math.random() * xs.length)]!
    switch (this.policy) {
      case 'random':
        return random(candidates)
      case 'nearest': {
        const unmeasured = candidates.filter((r) => r.latencyMs === undefined)
        if (unmeasured.length) return random(unmeasured)
        return candidates.reduce((a, b) => (b.latencyMs! < a.latencyMs! ? b : a))
      }
      case 'least-loaded': {
        const least = Math.min(...candidates.map((r) => r.inFlight))
        const idle = candidates.filter((r) => r.inFlight === least)
        const fewest = Math.min(...idle.map((r) => r.sent))
        return random(idle.filter((r) => r.sent === fewest))
      }
    }
  }

  /** One request: connect, read the answer, fail over until a replica answers or the deadline. */
  async request(): Promise<AnycastAnswer> {
    this.counts.requests++
    const deadline = Date.now() + this.deadlineMs
    const tried = new Set<Replica>()
    let attempts = 0
    let lastError: Error | undefined
    while (Date.now() < deadline) {
      let r = this.pick(tried)
      if (!r) {
        // Every replica failed once for this request: start over after a pause.
        tried.clear()
        await new Promise((res) => setTimeout(res, 200))
        r = this.pick(tried)
        if (!r) break
      }
      tried.add(r)
      attempts++
      if (attempts > 1) this.counts.failovers++
      r.inFlight++
      r.sent++
      const started = performance.now()
      try {
        const text = await fetchAnswer(
          r.target,
          Math.min(ANSWER_TIMEOUT_MS, Math.max(1, deadline - Date.now())),
        )
        const latency = performance.now() - started
        r.latencyMs =
          r.latencyMs === undefined
            ? latency
            : (1 - LATENCY_EWMA_WEIGHT) * r.latencyMs + LATENCY_EWMA_WEIGHT * latency
        const { greeting, name } = parseAnswer(text)!
        if (name && !r.target.name) r.target.name = name
        this.counts.answered++
        return {
          greeting,
          replica: name || r.target.name || r.key,
          target: r.key,
          latencyMs: Math.round(latency * 1000) / 1000,
          attempts,
        }
      } catch (err) {
        r.failures++
        r.downUntil = Date.now() + this.cooldownMs
        lastError = err as Error
      } finally {
        r.inFlight--
      }
    }
    this.counts.lost++
    throw new TimeoutError(
      `no replica answered within ${this.deadlineMs} ms${lastError ? ` (last error: ${lastError.message})` : ''}`,
    )
  }
}

/** Connects, reads until the server closes (or the limit), and returns the text. */
export function fetchAnswer(target: AnycastTarget, timeoutMs = ANSWER_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port })
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (err?: Error) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      if (err) return reject(err)
      const text = Buffer.concat(chunks).toString('utf8')
      if (!parseAnswer(text))
        return reject(
          new Error(`${target.host}:${target.port} answered ${JSON.stringify(text.slice(0, 60))}`),
        )
      resolve(text)
    }
    const timer = setTimeout(
      () => finish(new TimeoutError(`${target.host}:${target.port} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    )
    const connectTimer = setTimeout(() => {
      if (socket.connecting) finish(new TimeoutError(`connect to ${target.host}:${target.port} timed out`))
    }, CONNECT_TIMEOUT_MS)
    socket.on('data', (c) => {
      size += c.length
      if (size > MAX_ANSWER_BYTES) return finish(new Error('answer too large'))
      chunks.push(c)
    })
    socket.on('end', () => {
      clearTimeout(connectTimer)
      finish()
    })
    socket.on('error', (err) => {
      clearTimeout(connectTimer)
      finish(err)
    })
    socket.on('close', () => {
      clearTimeout(connectTimer)
      if (!done)
        finish(size > 0 ? undefined : new Error(`${target.host}:${target.port} closed without answering`))
    })
  })
}
