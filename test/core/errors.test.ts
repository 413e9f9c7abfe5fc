// Every error class distlab throws lives in src/core/errors.ts and carries a stable `code`; this
// table is the list callers can rely on (as undici keeps its errors in one module, tested from one
// table). A class added to the module without a row here, or an error class defined anywhere else
// in src/, fails the test.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import * as errors from '../../src/core/errors.js'

type AnyErrorClass = new (...args: never[]) => errors.DistlabError

/** class, its code, the class it extends, and arguments that make one (message first where it takes one). */
const TABLE: Array<[AnyErrorClass, string, AnyErrorClass | typeof Error, unknown[]]> = [
  [errors.DistlabError, 'ERR_DISTLAB', Error, ['m']],
  [errors.InvalidArgumentError, 'ERR_INVALID_ARGUMENT', errors.DistlabError, ['m', 'field']],
  [errors.FrameDecodeError, 'ERR_FRAME_DECODE', errors.DistlabError, ['m', 'too_short']],
  [errors.FrameTooLargeError, 'ERR_FRAME_TOO_LARGE', errors.DistlabError, ['m']],
  [errors.TimeoutError, 'ERR_TIMEOUT', errors.DistlabError, ['m']],
  [errors.AddressInUseError, 'ERR_ADDRESS_IN_USE', errors.DistlabError, ['m']],
  [errors.TransportError, 'ERR_TRANSPORT', errors.DistlabError, ['m']],
  [errors.NotStartedError, 'ERR_NOT_STARTED', errors.DistlabError, ['m']],
  [errors.UnknownPeerError, 'ERR_UNKNOWN_PEER', errors.DistlabError, ['node9']],
  [errors.ClusterError, 'ERR_CLUSTER', errors.DistlabError, ['m']],
  [errors.ClusterRunningError, 'ERR_CLUSTER_RUNNING', errors.ClusterError, ['m']],
  [errors.ClusterNotRunningError, 'ERR_CLUSTER_NOT_RUNNING', errors.ClusterError, ['m']],
  [
    errors.NodeApiError,
    'ERR_NODE_API',
    errors.DistlabError,
    ['m', { node: 'node1', action: 'ping', url: 'http://127.0.2.1:5000/ping', failure: 'timeout' }],
  ],
  [
    errors.LauncherUnsupportedError,
    'ERR_LAUNCHER_UNSUPPORTED',
    errors.ClusterError,
    ['swarm', 'kill', 'why'],
  ],
  [errors.KeyError, 'ERR_INVALID_ARGUMENT', errors.InvalidArgumentError, ['m']],
  [errors.UnauthorizedError, 'ERR_UNAUTHORIZED', errors.DistlabError, ['m']],
  [errors.PeerUrlRejectedError, 'ERR_PEER_URL_REJECTED', errors.DistlabError, ['m']],
  [errors.InsecureBindError, 'ERR_INVALID_ARGUMENT', errors.InvalidArgumentError, ['m']],
  [errors.HttpBodyError, 'ERR_HTTP_BODY', errors.DistlabError, ['m', 'msg']],
  [errors.InvalidPeerUrlError, 'ERR_INVALID_ARGUMENT', errors.InvalidArgumentError, ['m', 'url']],
  [errors.UnicastSendError, 'ERR_UNICAST_SEND', errors.DistlabError, ['m']],
  [errors.BroadcastError, 'ERR_BROADCAST', errors.DistlabError, ['m']],
  [errors.GroupError, 'ERR_GROUP', errors.DistlabError, ['m']],
  [errors.DownloadError, 'ERR_DOWNLOAD', errors.DistlabError, ['m']],
  [errors.TextFileError, 'ERR_TEXT_FILE', errors.DistlabError, ['m']],
  [errors.LineProtocolError, 'ERR_LINE_PROTOCOL', errors.DistlabError, ['m']],
  [errors.DockerError, 'ERR_DOCKER', errors.ClusterError, ['m']],
  [errors.DockerUnavailableError, 'ERR_DOCKER_UNAVAILABLE', errors.DockerError, ['m']],
  [errors.RunNotFoundError, 'ERR_RUN_NOT_FOUND', errors.DistlabError, ['m']],
  [errors.PcapFormatError, 'ERR_PCAP_FORMAT', errors.DistlabError, ['m']],
  [errors.CaptureError, 'ERR_CAPTURE', errors.DistlabError, ['m']],
  [errors.CaptureToolMissingError, 'ERR_CAPTURE_TOOL_MISSING', errors.CaptureError, ['m']],
  [errors.CapturePermissionError, 'ERR_CAPTURE_PERMISSION', errors.CaptureError, ['m']],
  [errors.ControlError, 'ERR_CONTROL', errors.DistlabError, ['m']],
  [errors.ScenarioFileError, 'ERR_INVALID_ARGUMENT', errors.InvalidArgumentError, ['m']],
  [errors.ScenarioRunError, 'ERR_SCENARIO', errors.DistlabError, ['m']],
  [errors.ScenarioWorkloadError, 'ERR_SCENARIO_WORKLOAD', errors.DistlabError, ['m']],
  [errors.ProgramError, 'ERR_MAELSTROM_PROGRAM', errors.DistlabError, ['m']],
  [errors.NamespaceError, 'ERR_NAMESPACE', errors.DistlabError, ['m']],
]

test('every error class: its code, its name, its parent; codes are unique but for the usage family', () => {
  const seen = new Map<string, string>()
  for (const [Class, code, Parent, args] of TABLE) {
    const e = new Class(...(args as never[]))
    assert.ok(e instanceof errors.DistlabError && e instanceof Error, Class.name)
    assert.equal(Object.getPrototypeOf(Class), Parent, `${Class.name} extends ${Parent.name}`)
    assert.equal(e.code, code, Class.name)
    assert.equal(e.name, Class.name)
    assert.match(e.code, /^ERR_[A-Z_]+$/)
    assert.ok(e.message.length > 0, `${Class.name} has a message`)
    assert.ok(e.stack?.includes(Class.name), `${Class.name}'s stack names it`)
    // Every mistake in what a caller passed shares one code (the CLI exits 2 for all of them);
    // every other code belongs to one class.
    if (code !== 'ERR_INVALID_ARGUMENT') {
      assert.equal(seen.get(code), undefined, `${code} used by ${seen.get(code)} and ${Class.name}`)
      seen.set(code, Class.name)
    } else assert.ok(e instanceof errors.InvalidArgumentError)
  }
})

test('a cause is kept where a class takes one', () => {
  const cause = new Error('ECONNRESET')
  for (const Class of [
    errors.TimeoutError,
    errors.DockerError,
    errors.ScenarioRunError,
    errors.NamespaceError,
  ])
    assert.equal(new Class('m', { cause } as never).cause, cause, Class.name)
  const wrapped = errors.wrapSocketError(
    Object.assign(new Error('x'), { code: 'EADDRINUSE' }),
    '127.0.0.1:5000',
  )
  assert.ok(wrapped instanceof errors.AddressInUseError)
  assert.match(wrapped.message, /127\.0\.0\.1:5000 is already in use/)
})

test('the module holds every error class, and the table lists every one', () => {
  const exported = (Object.values(errors) as unknown[]).filter(
    (v): v is AnyErrorClass =>
      typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof Error,
  )
  const listed = new Set(TABLE.map(([c]) => c))
  const missing = exported.filter((c) => !listed.has(c) && c !== errors.DistlabError).map((c) => c.name)
  assert.deepEqual(missing, [], 'error classes exported by core/errors.ts without a row in this table')
  assert.equal(listed.size, TABLE.length, 'a class listed twice')
})

test('no error class is defined anywhere else in src/ (internal parse signals aside)', () => {
  // Thrown and caught inside one module, never seen by a caller: they stay with their parser
  // (AnswerTooLarge becomes a NodeApiError in the client, WireError a dropped frame).
  const INTERNAL = new Set(['WireError', 'ShapeError', 'AnswerTooLarge'])
  const outside: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (name.endsWith('.ts') && p !== join('src', 'core', 'errors.ts'))
        for (const m of readFileSync(p, 'utf8').matchAll(/class (\w+) extends \w*Error\b/g))
          if (!INTERNAL.has(m[1]!)) outside.push(`${p}: ${m[1]}`)
    }
  }
  walk('src')
  assert.deepEqual(outside, [])
})
