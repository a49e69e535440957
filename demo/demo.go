package demo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jsclient "github.com/heraldpush/herald/clients/js"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/protocol"
)

// Path is where the demo web app is served.
const Path = "/demo/"

const (
	tokenTTL      = 24 * time.Hour // of the tokens of POST /demo/api/token
	maxTokenBytes = 4 << 10        // of the body of POST /demo/api/token
	// maxTokenTopics is the most topic patterns a device token holds
	// (token.MaxTopics): the issuer refuses more.
	maxTokenTopics = 64
)

// Issuer signs device tokens, with the topic patterns of their topics claim:
// *token.Issuer with the development secret.
type Issuer interface {
	IssueTopics(account, device string, ttl time.Duration, topics []string) (string, error)
}

// Config is what the demo's endpoints need of the node.
type Config struct {
	// API is the node's REST API, called in process with APIKey.
	API http.Handler
	// APIKey is the key that push and devices send to API.
	APIKey string
	// Issuer signs the tokens of POST /demo/api/token.
	Issuer Issuer
	// Logger logs failures to sign; nil: discard.
	Logger *slog.Logger
}

// demoAPI serves the endpoints under /demo/api/ on top of the node's REST API.
type demoAPI struct {
	cfg Config
	log *slog.Logger
}

// Mount adds the demo web app and its endpoints to mux, the public mux of `herald
// dev`.
func Mount(mux *http.ServeMux, cfg Config) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &demoAPI{cfg: cfg, log: log}
	mux.Handle(Path, http.StripPrefix(strings.TrimSuffix(Path, "/"), jsclient.Handler()))
	mux.HandleFunc("POST /demo/api/token", d.token)
	mux.HandleFunc("POST /demo/api/push", d.push)
	mux.HandleFunc("POST /demo/api/publish", d.publish)
	mux.HandleFunc("GET /demo/api/devices", d.devices)
	mux.HandleFunc("/demo/api/", d.other)
}

// endpoints are the methods of each endpoint, for the 405 of other methods.
var endpoints = map[string]string{
	"/demo/api/token":   http.MethodPost,
	"/demo/api/push":    http.MethodPost,
	"/demo/api/publish": http.MethodPost,
	"/demo/api/devices": http.MethodGet + ", " + http.MethodHead,
}

// other answers what no endpoint matched: 405 on a known path, 404 otherwise.
func (d *demoAPI) other(w http.ResponseWriter, r *http.Request) {
	if allow, ok := endpoints[r.URL.Path]; ok {
		w.Header().Set("Allow", allow)
		p := protocol.NewProblem(protocol.CodeBadRequest, r.Method+" is not allowed on "+r.URL.Path)
		p.Status = http.StatusMethodNotAllowed
		p.Write(w)
		return
	}
	protocol.NewProblem(protocol.CodeNotFound, "no such demo endpoint: "+r.URL.Path+" (there are POST /demo/api/token, POST /demo/api/push, POST /demo/api/publish, GET /demo/api/devices)").Write(w)
}

// tokenRequest is the body of POST /demo/api/token.
type tokenRequest struct {
	Account string `json:"account"`
	Device  string `json:"device"`
	// Topics are the patterns of the token's topics claim (docs/protocol.md,
	// "Topics"): what the device may subscribe to. None: nothing.
	Topics []string `json:"topics"`
}

// TokenResponse is the answer of POST /demo/api/token.
type TokenResponse struct {
	Token     string   `json:"token"`
	Account   string   `json:"account"`
	Device    string   `json:"device"`
	Topics    []string `json:"topics,omitempty"`
	ExpiresIn int64    `json:"expires_in"` // seconds
}

// token mints a device token for the page, as an app's backend would after its
// own login.
func (d *demoAPI) token(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := decodeJSON(w, r, maxTokenBytes, &req); err != nil {
		protocol.NewProblem(protocol.CodeBadRequest, err.Error()).Write(w)
		return
	}
	for _, f := range []struct{ name, v string }{{"account", req.Account}, {"device", req.Device}} {
		if !devicelist.ValidID(f.v) {
			protocol.NewProblem(protocol.CodeBadRequest, invalidIDDetail(f.name, f.v)).Write(w)
			return
		}
	}
	if len(req.Topics) > maxTokenTopics {
		protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf("topics: %d patterns, at most %d", len(req.Topics), maxTokenTopics)).Write(w)
		return
	}
	for i, p := range req.Topics {
		if !protocol.ValidTopicPattern(p) {
			protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf("topics[%d] is not a topic pattern: a topic name (segments of A-Z a-z 0-9 _ - separated by '.'), a name followed by .*, or *", i)).Write(w)
			return
		}
	}
	tok, err := d.cfg.Issuer.IssueTopics(req.Account, req.Device, tokenTTL, req.Topics)
	if err != nil {
		d.log.Error("minting a demo token failed", "err", err)
		protocol.NewProblem(protocol.CodeInternal, "the token could not be signed").Write(w)
		return
	}
	writeJSON(w, TokenResponse{Token: tok, Account: req.Account, Device: req.Device, Topics: req.Topics, ExpiresIn: int64(tokenTTL / time.Second)})
}

// push sends the body, a POST /v1/push request, with the API key: the REST
// API validates it and answers, problems included.
func (d *demoAPI) push(w http.ResponseWriter, r *http.Request) {
	d.forward(w, r, http.MethodPost, "/v1/push", nil)
}

// devices answers the device list of ?account=.
func (d *demoAPI) devices(w http.ResponseWriter, r *http.Request) {
	account := r.URL.Query().Get("account")
	if !devicelist.ValidID(account) {
		protocol.NewProblem(protocol.CodeBadRequest, invalidIDDetail("account", account)).Write(w)
		return
	}
	d.forward(w, r, http.MethodGet, "/v1/accounts/"+account+"/devices", nil)
}

// forward serves r as a call of the REST API at path with the API key, with
// body instead of r's when it is not nil.
func (d *demoAPI) forward(w http.ResponseWriter, r *http.Request, method, path string, body []byte) {
	f := r.Clone(r.Context())
	f.Method = method
	f.URL = &url.URL{Path: path}
	f.RequestURI = path
	if body != nil {
		f.Body = io.NopCloser(bytes.NewReader(body))
		f.ContentLength = int64(len(body))
	}
	f.Header.Set("Authorization", "Bearer "+d.cfg.APIKey)
	f.Header.Del("Cookie")
	if method == http.MethodPost {
		f.Header.Set("Content-Type", "application/json")
	}
	d.cfg.API.ServeHTTP(w, f)
}

// invalidIDDetail says what a valid account or device id looks like.
func invalidIDDetail(field, v string) string {
	if v == "" {
		return field + " is required"
	}
	return fmt.Sprintf("%s %q is not a valid id: 1 to %d characters of A-Z a-z 0-9 . _ : @ -", field, v, devicelist.MaxIDLen)
}

// decodeJSON decodes the body of r, at most limit bytes, into v: one JSON
// object and nothing after it. With fields, a member whose name is none of
// them (matched as encoding/json matches names, case aside) is refused too,
// so that a misspelt member is not silently dropped.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, fields ...string) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return fmt.Errorf("the body is larger than %d bytes", limit)
		}
		return fmt.Errorf("reading the body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return errors.New(`the body must be a JSON object, e.g. {"account":"demo-1","device":"tv"}`)
		case errors.As(err, &te) && te.Field != "":
			return fmt.Errorf("field %q must be a %s, not %s", te.Field, te.Type.Kind(), te.Value)
		case errors.As(err, &te):
			return fmt.Errorf("the body must be a JSON object, not %s", te.Value)
		default:
			return fmt.Errorf("the body is not valid JSON: %w", err)
		}
	}
	if dec.More() {
		return errors.New("the body must hold one JSON object and nothing after it")
	}
	if len(fields) == 0 {
		return nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return fmt.Errorf("the body must be a JSON object: %w", err)
	}
	var unknown []string
	for name := range members {
		if !slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, name) }) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown field %q: the fields are %q", unknown[0], fields)
	}
	return nil
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		protocol.NewProblem(protocol.CodeInternal, "encoding the answer failed").Write(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n'))
}
