// Package settings reads Herald's command lines: the settings of `herald serve`
// and `herald dev` ([Server], with its [Kafka], [TLS], [TokenKeys] and
// [RESTLimits] parts), which `herald config print` shows, and the parsing that
// every herald command shares.
//
// It owns, for each setting, its flag, its default, its help and its checks:
//
//   - [Server.Flags] defines the flags on a flag set made by [NewFlags];
//   - [Parse] fills the flag set from the command line, then every flag the
//     command line left alone from the environment (HERALD_<FLAG>, dashes as
//     underscores, [EnvName]), then, for a command with --config
//     (HERALD_CONFIG), from a YAML or JSON file whose keys are the flag names: a
//     flag wins over the environment, which wins over the file. [ParseSources]
//     also says where each value came from;
//   - [Server.Validate] checks the whole configuration, so that a process refuses
//     a bad one before it starts anything;
//   - [PrintConfig] writes the settings with their values, secrets masked
//     ([Masked]), and their sources;
//   - [Server.DevRegionConfigs] derives from the one configuration of
//     `herald dev --regions N` the N configurations of its regions.
//
// A bad command line, environment, file or configuration is a [UsageError]
// (herald exits 2 on it), whose message names the flag, the variable or the
// file and line, and never shows a secret.
//
// It reads the environment, files and flags, and starts no listener, client or
// goroutine (DevRegionConfigs binds and closes a port of 127.0.0.1 per region
// to choose its gateway's). It turns the settings into the packages' Configs:
// [Server.EdgeConfig], [Server.APIConfig], [Server.AdminConfig],
// [Region.RegionsConfig], [Server.ProcessorConfig],
// [Server.MaterializerConfig], [Kafka.TopicSpec] and [Server.TracingConfig]
// fill what the settings give of each (ids, keys, limits, timeouts), to which
// cmd/herald adds the parts it wires in (stores, router, metrics, logger); and
// a few conversions need its own parsing ([Server.RedisConfig], [Kafka.Opts],
// [TokenKeys.Verifier], [TLS.Listeners], [RESTLimits.Apply]). It imports the
// packages whose defaults and parsers it uses (edge, edge/token, api, admin,
// registry, inbox, topiclog, processor, mirror, protocol, tlsreload, tracing),
// never cmd/herald, demo or bench.
package settings
