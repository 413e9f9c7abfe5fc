// Commands for containers, swarm, kubernetes (issue 8).
import type { Command } from 'commander'

export function registerDeployCommands(_program: Command): void {}
