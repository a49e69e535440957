// Topics: the rule of a topic name (docs/protocol.md, "Topics"), checked
// before a name is sent; the sub, unsub and subs frames are in frames.ts.

/** maxTopicBytes is the longest topic name the edge accepts, in bytes. */
export const maxTopicBytes = 128;

/**
 * topicProblem says why name is not a topic name, '' when it is one: 1 to 128
 * bytes of segments separated by '.', each one or more of A-Z a-z 0-9 _ -. It
 * never quotes the name, as the server does not. Only ASCII is allowed, so a
 * string's length is its length in bytes.
 */
export function topicProblem(name: unknown): string {
  if (typeof name !== 'string') return `a topic name is a string, not ${name === null ? 'null' : typeof name}`;
  if (name.length === 0) return `a topic name is 1 to ${maxTopicBytes} bytes; this one is empty`;
  const bad = name.search(/[^A-Za-z0-9_.-]/);
  if (bad >= 0) return `a topic name has only A-Z, a-z, 0-9, '_' and '-' in segments separated by '.'; character ${bad} is not one`;
  if (name.length > maxTopicBytes) return `a topic name is 1 to ${maxTopicBytes} bytes; this one has ${name.length}`;
  if (name.split('.').some((seg) => seg === '')) return "a topic name's segments, separated by '.', are not empty";
  return '';
}

/** validTopic reports whether name follows the rule of topic names (see topicProblem). */
export function validTopic(name: unknown): name is string {
  return topicProblem(name) === '';
}
