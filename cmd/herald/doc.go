// Command herald is Herald's one binary: the servers (serve, dev) and the tools
// (token, schema, listen, send, status, msg, config, apikey, bench).
//
//	herald dev                                 every role in one process, no external services
//	herald serve --roles=edge,api              a production process
//	herald token --account A --device D        mint a device token
//	herald schema check FILE [PAYLOAD]         check a type's schema and a sample payload
//	herald schema ts [--schemas DIR] [--out F] TypeScript types of the message types
//	herald listen --account A --device D       connect as a device, print each frame
//	herald send --account A --device D ...     sync push through the REST API
//	herald send --async --priority high ...    asynchronous send through Kafka; prints the id
//	herald status ID                           delivery status of an asynchronous message
//	herald msg --account A --device D --to T   a device-to-device message, as a device
//	herald config print [--config F] [flags]   the effective configuration of serve, secrets masked
//	herald apikey new --name N [--scopes S]    a fresh API key, printed once, and its hashed --api-keys entry
//	herald version                             the build: module version, VCS revision, Go version
//
// Every flag can also be set by an environment variable HERALD_<FLAG>, with dashes
// as underscores (--token-secret: HERALD_TOKEN_SECRET); serve and dev also read a
// YAML or JSON file named by --config (HERALD_CONFIG) whose keys are the flag
// names. A flag wins over the environment, which wins over the file.
//
// Command herald is wiring: it parses each command's flags (package settings for
// serve, dev and config print, which also fills what the settings give of each
// package's Config), builds the packages that do the work and starts them. What
// is not flags or wiring lives in the package it is about: the admin listener
// in admin, the certificates of the listeners in tlsreload, the regions of
// dev --regions in settings, dev's Kafka cluster and the text of a message's
// status in processor. No package imports it.
package main
