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
