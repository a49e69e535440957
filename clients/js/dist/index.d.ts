export { HeraldClient, defaults } from './client.js';
export { HeraldError, ErrorCode, type HeraldErrorInit } from './errors.js';
export { newMessageId } from './id.js';
export * from './types.gen.js';
export type { ClientEvents, ClientOptions, ConnectionState, DeliveryResult, DeliveryStatus, EventSourceConstructorLike, EventSourceLike, HelloInfo, Message, Presence, Receipt, ReconnectRequest, Sender, SendOptions, Target, TypedMessage, WebSocketConstructorLike, WebSocketLike, Welcome, } from './types.js';
