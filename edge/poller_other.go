//go:build !linux

package edge

import "errors"

// poller parks idle connections on Linux only (epoll); elsewhere every connection
// keeps its reader goroutine.
type poller struct{}

func newPoller() (*poller, error) { return nil, nil }

func (p *poller) add(*wsConn)    {}
func (p *poller) remove(*wsConn) {}
func (p *poller) run()           {}
func (p *poller) close()         {}

func (p *poller) arm(*wsConn) error { return errors.New("edge: no poller on this system") }

func (p *poller) unparkAll() []*wsConn { return nil }
