// A small typed event emitter: listeners in a Set per event, unsubscribed by
// the function on() returns.

type Listener = (...args: any[]) => void;

/** Emitter calls the listeners of an event in the order they were added. */
export class Emitter<Events extends { [K in keyof Events]: Listener }> {
  readonly #listeners = new Map<keyof Events, Set<Listener>>();

  on<K extends keyof Events>(event: K, fn: Events[K]): () => void {
    if (typeof fn !== 'function') throw new TypeError(`herald: on(${String(event)}): the listener is not a function`);
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => this.off(event, fn);
  }

  off<K extends keyof Events>(event: K, fn: Events[K]): void {
    this.#listeners.get(event)?.delete(fn);
  }

  has(event: keyof Events): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  /**
   * emit calls each listener; one that throws does not keep the others (nor
   * the client) from running: its error is reported as an uncaught error, on
   * a later turn of the event loop.
   */
  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        reportLater(err);
      }
    }
  }
}

function reportLater(err: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') {
    report(err);
    return;
  }
  setTimeout(() => {
    throw err;
  }, 0);
}
