package protocol

import (
	"strings"
	"testing"
)

func TestValidTopic(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"news", true},
		{"news.sports", true},
		{"news.sports-live_2", true},
		{"A.b.C9", true},
		{strings.Repeat("a", MaxTopicLen), true},
		{strings.Repeat("a", MaxTopicLen+1), false},
		{"", false},
		{".news", false},
		{"news.", false},
		{"news..sports", false},
		{"news.*", false},
		{"*", false},
		{"news sports", false},
		{"news/sports", false},
		{"news\nsports", false},
		{"nëws", false},
		{`news"`, false},
		{"news:sports", false},
	} {
		if got := ValidTopic(tc.s); got != tc.want {
			t.Errorf("ValidTopic(%q) = %v, want %v", tc.s, got, tc.want)
		}
		if p := TopicProblem(tc.s); (p == "") != tc.want || strings.Contains(p, tc.s) && tc.s != "" {
			t.Errorf("TopicProblem(%q) = %q", tc.s, p)
		}
	}
}

func TestTopicPatterns(t *testing.T) {
	for _, tc := range []struct {
		p     string
		valid bool
	}{
		{"*", true},
		{"news", true},
		{"news.*", true},
		{"news.sports.*", true},
		{"news*", false},
		{"*.sports", false},
		{"news.*.live", false},
		{".*", false},
		{"news.**", false},
		{"", false},
		{strings.Repeat("a", MaxTopicLen-1) + ".*", false},
		{strings.Repeat("a", MaxTopicLen-2) + ".*", true},
	} {
		if got := ValidTopicPattern(tc.p); got != tc.valid {
			t.Errorf("ValidTopicPattern(%q) = %v, want %v", tc.p, got, tc.valid)
		}
	}
	for _, tc := range []struct {
		patterns []string
		topic    string
		want     bool
	}{
		{[]string{"*"}, "anything.at.all", true},
		{[]string{"news.sports"}, "news.sports", true},
		{[]string{"news.sports"}, "news.sports.live", false},
		{[]string{"news.*"}, "news.sports", true},
		{[]string{"news.*"}, "news.sports.live", true},
		{[]string{"news.*"}, "news", false},
		{[]string{"news.*"}, "newsroom.a", false},
		{[]string{"scores.*", "news"}, "news", true},
		{nil, "news", false},
	} {
		if got := TopicGranted(tc.patterns, tc.topic); got != tc.want {
			t.Errorf("TopicGranted(%q, %q) = %v, want %v", tc.patterns, tc.topic, got, tc.want)
		}
	}
}
