package store

// ProjectScope is which private projects a listing may show, as the policy
// (auth.Scope) derives it for a caller: every project (All), or the public
// ones and those in Private.
type ProjectScope struct {
	All     bool
	Private []int64
}

// ids is Private as the non-nil array a query parameter needs.
func (s ProjectScope) ids() []int64 {
	if s.Private == nil {
		return []int64{}
	}
	return s.Private
}
