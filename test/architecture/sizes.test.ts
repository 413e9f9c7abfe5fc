// The rooms of src/ (issue 18, docs/architecture.md): no file over 600 lines and no function over 80,
// so that each reads in one sitting. Functions are measured with the TypeScript parser from their
// first line to their closing brace.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { binPath } from '../helpers.js'

const src = join(binPath(), '..', '..', 'src')
const MAX_FILE_LINES = 600
const MAX_FUNCTION_LINES = 80

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) sourceFiles(p, out)
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/** Every function-like node with a body over the limit, named `file:name` and given its length. */
function longFunctions(): Map<string, number> {
  const found = new Map<string, number>()
  for (const path of sourceFiles(src)) {
    const file = relative(src, path)
    const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true)
    const line = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1
    const visit = (n: ts.Node, owner: string): void => {
      let name = owner
      if (ts.isFunctionLike(n) && (n as ts.FunctionLikeDeclaration).body) {
        const named = (n as ts.FunctionLikeDeclaration).name
        name = named ? named.getText(sf) : `${owner}>(anonymous)`
        const lines = line(n.end) - line(n.getStart(sf)) + 1
        if (lines > MAX_FUNCTION_LINES) found.set(`${file}:${name}`, lines)
      }
      ts.forEachChild(n, (c) => visit(c, name))
    }
    visit(sf, '')
  }
  return found
}

test('no file in src/ is over 600 lines', () => {
  const long = sourceFiles(src)
    .map((p) => [relative(src, p), readFileSync(p, 'utf8').split('\n').length] as const)
    .filter(([, n]) => n > MAX_FILE_LINES)
    .map(([f, n]) => `${f} (${n} lines)`)
  assert.deepEqual(long, [], 'split these files')
})

test('no function in src/ is over 80 lines', () => {
  const long = [...longFunctions()].map(([k, n]) => `${k} (${n} lines)`)
  assert.deepEqual(long, [], 'functions over 80 lines: split them')
})
