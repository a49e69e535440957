type Listener = (...args: any[]) => void;
/** Emitter calls the listeners of an event in the order they were added. */
export declare class Emitter<Events extends {
    [K in keyof Events]: Listener;
}> {
    #private;
    on<K extends keyof Events>(event: K, fn: Events[K]): () => void;
    off<K extends keyof Events>(event: K, fn: Events[K]): void;
    has(event: keyof Events): boolean;
    /**
     * emit calls each listener; one that throws does not keep the others (nor
     * the client) from running: its error is reported as an uncaught error, on
     * a later turn of the event loop.
     */
    emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void;
}
export {};
