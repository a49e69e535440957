/** maxTopicBytes is the longest topic name the edge accepts, in bytes. */
export declare const maxTopicBytes = 128;
/**
 * topicProblem says why name is not a topic name, '' when it is one: 1 to 128
 * bytes of segments separated by '.', each one or more of A-Z a-z 0-9 _ -. It
 * never quotes the name, as the server does not. Only ASCII is allowed, so a
 * string's length is its length in bytes.
 */
export declare function topicProblem(name: unknown): string;
/** validTopic reports whether name follows the rule of topic names (see topicProblem). */
export declare function validTopic(name: unknown): name is string;
