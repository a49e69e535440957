package registry

import (
	"crypto/tls"
	"crypto/x509"
	"reflect"
	"strings"
	"testing"
)

// testPassword is the password of the addresses of the parsing tests: no
// error may contain it.
const testPassword = "s3cr3t-Pa55"

func TestParseRedisAddrs(t *testing.T) {
	for _, tt := range []struct {
		name    string
		entries []string
		want    RedisAddrs
		wantErr string // a part of the error; "" for none
	}{
		{name: "host:port", entries: []string{"127.0.0.1:6379"}, want: RedisAddrs{Hosts: []string{"127.0.0.1:6379"}}},
		{name: "cluster seeds", entries: []string{"r1:7000", "r2:7001", "[::1]:7002"}, want: RedisAddrs{Hosts: []string{"r1:7000", "r2:7001", "[::1]:7002"}}},
		{name: "redis URL", entries: []string{"redis://redis.internal:6380"}, want: RedisAddrs{Hosts: []string{"redis.internal:6380"}}},
		{name: "default port", entries: []string{"redis://redis.internal"}, want: RedisAddrs{Hosts: []string{"redis.internal:6379"}}},
		{name: "IPv6", entries: []string{"redis://[::1]"}, want: RedisAddrs{Hosts: []string{"[::1]:6379"}}},
		{name: "rediss URL", entries: []string{"rediss://redis.internal:6380/"}, want: RedisAddrs{Hosts: []string{"redis.internal:6380"}, TLS: true}},
		{name: "scheme in capitals", entries: []string{"REDISS://h:1"}, want: RedisAddrs{Hosts: []string{"h:1"}, TLS: true}},
		{name: "password", entries: []string{"redis://:" + testPassword + "@h:6379"}, want: RedisAddrs{Hosts: []string{"h:6379"}, Password: testPassword}},
		{name: "user and password", entries: []string{"rediss://herald:" + testPassword + "@h:6379"}, want: RedisAddrs{Hosts: []string{"h:6379"}, Username: "herald", Password: testPassword, TLS: true}},
		{name: "user only", entries: []string{"redis://herald@h:6379"}, want: RedisAddrs{Hosts: []string{"h:6379"}, Username: "herald"}},
		{name: "percent-encoded password", entries: []string{"redis://:p%40ss%3Aw%2Cd@h:6379"}, want: RedisAddrs{Hosts: []string{"h:6379"}, Password: "p@ss:w,d"}},
		{name: "unencoded @ in the password", entries: []string{"redis://:" + testPassword + "@x@h:6379"}, want: RedisAddrs{Hosts: []string{"h:6379"}, Password: testPassword + "@x"}},
		{name: "database", entries: []string{"redis://:" + testPassword + "@h:6379/3"}, want: RedisAddrs{Hosts: []string{"h:6379"}, Password: testPassword, DB: 3}},
		{name: "sentinel", entries: []string{"redis://:" + testPassword + "@s1:26379?master_set=main", "redis://:" + testPassword + "@s2:26379?master_set=main"},
			want: RedisAddrs{Hosts: []string{"s1:26379", "s2:26379"}, Password: testPassword, MasterSet: "main"}},
		{name: "seeds take the URL's settings", entries: []string{"r0:7000", "rediss://herald:" + testPassword + "@r1:7001", "r2:7002"},
			want: RedisAddrs{Hosts: []string{"r0:7000", "r1:7001", "r2:7002"}, Username: "herald", Password: testPassword, TLS: true}},

		{name: "none", entries: nil, wantErr: "no redis address"},
		{name: "credentials without a scheme", entries: []string{":" + testPassword + "@h:6379"}, wantErr: "address 1: an address with credentials must be a URL"},
		{name: "no port", entries: []string{"h:6379", "redis.internal"}, wantErr: "address 2: want host:port"},
		{name: "too many colons", entries: []string{"h:" + testPassword + ":6379"}, wantErr: "want host:port"},
		{name: "other scheme", entries: []string{"http://:" + testPassword + "@h:6379"}, wantErr: `scheme "http"`},
		{name: "unparsable URL", entries: []string{"redis://:" + testPassword + "@h:port"}, wantErr: "not a valid URL"},
		{name: "no host", entries: []string{"redis://:" + testPassword + "@/0"}, wantErr: "no host"},
		{name: "port out of range", entries: []string{"redis://:" + testPassword + "@h:65536"}, wantErr: "port"},
		{name: "database not a number", entries: []string{"redis://:" + testPassword + "@h:6379/" + testPassword}, wantErr: "database number"},
		{name: "negative database", entries: []string{"redis://:" + testPassword + "@h:6379/-1"}, wantErr: "database number"},
		{name: "deeper path", entries: []string{"redis://:" + testPassword + "@h:6379/1/2"}, wantErr: "database number"},
		{name: "unknown parameter", entries: []string{"redis://h:6379?password=" + testPassword}, wantErr: "unknown query parameter"},
		{name: "parameter that is the secret", entries: []string{"redis://h:6379?" + testPassword}, wantErr: "unknown query parameter"},
		{name: "bad query", entries: []string{"redis://:" + testPassword + "@h:6379?master_set=%zz"}, wantErr: "query"},
		{name: "two master sets", entries: []string{"redis://h:1?master_set=a&master_set=b"}, wantErr: "master_set takes one name"},
		{name: "fragment", entries: []string{"redis://:" + testPassword + "@h:6379#" + testPassword}, wantErr: "fragment"},
		{name: "passwords differ", entries: []string{"redis://:" + testPassword + "@h1:1", "redis://:other-" + testPassword + "@h2:2"}, wantErr: "address 2: its password differs from address 1's"},
		{name: "schemes differ", entries: []string{"h0:1", "rediss://:" + testPassword + "@h1:1", "redis://:" + testPassword + "@h2:2"}, wantErr: "address 3: its scheme differs from address 2's"},
		{name: "databases differ", entries: []string{"redis://h1:1/1", "redis://h2:2/2"}, wantErr: "database differs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRedisAddrs(tt.entries)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseRedisAddrs(%q): %v", tt.entries, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("ParseRedisAddrs(%q) = %+v, want %+v", tt.entries, got, tt.want)
				}
				if s := got.String(); got.Password != "" && strings.Contains(s, got.Password) {
					t.Errorf("String() = %q shows the password", s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseRedisAddrs(%q) = %v, want an error with %q", tt.entries, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestRedisClientOption checks how the addresses, Password and TLS of a
// RedisConfig become the rueidis option, and that no error shows a password.
func TestRedisClientOption(t *testing.T) {
	roots := x509.NewCertPool()
	for _, tt := range []struct {
		name    string
		cfg     RedisConfig
		check   func(t *testing.T, got clientOptionView)
		wantErr string
	}{
		{name: "plain", cfg: RedisConfig{Addrs: []string{"h:6379"}}, check: func(t *testing.T, got clientOptionView) {
			if got.tls != nil || got.password != "" || got.multiplex != -1 {
				t.Errorf("%+v, want no TLS, no password, one connection per node", got)
			}
		}},
		{name: "password apart from the address", cfg: RedisConfig{Addrs: []string{"redis://herald@h:6379/2"}, Password: testPassword}, check: func(t *testing.T, got clientOptionView) {
			if got.user != "herald" || got.password != testPassword || got.db != 2 {
				t.Errorf("%+v, want user herald, the password, database 2", got)
			}
		}},
		{name: "rediss with the system roots", cfg: RedisConfig{Addrs: []string{"rediss://h:6379"}}, check: func(t *testing.T, got clientOptionView) {
			if got.tls == nil || got.tls.RootCAs != nil || got.tls.MinVersion != tls.VersionTLS12 || got.tls.ServerName != "" {
				t.Errorf("TLS %+v, want the system roots, TLS 1.2 or later, the server name of each address", got.tls)
			}
		}},
		{name: "rediss with a CA", cfg: RedisConfig{Addrs: []string{"rediss://h:6379"}, TLS: &tls.Config{RootCAs: roots}}, check: func(t *testing.T, got clientOptionView) {
			if got.tls == nil || got.tls.RootCAs != roots || got.tls.MinVersion != tls.VersionTLS12 {
				t.Errorf("TLS %+v, want the given roots", got.tls)
			}
		}},
		{name: "sentinel", cfg: RedisConfig{Addrs: []string{"rediss://:" + testPassword + "@s1:26379?master_set=main"}}, check: func(t *testing.T, got clientOptionView) {
			if got.masterSet != "main" || got.sentinelPassword != testPassword || got.sentinelTLS == nil {
				t.Errorf("%+v, want master set main with the password and TLS for the Sentinels", got)
			}
		}},
		{name: "password in both places", cfg: RedisConfig{Addrs: []string{"redis://:" + testPassword + "@h:6379"}, Password: "x" + testPassword}, wantErr: "in one place"},
		{name: "TLS without rediss", cfg: RedisConfig{Addrs: []string{"redis://:" + testPassword + "@h:6379"}, TLS: &tls.Config{}}, wantErr: "no address is a rediss:// URL"},
		{name: "bad address", cfg: RedisConfig{Addrs: []string{"redis://:" + testPassword + "@h:x"}}, wantErr: "redis address 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opt, _, err := clientOption(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("clientOption: %v, want an error with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testPassword) {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("clientOption: %v", err)
			}
			tt.check(t, clientOptionView{
				user: opt.Username, password: opt.Password, db: opt.SelectDB, tls: opt.TLSConfig, multiplex: opt.PipelineMultiplex,
				masterSet: opt.Sentinel.MasterSet, sentinelPassword: opt.Sentinel.Password, sentinelTLS: opt.Sentinel.TLSConfig,
			})
		})
	}
}

// clientOptionView is the part of a rueidis.ClientOption the test looks at.
type clientOptionView struct {
	user, password   string
	db               int
	tls              *tls.Config
	multiplex        int
	masterSet        string
	sentinelPassword string
	sentinelTLS      *tls.Config
}
