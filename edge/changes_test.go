package edge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldpush/herald/registry"
)

// failingVersions is a Versions whose bumps fail.
type failingVersions struct{ Versions }

func (failingVersions) BumpAccount(context.Context, string) error { return errors.New("versions down") }

func TestChanges(t *testing.T) {
	ctx := t.Context()
	reg := registry.NewMemory()
	c := Changes{Versions: reg, Router: &Router{Registry: reg}}
	before, err := reg.AccountVersion(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.BumpAccount(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if after, _ := reg.AccountVersion(ctx, "a1"); after == before {
		t.Errorf("version %d after BumpAccount, was %d", after, before)
	}
	// An offline device has no connection to close.
	if err := c.Disconnect(ctx, "a1", "tv1"); err != nil {
		t.Errorf("Disconnect of an offline device: %v", err)
	}
	// A device on another edge without links cannot be reached.
	if _, err := reg.Register(ctx, "a1", "tv1", registry.Entry{Edge: "e2", Session: "s", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(ctx, "a1", "tv1"); err == nil {
		t.Error("Disconnect of a device on an edge out of reach: no error")
	}
	if err := (Changes{Versions: failingVersions{reg}, Router: c.Router}).BumpAccount(ctx, "a1"); err == nil {
		t.Error("BumpAccount with the versions down: no error")
	}
}
