package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abuseguard/abuseguard/internal/engine"
)

func campaignsCmd() *cobra.Command {
	c := &adminClient{now: time.Now, http: &http.Client{Timeout: 30 * time.Second}}
	cmd := &cobra.Command{
		Use:   "campaigns",
		Short: "List, show and dismiss campaigns (entities acting together) through the admin API",
		Long: `A campaign is a group of clients acting together: sharing a client
fingerprint and walking one id space in disjoint slices (docs/detectors.md,
campaign). It has its own risk and decisions (scope campaign), which apply
to its members. Dismissing one lifts its decisions and stops it from being
found again while its walk lasts.`,
		Example: `  abuseguard campaigns list
  abuseguard campaigns show c_0c1b864c032d1de1
  abuseguard campaigns dismiss c_0c1b864c032d1de1`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&c.base, "admin", defaultAdminURL, "admin API base URL (env "+envAdminURL+")")
	pf.StringVar(&c.token, "token", "", "admin API bearer token (env "+envAdminToken+")")
	pf.BoolVar(&c.raw, "json", false, "print the API's JSON response as is")
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the campaigns found, the most recently active first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var l struct {
				Campaigns []engine.CampaignView `json:"campaigns"`
			}
			if _, printed, err := c.fetch(cmd, "GET", "/v1/campaigns", nil, &l); err != nil || printed {
				return err
			}
			out := cmd.OutOrStdout()
			if len(l.Campaigns) == 0 {
				_, err := fmt.Fprintln(out, "no campaigns")
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tROUTE\tMEMBERS\tNETWORKS\tIDS\tSCORE\tDECISION\tLAST SEEN")
			for _, x := range l.Campaigns {
				ids := strconv.Itoa(x.Walk)
				if x.Kind == "behaviour" {
					ids = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.0f\t%s\t%.1f\t%s\t%s ago\n", x.ID, x.Kind, x.Route, x.Members, x.Networks, ids, x.Score,
					campaignDecision(x), duration(c.now().Sub(x.LastSeen)))
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use:   "show ID",
		Short: "Show a campaign: what its members share, its walk, risk and decisions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var x engine.CampaignView
			if _, printed, err := c.fetch(cmd, "GET", "/v1/campaigns/"+url.PathEscape(args[0]), nil, &x); err != nil || printed {
				return err
			}
			printCampaign(cmd.OutOrStdout(), x, c.now())
			return nil
		},
	}, &cobra.Command{
		Use:   "dismiss ID",
		Short: "Dismiss a campaign: lift its decisions and stop finding it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var x engine.CampaignView
			if _, printed, err := c.fetch(cmd, "POST", "/v1/campaigns/"+url.PathEscape(args[0])+"/dismiss", nil, &x); err != nil || printed {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "dismissed %s (%d decisions in force)\n", x.ID, len(x.Decisions))
			return err
		},
	})
	return cmd
}

// campaignDecision is the strongest decision in force on a campaign, "-"
// for none.
func campaignDecision(x engine.CampaignView) string {
	best := "-"
	for _, d := range x.Decisions {
		best = action(d)
	}
	return best
}

func printCampaign(w io.Writer, x engine.CampaignView, now time.Time) {
	fmt.Fprintf(w, "campaign:%s", x.ID)
	if x.Dismissed {
		fmt.Fprint(w, " (dismissed)")
	}
	fmt.Fprintf(w, "\n  %s\n", x.Summary)
	fmt.Fprintf(w, "  route: %s\n  fingerprint: %s\n  members: %.0f from %.0f networks\n", x.Route, x.Fingerprint, x.Members, x.Networks)
	if x.Kind == "behaviour" {
		fmt.Fprintf(w, "  behaviour: %d requests (%.0f%% failed, %.0f%% new paths), %.1f a minute, %d started together, strength %.2f, since %s, last seen %s ago\n",
			x.Requests, 100*x.FailedShare, 100*x.NewPathShare, x.PerMinute, x.CoordinatedStart, x.Strength,
			x.Start.Format(time.RFC3339), duration(now.Sub(x.LastSeen)))
	} else {
		fmt.Fprintf(w, "  walk: %d ids, %d to %d, %.1f a minute, since %s, last seen %s ago\n", x.Walk, x.FirstID, x.LastID, x.PerMinute,
			x.Start.Format(time.RFC3339), duration(now.Sub(x.LastSeen)))
	}
	fmt.Fprintf(w, "  score: %.1f\n", x.Score)
	if len(x.Decisions) == 0 {
		fmt.Fprintln(w, "  decisions: none")
		return
	}
	fmt.Fprintln(w, "  decisions:")
	for _, d := range x.Decisions {
		fmt.Fprintf(w, "    %s  %s  reason %s  expires in %s\n", d.ID, action(d), d.Reason, expiresIn(d.Expires, now))
		for _, e := range d.Evidence {
			fmt.Fprintf(w, "      - %s\n", evidenceLine(e))
		}
	}
}
