package herald

import (
	"context"
	"encoding/base64"
	"testing"
	"time"
)

func jwtWith(payload string) string {
	return "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestTokenExpiry(t *testing.T) {
	for _, c := range []struct {
		tok  string
		want time.Time
	}{
		{jwtWith(`{"exp":1765000000,"sub":"tv1"}`), time.Unix(1765000000, 0)},
		{jwtWith(`{"exp":1765000000.9}`), time.Unix(1765000000, 0)},
		{jwtWith(`{"sub":"tv1"}`), time.Time{}},
		{jwtWith(`{"exp":"soon"}`), time.Time{}},
		{"not-a-jwt", time.Time{}},
		{"a.!!!.c", time.Time{}},
	} {
		if got := tokenExpiry(c.tok); !got.Equal(c.want) {
			t.Errorf("tokenExpiry(%q) = %v, want %v", c.tok, got, c.want)
		}
	}
}

func TestRefreshAt(t *testing.T) {
	now := time.Unix(1000, 0)
	mint := func(context.Context) (string, error) { return "", nil }
	for _, c := range []struct {
		name   string
		fn     func(context.Context) (string, error)
		before time.Duration
		exp    time.Time
		want   time.Time
	}{
		{"an hour's token: a minute before", mint, 0, now.Add(time.Hour), now.Add(time.Hour - time.Minute)},
		{"a short token: half way", mint, 0, now.Add(4 * time.Second), now.Add(2 * time.Second)},
		{"a chosen margin", mint, 10 * time.Minute, now.Add(time.Hour), now.Add(50 * time.Minute)},
		{"refreshes off", mint, -1, now.Add(time.Hour), time.Time{}},
		{"no TokenFunc", nil, 0, now.Add(time.Hour), time.Time{}},
		{"a token without exp", mint, 0, time.Time{}, time.Time{}},
	} {
		c2 := &Client{cfg: Config{TokenFunc: c.fn, RefreshBefore: c.before}}
		if got := c2.refreshAt(c.exp, now); !got.Equal(c.want) {
			t.Errorf("%s: refreshAt = %v, want %v", c.name, got, c.want)
		}
	}
}
