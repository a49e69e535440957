import type { SendOptions, Target } from './types.js';
/** Outgoing is a checked msg, ready to write. */
export interface Outgoing {
    id: string;
    text: string;
    waitAcked: boolean;
    timeoutMs: number;
}
/** outgoing checks what send() got, as the server would, and encodes the msg frame. */
export declare function outgoing(to: Target, type: string, payload: unknown, opts: SendOptions, defaultTimeoutMs: number): Outgoing;
/** positive reports whether n is a finite number above 0. */
export declare const positive: (n: unknown) => n is number;
