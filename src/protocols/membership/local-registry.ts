// Registries in this process, by URL. The in-process launcher hands one directory to every member
// it starts, and a peer registering with a registry found there calls it instead of sending
// POST /register over loopback HTTP: a mass join of a thousand peers in one process spent most of
// its time in the registry's HTTP turns and in encoding and parsing the same 150 kB member list a
// thousand times. The registry admits the registrant as its route does (the same checks, the same
// rate and bounds), except that it takes the registrant's claim of its frame address as checked,
// without the frame ping a registration over HTTP gets (the caller is in this process; under load
// those pings filled the pending-check queue), and answers with its member list as objects, built
// once and shared by the registrations that arrive while it is fresh. Peers in other processes, and nodes outside distlab, register over HTTP as before.
import type { WireMember } from './wire.js'

/** A registration as the protocol gets it: the URL checked, distlab's own fields only if well-formed. */
export interface Registration {
  url: string
  /** Which body field held the URL (`url`, or the seed's `peer`), for errors. */
  field: 'url' | 'peer'
  name?: string
  /** A re-registration: no answer needed beyond "registered", no new check for a known member. */
  quiet: boolean
  /** The registrant's own alive record (a distlab peer's claim of its frame address). */
  self?: WireMember
}

/** Why a registration was turned away (429), or undefined when it was taken. */
export type Refusal = { error: 'too_many_registrations' | 'registry_full'; message: string } | undefined

/**
 * What a registration made by call gets: the member list, or why it was refused; undefined when
 * the registry cannot take it by call (the peer then registers over HTTP, as with any registry).
 */
export type LocalAnswer =
  { ok: true; members: readonly WireMember[] } | { ok: false; why: string } | undefined

/** A registry as a peer of the same process calls it. */
export interface LocalRegistry {
  /**
   * POST /register without HTTP. `headers` are what the peer would send (its bearer token): a
   * registry whose own differ answers undefined, and the HTTP API decides as it would for anyone.
   */
  registerLocal(r: Registration, headers: Readonly<Record<string, string>>): Promise<LocalAnswer>
  /** GET /membership/members without HTTP (the same list); undefined as registerLocal's. */
  membersLocal(headers: Readonly<Record<string, string>>): readonly WireMember[] | undefined
}

/** A refusal as a LocalAnswer. */
export function refusedAnswer(refused: NonNullable<Refusal>): LocalAnswer {
  return { ok: false, why: `${refused.error}: ${refused.message}` }
}

/** The registries of one process (one in-process cluster), by URL. */
export class RegistryDirectory {
  private readonly byUrl = new Map<string, LocalRegistry>()

  /** `registry` answers for `url` until removed. */
  add(url: string, registry: LocalRegistry): void {
    this.byUrl.set(url, registry)
  }

  /** Forgets `url` if `registry` still answers for it (a restarted registry may have taken it over). */
  remove(url: string, registry: LocalRegistry): void {
    if (this.byUrl.get(url) === registry) this.byUrl.delete(url)
  }

  get(url: string): LocalRegistry | undefined {
    return this.byUrl.get(url)
  }
}
