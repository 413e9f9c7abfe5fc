// Commands for runs, analyze, capture, plot (issue 7).
import type { Command } from 'commander'

export function registerAnalyzeCommands(_program: Command): void {}
