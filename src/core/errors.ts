// Every error distlab throws, in one module: a stable string `code` that tests and callers match on
// (ERR_INVALID_ARGUMENT for every mistake in what a caller passed, one code per class otherwise), a
// `name` for people, and the socket or parser error that caused it in `cause`. The modules that
// throw them re-export them where they used to live. test/core/errors.test.ts holds the table of
// classes and codes, and fails on an error class defined anywhere else in src/.
import type { Envelope } from './envelope.js'

export class DistlabError extends Error {
  readonly code: string = 'ERR_DISTLAB'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    // Every subclass is named after itself, so none repeats this constructor to set its name.
    this.name = new.target.name
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
}

export class TimeoutError extends DistlabError {
  override readonly code = 'ERR_TIMEOUT'
}

export class AddressInUseError extends DistlabError {
  override readonly code = 'ERR_ADDRESS_IN_USE'
}

/** A socket operation failed for a reason other than a busy address. */
export class TransportError extends DistlabError {
  override readonly code = 'ERR_TRANSPORT'
}

export class NotStartedError extends DistlabError {
  override readonly code = 'ERR_NOT_STARTED'
}

export class UnknownPeerError extends DistlabError {
  override readonly code = 'ERR_UNKNOWN_PEER'
}

/** Something about the cluster as a whole: already running, not running, failed to start. */
export class ClusterError extends DistlabError {
  override readonly code: string = 'ERR_CLUSTER'
}

export class ClusterRunningError extends ClusterError {
  override readonly code = 'ERR_CLUSTER_RUNNING'
}

export class ClusterNotRunningError extends ClusterError {
  override readonly code = 'ERR_CLUSTER_NOT_RUNNING'
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
  }
}

// ── Keys and authentication

/** A cluster key that cannot be used: too short, a bad id, two keys with one id. */
export class KeyError extends InvalidArgumentError {
  override readonly code = 'ERR_INVALID_ARGUMENT'
  constructor(message: string) {
    super(message, 'key')
  }
}

/** A request without the bearer token the cluster's key requires. */
export class UnauthorizedError extends DistlabError {
  override readonly code = 'ERR_UNAUTHORIZED'
}

// ── The URL guard

/** A peer URL that the node will not call. */
export class PeerUrlRejectedError extends DistlabError {
  override readonly code = 'ERR_PEER_URL_REJECTED'
  constructor(
    message: string,
    readonly field = 'url',
  ) {
    super(message)
  }
}

/** A node told to listen beyond loopback without a cluster key (and without --insecure): bad usage. */
export class InsecureBindError extends InvalidArgumentError {}

// ── HTTP requests

export class HttpBodyError extends DistlabError {
  override readonly code = 'ERR_HTTP_BODY'
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message)
  }
}

// ── Membership

/** A bad peer URL; `field` names the body field it came from (`url` or `peer`). */
export class InvalidPeerUrlError extends InvalidArgumentError {}

// ── Unicast

/** A message could not be sent at all (too large, queue full). */
export class UnicastSendError extends DistlabError {
  override readonly code = 'ERR_UNICAST_SEND'
}

// ── Broadcast

export class BroadcastError extends DistlabError {
  override readonly code = 'ERR_BROADCAST'
}

// ── Group multicast

export class GroupError extends DistlabError {
  override readonly code = 'ERR_GROUP'
}

// ── The cooperative download

export class DownloadError extends DistlabError {
  override readonly code = 'ERR_DOWNLOAD'
}

export class TextFileError extends DistlabError {
  override readonly code = 'ERR_TEXT_FILE'
}

/** The server answered with something the protocol does not allow here (e.g. an ERROR line). */
export class LineProtocolError extends DistlabError {
  override readonly code = 'ERR_LINE_PROTOCOL'
}

// ── Docker

/** The Docker engine or one of its commands failed; the message holds its last lines of output. */
export class DockerError extends ClusterError {
  override readonly code: string = 'ERR_DOCKER'
}

export class DockerUnavailableError extends DockerError {
  override readonly code = 'ERR_DOCKER_UNAVAILABLE'
}

// ── Runs, captures and the dashboard

/** A run that cannot be found or read. */
export class RunNotFoundError extends DistlabError {
  override readonly code = 'ERR_RUN_NOT_FOUND'
  /** True when the caller named a run that does not exist (a usage mistake: exit 2 in the CLI). */
  readonly usage: boolean
  constructor(message: string, options: { usage?: boolean } = {}) {
    super(message)
    this.usage = options.usage ?? false
  }
}

export class PcapFormatError extends DistlabError {
  override readonly code = 'ERR_PCAP_FORMAT'
}

export class CaptureError extends DistlabError {
  override readonly code: string = 'ERR_CAPTURE'
}

export class CaptureToolMissingError extends CaptureError {
  override readonly code = 'ERR_CAPTURE_TOOL_MISSING'
}

export class CapturePermissionError extends CaptureError {
  override readonly code = 'ERR_CAPTURE_PERMISSION'
}

/** A control the page asked for that could not be carried out; `status` is the HTTP answer. */
export class ControlError extends DistlabError {
  override readonly code = 'ERR_CONTROL'
  constructor(
    message: string,
    readonly status = 502,
  ) {
    super(message)
  }
}

// ── Scenarios

/** A scenario file that cannot be run as written; `field` is the path of the bad value. */
export class ScenarioFileError extends InvalidArgumentError {}

export class ScenarioRunError extends DistlabError {
  override readonly code = 'ERR_SCENARIO'
}

export class ScenarioWorkloadError extends DistlabError {
  override readonly code = 'ERR_SCENARIO_WORKLOAD'
}

// ── Maelstrom programs

export class ProgramError extends DistlabError {
  override readonly code = 'ERR_MAELSTROM_PROGRAM'
}

// ── Course checks

export class NamespaceError extends DistlabError {
  override readonly code = 'ERR_NAMESPACE'
}
