// Free UDP ports for programs that take ports on their command line (seed 004), and a way to see
// that a program has bound its port before its peer starts talking to it.
import { createSocket, type Socket } from 'node:dgram'
import { connect } from 'node:net'
import { readFileSync } from 'node:fs'
import { procSockets } from '../foreign/netns.js'
import { poll } from './process.js'

/** `count` distinct UDP ports the OS says are free on 127.0.0.1 (held together, then released). */
export async function freeUdpPorts(count: number): Promise<number[]> {
  const sockets: Socket[] = []
  try {
    for (let i = 0; i < count; i++) {
      const s = createSocket('udp4')
      sockets.push(s)
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.bind(0, '127.0.0.1', () => resolve())
      })
    }
    return sockets.map((s) => s.address().port)
  } finally {
    await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))))
  }
}

/** True when some socket is bound to UDP `port` (Linux: /proc/net/udp); false if unknown. */
function udpBound(port: number): boolean | undefined {
  let text: string
  try {
    text = readFileSync('/proc/net/udp', 'utf8')
  } catch {
    return undefined
  }
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `
  return text.split('\n').some((line) => line.trim().split(/\s+/)[1]?.endsWith(hex.trim()))
}

/** Waits until UDP `port` is bound (or a second passes where the system cannot tell). */
export async function waitUdpBound(port: number, timeoutMs: number): Promise<boolean> {
  if (udpBound(port) === undefined) {
    await new Promise((r) => setTimeout(r, 1000))
    return true
  }
  return (await poll(() => (udpBound(port) ? true : undefined), timeoutMs, 50)) ?? false
}

/**
 * True when the network namespace of process `pid` has a TCP socket listening on, or a UDP socket
 * bound to, `port` at `host` or at every address (IPv6 sockets, any or mapped, count as bound).
 */
export function portBound(pid: number, host: string, port: number): boolean {
  for (const s of procSockets(pid, true))
    if (s.port === port && (s.v6 || s.address === '0.0.0.0' || s.address === host)) return true
  return false
}

/**
 * True when something already accepts TCP at host:port: a program left from an earlier run would
 * answer in place of the one the check is about to start, and its answers would be taken as evidence.
 */
export function tcpTaken(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port })
    const done = (taken: boolean) => {
      s.destroy()
      resolve(taken)
    }
    s.setTimeout(timeoutMs, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}
