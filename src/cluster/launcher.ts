// One family of launchers: whatever starts the master and the nodes (child processes, Node objects
// in this process, compose containers, a swarm stack), a caller drives it through `Launcher`:
// start and stop, the members and their state, kill, restart, pause and resume, link rules,
// partition and heal, logs and the cluster record. The scenario runner and the CLI take any
// Launcher; a launcher that cannot do something throws LauncherUnsupportedError with the reason.
// Link faults live in the nodes, so every launcher carries them out over the nodes' API.
import { existsSync, readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { Keyring } from '../core/auth.js'
import { ClusterError, LauncherUnsupportedError } from '../core/errors.js'
import type { ClusterControls } from '../core/cluster-controls.js'
import type { Startable } from '../core/interfaces.js'
import { callNodeApi, NodeApiControls, type NodeApiCall } from '../node/fault-client.js'
import { logDir, nodeUrl, readCluster, type ClusterRecord, type NodeRecord } from './state.js'

export type LauncherMode = 'process' | 'inproc' | 'docker' | 'swarm'

/** running: answers; paused: frozen (SIGSTOP, docker pause); down: killed or exited. */
export type MemberState = 'running' | 'paused' | 'down'

export interface LauncherMember {
  /** master, node1, ... */
  name: string
  /** Base URL of its HTTP API as this machine reaches it. */
  url: string
  host: string
  httpPort: number
  /** The id it reported on its last /health (a restarted node has a new one). */
  id?: string
  /** Its process (this process's own pid for an in-process node). */
  pid?: number
  /** Its container (docker and swarm modes). */
  container?: string
  state: MemberState
}

/** A line of a member's log, as it comes. */
export type LineListener = (name: string, line: string) => void

export interface Launcher extends ClusterControls, Startable {
  readonly mode: LauncherMode
  /** True when the cluster has a key (frames authenticated, the API guarded). */
  readonly keyed: boolean
  /** The master first, then node1..nodeN. Empty before start(). */
  list(): LauncherMember[]
  /** True while the member runs (and is not paused). */
  running(name: string): boolean
  /** Headers every call to a node's API carries (the cluster key's bearer token, if any). */
  headers(): Record<string, string>
  /** Freezes a member without killing it: it keeps its sockets and answers nothing. */
  pause(name: string): Promise<void>
  resume(name: string): Promise<void>
  /** The last `lines` lines of a member's log. */
  logs(name: string, lines?: number): string[]
  /** Calls `listener` with every log line of every member from now on. */
  onLine(listener: LineListener): void
  /** The cluster record `status`, `kill` and `down` read from other terminals. */
  record(): ClusterRecord | undefined
}

/** A member as a launcher lists it: where its record puts it, and the state the launcher knows. */
export function memberOf(
  n: Pick<NodeRecord, 'name' | 'host' | 'httpPort' | 'id'> & { pid?: number; container?: string },
  state: MemberState,
): LauncherMember {
  const { name, host, httpPort, id, pid, container } = n
  return { name, url: nodeUrl(n), host, httpPort, id, pid, container, state }
}

/** Lines `logs()` returns by default. */
export const DEFAULT_LOG_LINES = 100
/** Bytes read from the end of a log file for `logs()`. */
const LOG_TAIL_BYTES = 256 * 1024

/** What every launcher shares: the key, the log listeners, log files, the link faults. */
export abstract class BaseLauncher extends NodeApiControls implements Launcher {
  abstract readonly mode: LauncherMode
  private readonly listeners: LineListener[] = []
  private readonly keyring?: Keyring

  constructor(
    protected readonly stateDir: string,
    key: string | undefined,
  ) {
    super()
    if (key !== undefined) this.keyring = new Keyring(key)
  }

  protected readonly callNode: NodeApiCall = (node, method, path, body) =>
    callNodeApi(node, this.member(node).url, method, path, body, this.headers())

  protected runningNodes(): Promise<string[]> | string[] {
    return this.list().flatMap((m) => (m.state === 'running' ? [m.name] : []))
  }

  get keyed(): boolean {
    return this.keyring !== undefined
  }

  abstract start(): Promise<void>
  abstract stop(): Promise<void>
  abstract list(): LauncherMember[]
  abstract pause(name: string): Promise<void>
  abstract resume(name: string): Promise<void>

  running(name: string): boolean {
    return this.member(name).state === 'running'
  }

  headers(): Record<string, string> {
    return this.keyring ? { authorization: this.keyring.bearer() } : {}
  }

  /** The member of that name, or a ClusterError naming the valid ones. */
  protected member(name: string): LauncherMember {
    const all = this.list()
    const m = all.find((x) => x.name === name)
    if (!m)
      throw new ClusterError(
        `no node named ${name} in this cluster (${all.map((x) => x.name).join(', ') || 'none started'})`,
      )
    return m
  }

  protected unsupported(operation: string, reason: string): never {
    throw new LauncherUnsupportedError(this.mode, operation, reason)
  }

  protected emitLine(name: string, line: string): void {
    for (const l of this.listeners) {
      try {
        l(name, line)
      } catch {
        // a listener's mistake must not stop the log
      }
    }
  }

  /**
   * The init a launcher hands the cluster it wraps: the caller's, with an `onLine` that calls the
   * caller's own listener, then every listener given to onLine().
   */
  protected tee<T extends { onLine?: LineListener }>(init: T): T & { onLine: LineListener } {
    const own = init.onLine
    return {
      ...init,
      onLine: (name, line) => {
        own?.(name, line)
        this.emitLine(name, line)
      },
    }
  }

  onLine(listener: LineListener): void {
    this.listeners.push(listener)
  }

  logs(name: string, lines = DEFAULT_LOG_LINES): string[] {
    // Only a member's name reaches the path: no `../` from a caller.
    const file = join(logDir(this.stateDir), `${this.member(name).name}.log`)
    return tailLines(file, lines)
  }

  record(): ClusterRecord | undefined {
    return readCluster(this.stateDir)
  }
}

/** The last `lines` lines of a file (read from its last LOG_TAIL_BYTES); none when it is missing. */
export function tailLines(file: string, lines: number): string[] {
  if (!existsSync(file)) return []
  const size = statSync(file).size
  const start = Math.max(0, size - LOG_TAIL_BYTES)
  let text: string
  if (start === 0) text = readFileSync(file, 'utf8')
  else {
    const buf = Buffer.alloc(size - start)
    const fd = openSync(file, 'r')
    try {
      readSync(fd, buf, 0, buf.length, start)
    } finally {
      closeSync(fd)
    }
    text = buf.toString('utf8')
    text = text.slice(text.indexOf('\n') + 1)
  }
  const all = text.split('\n')
  if (all.at(-1) === '') all.pop()
  return all.slice(Math.max(0, all.length - lines))
}
