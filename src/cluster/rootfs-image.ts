// Images built without a registry: a root file system laid out from this machine's own files (a
// binary, the shared libraries `ldd` lists for it, a few /etc files), then `tar | docker import`.
// distlab's base image (cluster/docker.ts) and the Maelstrom runtime image (maelstrom/container.ts)
// are both built this way; each says what goes in, this file does the rest.
import { spawn } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { docker, runCommand } from './docker-cli.js'

/** The absolute paths of the shared libraries `ldd` lists for a binary (the loader included). */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const r = await runCommand('ldd', [binary], { allowFailure: true, timeoutMs: 20_000 })
  if (r.code !== 0) return [] // statically linked, or not an ELF file
  const out = new Set<string>()
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
    if (m) out.add(m[1]!)
  }
  return [...out]
}

/** A root file system being laid out in a scratch folder. */
export class Rootfs {
  constructor(readonly root: string) {}

  /** Copies a host file into the image (following symlinks), at `to` or at its own path. */
  put(from: string, to = from, mode?: number): void {
    mkdirSync(join(this.root, dirname(to)), { recursive: true })
    copyFileSync(from, join(this.root, to))
    if (mode !== undefined) chmodSync(join(this.root, to), mode)
  }

  /** Writes a file of the image. */
  write(path: string, text: string): void {
    mkdirSync(join(this.root, dirname(path)), { recursive: true })
    writeFileSync(join(this.root, path), text)
  }

  /** True when the image holds `path` already. */
  has(path: string): boolean {
    return existsSync(join(this.root, path))
  }

  /** Puts in the shared libraries of every binary, each under the path ldd gave. */
  async libraries(binaries: string[]): Promise<void> {
    for (const b of binaries) for (const lib of await sharedLibraries(b)) if (!this.has(lib)) this.put(lib)
  }
}

export interface RootfsImageInit {
  tag: string
  /** Prefix of the scratch folder's name. */
  scratchPrefix: string
  /** Lays out the image's files; /tmp (mode 1777) is added after. */
  layout: (fs: Rootfs) => Promise<void> | void
  /** `docker import --change` instructions (ENV, CMD, LABEL ...). */
  changes: string[]
  timeoutMs: number
  /** Where tar's complaints go. @default 'inherit' */
  tarStderr?: 'inherit' | 'ignore'
}

/** Lays out a root file system, imports it as `tag`, and removes the scratch folder. */
export async function importRootfsImage(init: RootfsImageInit): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), init.scratchPrefix))
  try {
    const fs = new Rootfs(root)
    await init.layout(fs)
    mkdirSync(join(root, 'tmp'), { recursive: true })
    chmodSync(join(root, 'tmp'), 0o1777)
    const tar = spawn('tar', ['-C', root, '-c', '.'], {
      stdio: ['ignore', 'pipe', init.tarStderr ?? 'inherit'],
    })
    const changes = init.changes.flatMap((c) => ['--change', c])
    await docker(['import', ...changes, '-', init.tag], { input: tar.stdout, timeoutMs: init.timeoutMs })
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
