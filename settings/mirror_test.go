package settings

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/mirror"
)

// TestMirrorSettings checks the settings of the mirror role and of the
// mirrored topics: what each requires, the region name rule, the regexp, and
// that each comes from a flag, the environment or the config file.
func TestMirrorSettings(t *testing.T) {
	mirrorRole := []string{"--roles=mirror", "--kafka-brokers", "b:9092", "--mirror-source-brokers", "a:9092", "--mirror-source-alias", "eu-west"}
	processorRole := []string{"--roles=api,processor", "--api-keys", testAPIKey, "--kafka-brokers", "b:9092"}
	file := mustFile(t, "mirror.yaml", "roles: [mirror]\nkafka-brokers: [b:9092]\nmirror-source-brokers: [a1:9092, a2:9092]\nmirror-source-alias: us1\nmirror-topics: '^herald\\.status$'\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // a part of the error; "" for none
	}{
		{name: "the mirror role", args: mirrorRole},
		{name: "the mirror role from the config file", args: []string{"--config", file}},
		{name: "the mirror role from the environment", env: map[string]string{"HERALD_ROLES": "mirror", "HERALD_KAFKA_BROKERS": "b:9092", "HERALD_MIRROR_SOURCE_BROKERS": "a:9092", "HERALD_MIRROR_SOURCE_ALIAS": "eu"}},
		{name: "an unknown role names mirror", args: []string{"--roles=mirrors"}, want: "want edge, api, processor, mirror"},
		{name: "the mirror role without a target", args: []string{"--roles=mirror", "--mirror-source-brokers", "a:9092", "--mirror-source-alias", "eu"}, want: "--kafka-brokers (or HERALD_KAFKA_BROKERS) is required for the mirror role"},
		{name: "the mirror role without a source", args: []string{"--roles=mirror", "--kafka-brokers", "b:9092", "--mirror-source-alias", "eu"}, want: "--mirror-source-brokers (or HERALD_MIRROR_SOURCE_BROKERS) is required"},
		{name: "the mirror role without an alias", args: []string{"--roles=mirror", "--kafka-brokers", "b:9092", "--mirror-source-brokers", "a:9092"}, want: "--mirror-source-alias (or HERALD_MIRROR_SOURCE_ALIAS) is required"},
		{name: "an alias with a capital", args: append(mirrorRole, "--mirror-source-alias", "A"), want: `--mirror-source-alias: source alias "A" is not a region name`},
		{name: "an alias with a dot", args: append(mirrorRole, "--mirror-source-alias", "eu.west"), want: "is not a region name"},
		{name: "an alias as the prefix", args: append(mirrorRole, "--mirror-source-alias", "herald"), want: "would start with the topic prefix"},
		{name: "a bad regexp", args: append(mirrorRole, "--mirror-topics", "herald.(status"), want: "--mirror-topics"},
		{name: "a regexp", args: append(mirrorRole, "--mirror-topics", `^herald\.status$`)},
		{name: "no records a poll", args: append(mirrorRole, "--mirror-max-poll-records", "0"), want: "--mirror-max-poll-records must be at least 1"},
		{name: "no fetch bytes", args: append(mirrorRole, "--mirror-fetch-max-bytes", "0"), want: "--mirror-fetch-max-bytes"},
		{name: "no fetches", args: append(mirrorRole, "--mirror-max-concurrent-fetches", "0"), want: "--mirror-max-concurrent-fetches"},
		{name: "a short produce timeout", args: append(mirrorRole, "--mirror-produce-timeout", "10ms"), want: "--mirror-produce-timeout"},
		{name: "a short discovery interval", args: append(mirrorRole, "--mirror-discovery-interval", "1ms"), want: "--mirror-discovery-interval"},
		{name: "source TLS files without TLS", args: append(mirrorRole, "--mirror-source-tls-ca", "ca.pem"), want: "need --mirror-source-tls"},
		{name: "a source SASL mechanism without a user", args: append(mirrorRole, "--mirror-source-sasl-mechanism", "PLAIN"), want: "--mirror-source-sasl-mechanism"},
		{name: "an unknown source SASL mechanism", args: append(mirrorRole, "--mirror-source-sasl-mechanism", "GSSAPI", "--mirror-source-sasl-user", "u"), want: "unknown SASL mechanism"},
		{name: "source settings without the role are not checked", args: append(processorRole, "--mirror-source-alias", "A")},
		{name: "status mirrors", args: append(processorRole, "--status-mirrors", "eu,us-1")},
		{name: "status mirrors from the environment", args: processorRole, env: map[string]string{"HERALD_STATUS_MIRRORS": "eu,us"}},
		{name: "a status mirror that is no region", args: append(processorRole, "--status-mirrors", "eu,US"), want: `--status-mirrors: "US" is not a region name`},
		{name: "consume mirrored", args: append(processorRole, "--consume-mirrored", "eu")},
		{name: "consume mirrored that is no region", args: append(processorRole, "--consume-mirrored", "e_u"), want: `--consume-mirrored: "e_u" is not a region name`},
		{name: "status mirrors without the processor role", args: append(mirrorRole, "--status-mirrors", "eu"), want: "--status-mirrors needs the processor role"},
		{name: "consume mirrored without the processor role", args: append(mirrorRole, "--consume-mirrored", "eu"), want: "--consume-mirrored needs the processor role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := serve(t, tt.args...)
			switch {
			case tt.want == "" && r.err != nil:
				t.Fatalf("serve %v: %v", tt.args, r.err)
			case tt.want != "" && (r.err == nil || !strings.Contains(r.err.Error(), tt.want)):
				t.Fatalf("serve %v: %v, want an error with %q", tt.args, r.err, tt.want)
			case tt.want != "" && !errors.As(r.err, new(UsageError)):
				t.Errorf("serve %v: %v is not a usage error", tt.args, r.err)
			}
		})
	}
}

// TestMirrorConfig checks what the mirror role gets from the settings.
func TestMirrorConfig(t *testing.T) {
	var c Server
	fs := NewFlags("serve", io.Discard)
	c.Flags(fs, false)
	if err := Parse(fs, []string{"--roles=mirror", "--kafka-brokers", "b:9092", "--kafka-topic-prefix", "acme.", "--kafka-session-timeout", "3s",
		"--mirror-source-brokers", "a:9092", "--mirror-source-alias", "eu", "--mirror-max-poll-records", "77", "--mirror-source-sasl-mechanism", "PLAIN",
		"--mirror-source-sasl-user", "u", "--mirror-source-sasl-password", "p"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(false); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.Mirror.Config(&c.Kafka, "test")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Alias != "eu" || cfg.MaxPollRecords != 77 || cfg.Filter != "" || cfg.Group != "" || cfg.SessionTimeout != 3*time.Second ||
		cfg.Topics.Status() != "acme.status" || cfg.FetchMaxBytes != mirror.DefaultFetchMaxBytes || cfg.ProduceTimeout != mirror.DefaultProduceTimeout {
		t.Errorf("config %+v", cfg)
	}
	// The source options hold the seed brokers and SASL; the target's are the
	// process's own: one each, and each its metadata minimum age.
	if len(cfg.Source) != 4 || len(cfg.Target) != 3 {
		t.Errorf("%d source options, %d target options; want 4 (brokers, metadata min age, client id, SASL) and 3 (brokers, metadata min age, client id)", len(cfg.Source), len(cfg.Target))
	}
	if got := Masked("mirror-source-sasl-password", "p"); got != Mask {
		t.Errorf("the source SASL password is shown as %q", got)
	}
}
