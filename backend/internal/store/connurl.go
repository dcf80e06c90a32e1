package store

import (
	"net/url"
	"regexp"
	"strings"
)

// poolParam matches a pgxpool setting (pool_max_conns=4 and the like) in a
// keyword/value connection string.
var poolParam = regexp.MustCompile(`(^|\s)pool_[a-z_]+=\S*\s*`)

// ConnURL is databaseURL without pgxpool's own settings (pool_max_conns,
// pool_min_conns, …): the pool reads them, but a single connection (pgx.Connect,
// the migrations, the event listener) would send them to PostgreSQL as run-time
// parameters, which it refuses ("unrecognized configuration parameter").
func ConnURL(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return strings.TrimSpace(poolParam.ReplaceAllString(databaseURL, "$1"))
	}
	q := u.Query()
	changed := false
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
			changed = true
		}
	}
	if !changed {
		return databaseURL
	}
	u.RawQuery = q.Encode()
	return u.String()
}
