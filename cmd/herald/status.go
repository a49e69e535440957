package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/settings"
)

// runStatus prints the delivery status of a message sent asynchronously, or of
// a sync push stored for an offline device (GET /v1/messages/{id}): a table, or
// with --json the API's answer.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := settings.NewFlags("status", stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the REST API's base URL")
	key := fs.String("key", settings.DevAPIKey, "API key")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if err := settings.RequireArgs(fs, 1, 1); err != nil {
		return settings.Usagef("want the message id: herald status [flags] ID")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := strings.TrimRight(*base, "/") + "/v1/messages/" + url.PathEscape(fs.Arg(0))
	body, err := call(ctx, http.MethodGet, u, *key, nil, nil, http.StatusOK, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		fmt.Fprintln(stdout, strings.TrimSpace(string(body)))
		return nil
	}
	var st processor.MessageStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if st.Topic != "" {
		return printTopicStatus(stdout, &st)
	}
	if st.Priority != "" {
		fmt.Fprintf(stdout, "message %s to account %s, priority %s: %s\n", st.ID, st.Account, st.Priority, st.Status)
	} else {
		// A sync push stored for an offline device has no priority.
		fmt.Fprintf(stdout, "message %s to account %s: %s\n", st.ID, st.Account, st.Status)
	}
	if st.Accepted > 0 {
		fmt.Fprintf(stdout, "accepted %s\n", time.UnixMilli(st.Accepted).Format(time.RFC3339Nano))
	}
	if len(st.Devices) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSTATUS\tAT\tERROR")
	for _, d := range st.Devices {
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
	for _, d := range st.Devices {
		if len(d.History) < 2 {
			continue
		}
		steps := make([]string, len(d.History))
		for i, h := range d.History {
			steps[i] = fmt.Sprintf("%s +%dms", h.Status, h.At-st.Accepted)
			if st.Accepted == 0 {
				steps[i] = fmt.Sprintf("%s %s", h.Status, time.UnixMilli(h.At).Format(time.RFC3339Nano))
			}
		}
		fmt.Fprintf(stdout, "%s: %s\n", d.Device, strings.Join(steps, ", "))
	}
	return nil
}

// printTopicStatus prints the status of a message published to a topic: its
// outcome, what the publish reached and the edges it did not.
func printTopicStatus(stdout io.Writer, st *processor.MessageStatus) error {
	fmt.Fprintf(stdout, "message %s to topic %s, priority %s: %s\n", st.ID, st.Topic, st.Priority, st.Status)
	if st.Accepted > 0 {
		fmt.Fprintf(stdout, "accepted %s\n", time.UnixMilli(st.Accepted).Format(time.RFC3339Nano))
	}
	if st.At > 0 {
		fmt.Fprintf(stdout, "processed %s\n", time.UnixMilli(st.At).Format(time.RFC3339Nano))
	}
	if st.Error != "" {
		fmt.Fprintf(stdout, "error: %s\n", st.Error)
	}
	p := st.Published
	if p == nil {
		return nil
	}
	fmt.Fprintf(stdout, "edges reached %d, devices %d, dropped %d, edges failed %d\n", p.Edges, p.Devices, p.Dropped, len(p.Failed))
	if len(p.Failed) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAILED EDGE\tERROR")
	for _, f := range p.Failed {
		fmt.Fprintf(tw, "%s\t%s\n", f.Edge, f.Error)
	}
	return tw.Flush()
}
