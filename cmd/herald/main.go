package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldpush/herald/settings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `herald: device-to-device messaging

usage:
  herald dev       run every role in one process on embedded defaults
  herald serve     run a server (--roles=edge,api,processor,mirror)
  herald token     mint a device token
  herald schema    check a message type's schema (herald schema check FILE [PAYLOAD]) or
                   generate TypeScript types of the message types (herald schema ts [--schemas DIR] [--out FILE])
  herald listen    connect as a device and print every frame, one JSON object a line
  herald send      push a message through the REST API (--async: through Kafka)
  herald publish   publish a message to a topic: every subscribed device of every account
  herald status    show the delivery status of an asynchronous message
  herald msg       send a device-to-device message as a device and print its receipts
  herald config    print serve's effective configuration: herald config print [--config FILE] [flags]
  herald apikey    make an API key and its hashed --api-keys entry: herald apikey new --name N [--scopes send,devices,types] [--rate 1000/s];
                   herald apikey hash --name N < KEY gives the entry of an existing key
  herald bench     load a running server (idle, connect, push, async, d2d, fanout) beside a ceiling; bench suite: the standard set
  herald version   the version, VCS revision and Go version of this binary (also: herald --version)

Run 'herald COMMAND -h' for a command's flags.
`

// run executes one command and returns the process exit code: 0 success, 1
// failure, 2 bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"dev":     runDev,
		"serve":   runServe,
		"token":   runToken,
		"schema":  runSchema,
		"listen":  runListen,
		"send":    runSend,
		"publish": runPublish,
		"status":  runStatus,
		"msg":     runMsg,
		"config":  runConfig,
		"apikey":  runAPIKey,
		"bench":   runBench,
	}
	cmds["version"] = runVersion
	// --version, as most tools take it, is the version command.
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "herald: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	var ue settings.UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "herald %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "herald %s: %v\n", args[0], err)
		return 1
	}
}
