// Socket callbacks that cannot throw. An exception thrown from an event listener of a socket or a
// server is uncaught and ends the process, so every callback that reads what the network sent is
// wrapped: the error is handed to `onError` (a counter, a log line, closing that one connection) and
// the process goes on.

/** `fn`, except that anything it throws goes to `onError` (which must not throw either; if it does, that is dropped too). */
export function guarded<A extends unknown[]>(
  fn: (...args: A) => void,
  onError: (err: unknown, ...args: A) => void = () => {},
): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args)
    } catch (err) {
      try {
        onError(err, ...args)
      } catch {
        // the last line: nothing thrown here may reach the event loop
      }
    }
  }
}
