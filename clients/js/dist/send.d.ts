import type { SendOptions, Target } from './types.js';
/**
 * validMessageId reports whether id follows the wire contract's rule for
 * message ids: 1 to 128 bytes of printable ASCII without spaces. The edge
 * refuses others without naming them, so no answer could be matched.
 */
export declare function validMessageId(id: string): boolean;
/** validDeviceId reports whether id follows the rule for account and device ids. */
export declare function validDeviceId(id: string): boolean;
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
