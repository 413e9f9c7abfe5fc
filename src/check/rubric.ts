// A handout as an executable rubric: each seed is a table of items (id, title, required, check),
// run in order against the student's programs. An item's check returns passed plus the evidence a
// person needs to believe the verdict (the request and the answer, the log line, the table); a
// check that throws fails its item with the error as evidence. The report is plain data, so the
// CLI prints it for people or as JSON, and a course can add items by adding rows to a table.

/** What one item's check found. */
export interface ItemOutcome {
  passed: boolean
  /** Lines a person reads to see why: what was sent, what came back, what was expected. */
  evidence: string[]
}

/** One row of a seed's rubric table. */
export interface RubricItem<C> {
  /** Stable id, used in --json and by `--only`. */
  id: string
  /** What the handout promises, in one line. */
  title: string
  /** Required items decide the exit status; optional ones are reported only. */
  required: boolean
  check: (ctx: C) => Promise<ItemOutcome>
}

/** A seed's whole rubric: how to start the student's system, the items, how to stop it. */
export interface SeedRubric<O, C> {
  seed: string
  title: string
  items: ReadonlyArray<RubricItem<C>>
  /** Starts what every item needs; throwing fails every item with that reason. */
  setup: (options: O) => Promise<C>
  /** Stops everything setup started; runs even when items failed. */
  teardown: (ctx: C) => Promise<void>
}

export interface ItemResult {
  id: string
  title: string
  required: boolean
  passed: boolean
  evidence: string[]
  ms: number
}

export interface RubricReport {
  seed: string
  items: ItemResult[]
  /** How many items passed. */
  passed: number
  /** How many items ran. */
  total: number
  /** Required items and how many of them passed. */
  required: number
  requiredPassed: number
  /** True when every required item passed: the exit status is 0 exactly then. */
  ok: boolean
}

export interface RunRubricInit {
  /** Run only these item ids (all when empty or absent). */
  only?: readonly string[]
  /** Called as each item finishes, for progress. */
  onItem?: (result: ItemResult, index: number, count: number) => void
  /** Called with a line of progress: setup, each item as it starts, teardown. */
  onProgress?: (line: string) => void
}

/** Bounds evidence so a runaway program cannot flood the report: at most 40 lines of 400 chars. */
export function boundEvidence(lines: readonly string[]): string[] {
  const out: string[] = []
  for (const line of lines.slice(0, 40)) out.push(line.length > 400 ? `${line.slice(0, 400)}…` : line)
  if (lines.length > 40) out.push(`… ${lines.length - 40} more lines`)
  return out
}

export function pass(...evidence: string[]): ItemOutcome {
  return { passed: true, evidence }
}

export function fail(...evidence: string[]): ItemOutcome {
  return { passed: false, evidence }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Runs a seed's rubric: setup, every item in table order, teardown; never throws for an item. */
export async function runRubric<O, C>(
  rubric: SeedRubric<O, C>,
  options: O,
  init: RunRubricInit = {},
): Promise<RubricReport> {
  const selected = init.only?.length
    ? rubric.items.filter((i) => init.only!.includes(i.id))
    : [...rubric.items]
  const results: ItemResult[] = []
  let ctx: C | undefined
  let setupError: unknown
  init.onProgress?.(`starting the ${rubric.seed} programs`)
  try {
    ctx = await rubric.setup(options)
  } catch (err) {
    setupError = err
  }
  try {
    for (const [index, item] of selected.entries()) {
      const started = Date.now()
      let outcome: ItemOutcome
      if (ctx === undefined) outcome = fail(`not run: the programs did not start: ${errorText(setupError)}`)
      else {
        init.onProgress?.(`checking ${item.id} (${index + 1}/${selected.length})`)
        try {
          outcome = await item.check(ctx)
        } catch (err) {
          outcome = fail(`the check stopped: ${errorText(err)}`)
        }
      }
      const result: ItemResult = {
        id: item.id,
        title: item.title,
        required: item.required,
        passed: outcome.passed,
        evidence: boundEvidence(outcome.evidence),
        ms: Date.now() - started,
      }
      results.push(result)
      init.onItem?.(result, index, selected.length)
    }
  } finally {
    if (ctx !== undefined) {
      init.onProgress?.('stopping the programs')
      await rubric.teardown(ctx)
    }
  }
  const required = results.filter((r) => r.required)
  const requiredPassed = required.filter((r) => r.passed).length
  return {
    seed: rubric.seed,
    items: results,
    passed: results.filter((r) => r.passed).length,
    total: results.length,
    required: required.length,
    requiredPassed,
    ok: requiredPassed === required.length,
  }
}
