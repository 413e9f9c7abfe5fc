// The course's loss emulation, applied by the receiving side: drop every n-th packet that arrives
// (deterministic, `-d n`) or each one with probability p (`-p p`).
import { InvalidArgumentError } from '../../core/errors.js'
import { checkInteger, checkProbability } from '../../core/options.js'

export type LossSpec = { mode: 'none' } | { mode: 'every'; n: number } | { mode: 'probability'; p: number }

export function resolveLossSpec(dropEvery?: number, dropProbability?: number): LossSpec {
  if (dropEvery !== undefined && dropProbability !== undefined)
    throw new InvalidArgumentError(
      'give either dropEvery (-d) or dropProbability (-p), not both',
      'dropEvery',
    )
  if (dropEvery !== undefined && dropEvery !== 0)
    return { mode: 'every', n: checkInteger('dropEvery', dropEvery, 1) }
  if (dropProbability !== undefined && dropProbability !== 0)
    return { mode: 'probability', p: checkProbability('dropProbability', dropProbability) }
  return { mode: 'none' }
}

export class LossEmulator {
  private arrived = 0
  constructor(
    readonly spec: LossSpec,
    private readonly random: () => number = Math.random,
  ) {}

  /** Call once per arriving packet; true means drop it. */
  shouldDrop(): boolean {
    this.arrived++
    switch (this.spec.mode) {
      case 'none':
        return false
      case 'every':
        return this.arrived % this.spec.n === 0
      case 'probability':
        return this.random() < this.spec.p
    }
  }
}
