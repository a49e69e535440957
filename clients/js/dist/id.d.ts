/**
 * newMessageId returns a fresh ULID: 48 bits of Unix milliseconds, then 80
 * random bits (crypto.getRandomValues). Ids made in the same millisecond
 * increment the random part, so they still sort in the order they were made.
 */
export declare function newMessageId(): string;
