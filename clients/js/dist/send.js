// Checking and encoding what send() writes: the msg frame of the wire
// contract, refused before anything is sent when the server would refuse it.
import { invalid } from './errors.js';
import { newMessageId } from './id.js';
/** maxIdBytes is the longest message id the edge accepts. */
const maxIdBytes = 128;
/**
 * validMessageId reports whether id follows the wire contract's rule for
 * message ids: 1 to 128 bytes of printable ASCII without spaces. The edge
 * refuses others without naming them, so no answer could be matched.
 */
export function validMessageId(id) {
    return /^[\x21-\x7e]{1,128}$/.test(id);
}
/** validDeviceId reports whether id follows the rule for account and device ids. */
export function validDeviceId(id) {
    return /^[A-Za-z0-9._:@-]{1,128}$/.test(id);
}
/** outgoing checks what send() got, as the server would, and encodes the msg frame. */
export function outgoing(to, type, payload, opts, defaultTimeoutMs) {
    if (typeof type !== 'string' || type === '')
        throw invalid('send: the message type is required');
    const target = checkTarget(to);
    if (typeof opts !== 'object' || opts === null)
        throw invalid('send: options must be an object');
    if (payload === undefined || payload === null)
        throw invalid(`send ${type}: the payload is required (any JSON value but null)`);
    let payloadText;
    try {
        payloadText = JSON.stringify(payload);
    }
    catch (err) {
        throw invalid(`send ${type}: the payload is not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (payloadText === undefined)
        throw invalid(`send ${type}: the payload is not JSON`);
    let id = opts.id;
    if (id === undefined) {
        id = newMessageId();
    }
    else if (typeof id !== 'string' || !validMessageId(id)) {
        throw invalid(`send ${type}: options.id must be 1 to ${maxIdBytes} bytes of printable ASCII without spaces`);
    }
    if (opts.ttl !== undefined && !(Number.isInteger(opts.ttl) && opts.ttl >= 0)) {
        throw invalid(`send ${type}: options.ttl must be a whole number of seconds >= 0, got ${opts.ttl}`);
    }
    if (opts.waitAcked && opts.ack === false)
        throw invalid(`send ${type}: waitAcked needs ack; drop ack: false`);
    const ack = opts.ack ?? opts.waitAcked ?? false;
    const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs;
    if (!positive(timeoutMs))
        throw invalid(`send ${type}: options.timeoutMs must be a number > 0`);
    const head = { t: 'msg', id, type, to: target };
    if (opts.ttl)
        head.ttl = opts.ttl;
    if (ack)
        head.ack = true;
    const text = JSON.stringify(head).slice(0, -1) + ',"payload":' + payloadText + '}';
    return { id, text, waitAcked: ack && opts.waitAcked === true, timeoutMs };
}
/** checkTarget returns a copy of to with exactly one of device, devices, siblings, or throws. */
function checkTarget(to) {
    const t = to;
    if (typeof t !== 'object' || t === null)
        throw invalid('send: the target must be {device}, {devices} or {siblings: true}');
    const keys = ['device', 'devices', 'siblings'].filter((k) => t[k] !== undefined);
    if (keys.length !== 1) {
        throw invalid(`send: the target needs exactly one of device, devices and siblings, got ${keys.length ? keys.join(' and ') : 'none'}`);
    }
    switch (keys[0]) {
        case 'device':
            if (typeof t.device !== 'string' || !validDeviceId(t.device)) {
                throw invalid('send: target.device must be a device id: 1 to 128 bytes of A-Z a-z 0-9 . _ : @ -');
            }
            return { device: t.device };
        case 'devices':
            if (!Array.isArray(t.devices) || t.devices.length === 0 || !t.devices.every((d) => typeof d === 'string' && validDeviceId(d))) {
                throw invalid('send: target.devices must be a non-empty array of device ids (1 to 128 bytes of A-Z a-z 0-9 . _ : @ -)');
            }
            return { devices: [...t.devices] };
        default:
            if (t.siblings !== true)
                throw invalid('send: target.siblings must be true');
            return { siblings: true };
    }
}
/** positive reports whether n is a finite number above 0. */
export const positive = (n) => typeof n === 'number' && Number.isFinite(n) && n > 0;
