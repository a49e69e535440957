// Package demo is the demo web app of `herald dev`: the page and the JavaScript
// SDK (served from package clients/js) at /demo/, and four dev-only JSON
// endpoints under /demo/api/ that stand in for an app's backend, so that the page
// never holds the token secret or the API key:
//
//	POST /demo/api/token   {"account":…,"device":…,"topics":[…]} → {"token":…}, signed by Config.Issuer
//	POST /demo/api/push    the body of POST /v1/push, sent with Config.APIKey
//	POST /demo/api/publish {"topic":…,"type":…,"payload":…} → POST /v1/topics/{topic}/messages with Config.APIKey
//	GET  /demo/api/devices?account=…  the account's device list, as GET /v1/accounts/{account}/devices
//
// The token's optional topics are the patterns of its topics claim; publish
// checks the topic (it goes into the API's path) and that there is a type and
// a payload, and the REST API checks the rest.
//
// [Mount] adds them to a mux on top of the node's REST API, which it calls in
// process. `herald serve` never mounts them: they hand out tokens to anyone who
// asks; cmd/herald mounts them for `herald dev` only.
//
// It owns the endpoints' requests, answers and problems. It imports protocol,
// devicelist (the id rule) and clients/js (the page and the SDK), never api,
// edge, registry, processor or cmd/herald: the REST API is an http.Handler and
// the signer a small interface.
package demo
