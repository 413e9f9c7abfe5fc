// The image's HEALTHCHECK: exit 0 when GET /health on this container's HTTP port answers 200.
// DISTLAB_HEALTH_PORT=none (roles without an HTTP API) makes every check pass.
const port = process.env.DISTLAB_HEALTH_PORT ?? '5000'
if (port === 'none') process.exit(0)
try {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) })
  process.exit(res.ok ? 0 : 1)
} catch {
  process.exit(1)
}
