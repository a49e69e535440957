// A small typed event emitter: listeners in a Set per event, unsubscribed by
// the function on() returns.
/** Emitter calls the listeners of an event in the order they were added. */
export class Emitter {
    #listeners = new Map();
    on(event, fn) {
        if (typeof fn !== 'function')
            throw new TypeError(`herald: on(${String(event)}): the listener is not a function`);
        let set = this.#listeners.get(event);
        if (!set)
            this.#listeners.set(event, (set = new Set()));
        set.add(fn);
        return () => this.off(event, fn);
    }
    off(event, fn) {
        this.#listeners.get(event)?.delete(fn);
    }
    has(event) {
        return (this.#listeners.get(event)?.size ?? 0) > 0;
    }
    /**
     * emit calls each listener; one that throws does not keep the others (nor
     * the client) from running: its error is reported as an uncaught error, on
     * a later turn of the event loop.
     */
    emit(event, ...args) {
        const set = this.#listeners.get(event);
        if (!set)
            return;
        for (const fn of [...set]) {
            try {
                fn(...args);
            }
            catch (err) {
                reportLater(err);
            }
        }
    }
}
function reportLater(err) {
    const report = globalThis.reportError;
    if (typeof report === 'function') {
        report(err);
        return;
    }
    setTimeout(() => {
        throw err;
    }, 0);
}
