package registry

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// defaultRedisPort is the port of a redis:// or rediss:// URL that names none.
const defaultRedisPort = "6379"

// RedisAddrs is what a list of Redis addresses says: the servers to dial and
// how to talk to them. [ParseRedisAddrs] makes one.
type RedisAddrs struct {
	// Hosts are the host:port of each server: one Redis, the seed nodes of a
	// Redis Cluster, or the Sentinels of MasterSet.
	Hosts []string
	// Username and Password authenticate every connection (HELLO … AUTH);
	// an empty Username with a Password is Redis' default user.
	Username string
	Password string
	// DB is the database number (SELECT). Redis Cluster has only database 0.
	DB int
	// TLS is set by rediss:// URLs.
	TLS bool
	// MasterSet, when not empty, is the master set name that the Sentinels at
	// Hosts monitor; the client connects to its current master.
	MasterSet string
}

// String describes a for messages: the hosts and the settings, never the
// password.
func (a RedisAddrs) String() string {
	var notes []string
	if a.TLS {
		notes = append(notes, "TLS")
	}
	if a.Username != "" {
		notes = append(notes, "user "+a.Username)
	}
	if a.Password != "" {
		notes = append(notes, "with a password")
	}
	if a.DB != 0 {
		notes = append(notes, "database "+strconv.Itoa(a.DB))
	}
	if a.MasterSet != "" {
		notes = append(notes, "Sentinel master set "+a.MasterSet)
	}
	s := strings.Join(a.Hosts, ",")
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, ", ") + ")"
	}
	return s
}

// ParseRedisAddrs reads Redis addresses, each either host:port or a URL:
//
//	redis://[user[:password]@]host[:port][/db][?master_set=NAME]
//	rediss://…    the same over TLS
//
// The port defaults to 6379. Reserved characters in the user or password are
// percent-encoded (%40 for @, %3A for :, %2F for /, %2C for a comma). Every
// address is a server of the same Redis, so every URL must give the same
// scheme, user, password, database and master set, and a host:port entry
// takes the settings of the URLs beside it.
//
// An error names an address by its position and never holds the password, nor
// any part of an address that could not be parsed, since a mistyped entry may
// hold a password in any place.
func ParseRedisAddrs(entries []string) (RedisAddrs, error) {
	if len(entries) == 0 {
		return RedisAddrs{}, errors.New("registry: no redis address")
	}
	var (
		a     RedisAddrs
		first = -1 // index of the first URL, whose settings the others must match
	)
	for i, e := range entries {
		if !strings.Contains(e, "://") {
			if err := checkHostPort(e); err != nil {
				return RedisAddrs{}, fmt.Errorf("registry: redis address %d: %w", i+1, err)
			}
			a.Hosts = append(a.Hosts, e)
			continue
		}
		u, err := parseRedisURL(e)
		if err != nil {
			return RedisAddrs{}, fmt.Errorf("registry: redis address %d: %w", i+1, err)
		}
		if first < 0 {
			first = i
			hosts := a.Hosts
			a, a.Hosts = u, hosts
		} else if diff := u.differs(a); diff != "" {
			return RedisAddrs{}, fmt.Errorf("registry: redis address %d: its %s differs from address %d's: every address must be a server of the same Redis", i+1, diff, first+1)
		}
		a.Hosts = append(a.Hosts, u.Hosts...)
	}
	return a, nil
}

// checkHostPort checks a host:port address. Its errors never hold the address.
func checkHostPort(e string) error {
	if strings.Contains(e, "@") {
		return errors.New("an address with credentials must be a URL, redis://user:password@host:port (or rediss:// for TLS)")
	}
	if _, port, err := net.SplitHostPort(e); err != nil || port == "" {
		return errors.New("want host:port, or a redis:// or rediss:// URL")
	}
	return nil
}

// parseRedisURL reads one redis:// or rediss:// URL into a RedisAddrs of one
// host. Its errors show neither the password nor anything url.Parse rejected,
// which url.Parse's own errors would quote.
func parseRedisURL(e string) (RedisAddrs, error) {
	u, err := url.Parse(e)
	if err != nil {
		return RedisAddrs{}, errors.New("not a valid URL (percent-encode reserved characters of the user and password: %40 for @, %3A for :, %2F for /)")
	}
	var a RedisAddrs
	switch u.Scheme {
	case "redis":
	case "rediss":
		a.TLS = true
	default:
		return RedisAddrs{}, fmt.Errorf("scheme %q: want redis:// or rediss://", u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return RedisAddrs{}, errors.New("the URL has no host")
	}
	port := u.Port()
	if port == "" {
		port = defaultRedisPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return RedisAddrs{}, errors.New("the port is not a number from 1 to 65535")
	}
	a.Hosts = []string{net.JoinHostPort(u.Hostname(), port)}
	if u.User != nil {
		a.Username = u.User.Username()
		a.Password, _ = u.User.Password()
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if a.DB, err = strconv.Atoi(db); err != nil || a.DB < 0 || strings.HasPrefix(db, "+") {
			return RedisAddrs{}, errors.New("the path must be a database number, such as /1")
		}
	}
	if u.Fragment != "" || strings.Contains(e, "#") {
		return RedisAddrs{}, errors.New("a redis URL has no #fragment (percent-encode # as %23 in a password)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return RedisAddrs{}, errors.New("the query is not valid")
	}
	for k, v := range q {
		if k != "master_set" {
			// Not named: a mistyped URL may put a secret there.
			return RedisAddrs{}, errors.New("unknown query parameter (the one known is master_set)")
		}
		if len(v) != 1 || v[0] == "" {
			return RedisAddrs{}, errors.New("master_set takes one name")
		}
		a.MasterSet = v[0]
	}
	return a, nil
}

// differs names the first setting in which u and a differ, "" if none does.
func (u RedisAddrs) differs(a RedisAddrs) string {
	switch {
	case u.TLS != a.TLS:
		return "scheme"
	case u.Username != a.Username:
		return "user"
	case u.Password != a.Password:
		return "password"
	case u.DB != a.DB:
		return "database"
	case u.MasterSet != a.MasterSet:
		return "master set"
	}
	return ""
}
