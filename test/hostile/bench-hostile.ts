// bench/hostile reduced (issue 14 deliverable), shared by bench-hostile-keyed.test and
// bench-hostile-open.test (two files, so that the runner can run them side by side): every attack
// on a live process cluster, keyed and open (127.73.x.y), must meet the targets: every process alive and the cluster still working,
// nothing forged accepted, RSS growth < 50 MB per attack, at most 1 master request per 100
// hostile inputs (rounded up). A missed target fails the test with the row that missed it.
//
// The open cluster takes well-formed broadcast floods (#5 IHAVE ids, #9 messages from one origin)
// in by design; what a node keeps of them is bounded by bytes (broadcast/budget.ts), and since
// node processes run with NODE_PROCESS_V8_FLAGS (a 2 MB young generation, the old generation's
// limit 25% above what survived) and the run store with SQLite's 2 MB page cache, the RSS they
// leave behind meets the 50 MB target too (full size, bench 2026-12-06: #9 +33..+42 MB; it was
// +59..+113 before): no row has a looser bound any more.
// #6 on the open cluster (out-of-order unicast frames from invented senders) now meets the
// target like every other row: a reply to an unknown sender asks the master at most once per
// UNKNOWN_SENDER_REFRESH_MS (test/hostile/unknown-senders).
import assert from 'node:assert/strict'
import { misses, REDUCED, runHostile } from '../../bench/hostile-attacks.js'

/** Runs every attack on a keyed or an open cluster and asserts each row meets its target. */
export async function everyAttackMeetsTargets(keyed: boolean): Promise<void> {
  const rows = await runHostile(keyed, REDUCED)
  assert.equal(rows.length, 15, 'every attack ran')
  const missed = rows
    .map((r) => ({ r, why: misses(r) }))
    .filter((x) => x.why.length > 0)
    .map(({ r, why }) => `#${r.item} ${r.attack}: ${why.join(', ')} (${r.note})`)
  assert.deepEqual(missed, [])
  // The attacks did reach their targets: the hostile inputs were sent.
  for (const r of rows) assert.ok(r.inputs > 0, `#${r.item} sent nothing (${r.note})`)
}
