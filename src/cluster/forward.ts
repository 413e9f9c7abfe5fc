// The dashboard of a container cluster on the host's loopback (issue 16 item 13). Docker mode
// publishes the master's port 8080 through compose (`127.0.0.1:<port>:8080`). A swarm cannot
// publish on one host address (ingress and host-mode ports bind every interface), so there the
// supervisor forwards a loopback port to the master task's address: the dashboard is reachable
// from this machine only, as in local mode.
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { ClusterError } from '../core/errors.js'

/** The dashboard's port inside the master's container (the image's EXPOSE). */
export const CONTAINER_DASHBOARD_PORT = 8080
/** Connections the forwarder carries at once; more are refused (a page opens a handful). */
export const FORWARD_MAX_CONNECTIONS = 256
/** Time allowed to reach the master's address for one connection, in ms. */
export const FORWARD_CONNECT_TIMEOUT_MS = 10_000

/** Where the host reaches a container cluster's dashboard. */
export interface DashboardPublish {
  /** Host address. @default 127.0.0.1 */
  host: string
  /** Host port. @default 8080 */
  port: number
}

export function dashboardUrl(p: DashboardPublish): string {
  return `http://${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.port}`
}

function inUse(p: DashboardPublish, err: NodeJS.ErrnoException): ClusterError {
  return err.code === 'EADDRINUSE'
    ? new ClusterError(
        `dashboard port ${p.port} on ${p.host} is already in use (another cluster's dashboard?); choose one with --dashboard-port`,
        { cause: err },
      )
    : new ClusterError(`cannot listen on ${p.host}:${p.port} for the dashboard: ${err.message}`, {
        cause: err,
      })
}

function listen(server: Server, p: DashboardPublish): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(inUse(p, err as NodeJS.ErrnoException)))
    server.listen({ host: p.host, port: p.port, exclusive: true }, () => resolve())
  })
}

/** Throws a clear ClusterError when the host port is taken, before any container starts. */
export async function checkDashboardPortFree(p: DashboardPublish): Promise<void> {
  const server = createServer()
  await listen(server, p)
  await new Promise<void>((r) => server.close(() => r()))
}

/**
 * A TCP forwarder from `listen` to the address `target()` names at connection time (the master's
 * address is known only once its task runs): every byte both ways, nothing parsed. stop() closes
 * the listener and every connection; twice is harmless.
 */
export class LoopbackForward {
  private server?: Server
  private readonly sockets = new Set<Socket>()

  constructor(
    readonly listenOn: DashboardPublish,
    private readonly target: () => { host: string; port: number } | undefined,
  ) {}

  get url(): string {
    return dashboardUrl(this.listenOn)
  }

  async start(): Promise<void> {
    if (this.server) return
    const server = createServer((client) => this.accept(client))
    server.maxConnections = FORWARD_MAX_CONNECTIONS
    await listen(server, this.listenOn)
    server.on('error', () => {}) // after listening: a failed accept only loses that connection
    this.server = server
  }

  private accept(client: Socket): void {
    const to = this.target()
    client.on('error', () => {})
    if (!to) return void client.destroy()
    const upstream = createConnection({ host: to.host, port: to.port })
    upstream.setTimeout(FORWARD_CONNECT_TIMEOUT_MS, () => upstream.destroy())
    upstream.once('connect', () => upstream.setTimeout(0))
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    for (const s of [client, upstream]) {
      this.sockets.add(s)
      s.once('close', () => this.sockets.delete(s))
    }
    client.pipe(upstream)
    upstream.pipe(client)
  }

  async stop(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    if (server) await new Promise<void>((r) => server.close(() => r()))
  }
}
