export { HeraldClient, defaults } from './client.js';
export { HeraldError, ErrorCode, type HeraldErrorInit } from './errors.js';
export { newMessageId } from './id.js';
export { HeraldSender, HeraldProblem, type DeviceInfo, type DeviceUpdate, type MessageStatus, type PublishRequest, type PublishResult, type PushRequest, type PushResult, type SenderOptions, type SenderResult, type SenderTarget, type SendRequest, } from './sender.js';
export { topicProblem, validTopic } from './topics.js';
export * from './types.gen.js';
export type { ClientEvents, ClientOptions, ConnectionState, DeliveryResult, DeliveryStatus, EventSourceConstructorLike, EventSourceLike, HelloInfo, Message, Presence, Receipt, ReconnectRequest, Sender, SendOptions, Subs, Target, TopicMessage, TopicResult, TopicStatus, TypedMessage, WebSocketConstructorLike, WebSocketLike, Welcome, } from './types.js';
