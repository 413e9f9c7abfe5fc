// The container's entrypoint: replaces two placeholders in the arguments, then runs the distlab CLI.
//   @replica[:<service>] → <service><N> (service default `node`), N being this container's
//              replica number: compose names containers <project>_<service>_<N> (v1) or
//              <project>-<service>-<N> (v2). Without it: <service>-<hostname>.
//   @hostname → the container's hostname (swarm sets it from a template: node{{.Task.Slot}}).
//   @ip      → this container's address on the network that reaches the bootstrap (the overlay
//              network in swarm, where a container also sits on docker_gwbridge).
// Scaled replicas all run the same command, so a name and an address are only known in here.
import { createSocket } from 'node:dgram'
import { promises as dns } from 'node:dns'
import { hostname, networkInterfaces } from 'node:os'

const args = process.argv.slice(2)

function firstAddress() {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  return '127.0.0.1'
}

async function routeTo(host) {
  const { address } = await dns.lookup(host, { family: 4 })
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4')
    s.once('error', reject)
    s.connect(9, address, () => {
      const local = s.address().address
      s.close()
      resolve(local)
    })
  })
}

function bootstrapHosts() {
  const out = []
  for (let i = 0; i < args.length - 1; i++)
    if (args[i] === '--bootstrap' || args[i] === '--seed') {
      try {
        out.push(new URL(args[i + 1]).hostname)
      } catch {
        // not a URL: the CLI will say so
      }
    }
  return out
}

async function ownAddress() {
  const [host] = bootstrapHosts()
  if (host) {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        return await routeTo(host)
      } catch {
        await new Promise((r) => setTimeout(r, 250))
      }
    }
  }
  return firstAddress()
}

// The engine's DNS answers PTR queries for the other containers but not for the asker, so the
// name pattern is learnt from a sibling (`<project>_node_2.<network>`) and our own number is found
// by resolving <project>_node_<k> until it gives our address.
async function replicaName(service, ip) {
  const pattern = /^(.*[_-])([a-z][a-z0-9-]*?)([_-])(\d+)(?:\.|$)/i
  for (let attempt = 0; attempt < 20; attempt++) {
    let form
    const known = [service, ...bootstrapHosts()]
    for (const host of known) {
      const addresses = await dns.lookup(host, { all: true, family: 4 }).catch(() => [])
      for (const { address } of addresses.filter((a) => a.address !== ip)) {
        for (const n of await dns.reverse(address).catch(() => [])) {
          const m = pattern.exec(n)
          if (m) form = { prefix: m[1], sep: m[3] }
        }
        if (form) break
      }
      if (form) break
    }
    if (form) {
      for (let k = 1; k <= 1000; k += 25) {
        const batch = Array.from({ length: 25 }, (_, j) => k + j)
        const hits = await Promise.all(
          batch.map((n) =>
            dns
              .lookup(`${form.prefix}${service}${form.sep}${n}`, { family: 4 })
              .then((a) => (a.address === ip ? n : 0))
              .catch(() => -1),
          ),
        )
        const found = hits.find((h) => h > 0)
        if (found) return `${service}${found}`
        if (hits.every((h) => h === -1)) break
      }
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  return `${service}-${hostname()}`
}

const isPlaceholder = (a) => a === '@ip' || a === '@hostname' || a.startsWith('@replica')
if (args.some(isPlaceholder)) {
  const ip = await ownAddress()
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '@ip') args[i] = ip
    else if (args[i] === '@hostname') args[i] = hostname()
    else if (args[i].startsWith('@replica')) args[i] = await replicaName(args[i].split(':')[1] || 'node', ip)
  }
}
// Wait (bounded) until the bootstrap answers, so that a node never starts before its master:
// swarm and kubernetes start services in no order. DISTLAB_WAIT_BOOTSTRAP_S=0 turns this off.
const waitS = Number(process.env.DISTLAB_WAIT_BOOTSTRAP_S ?? 60)
const bootstrapAt = args.indexOf('--bootstrap')
if (waitS > 0 && bootstrapAt >= 0 && args[bootstrapAt + 1]) {
  const deadline = Date.now() + waitS * 1000
  while (Date.now() < deadline) {
    try {
      const res = await fetch(new URL('/health', args[bootstrapAt + 1]), {
        signal: AbortSignal.timeout(2000),
      })
      if (res.ok) break
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500))
  }
}

process.argv = [process.argv[0], new URL('../bin/distlab.js', import.meta.url).pathname, ...args]
await import('../bin/distlab.js')
