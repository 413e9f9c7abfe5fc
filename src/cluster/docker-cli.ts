// Running the Docker CLI (and other programs the launchers need) to completion: one runner, its
// errors and their codes. The low part of the docker launcher, so that image builders
// (rootfs-image.ts) can use it without importing the launcher.
import { spawn } from 'node:child_process'
import { DockerError, DockerUnavailableError } from '../core/errors.js'

export const DEFAULT_DOCKER_TIMEOUT_MS = 120_000

export { DockerError, DockerUnavailableError }

export interface RunResult {
  stdout: string
  stderr: string
  code: number
}

export interface RunOptions {
  input?: string | Buffer | NodeJS.ReadableStream
  timeoutMs?: number
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Resolve with the exit code instead of throwing on a non-zero one. */
  allowFailure?: boolean
}

/** Runs a program to its end; a non-zero exit becomes a DockerError naming the command. */
export function runCommand(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_DOCKER_TIMEOUT_MS
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: o.cwd,
      env: o.env ?? process.env,
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
      reject(
        missing
          ? new DockerUnavailableError(
              `${cmd} is not installed (apt-get install -y docker.io docker-compose)`,
              {
                cause: err,
              },
            )
          : new DockerError(`${cmd} ${args.join(' ')}: ${err.message}`, { cause: err }),
      )
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      const r = { stdout, stderr, code: code ?? -1 }
      if (code === 0 || o.allowFailure) return resolvePromise(r)
      const tail = (stderr.trim() || stdout.trim()).split('\n').slice(-5).join('\n')
      const why = signal ? `killed after ${timeoutMs} ms` : `exit ${code}`
      reject(new DockerError(`\`${cmd} ${args.join(' ')}\` failed (${why}): ${tail}`))
    })
    if (o.input !== undefined) {
      if (typeof o.input === 'string' || Buffer.isBuffer(o.input)) child.stdin!.end(o.input)
      else o.input.pipe(child.stdin!)
      child.stdin!.on('error', () => {}) // the program may exit before reading everything
    }
  })
}

/** `docker <args>`. */
export function docker(args: string[], o: RunOptions = {}): Promise<RunResult> {
  return runCommand('docker', args, o)
}
