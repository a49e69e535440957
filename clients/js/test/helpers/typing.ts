// Compiled by test/typing.test.mjs (tsc --noEmit, strict) against the shipped
// declarations in dist/: how the SDK's public types read to a TypeScript app.
// Each @ts-expect-error marks a mistake that must stay a compile error.
import { HeraldClient, HeraldError, newMessageId } from '../../dist/index.js';
import type { ConnectionState, HeraldMessageTypes, Message, Receipt, Target, TopicResult, TopicStatus, Welcome } from '../../dist/index.js';

// A type alias, as `herald schema ts` generates (an interface would not satisfy Record<string, unknown>).
type Types = {
  'playback.control.v1': { action: 'play' | 'pause' };
  'notification.v1': { title: string };
};

const client = new HeraldClient<Types>({ url: 'https://edge.example.com', token: async () => 'token' });
const untyped = new HeraldClient({ url: 'ws://localhost:8080', token: 'token', transport: 'auto', reconnect: { minDelayMs: 100 } });

export async function uses(): Promise<void> {
  const w: Welcome = await client.connect();
  const s: ConnectionState = client.state;
  void w, s;
  const r: Receipt = await client.send({ device: 'tv1' }, 'playback.control.v1', { action: 'play' }, { ack: true, waitAcked: true });
  void r.results[0]?.status;
  await client.sendToDevice('tv1', 'notification.v1', { title: 'x' });
  await client.sendToDevices(['tv1'], 'playback.control.v1', { action: 'pause' }, { id: newMessageId(), ttl: 30 });
  await client.sendToSiblings('playback.control.v1', { action: 'play' });
  await untyped.send({ siblings: true }, 'anything.v1', { free: 'form' });
  const to: Target = { devices: ['a', 'b'] };
  await untyped.send(to, 'x.v1', 1);

  const offs: Array<() => void> = [
    client.on('message', (m) => {
      if (m.type === 'playback.control.v1') {
        const action: 'play' | 'pause' = m.payload.action; // narrowed by type
        void action;
      }
      if (m.ack) m.acknowledge();
    }),
    untyped.on('message', (m: Message) => void m.payload),
    client.on('state', (state, err) => void (state === 'open' || err?.code)),
    client.on('receipt', (rc) => void rc.id),
    client.on('presence', (p) => void p.online),
    client.on('error', (e: HeraldError) => void e.re),
    client.on('reconnect', (rq) => void rq.after_ms),
    client.on('welcome', (wl) => void wl.session),
    client.on('subs', (sb) => void sb.results.map((r) => r.status === 'forbidden' || r.topic)),
    client.onTopic('scores.live', (m) => {
      const topic: string = m.topic; // always set on a topic's message
      if (m.type === 'notification.v1') void m.payload.title.length;
      void topic;
    }),
  ];
  offs.forEach((off) => off());
  client.ack('01J');
  client.close();

  // The generated types of the built-in schemas.
  const generated = new HeraldClient<HeraldMessageTypes>({ url: 'http://localhost:8080', token: 't' });
  await generated.sendToDevice('tv1', 'playback.control.v1', { action: 'seek', position_ms: 10 });
  generated.on('message', (m) => {
    if (m.type === 'notification.v1') void m.payload.title.length;
  });
  // @ts-expect-error not an action of playback.control.v1
  await generated.sendToDevice('tv1', 'playback.control.v1', { action: 'jump' });

  // @ts-expect-error not a message type of Types
  await client.send({ device: 'tv1' }, 'nope.v1', {});
  // @ts-expect-error the payload of playback.control.v1
  await client.sendToDevice('tv1', 'playback.control.v1', { action: 'dance' });
  // @ts-expect-error a target has exactly one shape
  await client.send({ siblings: false }, 'notification.v1', { title: 'x' });
  // @ts-expect-error no such event
  client.on('mesage', () => {});
  const results: TopicResult[] = await client.subscribe('scores.live', 'news.sports');
  const status: TopicStatus | undefined = results[0]?.status;
  void status;
  await client.unsubscribe('news.sports');
  const topics: string[] = client.topics;
  void topics;
  // @ts-expect-error topics are strings
  await client.subscribe(['scores.live']);
  // @ts-expect-error a state listener gets a state, not a message
  client.on('state', (m: Message) => void m);
}
