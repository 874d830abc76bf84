package cli

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/incident"
)

// incidentsCmd returns `abuseguard incidents`: decisions grouped into
// campaigns, with their timelines, through the admin API.
func incidentsCmd() *cobra.Command {
	c := &adminClient{now: time.Now, http: newAdminHTTP()}
	cmd := &cobra.Command{
		Use:   "incidents",
		Short: "List incidents (decisions grouped into campaigns) and show one's timeline",
		Long: `An incident is one campaign seen as the decisions it caused: decisions with
the same reason close in time, or on an entity already in the incident. Each
has a timeline (first seen, detected, mitigated, blocked, resolved) and its
time to detect (TTD), to mitigate (TTM), to block (TTB) and to resolve.`,
		Example: "  abuseguard incidents list\n  abuseguard incidents show inc_3f9a1c0e5b7d2a64",
		Args:    cobra.NoArgs,
	}
	c.flags(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List incidents, newest first, with mean TTD, TTB and MTTR",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var list admin.IncidentList
			_, printed, err := c.fetch(cmd, "GET", "/v1/incidents", nil, &list)
			if err != nil || printed {
				return err
			}
			printIncidents(cmd.OutOrStdout(), list)
			return nil
		},
	}, &cobra.Command{
		Use:   "show ID",
		Short: "Show an incident's entities and timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var in incident.Incident
			_, printed, err := c.fetch(cmd, "GET", "/v1/incidents/"+url.PathEscape(args[0]), nil, &in)
			if err != nil || printed {
				return err
			}
			printIncident(cmd.OutOrStdout(), in)
			return nil
		},
	})
	return cmd
}

// seconds prints an optional duration in seconds, "-" when absent.
func seconds(s *float64) string {
	if s == nil {
		return "-"
	}
	return duration(time.Duration(*s * float64(time.Second)))
}

func printIncidents(w io.Writer, list admin.IncidentList) {
	s := list.Summary
	fmt.Fprintf(w, "%d open, %d resolved; mean TTD %s, mean TTB %s, MTTR %s\n", s.Open, s.Resolved, seconds(s.MTTD), seconds(s.MTTB), seconds(s.MTTR))
	if len(list.Incidents) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREASON\tSTATE\tENTITIES\tDECISIONS\tFIRST SEEN\tTTD\tTTB\tRESOLVED IN")
	for _, in := range list.Incidents {
		state := "open"
		if !in.Open() {
			state = "resolved"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", in.ID, strings.Join(in.Reasons, ","), state, in.EntityN, in.Decisions,
			in.FirstSeen.Format(time.RFC3339), seconds(in.TTD), seconds(in.TTB), seconds(in.Resolve))
	}
	tw.Flush()
}

func printIncident(w io.Writer, in incident.Incident) {
	state := "open"
	if !in.Open() {
		state = "resolved " + in.Resolved.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s  %s  %s\n", in.ID, strings.Join(in.Reasons, ","), state)
	fmt.Fprintf(w, "  %d decisions (%d active) on %d entities: %s", in.Decisions, in.Active, in.EntityN, strings.Join(in.Entities, " "))
	if in.EntityN > len(in.Entities) {
		fmt.Fprintf(w, " ... (%d more)", in.EntityN-len(in.Entities))
	}
	fmt.Fprintf(w, "\n  TTD %s  TTM %s  TTB %s  resolved in %s\n  timeline:\n", seconds(in.TTD), seconds(in.TTM), seconds(in.TTB), seconds(in.Resolve))
	for _, e := range in.Timeline {
		line := e.Time.Format(time.RFC3339) + "  " + e.Kind
		for _, f := range []string{e.DecisionID, e.Action, e.Entity, e.Reason} {
			if f != "" {
				line += "  " + f
			}
		}
		fmt.Fprintln(w, "    "+line)
	}
}
