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

const jobsUsage = `[--project P] [--status S] [--tag T] [--entity KEY/VAL | --collection KEY/VAL] [--limit N]

Without --entity or --collection: the queue (queued and waiting jobs; --status
running lists the running ones). --entity KEY/VAL (with --project): that entity's
jobs. --collection KEY/VAL (with --project): the jobs of the collection's newest
builds.`

func (c *command) jobs(ctx context.Context, args []string) error {
	var co common
	fs := c.flagSet("jobs", jobsUsage, &co)
	project := fs.String("project", "", "only jobs of this project")
	status := fs.String("status", "", "only jobs in this status")
	tag := fs.String("tag", "", "only jobs with this tag (the queue only)")
	entity := fs.String("entity", "", "the jobs of this entity, KEY/VAL (needs --project)")
	collection := fs.String("collection", "", "the jobs of this collection's builds, KEY/VAL (needs --project)")
	limit := fs.Int("limit", 0, "at most this many (the server's default when 0)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *entity != "" && *collection != "" {
		return usagef("give --entity or --collection, not both")
	}
	if (*entity != "" || *collection != "") && *project == "" {
		return usagef("--entity and --collection need --project")
	}
	cl, err := c.client(&co)
	if err != nil {
		return err
	}
	q := url.Values{}
	if *limit > 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	var rows []Job
	var raw []byte
	switch {
	case *entity != "":
		key, val, ok := strings.Cut(*entity, "/")
		if !ok || key == "" || val == "" {
			return usagef("--entity wants KEY/VAL, such as commit/abc123")
		}
		var e struct{ Jobs []Job }
		raw, err = cl.get(ctx, "/api/v1/projects/"+url.PathEscape(*project)+"/entities/"+url.PathEscape(key)+"/"+url.PathEscape(val), q, &e)
		for _, j := range e.Jobs {
			if *status == "" || j.Status == *status {
				rows = append(rows, j)
			}
		}
	case *collection != "":
		q.Set("collection", *collection)
		var bl buildList
		raw, err = cl.get(ctx, "/api/v1/projects/"+url.PathEscape(*project)+"/builds", q, &bl)
		for _, b := range bl.Builds {
			for _, j := range b.Jobs {
				if *status == "" || j.Status == *status {
					rows = append(rows, Job{ID: j.ID, Name: j.Name, Status: j.Status, Reason: j.Reason,
						Project: *project, EntityKey: b.Key, EntityVal: b.Value})
				}
			}
		}
	default:
		for k, v := range map[string]string{"project": *project, "status": *status, "tag": *tag} {
			if v != "" {
				q.Set(k, v)
			}
		}
		var l struct{ Items []Job }
		raw, err = cl.get(ctx, "/api/v1/queue", q, &l)
		rows = l.Items
	}
	if err != nil {
		return err
	}
	if co.json {
		return c.printJSON(raw)
	}
	w := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATUS\tPROJECT\tENTITY\tNAME\tTAG\tAGE\tNOTE")
	for _, j := range rows {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\n", j.ID, j.Status, j.Project, j.EntityKey, j.EntityVal,
			j.Name, j.Tag, age(j.CreatedAt), note(j))
	}
	return w.Flush()
}

// note says in a few words why a job waits, where it runs, or why it ended.
func note(j Job) string {
	switch {
	case j.Status == "running" && j.RunnerName != "":
		return "on " + j.RunnerName
	case j.WaitingFor != nil && j.WaitingFor.Approval != nil:
		return "waits for approval"
	case j.WaitingFor != nil && len(j.WaitingFor.Jobs) > 0:
		var names []string
		for _, p := range j.WaitingFor.Jobs {
			names = append(names, fmt.Sprintf("%s #%d", p.Name, p.ID))
		}
		return "after " + strings.Join(names, ", ")
	case j.WaitingFor != nil && j.WaitingFor.Runner != nil:
		return j.WaitingFor.Runner.Message
	}
	return j.Reason
}

func age(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return time.Since(t).Round(time.Second).String()
}

func (c *command) printJSON(raw []byte) error {
	_, err := c.env.Stdout.Write(append(raw, '\n'))
	return err
}
