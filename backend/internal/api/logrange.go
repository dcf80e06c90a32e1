package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// logByteRange reads a GET log's Range header: one range of bytes (a-b, a-
// or -n) of a log of length bytes, answered 206 with [from, end). ok is false
// without a Range header, or with one this reader leaves to offset and limit
// (several ranges, another unit), as RFC 9110 allows. A range that starts past
// the end is 416.
func logByteRange(r *http.Request, length int64) (from, end int64, ok bool, err error) {
	spec, found := strings.CutPrefix(r.Header.Get("Range"), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, nil
	}
	unsatisfiable := func() (int64, int64, bool, error) {
		e := errorf(http.StatusRequestedRangeNotSatisfiable, "Range", fmt.Sprintf("range %q is outside the log (%d bytes)", spec, length))
		e.Length = &length
		return 0, 0, false, e
	}
	if first == "" { // the last n bytes
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n <= 0 {
			return unsatisfiable()
		}
		return max(length-n, 0), length, true, nil
	}
	from, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || from < 0 || from >= length {
		return unsatisfiable()
	}
	end = length
	if last != "" {
		to, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || to < from {
			return unsatisfiable()
		}
		end = min(to+1, length)
	}
	return from, end, true, nil
}
