package mirror

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
)

// Separator separates the source region's alias from the source topic in the
// name of a mirrored topic: MirrorMaker 2's DefaultReplicationPolicy and its
// replication.policy.separator default.
const Separator = "."

// RemoteTopic names topic of the region alias in the other regions' clusters:
// alias.topic (herald.status of region eu becomes eu.herald.status).
func RemoteTopic(alias, topic string) string { return alias + Separator + topic }

// prefix returns the topic prefix of t, its default filled in.
func prefix(t processor.Topics) string { return strings.TrimSuffix(t.Status(), "status") }

// DefaultFilter returns the regexp of the topics a mirror copies by default:
// the three message topics and the status topic of t's prefix,
// ^herald\.(messages\.(high|normal|low)|status)$ with the default prefix.
func DefaultFilter(t processor.Topics) string {
	return `^` + regexp.QuoteMeta(prefix(t)) + `(messages\.(high|normal|low)|status)$`
}

// IsRemote reports whether topic is a mirrored topic rather than one of the
// cluster's own: its name starts with a region name and the separator, and not
// with t's prefix (herald.). A mirror never copies a remote topic, whatever
// its filter, so that two regions that mirror each other do not copy their
// copies back and forth (eu.us.eu.herald.status). A topic of another
// application whose first dot-separated part looks like a region name
// (orders.created) is taken as remote too: the rule errs on the side that
// cannot cycle.
func IsRemote(t processor.Topics, topic string) bool {
	if strings.HasPrefix(topic, prefix(t)) {
		return false
	}
	region, _, ok := strings.Cut(topic, Separator)
	return ok && protocol.ValidRegion(region)
}

// CheckAlias says why alias cannot name the source region of a mirror of t's
// topics, nil when it can: it must be a region name, and the names it gives
// mirrored topics must not start with the prefix (a region named herald would
// make herald.herald.status look like a local topic and mirror it again).
func CheckAlias(t processor.Topics, alias string) error {
	if !protocol.ValidRegion(alias) {
		return fmt.Errorf("source alias %q is not a region name ([a-z][a-z0-9-]{0,31})", alias)
	}
	if name := RemoteTopic(alias, t.Status()); !IsRemote(t, name) {
		return fmt.Errorf("source alias %q: its mirrored topics (%s) would start with the topic prefix and be taken for local ones", alias, name)
	}
	return nil
}
