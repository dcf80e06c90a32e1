package api

import (
	"regexp"
	"unicode/utf8"
)

// boundedPattern matches what `^X{1,n}$` does, as `^X+$` and a count of runes:
// a regexp compiled with the bound holds n copies of X, about 100 KB for the
// life of the process, for each of these patterns.
type boundedPattern struct {
	re  *regexp.Regexp // ^X+$
	max int            // runes
}

func newBoundedPattern(oneOrMore string, max int) boundedPattern {
	return boundedPattern{re: regexp.MustCompile(oneOrMore), max: max}
}

// MatchString reports whether s has at most max runes, all matched by the pattern.
func (p boundedPattern) MatchString(s string) bool {
	return utf8.RuneCountInString(s) <= p.max && p.re.MatchString(s)
}
