// Package tlsreload serves a TLS certificate from a pair of PEM files and loads
// it again when the files change, so that a renewed certificate (cert-manager,
// certbot, a Kubernetes Secret) is served without a restart.
//
// A [Reloader] is a tls.Config's GetCertificate: a handshake looks at the files'
// identity, modification time and size at most once an interval, and reads them
// when any changed; [Reloader.Reload] reads them at once (herald serve calls it
// on SIGHUP). A pair that does not load (a half-written file, a key of another
// certificate, an expired certificate) keeps the certificate in use and is
// logged once. It starts no goroutine: the handshakes do the looking.
//
// [Listeners] holds the pairs of a node's listeners (the public one, which the
// admin listener shares, and the internal one) and the client that dials links
// with the CA bundle it trusts; its methods take a nil *Listeners as plain HTTP.
//
// It owns the files of the pairs and nothing else: the flags that name them and
// their checks are settings' ([settings.TLS.Listeners] builds a Listeners), and
// the listeners themselves cmd/herald's. It imports nothing of ours.
package tlsreload
