// Every attack of issue 14 on a live process cluster, keyed and open (bench/hostile-attacks.ts):
// process alive, RSS before/after, member-list requests caused at the master, what got through;
// against the targets: 0 crashes, 0 forged inputs accepted, RSS growth < 50 MB per attack, at
// most 1 master request per 100 hostile inputs. Run as root, it re-runs itself in a network
// namespace of its own (`unshare -n`), so that its datagrams to 127.255.255.255 reach no one
// else's sockets and nothing leaves by a real interface.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { FULL, misses, runHostile, type HostileRow } from './hostile-attacks.js'
import { writeResult } from './lib.js'

const NETNS_ENV = 'DISTLAB_BENCH_HOSTILE_NETNS'

if (process.env[NETNS_ENV] !== '1' && process.getuid?.() === 0) {
  const self = fileURLToPath(import.meta.url)
  const r = spawnSync(
    'unshare',
    ['-n', '--', 'sh', '-c', 'ip link set lo up && exec "$0" --expose-gc "$1"', process.execPath, self],
    { stdio: 'inherit', env: { ...process.env, [NETNS_ENV]: '1' } },
  )
  process.exit(r.status ?? 1)
}

// BENCH_HOSTILE_ITEMS=9,5 runs only those items; BENCH_HOSTILE_CLUSTERS=open (or keyed) only that
// cluster: for measuring one attack while working on it (a partial run still rewrites the result).
const only = process.env.BENCH_HOSTILE_ITEMS?.split(',').map(Number)
const clusters = process.env.BENCH_HOSTILE_CLUSTERS?.split(',') ?? ['keyed', 'open']
const rows: HostileRow[] = []
for (const keyed of [true, false].filter((k) => clusters.includes(k ? 'keyed' : 'open')))
  await runHostile(
    keyed,
    FULL,
    (r) => {
      rows.push(r)
      const m = misses(r)
      process.stderr.write(
        `${r.cluster} #${r.item} ${r.attack}: ${m.length ? `MISSED (${m.join(', ')})` : 'ok'} (${r.note})\n`,
      )
    },
    only,
  )

const missed = rows.filter((r) => misses(r).length > 0)
writeResult('hostile', {
  title: 'Hostile: the attacks of issue 14 on a live cluster, keyed and open',
  description:
    'A master and two nodes as child processes (LocalCluster, 127.73.x.y, in a network namespace of the bench), once with a cluster key and once open; the attacker at 127.73.9.9 never holds the token. Per attack: every process alive, the cluster still working afterwards (node1 pings master over UDP and node2 over TCP), RSS of the attacked process before/after and the largest growth of any process, member-list requests the attack caused at the master (over its idle rate), and the hostile inputs that took effect (frames taken in = sent minus counted drops over TCP; 2xx answers; forged log lines; redirect targets reached). Targets: 0 crashes, 0 accepted (except well-formed frames and open GETs on the open cluster, which it takes by design), RSS growth < 50 MB, at most 1 master request per 100 hostile inputs.',
  sections: [
    {
      columns: [
        'cluster',
        'item',
        'attack',
        'target',
        'inputs',
        'alive / works',
        'RSS before → after (MB)',
        'max growth (MB)',
        'master requests',
        'accepted',
        'verdict',
        'note',
      ],
      rows: rows.map((r) => [
        r.cluster,
        r.item,
        r.attack,
        r.target,
        r.inputs,
        `${r.alive ? 'yes' : 'NO'} / ${r.works ? 'yes' : 'NO'}`,
        `${r.rssBeforeMb} → ${r.rssAfterMb}`,
        r.maxGrowthMb,
        r.masterRequests,
        r.acceptedByDesign ? `${r.accepted} (open: by design)` : r.accepted,
        misses(r).length ? `MISSED: ${misses(r).join(', ')}` : 'ok',
        r.note,
      ]),
      notes: [
        `${rows.length} attacks run, ${missed.length} missed a target.`,
        'Items 16-18 of issue 14 (journal, run store, local files) are not attacks on a live process: their tests are test/hostile/journal*.test.ts, run-interrupted.test.ts and files.test.ts.',
      ],
    },
  ],
  data: rows,
})
if (missed.length) process.exitCode = 1
