package token

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyClaimRules holds Verify to the wire contract's rules for the claims
// of a signed token: account and sub are ids by protocol.ValidID, and exp, nbf
// and iat are JSON numbers (RFC 7519 NumericDate), never strings that hold one.
// A refusal never quotes the id it refuses.
func TestVerifyClaimRules(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v, err := NewVerifier(VerifierConfig{HS256: []HS256Key{{ID: "k1", Secret: secret(1)}}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	exp := now.Add(time.Minute).Unix()
	long := strings.Repeat("x", 48<<10)
	tests := []struct {
		name   string
		claims jwt.MapClaims
		ok     bool
	}{
		{"numbers", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": exp, "nbf": now.Unix(), "iat": now.Unix()}, true},
		{"fractional exp", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": float64(exp) + 0.5}, true},
		{"ids with every allowed character", jwt.MapClaims{"account": "A-z.0_9:@", "sub": strings.Repeat("d", 128), "exp": exp}, true},

		{"exp a string", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": "1800000060"}, false},
		{"nbf a string", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": exp, "nbf": "1800000000"}, false},
		{"iat a string", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": exp, "iat": "1800000000"}, false},
		{"exp null", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": nil}, false},
		{"nbf null", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": exp, "nbf": nil}, false},
		{"exp a boolean", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": true}, false},
		{"account empty", jwt.MapClaims{"account": "", "sub": "tv1", "exp": exp}, false},
		{"account with a space", jwt.MapClaims{"account": "a 1", "sub": "tv1", "exp": exp}, false},
		{"account too long", jwt.MapClaims{"account": long, "sub": "tv1", "exp": exp}, false},
		{"account with a control character", jwt.MapClaims{"account": "a\x001", "sub": "tv1", "exp": exp}, false},
		{"account not a string", jwt.MapClaims{"account": 7, "sub": "tv1", "exp": exp}, false},
		{"sub empty", jwt.MapClaims{"account": "a1", "sub": "", "exp": exp}, false},
		{"sub with a space", jwt.MapClaims{"account": "a1", "sub": "tv 1", "exp": exp}, false},
		{"sub too long", jwt.MapClaims{"account": "a1", "sub": long, "exp": exp}, false},
		{"sub one byte too long", jwt.MapClaims{"account": "a1", "sub": strings.Repeat("d", 129), "exp": exp}, false},
		{"sub with a newline", jwt.MapClaims{"account": "a1", "sub": "tv1\nlevel=ERROR", "exp": exp}, false},
		{"sub not ASCII", jwt.MapClaims{"account": "a1", "sub": "télé", "exp": exp}, false},

		{"topics", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": exp, "topics": []string{"news.*", "scores.live", "*"}}, true},
		{"topics at most", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": exp, "topics": manyTopics(MaxTopics)}, true},
		{"topics one too many", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": exp, "topics": manyTopics(MaxTopics + 1)}, false},
		{"topics a string", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": exp, "topics": "news.*"}, false},
		{"topic pattern with a wildcard inside", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": exp, "topics": []string{"news.*.live"}}, false},
		{"topic pattern with a newline", jwt.MapClaims{"account": "a1", "sub": "tv1", "exp": exp, "topics": []string{"news\nlevel=ERROR"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret(1), "k1", tt.claims))
			if !tt.ok {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Verify = %+v, %v; want ErrInvalid", c, err)
				}
				if strings.Contains(err.Error(), "xxxxxxxx") || strings.Contains(err.Error(), "level=ERROR") {
					t.Fatalf("the error quotes the id: %.200s", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Account != tt.claims["account"] || c.Device != tt.claims["sub"] || c.Expires.Unix() != exp {
				t.Fatalf("claims = %+v", c)
			}
			if want, _ := tt.claims["topics"].([]string); !slices.Equal(c.Topics, want) {
				t.Fatalf("topics = %q, want %q", c.Topics, want)
			}
		})
	}
}

// TestIssueRefusesInvalidIDs: an issuer mints no token that Verify would refuse
// for its ids.
func TestIssueRefusesInvalidIDs(t *testing.T) {
	i, err := NewHS256Issuer(HS256Key{Secret: secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][2]string{{"", "tv1"}, {"a1", ""}, {"a 1", "tv1"}, {"a1", strings.Repeat("d", 129)}, {"a1", "tv\x01"}} {
		if _, err := i.Issue(ids[0], ids[1], time.Minute); err == nil {
			t.Errorf("Issue(%q, %.20q) minted a token", ids[0], ids[1])
		}
	}
}

// manyTopics returns n distinct topic names.
func manyTopics(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "t" + strconv.Itoa(i)
	}
	return out
}
