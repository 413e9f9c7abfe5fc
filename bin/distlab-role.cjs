// `distlab master` and `distlab node` as a launcher spawns them (src/cluster/local.ts): the same
// commands as `bin/distlab.js master|node`, from the same bundle and code cache, with two steps less
// on each node's start. This entry is CommonJS, so Node never starts its ES module loader, and it
// does not check that the bundle is newer than its modules: the launcher checks that before it
// spawns (a stale bundle makes it spawn bin/distlab.js, which runs the modules one by one).
// bench/startup.ts measures both entries side by side.
'use strict'
const { join } = require('node:path')
const { loadCachedBundle } = require('./code-cache.cjs')

const loaded = loadCachedBundle(join(__dirname, '..', 'dist', 'src', 'cli', 'roles-main.bundle.cjs'))
loaded.exports.run(process.argv).then(() => {
  // Once the role is up (not after --help or a usage error: that cache would hold too little).
  if (process.exitCode === undefined) loaded.saveCache()
})
