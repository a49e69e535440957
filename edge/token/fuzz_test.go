package token

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The fuzz targets hold Verify to two rules whatever the input: it never
// panics, and it accepts only tokens signed by a configured key. A fuzzer
// cannot sign, so every token it gets accepted must carry the claims of one
// of the seeds that a configured key signed.

// fuzzNow is the fixed clock of the fuzz targets: tokens do not expire while
// a fuzz run lasts.
var fuzzNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fuzzKeys are the verifier's keys and the private halves that sign the
// seeds.
type fuzzKeys struct {
	hs      HS256Key
	hsNoKid HS256Key
	edPub   ed25519.PublicKey
	edPriv  ed25519.PrivateKey
}

func newFuzzKeys() fuzzKeys {
	priv := ed25519.NewKeyFromSeed([]byte("fuzz-ed25519-seed-of-32-bytes!!!"))
	return fuzzKeys{
		hs:      HS256Key{ID: "h1", Secret: []byte("fuzz-hs256-secret-of-at-least-32-bytes")},
		hsNoKid: HS256Key{Secret: []byte("fuzz-hs256-secret-without-a-kid-32-bytes")},
		edPub:   priv.Public().(ed25519.PublicKey),
		edPriv:  priv,
	}
}

func mustFuzzVerifier(tb testing.TB, k fuzzKeys) *Verifier {
	tb.Helper()
	v, err := NewVerifier(VerifierConfig{
		HS256:   []HS256Key{k.hs, k.hsNoKid},
		Ed25519: []Ed25519Key{{ID: "e1", Key: k.edPub}},
		Now:     func() time.Time { return fuzzNow },
	})
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// fuzzSeed is a token a configured key signed, with its claims.
type fuzzSeed struct {
	raw    string
	claims Claims
}

// mustFuzzSeeds signs one token with each configured key.
func mustFuzzSeeds(tb testing.TB, k fuzzKeys) []fuzzSeed {
	tb.Helper()
	var issuers []*Issuer
	for _, hk := range []HS256Key{k.hs, k.hsNoKid} {
		iss, err := NewHS256Issuer(hk)
		if err != nil {
			tb.Fatal(err)
		}
		issuers = append(issuers, iss)
	}
	iss, err := NewEd25519Issuer("e1", k.edPriv)
	if err != nil {
		tb.Fatal(err)
	}
	issuers = append(issuers, iss)
	var seeds []fuzzSeed
	for i, iss := range issuers {
		iss.SetClock(func() time.Time { return fuzzNow })
		account, device := "acct-"+string(rune('a'+i)), "dev-"+string(rune('a'+i))
		raw, err := iss.Issue(account, device, time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		exp := fuzzNow.Add(time.Hour).Truncate(time.Second)
		seeds = append(seeds, fuzzSeed{raw: raw, claims: Claims{Account: account, Device: device, Expires: exp, Until: exp.Add(DefaultLeeway)}})
	}
	return seeds
}

// forge assembles a token from a header and claims, "signed" with sig.
func forge(header, claims string, sig func(signed string) []byte) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	return signed + "." + enc.EncodeToString(sig(signed))
}

// forgeries are tokens no configured key signed, each an attack the verifier
// must refuse.
func forgeries(k fuzzKeys) []string {
	exp := fuzzNow.Add(time.Hour).Unix()
	claims, _ := json.Marshal(map[string]any{"account": "evil", "sub": "dev", "exp": exp})
	hmacWith := func(key []byte) func(string) []byte {
		return func(s string) []byte {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(s))
			return m.Sum(nil)
		}
	}
	none := func(string) []byte { return nil }
	other := ed25519.NewKeyFromSeed([]byte("another-ed25519-seed-of-32-bytes"))
	return []string{
		forge(`{"alg":"none","typ":"JWT"}`, string(claims), none),
		forge(`{"alg":"NONE"}`, string(claims), none),
		// Algorithm confusion: HS256 keyed with the Ed25519 public key's bytes.
		forge(`{"alg":"HS256","kid":"e1"}`, string(claims), hmacWith(k.edPub)),
		forge(`{"alg":"HS256"}`, string(claims), hmacWith(k.edPub)),
		forge(`{"alg":"HS256","kid":"h1"}`, string(claims), hmacWith([]byte("a-secret-nobody-configured-32-bytes!!"))),
		forge(`{"alg":"HS256","kid":"nope"}`, string(claims), hmacWith(k.hs.Secret)),
		forge(`{"alg":"EdDSA","kid":"e1"}`, string(claims), func(s string) []byte { return ed25519.Sign(other, []byte(s)) }),
		forge(`{"alg":"HS384","kid":"h1"}`, string(claims), hmacWith(k.hs.Secret)),
		forge(`{"alg":"RS256","kid":"h1"}`, string(claims), hmacWith(k.hs.Secret)),
	}
}

// checkVerify verifies raw and fails if it is accepted with claims that no
// seed carries.
func checkVerify(t *testing.T, v *Verifier, seeds []fuzzSeed, raw string) {
	t.Helper()
	c, err := v.Verify(raw)
	if err != nil {
		return
	}
	for _, s := range seeds {
		if sameClaims(c, s.claims) {
			return
		}
	}
	t.Fatalf("Verify(%q) accepted claims %+v that no configured key signed", raw, c)
}

// sameClaims reports whether a and b say the same of their bearer.
func sameClaims(a, b Claims) bool {
	return a.Account == b.Account && a.Device == b.Device && a.Expires.Equal(b.Expires) && a.Until.Equal(b.Until)
}

func FuzzVerify(f *testing.F) {
	k := newFuzzKeys()
	v := mustFuzzVerifier(f, k)
	seeds := mustFuzzSeeds(f, k)
	for _, s := range seeds {
		f.Add(s.raw)
		// Each seed is accepted: the property below is not checked against a
		// verifier that refuses everything.
		if c, err := v.Verify(s.raw); err != nil || !sameClaims(c, s.claims) {
			f.Fatalf("seed %q: got %+v, %v; want %+v", s.raw, c, err, s.claims)
		}
	}
	for _, raw := range forgeries(k) {
		f.Add(raw)
		if _, err := v.Verify(raw); err == nil {
			f.Fatalf("forged token %q accepted", raw)
		}
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "a.b.c.d", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9..", strings.Repeat("A", 4096) + ".." + strings.Repeat("=", 10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkVerify(t, v, seeds, raw)
	})
}

// FuzzVerifyMutation flips, inserts and drops bytes of a valid token, where a
// fuzzer working on raw strings seldom lands.
func FuzzVerifyMutation(f *testing.F) {
	k := newFuzzKeys()
	v := mustFuzzVerifier(f, k)
	seeds := mustFuzzSeeds(f, k)
	f.Add(uint8(0), uint16(0), byte('x'), uint8(0))
	f.Add(uint8(1), uint16(40), byte('.'), uint8(1))
	f.Add(uint8(2), uint16(200), byte('A'), uint8(2))
	f.Add(uint8(0), uint16(5), byte('_'), uint8(3))
	f.Fuzz(func(t *testing.T, which uint8, pos uint16, b byte, op uint8) {
		raw := []byte(seeds[int(which)%len(seeds)].raw)
		p := int(pos) % len(raw)
		switch op % 4 {
		case 0:
			raw[p] = b
		case 1:
			raw = append(raw[:p:p], append([]byte{b}, raw[p:]...)...)
		case 2:
			raw = append(raw[:p:p], raw[p+1:]...)
		case 3:
			raw[p] ^= b
		}
		checkVerify(t, v, seeds, string(raw))
	})
}
