package settings

import (
	"flag"
	"time"

	"github.com/heraldpush/herald/edge"
)

// LinkBounds are the bounds of one kind of link (edge.LinksConfig's Queue,
// DialTimeout, WriteTimeout, MinBackoff, MaxBackoff and PingInterval): the
// links to other edges (--link-…) and to other regions' gateways
// (--region-…) take the same settings under their own prefixes.
type LinkBounds struct {
	Queue                     int
	DialTimeout, WriteTimeout time.Duration
	MinBackoff, MaxBackoff    time.Duration
	PingInterval              time.Duration
}

// Flags defines the bounds on fs: the queue as queueFlag, the others as
// prefix+"dial-timeout" and so on. to names where the links go ("another
// edge"), ping is the default ping interval.
func (b *LinkBounds) Flags(fs *flag.FlagSet, prefix, queueFlag, to string, ping time.Duration) {
	fs.IntVar(&b.Queue, queueFlag, edge.DefaultLinkQueue, "frames waiting to go out on one link to "+to+"; a message for a full queue is rejected (\"link queue full\")")
	fs.DurationVar(&b.DialTimeout, prefix+"dial-timeout", edge.DefaultLinkDialTimeout, "bound on one dial of a link to "+to)
	fs.DurationVar(&b.WriteTimeout, prefix+"write-timeout", edge.DefaultWriteTimeout, "bound on one write to a link to "+to)
	fs.DurationVar(&b.MinBackoff, prefix+"min-backoff", edge.DefaultLinkMinBackoff, "the first wait before a failed link to "+to+" is dialled again, doubled up to --"+prefix+"max-backoff; meanwhile deliveries through it fail fast as unavailable")
	fs.DurationVar(&b.MaxBackoff, prefix+"max-backoff", edge.DefaultLinkMaxBackoff, "the longest wait before a failed link to "+to+" is dialled again")
	fs.DurationVar(&b.PingInterval, prefix+"ping-interval", ping, "how often a link to "+to+" pings it")
}

// Validate checks the bounds, named as Flags names them.
func (b *LinkBounds) Validate(prefix, queueFlag string) error {
	if err := atLeast1(intSetting{"--" + queueFlag, b.Queue}); err != nil {
		return err
	}
	if err := positive(durSetting{"--" + prefix + "dial-timeout", b.DialTimeout}, durSetting{"--" + prefix + "write-timeout", b.WriteTimeout},
		durSetting{"--" + prefix + "min-backoff", b.MinBackoff}, durSetting{"--" + prefix + "max-backoff", b.MaxBackoff},
		durSetting{"--" + prefix + "ping-interval", b.PingInterval}); err != nil {
		return err
	}
	if b.MaxBackoff < b.MinBackoff {
		return Usagef("--%smax-backoff (%v) must not be shorter than --%smin-backoff (%v)", prefix, b.MaxBackoff, prefix, b.MinBackoff)
	}
	return nil
}

// linksConfig is the bounds as edge.LinksConfig takes them.
func (b *LinkBounds) linksConfig() edge.LinksConfig {
	return edge.LinksConfig{Queue: b.Queue, DialTimeout: b.DialTimeout, WriteTimeout: b.WriteTimeout,
		MinBackoff: b.MinBackoff, MaxBackoff: b.MaxBackoff, PingInterval: b.PingInterval}
}

// intSetting and durSetting name a setting and its value for atLeast1 and
// positive.
type (
	intSetting struct {
		name string
		v    int
	}
	durSetting struct {
		name string
		v    time.Duration
	}
)

// atLeast1 refuses the first of settings below 1.
func atLeast1(settings ...intSetting) error {
	for _, s := range settings {
		if s.v < 1 {
			return Usagef("%s must be at least 1, got %d", s.name, s.v)
		}
	}
	return nil
}

// positive refuses the first of settings not above 0.
func positive(settings ...durSetting) error {
	for _, s := range settings {
		if s.v <= 0 {
			return Usagef("%s must be positive, got %v", s.name, s.v)
		}
	}
	return nil
}
