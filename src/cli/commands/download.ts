// Commands for line server and cooperative download (issue 5).
import type { Command } from 'commander'

export function registerDownloadCommands(_program: Command): void {}
