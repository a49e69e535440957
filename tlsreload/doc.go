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
// It owns the files of one pair and nothing else: which listener serves which
// pair, and the flags that name them, are cmd/herald's and settings'. It imports
// nothing of ours.
package tlsreload
