// Package jsclient embeds the browser side of Herald's JavaScript client: the
// built SDK (dist, plain ES modules) and the demo web app (demo) that `herald dev`
// serves at /demo/. The TypeScript sources and their tests live beside this file
// and are built with npm; Go only ships what the browser loads.
//
// Package jsclient imports only the standard library; `herald dev` (through
// package demo) serves what it embeds.
package jsclient
