// Every error distlab throws: a stable string `code` that tests and callers match on, a `name`
// for people, and the socket or parser error that caused it in `cause`.
import type { Envelope } from './envelope.js'

export class DistlabError extends Error {
  readonly code: string = 'ERR_DISTLAB'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DistlabError'
  }
}

/** A caller passed a value that breaks a documented rule; the message names the field. */
export class InvalidArgumentError extends DistlabError {
  override readonly code = 'ERR_INVALID_ARGUMENT'
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message)
    this.name = 'InvalidArgumentError'
  }
}

/** Bytes from the network that are not a valid frame; `reason` is the counter label. */
export class FrameDecodeError extends DistlabError {
  override readonly code = 'ERR_FRAME_DECODE'
  constructor(
    message: string,
    readonly reason: DecodeFailure,
  ) {
    super(message)
    this.name = 'FrameDecodeError'
  }
  /** The header of an authenticated frame refused as stale or replayed (body null), for telemetry. */
  env?: Envelope
}

export type DecodeFailure =
  | 'too_short'
  | 'too_large'
  | 'bad_magic'
  | 'bad_version'
  | 'bad_crc'
  | 'bad_header'
  /** JSON nested deeper than MAX_JSON_DEPTH. */
  | 'too_deep'
  /** A node with a key: the frame is not sealed, its key is unknown, its MAC is wrong, or it is stale or replayed. */
  | 'no_mac'
  | 'unknown_key'
  | 'bad_mac'
  | 'stale'
  | 'replay'

export class FrameTooLargeError extends DistlabError {
  override readonly code = 'ERR_FRAME_TOO_LARGE'
  constructor(message: string) {
    super(message)
    this.name = 'FrameTooLargeError'
  }
}

export class TimeoutError extends DistlabError {
  override readonly code = 'ERR_TIMEOUT'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TimeoutError'
  }
}

export class AddressInUseError extends DistlabError {
  override readonly code = 'ERR_ADDRESS_IN_USE'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AddressInUseError'
  }
}

/** A socket operation failed for a reason other than a busy address. */
export class TransportError extends DistlabError {
  override readonly code = 'ERR_TRANSPORT'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TransportError'
  }
}

export class NotStartedError extends DistlabError {
  override readonly code = 'ERR_NOT_STARTED'
  constructor(message: string) {
    super(message)
    this.name = 'NotStartedError'
  }
}

export class UnknownPeerError extends DistlabError {
  override readonly code = 'ERR_UNKNOWN_PEER'
  constructor(message: string) {
    super(message)
    this.name = 'UnknownPeerError'
  }
}

/** Something about the cluster as a whole: already running, not running, failed to start. */
export class ClusterError extends DistlabError {
  override readonly code: string = 'ERR_CLUSTER'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ClusterError'
  }
}

export class ClusterRunningError extends ClusterError {
  override readonly code = 'ERR_CLUSTER_RUNNING'
  constructor(message: string) {
    super(message)
    this.name = 'ClusterRunningError'
  }
}

export class ClusterNotRunningError extends ClusterError {
  override readonly code = 'ERR_CLUSTER_NOT_RUNNING'
  constructor(message: string) {
    super(message)
    this.name = 'ClusterNotRunningError'
  }
}

/** Why a call to a node's HTTP API failed. */
export type NodeApiFailure =
  /** No connection: refused, reset, unreachable. */
  | 'unreachable'
  /** No answer within the call's time limit. */
  | 'timeout'
  /** The node answered 4xx or 5xx (see `status`). */
  | 'refused'
  /** The answer was larger than the client reads. */
  | 'too_large'
  /** The answer was not what the endpoint answers (not JSON, or not its schema), or a redirect. */
  | 'bad_answer'

/**
 * A call to a distlab node's or master's HTTP API failed. The message names the node and the action
 * in words ("node2 did not answer POST /unicast within 5 s"), never the URL it was called on; the
 * URL stays in `url` for debugging.
 */
export class NodeApiError extends DistlabError {
  override readonly code = 'ERR_NODE_API'
  /** Who was called, as the message names it: `node2`, `the master`, `127.0.2.1:5000`. */
  readonly node: string
  /** What was asked, in words or as `METHOD /path`. */
  readonly action: string
  /** The URL that was called (for debugging; not in the message). */
  readonly url: string
  readonly failure: NodeApiFailure
  /** The HTTP status the node answered with, when it answered. */
  readonly status: number | undefined
  /** The node's own error label (`unknown_peer`, `invalid_body`...), when it gave one. */
  readonly error: string | undefined
  /** The request field the node named as wrong, when it named one. */
  readonly field: string | undefined
  constructor(
    message: string,
    details: {
      node: string
      action: string
      url: string
      failure: NodeApiFailure
      status?: number
      error?: string
      field?: string
      cause?: unknown
    },
  ) {
    super(message, { cause: details.cause })
    this.name = 'NodeApiError'
    this.node = details.node
    this.action = details.action
    this.url = details.url
    this.failure = details.failure
    this.status = details.status
    this.error = details.error
    this.field = details.field
  }
}

/** Turn a Node socket error into one of ours, with a sentence a person can act on. */
export function wrapSocketError(err: unknown, what: string): DistlabError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'EADDRINUSE') return new AddressInUseError(`${what} is already in use`, { cause: err })
  if (code === 'EADDRNOTAVAIL')
    return new TransportError(`${what}: address not available on this machine`, { cause: err })
  if (code === 'EACCES') return new TransportError(`${what}: permission denied`, { cause: err })
  if (err instanceof DistlabError) return err
  return new TransportError(`${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

/** A launcher cannot do what was asked (a swarm cannot keep a killed task down, say); says why. */
export class LauncherUnsupportedError extends ClusterError {
  override readonly code = 'ERR_LAUNCHER_UNSUPPORTED'
  constructor(
    readonly mode: string,
    readonly operation: string,
    reason: string,
  ) {
    super(`${operation} is not supported in ${mode} mode: ${reason}`)
    this.name = 'LauncherUnsupportedError'
  }
}
