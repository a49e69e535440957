package processor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the status for a person to read, as herald status prints
// it: a line for the message and its outcome, when it was accepted, and a
// table of its devices' outcomes followed by the steps of each device that went
// through more than one; for a message to a topic, what the publish reached
// and the edges it did not.
func (s *MessageStatus) WriteText(w io.Writer) error {
	if s.Topic != "" {
		return s.writeTopic(w)
	}
	if s.Priority != "" {
		fmt.Fprintf(w, "message %s to account %s, priority %s: %s\n", s.ID, s.Account, s.Priority, s.Status)
	} else {
		// A sync push stored for an offline device has no priority.
		fmt.Fprintf(w, "message %s to account %s: %s\n", s.ID, s.Account, s.Status)
	}
	if s.Accepted > 0 {
		fmt.Fprintf(w, "accepted %s\n", time.UnixMilli(s.Accepted).Format(time.RFC3339Nano))
	}
	if len(s.Devices) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSTATUS\tAT\tERROR")
	for _, d := range s.Devices {
		dev := d.Device
		if dev == "" {
			dev = "(account)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", dev, d.Status, time.UnixMilli(d.At).Format(time.RFC3339Nano), d.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Each device's steps, when it went through more than one.
	for _, d := range s.Devices {
		if len(d.History) < 2 {
			continue
		}
		steps := make([]string, len(d.History))
		for i, h := range d.History {
			steps[i] = fmt.Sprintf("%s +%dms", h.Status, h.At-s.Accepted)
			if s.Accepted == 0 {
				steps[i] = fmt.Sprintf("%s %s", h.Status, time.UnixMilli(h.At).Format(time.RFC3339Nano))
			}
		}
		fmt.Fprintf(w, "%s: %s\n", d.Device, strings.Join(steps, ", "))
	}
	return nil
}

// writeTopic writes the status of a message published to a topic: its
// outcome, what the publish reached and the edges it did not.
func (s *MessageStatus) writeTopic(w io.Writer) error {
	fmt.Fprintf(w, "message %s to topic %s, priority %s: %s\n", s.ID, s.Topic, s.Priority, s.Status)
	if s.Accepted > 0 {
		fmt.Fprintf(w, "accepted %s\n", time.UnixMilli(s.Accepted).Format(time.RFC3339Nano))
	}
	if s.At > 0 {
		fmt.Fprintf(w, "processed %s\n", time.UnixMilli(s.At).Format(time.RFC3339Nano))
	}
	if s.Error != "" {
		fmt.Fprintf(w, "error: %s\n", s.Error)
	}
	p := s.Published
	if p == nil {
		return nil
	}
	fmt.Fprintf(w, "edges reached %d, devices %d, dropped %d, edges failed %d\n", p.Edges, p.Devices, p.Dropped, len(p.Failed))
	if len(p.Failed) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAILED EDGE\tERROR")
	for _, f := range p.Failed {
		fmt.Fprintf(tw, "%s\t%s\n", f.Edge, f.Error)
	}
	return tw.Flush()
}
