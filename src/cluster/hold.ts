// Held protocols: while `up` starts many node processes on a few cores, the protocols of the nodes
// already up (heartbeats, membership probes and gossip, their telemetry of it) take CPU from the
// boots still under way and keep the master busy. Side by side, 100 nodes on two cores, three pairs:
// held, `up` returned in 26-30 s against 43-48 s, the last node answered /health 4-9 s sooner, and
// all node processes had used 46-53 CPU-s against 76-84. So the local launcher starts each master
// and node process with its protocols held (NodeInit.holdProtocols), and once every member answers
// /health and knows every other, tells each one over its IPC channel to start them; `up` returns
// when all have.
//
// Only a process started by a launcher holds: one with an IPC channel and $DISTLAB_HOLD_PROTOCOLS=1.
// A node that hears nothing starts its protocols by itself after HOLD_LIMIT_MS, and a launcher that
// dies closes the channel, which stops the node (cli/context.ts's stopOnSignals).
import type { ChildProcess } from 'node:child_process'
import { ClusterError } from '../core/errors.js'

/** Set to 1 in the environment of a process whose protocols wait for its launcher's word. */
export const HOLD_PROTOCOLS_ENV = 'DISTLAB_HOLD_PROTOCOLS'
/** The word, launcher to node; the node answers PROTOCOLS_STARTED once they run (or failed to start). */
const START_PROTOCOLS = 'distlab:start-protocols'
const PROTOCOLS_STARTED = 'distlab:protocols-started'
/** A held node that hears nothing for this long starts its protocols anyway. */
export const HOLD_LIMIT_MS = 10 * 60_000

/** True (once: the variable is taken out of the environment) when this process should hold its protocols. */
export function holdRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  const hold = env[HOLD_PROTOCOLS_ENV] === '1' && typeof process.send === 'function'
  delete env[HOLD_PROTOCOLS_ENV] // not for the programs this one starts
  return hold
}

const isWord = (msg: unknown, word: string): msg is { type: string; error?: unknown } =>
  typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === word

/**
 * In the node process, called as soon as `started` (the node's start()) is: starts `node`'s held
 * protocols when the launcher says so (or after HOLD_LIMIT_MS) and `started` has resolved, then
 * tells the launcher, with the error's message if they failed to start. The word is listened for
 * from the start, since the node answers /health (and a launcher may speak) before it has joined.
 */
export function startProtocolsOnWord(
  node: { startProtocols(): Promise<void> },
  started: Promise<void>,
): void {
  const go = () => {
    process.off('message', onMessage)
    clearTimeout(timer)
    started
      .then(() => node.startProtocols())
      .then(
        () => process.send?.({ type: PROTOCOLS_STARTED }),
        (err: unknown) =>
          process.send?.({ type: PROTOCOLS_STARTED, error: String((err as Error)?.message ?? err) }),
      )
  }
  const onMessage = (msg: unknown) => {
    if (isWord(msg, START_PROTOCOLS)) go()
  }
  const timer = setTimeout(go, HOLD_LIMIT_MS)
  timer.unref()
  process.on('message', onMessage)
}

/**
 * In the launcher: tells the process `child` (member `name`) to start its held protocols, and
 * resolves once it has. Rejects when it reports an error, exits, or does not answer within `timeoutMs`.
 */
export function startHeldProtocols(child: ChildProcess, name: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (err) reject(err)
      else resolve()
    }
    const onMessage = (msg: unknown) => {
      if (!isWord(msg, PROTOCOLS_STARTED)) return
      done(
        msg.error === undefined
          ? undefined
          : new ClusterError(`${name} failed to start its protocols: ${String(msg.error)}`),
      )
    }
    const onExit = () => done(new ClusterError(`${name} exited before it started its protocols`))
    const timer = setTimeout(
      () => done(new ClusterError(`${name} did not start its protocols within ${timeoutMs} ms`)),
      timeoutMs,
    )
    if (child.exitCode !== null || child.signalCode !== null || !child.connected) return onExit()
    child.on('message', onMessage)
    child.once('exit', onExit)
    child.send({ type: START_PROTOCOLS }, (err) => {
      if (err) done(new ClusterError(`${name} could not be told to start its protocols: ${err.message}`))
    })
  })
}
