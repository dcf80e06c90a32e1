package cli

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

type buildList struct {
	Builds []struct {
		Key       string     `json:"key"`
		Value     string     `json:"value"`
		Title     string     `json:"title"`
		Status    string     `json:"status"`
		CreatedAt time.Time  `json:"createdAt"`
		Duration  *float64   `json:"durationSeconds"`
		Jobs      []jobCell  `json:"jobs"`
		JobCount  int        `json:"jobCount"`
		EndedAt   *time.Time `json:"endedAt"`
	} `json:"builds"`
	Next *string `json:"next"`
}

type jobCell struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func (c *command) builds(ctx context.Context, args []string) error {
	var co common
	fs := c.flagSet("builds", "PROJECT [--collection KEY/VAL] [--status S] [--author A] [--limit N]", &co)
	collection := fs.String("collection", "", "only builds in this collection, KEY/VAL such as ref/main")
	status := fs.String("status", "", "only builds in this status: running, pending, success, failure")
	author := fs.String("author", "", "only builds of this author")
	limit := fs.Int("limit", 0, "at most this many (30 when 0)")
	before := fs.String("before", "", "the page after this cursor (the `next` of --json)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usagef("give one project")
	}
	cl, err := c.client(&co)
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"collection": *collection, "status": *status, "author": *author, "before": *before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *limit > 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	var bl buildList
	raw, err := cl.get(ctx, "/api/v1/projects/"+url.PathEscape(pos[0])+"/builds", q, &bl)
	if err != nil {
		return err
	}
	if co.json {
		return c.printJSON(raw)
	}
	w := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STATUS\tENTITY\tJOBS\tDURATION\tTITLE")
	for _, b := range bl.Builds {
		var cells []string
		for _, j := range b.Jobs {
			cells = append(cells, fmt.Sprintf("%s#%d:%s", j.Name, j.ID, j.Status))
		}
		if b.JobCount > len(b.Jobs) {
			cells = append(cells, fmt.Sprintf("+%d", b.JobCount-len(b.Jobs)))
		}
		dur := ""
		if b.Duration != nil {
			dur = (time.Duration(*b.Duration * float64(time.Second))).Round(time.Second).String()
		}
		fmt.Fprintf(w, "%s\t%s/%s\t%s\t%s\t%s\n", b.Status, b.Key, b.Value, strings.Join(cells, " "), dur, b.Title)
	}
	return w.Flush()
}
