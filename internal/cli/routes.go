package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/routelearn"
)

func routesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "routes",
		Short: "Learn routes from traffic: suggest a routes section to accept",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(routesSuggestCmd())
	return cmd
}

func routesSuggestCmd() *cobra.Command {
	c := &adminClient{now: time.Now, http: &http.Client{Timeout: 30 * time.Second}}
	var logs []string
	var format, mapping, configFile string
	cmd := &cobra.Command{
		Use:   "suggest [--log FILE --format FORMAT [--config C]]",
		Short: "Print a routes: section learned from live traffic (admin API) or from access logs",
		Long: `Suggest prints a routes: section learned from traffic: templates whose
identifier-looking segments are {id}, and the likely kind of each endpoint
(login, reset, signup, verify, GraphQL, decoy candidates; search routes are
named search) from its method, path words, body fields and status codes,
with the confidence and the evidence as comments. Declared routes are kept
as they are and win. The output loads with abuseguard check; review it
before you accept it.

Without --log it asks a running guard (its admin API) what it learned from
live traffic. With --log it reads access logs (the replay formats; bad
lines are counted on stderr and skipped) and keeps the routes --config
declares.`,
		Example: `  abuseguard routes suggest > routes.yaml
  abuseguard routes suggest --log /var/log/nginx/access.log --format combined --config abuseguard.yaml
  abuseguard routes suggest --log access.jsonl --format json --map time=ts,path=uri`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(logs) == 0 {
				if err := c.resolve(cmd); err != nil {
					return err
				}
				_, raw, err := c.call(cmd.Context(), "GET", "/v1/routes/suggest", nil)
				if err != nil {
					return err
				}
				if c.raw {
					_, err = cmd.OutOrStdout().Write(raw)
					return err
				}
				var s struct {
					YAML string `json:"yaml"`
				}
				if err := json.Unmarshal(raw, &s); err != nil {
					return fmt.Errorf("admin API: unexpected answer to GET /v1/routes/suggest: %w", err)
				}
				_, err = fmt.Fprint(cmd.OutOrStdout(), s.YAML)
				return err
			}
			if format == "" {
				return fmt.Errorf("--log needs --format")
			}
			var declared []config.Route
			if configFile != "" {
				cfg, err := config.Load(configFile)
				if err != nil {
					return err
				}
				declared = cfg.Routes
			}
			m, err := parseMapping(mapping)
			if err != nil {
				return err
			}
			l := routelearn.New(routelearn.Options{})
			st, err := l.ReadLog(logs, cmd.InOrStdin(), format, m)
			if err != nil {
				return err
			}
			errOut := cmd.ErrOrStderr()
			fmt.Fprintf(errOut, "read %d requests; skipped %d bad, %d empty, %d too long, %d the guard's own refusals\n",
				st.Lines, st.Bad, st.Empty, st.TooLong, st.Refused)
			for _, e := range st.First {
				fmt.Fprintf(errOut, "  %v\n", e)
			}
			return l.Suggest(declared).WriteYAML(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&logs, "log", nil, "access log to learn from (repeatable; - is stdin; .gz is gunzipped)")
	f.StringVar(&format, "format", "", "--log's format: combined, nginx, apache, envoy or json")
	f.StringVar(&mapping, "map", "", "json format: fields as FIELD=NAME,... (as replay --map)")
	f.StringVar(&configFile, "config", "", "with --log: the config whose declared routes are kept")
	f.StringVar(&c.base, "admin", defaultAdminURL, "admin API base URL (env "+envAdminURL+")")
	f.StringVar(&c.token, "token", "", "admin API bearer token (env "+envAdminToken+")")
	f.BoolVar(&c.raw, "json", false, "print the admin API's JSON answer as is")
	return cmd
}
