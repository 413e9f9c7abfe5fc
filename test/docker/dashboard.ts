// What the Docker tests ask of a master's dashboard published on the host.

/** The dashboard's page and its state, fetched from the host. */
export async function dashboardAnswers(url: string): Promise<string[] | undefined> {
  const page = await fetch(`${url}/`, { signal: AbortSignal.timeout(5000) })
  if (page.status !== 200 || !(await page.text()).includes('<title>distlab dashboard</title>'))
    return undefined
  const state = await fetch(`${url}/api/state`, { signal: AbortSignal.timeout(5000) })
  if (state.status !== 200) return undefined
  const names = ((await state.json()) as { nodes: Array<{ name: string }> }).nodes.map((n) => n.name).sort()
  return names.length >= 3 ? names : undefined
}
