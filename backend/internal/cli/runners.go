package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

func (c *command) runners(ctx context.Context, args []string) error {
	var co common
	fs := c.flagSet("runners", "", &co)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	cl, err := c.client(&co)
	if err != nil {
		return err
	}
	var l runnerList
	raw, err := cl.get(ctx, "/api/v1/runners", nil, &l)
	if err != nil {
		return err
	}
	if co.json {
		return c.printJSON(raw)
	}
	w := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tTAGS\tLAST SEEN\tVERSION\tRUNNING")
	for _, r := range l.Items {
		seen := "never"
		if r.LastCheckIn != nil {
			seen = time.Since(*r.LastCheckIn).Round(time.Second).String() + " ago"
		}
		var running []string
		for _, j := range r.CurrentJobs {
			running = append(running, fmt.Sprintf("%s #%d (%s %s/%s)", j.Name, j.ID, j.Project, j.EntityKey, j.EntityVal))
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, strings.Join(r.Tags, ","), seen, r.Version, strings.Join(running, ", "))
	}
	return w.Flush()
}

// runnerList is the API's RunnerList, as far as the command line shows it.
type runnerList struct {
	Items []struct {
		ID          int64      `json:"id"`
		Name        string     `json:"name"`
		Tags        []string   `json:"tags"`
		LastCheckIn *time.Time `json:"lastCheckIn"`
		Version     string     `json:"version"`
		CurrentJobs []struct {
			ID        int64  `json:"id"`
			Name      string `json:"name"`
			Project   string `json:"project"`
			EntityKey string `json:"entityKey"`
			EntityVal string `json:"entityVal"`
		} `json:"currentJobs"`
	} `json:"items"`
}
