// The public types of the SDK: the frames a device sees, as the wire contract
// (docs/protocol.md) defines them, and the options of HeraldClient.
export {};
