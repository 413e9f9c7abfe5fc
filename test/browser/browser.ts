// Debian's chromium driven by playwright-core, as the browser tests use it: one launch, one page,
// and where screenshots go.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { binPath } from '../helpers.js'

export const CHROMIUM = '/usr/bin/chromium'
/** Screenshots of the browser tests (gitignored). */
export const ARTIFACTS = join(binPath(), '..', '..', 'test-artifacts')

/** Headless chromium with a profile in `profileDir`; its first page waits up to 30 s. */
export async function launchBrowser(profileDir: string): Promise<{ context: BrowserContext; page: Page }> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: bash scripts/install-system-deps.sh installs it`)
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1600, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  const page = context.pages()[0] ?? (await context.newPage())
  page.setDefaultTimeout(30_000)
  return { context, page }
}
