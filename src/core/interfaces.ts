// The interfaces several layers share. Protocols see only ProtocolComponents; transports see
// only envelopes and addresses; launchers see only Startable nodes.
import type { Envelope, Body } from './envelope.js'
import type { DecodeFailure } from './errors.js'
import type { Logger } from './logger.js'
import type { Clock } from './clock.js'
import type { RouteHost } from './routes.js'
import type { FrameAuthenticator } from './frame.js'
import type { LinkRule } from './link-rule.js'
import type { TelemetryEvent, TransportKind } from './telemetry.js'

export type { TransportKind } from './telemetry.js'

export interface Startable {
  start(): Promise<void>
  /** Releases every socket and timer; calling it twice is harmless. */
  stop(): Promise<void>
}

export interface PeerAddress {
  host: string
  port: number
}

/** Why a frame did not reach a protocol; each is a label on `distlab_frames_dropped_total`. */
export type DropReason =
  // A frame that does not decode (or authenticate) is dropped with the decoder's reason.
  | DecodeFailure
  | 'loss'
  | 'drop_every'
  | 'partition'
  | 'no_protocol'
  | 'unknown_peer'
  | 'send_failed'
  | 'protocol_error'
  | 'not_for_me'
  // A protocol's own reasons: 'duplicate', 'ttl_expired', ...
  | (string & {})

export interface InboundMessage {
  env: Envelope
  from: PeerAddress
  /** Bytes on the wire. */
  bytes: number
  transport: TransportKind
}

export interface DropInfo {
  reason: DropReason
  bytes: number
  transport: TransportKind
  direction: 'in' | 'out'
  from?: PeerAddress
  env?: Envelope
}

export interface TransportHandler {
  message(msg: InboundMessage): void
  drop(info: DropInfo): void
}

export interface Transport extends Startable {
  readonly kind: TransportKind
  /** The bound address; valid after start(). */
  address(): PeerAddress
  /**
   * Encodes and sends one envelope; resolves to the bytes put on the wire. `replyOn`: the `from` of
   * an inbound frame this one answers; a transport with connections (TCP) sends it back on that
   * frame's connection while it is open, else to `to`. Others ignore it.
   */
  send(to: PeerAddress, env: Envelope, replyOn?: PeerAddress): Promise<number>
  setHandler(handler: TransportHandler): void
  /**
   * Seal every frame sent and authenticate every frame received (before it is parsed) with the
   * cluster key. A transport without it cannot join a keyed cluster.
   */
  setFrameAuth?(auth: FrameAuthenticator): void
}

export interface SendOptions {
  transport?: 'udp' | 'tcp'
  id?: string
  ttl?: number
  /** Sends to this address instead of looking `dst` up among the members (for a protocol that keeps a membership of its own). */
  address?: PeerAddress
  /**
   * This send answers an inbound frame (an ack, a pong): `dst` is the name that frame claimed, so
   * an unknown one may be invented, and asks the master for the member list far more rarely than
   * a send the application started (Node's UNKNOWN_SENDER_REFRESH_MS).
   */
  reply?: boolean
  /** With `address`: the `from` of the inbound frame this send answers (Transport.send's `replyOn`). */
  replyOn?: PeerAddress
}

/** A node as others know it. */
export interface PeerInfo {
  name: string
  id: string
  role: 'master' | 'node'
  /** The address others use to reach it. */
  host: string
  httpPort: number
  framePort: number
}

/** The node's trust settings, for a protocol that calls other nodes over HTTP or has its own sockets. */
export interface PeerTrust {
  /** Headers every HTTP call to another node carries: the bearer token when the cluster has a key. */
  httpHeaders(): Record<string, string>
  /** Resolves to the URL's origin when it may be called; rejects with PeerUrlRejectedError otherwise. */
  checkPeerUrl(url: string, field?: string): Promise<string>
  /**
   * checkPeerUrl without waiting: the origin, or a thrown PeerUrlRejectedError, when no DNS lookup
   * is needed; undefined when it is (then use checkPeerUrl).
   */
  checkPeerUrlNow(url: string, field?: string): string | undefined
  /**
   * The cluster key's frame sealer, for frames on a protocol's own socket: pass it as `auth` to
   * encodeFrame and decodeFrame. Undefined on an open cluster.
   */
  readonly frameAuth?: FrameAuthenticator
}

/**
 * This node's link rules and partition, as a protocol with sockets of its own reads them (the
 * node's `LinkTable`, link/emulator.ts, is one): frames on such a socket bypass the link emulator.
 */
export interface PeerLinks {
  /** True when this node and `peer` are in different groups of the partition. */
  partitioned(peer: string): boolean
  /** The rule for the link to `peer` (its own, else the one for every peer, else no rule). */
  ruleFor(peer: string): LinkRule
}

/** Label names and values of one metric series. */
export type MetricLabels = Record<string, string>

/** The node's metrics, as a protocol adds to them (the node's `Metrics`, node/metrics.ts, is one). */
export interface MetricsSink {
  /** Adds `by` (default 1) to a counter. */
  inc(name: string, help: string, labels?: MetricLabels, by?: number): void
  /** Adds one observation, in seconds, to a histogram. */
  observe(name: string, help: string, seconds: number, buckets?: number[]): void
  /** The sum of a counter over the series whose labels include `where`. */
  total(name: string, where?: MetricLabels): number
}

/** What a protocol is handed by the node it runs in. */
export interface ProtocolComponents {
  readonly self: {
    readonly name: string
    readonly id: string
    /** The address this node's sockets bind to (for protocols with sockets of their own). */
    readonly bindHost: string
    /** The address others use to reach this node. */
    readonly host: string
    /** The UDP and TCP frame port, once the node has started. */
    readonly framePort?: number
    /** The HTTP API port, once the node has started. */
    readonly httpPort?: number
  }
  readonly logger: Logger
  readonly clock: Clock
  /** Sends to one node by name; resolves when the frame is on the wire (or dropped by the link emulator). */
  send(dst: string, type: string, body: Body, options?: SendOptions): Promise<void>
  /** Names of the other nodes this node currently knows of. */
  peers(): readonly string[]
  /** Reports that a message reached the application, for telemetry. */
  delivered(env: Envelope): void
  /** Reports a message the protocol itself discarded (a duplicate, an expired TTL, ...). */
  dropped(env: Envelope, reason: string): void
  /** The other nodes this node knows, with their addresses. */
  members(): readonly PeerInfo[]
  /** This node's link rules and partition; a protocol with its own sockets consults it. */
  readonly links: PeerLinks
  readonly metrics: MetricsSink
  /** A raw telemetry event, for traffic on a protocol's own sockets (IP multicast, say). */
  record(event: Omit<TelemetryEvent, 'node' | 'ts'> & { ts?: number }): void
  /** Cluster key and peer URL checks (src/core/auth.ts, src/core/url-guard.ts). */
  readonly trust?: PeerTrust
}

export interface Protocol extends Startable {
  /** Matches the envelope's `proto`. */
  readonly name: string
  handle(env: Envelope, msg: InboundMessage): void
  /** Adds the protocol's endpoints to the node's HTTP API. */
  routes?(app: RouteHost): void
}

export type ProtocolFactory = (components: ProtocolComponents) => Protocol
