package token

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// MaxJWKSBytes bounds the size of a JWKS file.
const MaxJWKSBytes = 1 << 20

// jwk is the part of an RFC 7517 JSON Web Key the verifier reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"` // OKP public key
	N   string `json:"n"` // RSA modulus
	E   string `json:"e"` // RSA exponent
	K   string `json:"k"` // oct secret
}

// ParseJWKS parses a JSON Web Key Set (RFC 7517) into verification keys: kty
// "oct" (HS256, at least MinSecretBytes), "OKP" with crv "Ed25519" (EdDSA), "RSA"
// (RS256, at least MinRSABits). A key's alg, when given, must be the one its kty
// pins; use, when given, must be "sig". Every key needs a kid when the set has
// more than one. Any other key is an error, so that a typo is not silently
// dropped.
func ParseJWKS(data []byte) (hs []HS256Key, ed []Ed25519Key, rs []RSAKey, err error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, nil, nil, fmt.Errorf("token: JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, nil, nil, errors.New("token: JWKS: no keys")
	}
	for i, k := range set.Keys {
		if k.Kid == "" && len(set.Keys) > 1 {
			return nil, nil, nil, fmt.Errorf("token: JWKS: key %d has no kid: a set of several keys needs one on each", i)
		}
		if k.Use != "" && k.Use != "sig" {
			return nil, nil, nil, fmt.Errorf("token: JWKS: key %q: use %q, want sig", k.Kid, k.Use)
		}
		want := ""
		switch k.Kty {
		case "oct":
			want = algHS256
			b, err := b64(k.K)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("token: JWKS: key %q: k: %w", k.Kid, err)
			}
			hs = append(hs, HS256Key{ID: k.Kid, Secret: b})
		case "OKP":
			want = algEdDSA
			if k.Crv != "Ed25519" {
				return nil, nil, nil, fmt.Errorf("token: JWKS: key %q: crv %q, want Ed25519", k.Kid, k.Crv)
			}
			b, err := b64(k.X)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("token: JWKS: key %q: x: %w", k.Kid, err)
			}
			ed = append(ed, Ed25519Key{ID: k.Kid, Key: ed25519.PublicKey(b)})
		case "RSA":
			want = algRS256
			n, err := b64(k.N)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("token: JWKS: key %q: n: %w", k.Kid, err)
			}
			e, err := b64(k.E)
			if err != nil || len(e) == 0 || len(e) > 4 {
				return nil, nil, nil, fmt.Errorf("token: JWKS: key %q: e is not a valid exponent", k.Kid)
			}
			exp := new(big.Int).SetBytes(e)
			if exp.Int64() < 3 || exp.Bit(0) == 0 {
				return nil, nil, nil, fmt.Errorf("token: JWKS: key %q: e is not a valid exponent", k.Kid)
			}
			rs = append(rs, RSAKey{ID: k.Kid, Key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}})
		default:
			return nil, nil, nil, fmt.Errorf("token: JWKS: key %q: kty %q is not supported (oct, OKP, RSA)", k.Kid, k.Kty)
		}
		if k.Alg != "" && k.Alg != want {
			return nil, nil, nil, fmt.Errorf("token: JWKS: key %q: alg %q, but a %s key verifies %s only", k.Kid, k.Alg, k.Kty, want)
		}
	}
	return hs, ed, rs, nil
}

func b64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	mtime time.Time
	size  int64
}

// Reload reads the JWKS file again and replaces the key set. On failure the keys
// in use stay, and the error is returned (and logged). Without a JWKS file it
// does nothing.
func (v *Verifier) Reload() error {
	if v.cfg.JWKSFile == "" {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	st, err := v.reloadLocked()
	if err != nil {
		if v.keys.Load() != nil {
			v.cfg.Logger.Error("device-token keys not reloaded: keeping the keys in use", "file", v.cfg.JWKSFile, "err", err)
		}
		return err
	}
	v.loaded, v.seen = st, st
	return nil
}

func (v *Verifier) reloadLocked() (fileStamp, error) {
	f, err := os.Open(v.cfg.JWKSFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("token: JWKS: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileStamp{}, fmt.Errorf("token: JWKS: %w", err)
	}
	if fi.Size() > MaxJWKSBytes {
		return fileStamp{}, fmt.Errorf("token: JWKS: %s is %d bytes, more than %d", v.cfg.JWKSFile, fi.Size(), MaxJWKSBytes)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return fileStamp{}, fmt.Errorf("token: JWKS: %w", err)
	}
	hs, ed, rs, err := ParseJWKS(data)
	if err != nil {
		return fileStamp{}, fmt.Errorf("%w (%s)", err, v.cfg.JWKSFile)
	}
	file, err := staticKeys(VerifierConfig{HS256: hs, Ed25519: ed, RS256: rs})
	if err != nil {
		return fileStamp{}, fmt.Errorf("%w (%s)", err, v.cfg.JWKSFile)
	}
	ks, err := newKeys(append(append([]key(nil), v.static...), file...))
	if err != nil {
		return fileStamp{}, fmt.Errorf("%w (%s)", err, v.cfg.JWKSFile)
	}
	old := v.keys.Swap(ks)
	if old != nil {
		v.cfg.Logger.Info("device-token keys reloaded", "file", v.cfg.JWKSFile, "keys", len(file))
	}
	return fileStamp{mtime: fi.ModTime(), size: fi.Size()}, nil
}

// maybeReload reloads the JWKS file when its modification time or size changed,
// looking at most once per JWKSCheck. Only the caller that wins the turn looks;
// the others go on with the keys in use.
func (v *Verifier) maybeReload() {
	if v.cfg.JWKSFile == "" {
		return
	}
	now := v.cfg.Now().UnixNano()
	last := v.checked.Load()
	if now-last < int64(v.cfg.JWKSCheck) || !v.checked.CompareAndSwap(last, now) {
		return
	}
	fi, err := os.Stat(v.cfg.JWKSFile)
	if err != nil {
		v.cfg.Logger.Error("device-token keys: cannot stat the JWKS file: keeping the keys in use", "file", v.cfg.JWKSFile, "err", err)
		return
	}
	st := fileStamp{mtime: fi.ModTime(), size: fi.Size()}
	v.mu.Lock()
	same := v.seen.mtime.Equal(st.mtime) && v.seen.size == st.size
	v.seen = st // a bad version is tried (and logged) once
	v.mu.Unlock()
	if !same {
		_ = v.Reload() // logged
	}
}
