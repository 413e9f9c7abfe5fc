// Reading an HTTP answer without trusting its size: the Content-Length is checked first, then the
// body is read chunk by chunk and the stream is cancelled as soon as it passes the limit, so a
// node (or anything that answers in its place) cannot make the caller buffer more than `maxBytes`.

/** The body went past the limit; `seen` is how many bytes had arrived when reading stopped. */
export class AnswerTooLarge extends Error {
  constructor(
    readonly limit: number,
    readonly seen: number,
  ) {
    super(`answer larger than ${limit} bytes`)
    this.name = 'AnswerTooLarge'
  }
}

/** The body of `res` as UTF-8 text, at most `maxBytes` bytes; throws AnswerTooLarge beyond that. */
export async function readBoundedText(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => {})
    throw new AnswerTooLarge(maxBytes, declared)
  }
  if (!res.body) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel().catch(() => {})
      throw new AnswerTooLarge(maxBytes, total)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, total).toString('utf8')
}
