package mirror

import (
	"regexp"
	"testing"

	"github.com/heraldpush/herald/processor"
)

// TestFilter checks which source topics a mirror copies: those the filter
// matches, never a remote one, whatever the filter.
func TestFilter(t *testing.T) {
	def := processor.Topics{}
	custom := processor.Topics{Prefix: "acme-"}
	tests := []struct {
		name   string
		topics processor.Topics
		filter string // "" is DefaultFilter
		topic  string
		want   bool
	}{
		{"high", def, "", "herald.messages.high", true},
		{"normal", def, "", "herald.messages.normal", true},
		{"low", def, "", "herald.messages.low", true},
		{"status", def, "", "herald.status", true},
		{"an unknown priority", def, "", "herald.messages.urgent", false},
		{"another prefix", def, "", "acme-status", false},
		{"a suffix", def, "", "herald.status.old", false},
		{"the dot is not any character", def, "", "heraldxstatus", false},
		{"a remote status topic", def, "", "eu.herald.status", false},
		{"a remote topic, whatever the filter", def, ".*", "eu.herald.messages.high", false},
		{"a remote of a remote", def, ".*", "us.eu.herald.status", false},
		{"a dotted topic of another application is taken as remote", def, ".*", "orders.created", false},
		{"a topic without a dot", def, ".*", "orders", true},
		{"a capital is no region", def, ".*", "EU.herald.status", true},
		{"the default filter of another prefix", custom, "", "acme-messages.low", true},
		{"a remote topic of another prefix", custom, "", "eu.acme-status", false},
		{"a remote topic of another prefix, whatever the filter", custom, ".*", "eu.acme-status", false},
		{"a local topic of a prefix without a dot", custom, ".*", "acme-status", true},
		{"only the status topic", def, `^herald\.status$`, "herald.status", true},
		{"only the status topic: not the messages", def, `^herald\.status$`, "herald.messages.high", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.filter
			if f == "" {
				f = DefaultFilter(tt.topics)
			}
			re := regexp.MustCompile(f)
			if got := re.MatchString(tt.topic) && !IsRemote(tt.topics, tt.topic); got != tt.want {
				t.Errorf("%s with filter %s: mirrored %v, want %v", tt.topic, f, got, tt.want)
			}
		})
	}
}

func TestDefaultFilter(t *testing.T) {
	if got, want := DefaultFilter(processor.Topics{}), `^herald\.(messages\.(high|normal|low)|status)$`; got != want {
		t.Errorf("DefaultFilter = %s, want %s", got, want)
	}
}

// TestRemoteTopic checks the MM2 DefaultReplicationPolicy names, and that
// every name the mirror gives is remote: a mirror never copies it again.
func TestRemoteTopic(t *testing.T) {
	for _, topics := range []processor.Topics{{}, {Prefix: "acme-"}, {Prefix: "x."}} {
		for _, topic := range topics.All() {
			name := RemoteTopic("eu-west", topic)
			if name != "eu-west."+topic {
				t.Errorf("RemoteTopic(eu-west, %s) = %s", topic, name)
			}
			if !IsRemote(topics, name) {
				t.Errorf("%s (prefix %q) is not remote", name, topics.Prefix)
			}
			if IsRemote(topics, topic) {
				t.Errorf("%s (prefix %q) is remote", topic, topics.Prefix)
			}
		}
	}
}

func TestCheckAlias(t *testing.T) {
	tests := []struct {
		name   string
		topics processor.Topics
		alias  string
		ok     bool
	}{
		{"a region", processor.Topics{}, "eu-west", true},
		{"empty", processor.Topics{}, "", false},
		{"a capital", processor.Topics{}, "A", false},
		{"a dot", processor.Topics{}, "eu.west", false},
		{"the prefix's first part", processor.Topics{}, "herald", false},
		{"the prefix's first part, another prefix", processor.Topics{Prefix: "acme."}, "acme", false},
		{"herald under another prefix", processor.Topics{Prefix: "acme."}, "herald", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckAlias(tt.topics, tt.alias); (err == nil) != tt.ok {
				t.Errorf("CheckAlias(%q) = %v, want ok %v", tt.alias, err, tt.ok)
			}
		})
	}
}
