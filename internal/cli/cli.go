// Package cli defines abuseguard's commands. main only calls Execute.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/serve"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

// Execute runs the command line args and returns the process exit code.
func Execute(args []string, stdout, stderr io.Writer) int {
	root := Root()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		var exit exitError
		if !errors.As(err, &exit) {
			fmt.Fprintln(stderr, "abuseguard:", err)
		}
		return 1
	}
	return 0
}

// exitError is an error already reported to the user.
type exitError struct{}

func (exitError) Error() string { return "failed" }

// Root returns the abuseguard command tree.
func Root() *cobra.Command {
	root := &cobra.Command{
		Use:           "abuseguard",
		Short:         "API abuse protection: decide allow, throttle or block for every request, and say why",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(demoCmd(), serveCmd(), sampleAPICmd(), simulateCmd(), checkCmd(), replayCmd(), decisionsCmd(), rulesCmd(), incidentsCmd(), campaignsCmd(), routesCmd(), versionCmd())
	return root
}

func serveCmd() *cobra.Command {
	var opts serve.Options
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the inline reverse proxy in front of an upstream API",
		Long: `Run the inline reverse proxy. With no --config it runs on the embedded
defaults (per client IP and per API key limits). SIGHUP, or a change to the
config file, reloads the config; an invalid one is refused and the last good
one keeps serving. SIGTERM drains in-flight requests, then exits.`,
		Example: "  abuseguard serve --upstream http://127.0.0.1:3000\n  abuseguard serve --config examples/quickstart.yaml --upstream http://127.0.0.1:3000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve.Run(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.ConfigFile, "config", "", "config file (YAML); default: the embedded defaults")
	f.StringVar(&opts.Upstream, "upstream", "", "upstream API URL, e.g. http://127.0.0.1:3000")
	f.StringVar(&opts.Listen, "listen", "", "proxy listen address (default 127.0.0.1:8080)")
	f.StringVar(&opts.AdminListen, "admin-listen", "", "admin listen address for /metrics, /healthz, /readyz (default 127.0.0.1:9090)")
	f.StringVar(&opts.ForwardAuthListen, "forward-auth-listen", "", "forward-auth listen address: /auth for nginx, Caddy, Traefik; /ext_authz/... for Envoy's HTTP ext_authz (fronts.forward_auth.listen)")
	f.StringVar(&opts.ExtAuthzListen, "ext-authz-listen", "", "Envoy ext_authz gRPC listen address (fronts.ext_authz.listen)")
	f.StringVar(&opts.RLSListen, "rls-listen", "", "Envoy rate limit service gRPC listen address (fronts.rls.listen)")
	f.StringVar(&opts.ALSListen, "als-listen", "", "Envoy access log service gRPC listen address: outcomes for the detectors (fronts.outcomes.als_listen)")
	f.StringVar(&opts.OutcomeSyslogListen, "outcome-syslog-listen", "", "UDP address for nginx access log lines over syslog: outcomes for the detectors (fronts.outcomes.syslog_listen)")
	f.StringVar(&opts.RLSConfig, "rls-config", "", "envoyproxy/ratelimit YAML file or directory for the rate limit service (fronts.rls.config)")
	return cmd
}

func checkCmd() *cobra.Command {
	var printDefaults bool
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate config files; print every error with file:line:col",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !printDefaults {
				return errors.New("check needs at least one FILE (or --print-defaults)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if printDefaults {
				_, err := cmd.OutOrStdout().Write(config.DefaultYAML())
				return err
			}
			failed := false
			for _, file := range args {
				if err := check(file); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					failed = true
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", file)
			}
			if failed {
				return exitError{}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&printDefaults, "print-defaults", false, "print the embedded default config, which documents every setting")
	return cmd
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "abuseguard", Version())
		},
	}
}

// version is set at release builds: go build -ldflags "-X
// github.com/abuseguard/abuseguard/internal/cli.version=v1.2.3".
var version string

// Version returns what the binary was built from: the release version
// (ldflags), else the module version, else "dev"; then the commit, its
// time and a "+dirty" mark from the VCS stamp when the build has one, the
// Go version and the platform.
func Version() string {
	info, _ := debug.ReadBuildInfo()
	return versionOf(version, info)
}

func versionOf(release string, info *debug.BuildInfo) string {
	v := release
	if v == "" && info != nil && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" {
		v = "dev"
	}
	var details []string
	if info != nil {
		var rev, at, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if rev != "" {
			details = append(details, "commit "+rev[:min(12, len(rev))]+dirty)
		}
		if at != "" {
			details = append(details, at)
		}
		if info.GoVersion != "" {
			details = append(details, info.GoVersion)
		}
	}
	details = append(details, runtime.GOOS+"/"+runtime.GOARCH)
	return v + " (" + strings.Join(details, ", ") + ")"
}

// check loads the config file and provisions it in a dry run, as serve
// would compile it (rules, identity, detectors, limits), without starting
// anything or fetching JWKS.
func check(file string) error {
	cfg, err := config.Load(file)
	if err != nil {
		return err
	}
	shared := engine.NewShared(engine.Options{Limits: memory.New(memory.Options{MaxKeys: 1}), DryRun: true, Getenv: os.Getenv})
	defer shared.Close()
	p, err := engine.Compile(cfg, shared)
	if err != nil {
		return err
	}
	p.Close()
	return nil
}
