//go:build !linux

package wsconn

import "errors"

// Poller parks idle connections on Linux only (epoll); elsewhere every
// connection keeps its reader goroutine.
type Poller struct{}

// NewPoller returns nil: there is no poller on this system.
func NewPoller() (*Poller, error) { return nil, nil }

// Add does nothing.
func (p *Poller) Add(*Conn) {}

func (p *Poller) remove(*Conn) {}

// Run returns at once.
func (p *Poller) Run() {}

// Close does nothing.
func (p *Poller) Close() {}

func (p *Poller) arm(*Conn) error { return errors.New("wsconn: no poller on this system") }

// UnparkAll returns nil: no connection parks here.
func (p *Poller) UnparkAll() []*Conn { return nil }
