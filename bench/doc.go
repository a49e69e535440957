// Package bench is Herald's load tool, run as `herald bench`: it loads a running
// Herald over the network the way devices and backends do, and reports what it
// saw.
//
// It owns the workloads (idle connections, a reconnect storm, sync pushes,
// asynchronous sends, device-to-device pairs, fanout to siblings, a topic's
// fan-out to its subscribers over several edges beside the same devices
// reached by pushes, the drain of messages stored for offline devices when
// they connect), the workers
// that run them, the reports (throughput, HDR latency percentiles merged across
// the workers, and, given the server's pids, its memory per connection and CPU
// from /proc), the comparison with the ceiling server (package bench/ceiling:
// the same workload, the same way, against the least a coder/websocket server
// can do, every figure also as a ratio to it), the standard set (the suite, each
// step against a fresh `herald dev` or `herald serve` it starts) and the soak (a
// steady mix with reconnect churn for a set time, watching the server's
// goroutines, heap and RSS for growth, and counting accepted messages lost),
// and the pooling of several runs' JSON summaries into one set of figures
// ([Pool], `herald bench pool`: the delivery latencies' histograms merged,
// the deliveries over the servers' CPU seconds).
//
// [Run] takes a [Config], which `herald bench` fills from its flags; the flags
// are read only there. The bench's child processes are the herald binary named
// by Config.Binary: workers (`herald bench --worker`, [RunWorker]; connections
// are spread over Config.Procs processes because one process holds at most
// 20,000 open files), the ceiling server (`herald bench --ceiling-server`) and the
// suite's servers. A worker gets its share of the run as one line of JSON on
// stdin, then the parent's commands, and reports its events as JSON lines on
// stdout; that exchange is between two processes of one build and is no
// contract.
//
// The goroutines: the parent runs one participant per worker (a child process,
// or the worker itself in-process when Procs is 1) and steps them through the
// phases prepare -> ready, run -> finished, stop -> result; each worker owns one
// reader goroutine per device connection, a pool of senders and the pacing loop,
// and stops and waits for all of them before it reports its result. A soak owns
// its readers, senders, churn loop and sampler the same way. Run returns only
// once every goroutine and child process it started has ended.
//
// bench speaks to Herald through the wire contract (protocol) and mints device
// tokens with edge/token; it builds the suite's API key entry with api.NewKey
// and reads the edge's default message rate. It must not import cmd/herald, nor
// any server internals beyond those names: what it measures is the server as a
// device or a backend sees it.
package bench
