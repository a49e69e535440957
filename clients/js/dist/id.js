// Message ids: ULIDs (https://github.com/ulid/spec), time-ordered like the
// server's own, so that ids sort by the time they were made.
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford's base32
let lastTime = -1;
const lastRandom = new Uint8Array(16); // 16 base32 digits of 5 bits: 80 bits
function fillRandom(digits) {
    const c = globalThis.crypto;
    if (c?.getRandomValues) {
        c.getRandomValues(digits);
    }
    else {
        for (let i = 0; i < digits.length; i++)
            digits[i] = Math.floor(Math.random() * 256);
    }
    for (let i = 0; i < digits.length; i++)
        digits[i] &= 31; // 256 is a multiple of 32: still uniform
}
/**
 * newMessageId returns a fresh ULID: 48 bits of Unix milliseconds, then 80
 * random bits (crypto.getRandomValues). Ids made in the same millisecond
 * increment the random part, so they still sort in the order they were made.
 */
export function newMessageId() {
    let now = Date.now();
    if (now <= lastTime) {
        // Monotonic: increment the previous random part (a carry past all 80 bits
        // is as likely as guessing them; the ids would then just not be ordered).
        for (let i = lastRandom.length - 1; i >= 0; i--) {
            if (lastRandom[i] < 31) {
                lastRandom[i]++;
                break;
            }
            lastRandom[i] = 0;
        }
        now = lastTime;
    }
    else {
        lastTime = now;
        fillRandom(lastRandom);
    }
    let out = '';
    let t = now;
    for (let i = 0; i < 10; i++) {
        out = alphabet[t % 32] + out;
        t = Math.floor(t / 32);
    }
    for (const d of lastRandom)
        out += alphabet[d];
    return out;
}
