package protocol

import (
	"strconv"
	"strings"
)

// MaxTopicLen bounds a topic name, in bytes.
const MaxTopicLen = 128

// TopicWildcard ends a topic pattern that grants every topic below a prefix
// ("news.*"), or is the pattern that grants every topic ("*").
const TopicWildcard = "*"

// ValidTopic reports whether s is a topic name: 1 to 128 bytes of segments
// separated by '.', each segment one or more of [A-Za-z0-9_-] (docs/protocol.md,
// "Topics"). A name has no wildcard, white space, quote or line break, so it is
// safe in a frame, a log line, a Redis key and a URL path as it is.
func ValidTopic(s string) bool { return TopicProblem(s) == "" }

// TopicProblem says why s is not a valid topic name, "" when it is one. It
// never quotes s.
func TopicProblem(s string) string {
	if len(s) == 0 {
		return "a topic name is 1 to " + strconv.Itoa(MaxTopicLen) + " bytes; this one is empty"
	}
	if len(s) > MaxTopicLen {
		return "a topic name is 1 to " + strconv.Itoa(MaxTopicLen) + " bytes; this one has " + strconv.Itoa(len(s))
	}
	seg := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			seg++
		case c == '.':
			if seg == 0 {
				return "a topic name's segments, separated by '.', are not empty"
			}
			seg = 0
		default:
			return "a topic name has only A-Z, a-z, 0-9, '_' and '-' in segments separated by '.'; byte " + strconv.Itoa(i) + " is not one"
		}
	}
	if seg == 0 {
		return "a topic name's segments, separated by '.', are not empty"
	}
	return ""
}

// ValidTopicPattern reports whether p is a topic pattern of a device token's
// "topics" claim: a topic name (that topic), a name followed by ".*" (every
// topic below it: "news.*" grants "news.sports" and "news.sports.live", not
// "news"), or "*" (every topic).
func ValidTopicPattern(p string) bool {
	if p == TopicWildcard {
		return true
	}
	if prefix, ok := strings.CutSuffix(p, "."+TopicWildcard); ok {
		return ValidTopic(prefix) && len(p) <= MaxTopicLen
	}
	return ValidTopic(p)
}

// TopicGranted reports whether one of patterns, each valid
// (ValidTopicPattern), grants topic.
func TopicGranted(patterns []string, topic string) bool {
	for _, p := range patterns {
		if p == TopicWildcard || p == topic {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, TopicWildcard); ok && strings.HasPrefix(topic, prefix) {
			return true
		}
	}
	return false
}

// PublishResult is what a publish to a topic did: the edges it reached and
// those it did not, and the devices the reached edges queued it for (the
// answer of POST /v1/topics/{topic}/messages, with the message's id).
type PublishResult struct {
	// Edges counts the edges with subscribers that answered.
	Edges int `json:"edges"`
	// Devices counts the subscribers the message was queued for.
	Devices int `json:"devices"`
	// Dropped counts the subscribers whose send queue was full or over its
	// outbound rate: they do not get it.
	Dropped int `json:"dropped"`
	// Failed are the edges with subscribers that did not answer in time or
	// could not be reached: their subscribers may not have it. In a
	// deployment of regions, another region that did not answer is listed
	// as "region/<name>".
	Failed []EdgeFailure `json:"failed,omitempty"`
	// Regions counts the other regions of a deployment of regions whose
	// gateways answered: the message was published there too, and their
	// subscribers are counted in Devices and Dropped (not their edges in
	// Edges).
	Regions int `json:"regions,omitempty"`
	// Seq is the message's sequence in the topic's log, from which devices
	// that were not connected catch up; 0 when it could not be logged (it
	// reached the connected subscribers only).
	Seq uint64 `json:"seq,omitempty"`
}

// EdgeFailure names an edge a publish did not reach, and why.
type EdgeFailure struct {
	Edge  string `json:"edge"`
	Error string `json:"error"`
}

// TopicSubscribers is how many devices subscribe to a topic, edge by edge
// (the answer of GET /v1/topics/{topic}): each edge counts its own.
type TopicSubscribers struct {
	Topic string `json:"topic"`
	// Subscribers sums the subscribers of the edges that answered.
	Subscribers int `json:"subscribers"`
	// Edges are the edges with subscribers that answered, sorted by id.
	Edges []EdgeSubscribers `json:"edges"`
	// Failed are the edges listed with subscribers that did not answer in
	// time or could not be reached: their subscribers are not counted.
	Failed []EdgeFailure `json:"failed,omitempty"`
}

// EdgeSubscribers is one edge's count of a topic's subscribers.
type EdgeSubscribers struct {
	Edge        string `json:"edge"`
	Subscribers int    `json:"subscribers"`
}
