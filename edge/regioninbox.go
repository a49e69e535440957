package edge

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
)

// Stored messages across regions. Each region has an inbox of its own; a
// message for a device that no region holds is stored in the sender's. So
// that it is not stranded there when the device connects in another region:
//
//   - the edge that registers a connecting device sends a handover frame to
//     every other region's gateway (Regions.Handover), which delivers what
//     its region's inbox holds for the device to the device's region
//     (RegionInbox);
//   - a process that stored a message for a device its region does not hold
//     asks the other regions, fresh, whether one holds it (a device that
//     connected there between the lookup and the put), and if one does
//     delivers its region's inbox there itself (Router.Nudge).
//
// A stored message goes across as a live msg without its seq (a seq belongs
// to one region's inbox, and a device's cursor to the region it connects
// to), through the gateway of the device's region; it is removed from the
// inbox once written (or, with ack, acked), as on the edge that holds a
// device. A drain that finds the device gone stops; the rest stays stored for
// the device's next connection.

// RegionNews tells the other regions what they must know of this one
// (Config.RegionNews); Regions implements it. Neither call waits.
type RegionNews interface {
	// Handover: the device connected in this region.
	Handover(account, device string) bool
	// Changed: the account's device list changed here (removed, if set,
	// taken off it).
	Changed(account, removed string) bool
	// Presence: news about a device of the account, for its siblings in
	// the other regions.
	Presence(account string, p *protocol.Presence) bool
}

// DefaultRegionDrains bounds the drains a RegionInbox runs at once.
const DefaultRegionDrains = 64

// RegionInboxConfig configures RegionInbox.
type RegionInboxConfig struct {
	// Inbox is this region's inbox. Required.
	Inbox Inbox
	// Regions reaches the device's region. Required.
	Regions *Regions
	// Statuses, when set, records the outcomes of the messages delivered
	// (delivered, acked) and found expired.
	Statuses Statuses
	// Late, when set, passes the late acked receipt of a device's msg with
	// ack to its sender when the device acks it (Router implements it).
	Late LateReceipts
	// Page is the most stored messages read at once, each delivered on a
	// goroutine of its own while its ack is awaited; default
	// DefaultInboxPage.
	Page int
	// AckTimeout bounds the wait for the device's ack of one message; default
	// DefaultAckTimeout.
	AckTimeout time.Duration
	// MaxDrains bounds the drains running at once; more are refused (the
	// messages wait for the device's next connection). Default
	// DefaultRegionDrains.
	MaxDrains int
	// Logger receives the drains' failures; nil discards them.
	Logger *slog.Logger
}

// RegionInbox delivers what this region's inbox holds for devices connected
// in other regions. Close stops it.
type RegionInbox struct {
	cfg    RegionInboxConfig
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[regionKey]bool // guarded by mu: the devices being drained
	closed  bool               // guarded by mu
}

// NewRegionInbox validates cfg and returns a RegionInbox.
func NewRegionInbox(cfg RegionInboxConfig) (*RegionInbox, error) {
	if cfg.Inbox == nil || cfg.Regions == nil {
		return nil, errors.New("edge: region inbox: Inbox and Regions are required")
	}
	if cfg.Page == 0 {
		cfg.Page = DefaultInboxPage
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.MaxDrains == 0 {
		cfg.MaxDrains = DefaultRegionDrains
	}
	if cfg.Page < 0 || cfg.AckTimeout < 0 || cfg.MaxDrains < 0 {
		return nil, errors.New("edge: region inbox: Page, AckTimeout and MaxDrains must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ri := &RegionInbox{cfg: cfg, running: make(map[regionKey]bool)}
	ri.ctx, ri.cancel = context.WithCancel(context.Background())
	return ri, nil
}

// Start begins delivering what the inbox holds for the device to region, on
// a goroutine of its own, and reports whether it did: not while a drain of
// the device runs already (it reads the inbox to its end), nor when
// MaxDrains run or the RegionInbox is closed.
func (ri *RegionInbox) Start(region, account, device string) bool {
	k := regionKey{account, device}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if ri.closed || ri.running[k] || len(ri.running) >= ri.cfg.MaxDrains {
		return false
	}
	ri.running[k] = true
	ri.wg.Go(func() {
		defer func() {
			ri.mu.Lock()
			delete(ri.running, k)
			ri.mu.Unlock()
		}()
		ri.drain(region, account, device)
	})
	return true
}

// Close stops the drains and waits for them.
func (ri *RegionInbox) Close() {
	ri.mu.Lock()
	ri.closed = true
	ri.mu.Unlock()
	ri.cancel()
	ri.wg.Wait()
}

func (ri *RegionInbox) report(account, device, id, status string) {
	if ri.cfg.Statuses != nil {
		ri.cfg.Statuses.Report(StoredOutcome{ID: id, Account: account, Device: device, Status: status, At: time.Now()})
	}
}

// drain delivers the device's stored messages to region, a page at a time
// and in order: each message's delivery waits for its write before the next
// starts, and for its ack (if it asks for one) on a goroutine of its own, so
// that a page costs at most Page goroutines. It stops at the first message
// not written, or when a page's acks are not all in.
func (ri *RegionInbox) drain(region, account, device string) {
	log := ri.cfg.Logger.With("region", region, "account", account, "device", device)
	var after uint64
	for {
		page, err := ri.cfg.Inbox.Pending(ri.ctx, account, device, after, ri.cfg.Page)
		if err != nil {
			log.Warn("reading the inbox for a device in another region failed; its next connection tries again", "err", err)
			return
		}
		for _, id := range page.Expired {
			ri.report(account, device, id, StoredExpired)
		}
		var acks sync.WaitGroup
		ok := true
		now := time.Now()
		for i := range page.Messages {
			m := &page.Messages[i]
			msg := storedMsg(m, now)
			msg.Seq = 0 // this region's, not the device's region's
			written := make(chan bool, 1)
			acks.Go(func() { ri.deliver(region, account, device, msg, written) })
			if !<-written {
				ok = false
				break
			}
			after = m.Seq
		}
		acks.Wait()
		if !ok || len(page.Messages) < ri.cfg.Page || ri.ctx.Err() != nil {
			return
		}
	}
}

// deliver delivers one stored message to region and removes it from the
// inbox once written (with ack: once acked); written receives, once, whether
// it was written.
func (ri *RegionInbox) deliver(region, account, device string, m *protocol.Msg, written chan<- bool) {
	var once sync.Once
	signal := func(ok bool) { once.Do(func() { written <- ok }) }
	defer signal(false)
	ctx, cancel := context.WithTimeout(ri.ctx, ri.cfg.AckTimeout)
	defer cancel()
	res := ri.cfg.Regions.DeliverIn(ctx, region, account, device, m, func(r protocol.Result) {
		if r.Status == protocol.StatusDelivered {
			ri.report(account, device, m.ID, StoredDelivered)
			signal(true)
		}
	})
	switch res.Status {
	case protocol.StatusDelivered, protocol.StatusAcked:
		if _, err := ri.cfg.Inbox.Remove(context.Background(), account, device, m.ID); err != nil {
			ri.cfg.Logger.Warn("removing a message delivered in another region failed; the device may get it again", "id", m.ID, "err", err)
		}
		if res.Status == protocol.StatusAcked {
			ri.report(account, device, m.ID, StoredAcked)
			if ri.cfg.Late != nil && m.From != nil && m.From.Device != "" {
				lctx, lcancel := context.WithTimeout(ri.ctx, ri.cfg.AckTimeout)
				if err := ri.cfg.Late.Late(lctx, account, m.From.Device, m.ID, protocol.Result{Device: device, Status: protocol.StatusAcked}); err != nil {
					ri.cfg.Logger.Debug("a late acked receipt not passed on", "id", m.ID, "err", err)
				}
				lcancel()
			}
		} else {
			ri.report(account, device, m.ID, StoredDelivered)
		}
		signal(true)
	}
}

// DeliverIn delivers m to the device through region's gateway, without
// locating it: the caller knows it is there.
func (g *Regions) DeliverIn(ctx context.Context, region, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	return g.links.Deliver(ctx, region, account, device, m, progress)
}

// Handover queues, without waiting, the news that the device is now
// connected in this region for every other region's gateway, which then
// delivers what its inbox holds for the device. It reports false when the
// queue is full: the device's messages there wait for its next connection.
func (g *Regions) Handover(account, device string) bool {
	return g.queue(regionNews{regionKey: regionKey{account, device}})
}

// Changed queues, without waiting, the news that the account's device list
// changed (removed, if not empty, taken off it) for every other region's
// gateway, which bumps the account's version there and closes the removed
// device's connection there. It reports false when the queue is full.
func (g *Regions) Changed(account, removed string) bool {
	return g.queue(regionNews{regionKey: regionKey{account, removed}, changed: true})
}

// Presence queues, without waiting, presence news about a device of account
// for every other region's gateway, which passes it to the account's devices
// there that asked for presence. It reports false when the queue is full.
func (g *Regions) Presence(account string, p *protocol.Presence) bool {
	pc := *p
	return g.queue(regionNews{regionKey: regionKey{account, p.Device}, presence: &pc})
}

func (g *Regions) queue(n regionNews) bool {
	select {
	case g.news <- n:
		return true
	default:
		g.cfg.Logger.Debug("news for the other regions dropped: the queue is full", "account", n.account, "changed", n.changed)
		return false
	}
}

// sendNews is the goroutine that sends the queued news, until Close. A
// gateway that cannot be reached is skipped (its link is dialled again after
// backoff).
func (g *Regions) sendNews() {
	for {
		var n regionNews
		select {
		case <-g.ctx.Done():
			return
		case n = <-g.news:
		}
		for _, peer := range g.peers {
			b := link.GetFrame()
			switch {
			case n.presence != nil:
				f, err := json.Marshal(link.Presence{T: protocol.KindPresence, Account: n.account, Presence: *n.presence})
				if err != nil {
					link.PutFrame(b)
					continue
				}
				*b = append(*b, f...)
			case n.changed:
				*b = link.AppendChanged(*b, &link.Changed{Account: n.account, Removed: n.device})
			default:
				*b = link.AppendHandover(*b, &link.Handover{Account: n.account, Device: n.device, Region: g.cfg.Region})
			}
			if err := g.links.sendPooled(g.ctx, peer, b); err != nil {
				g.cfg.Logger.Debug("news for another region not sent", "region", peer, "err", err)
			}
		}
	}
}

// sendPooled queues the pooled frame b on the link to edge, dialling it if
// needed; b goes back to the pool whatever happens.
func (l *Links) sendPooled(ctx context.Context, edge string, b *[]byte) error {
	k, err := l.get(edge)
	if err != nil {
		link.PutFrame(b)
		return err
	}
	c, err := k.connect(ctx)
	if err != nil {
		link.PutFrame(b)
		return err
	}
	return c.SendPooled(b)
}
