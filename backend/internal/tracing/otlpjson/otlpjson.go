// Package otlpjson reads OTLP's JSON encoding of traces, for tests that
// receive what Aura exports.
package otlpjson

import (
	"encoding/base64"
	"encoding/hex"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// Decode reads an OTLP/HTTP JSON export request into req, ids included.
func Decode(body []byte, req *collectortrace.ExportTraceServiceRequest) error {
	if err := protojson.Unmarshal(body, req); err != nil {
		return err
	}
	return hexIDs(req)
}

// hexIDs undoes what protojson does to OTLP's ids: the JSON mapping of OTLP
// writes trace and span ids as hex, where protobuf's canonical JSON has bytes
// as base64, so protojson reads the hex as base64. Hex digits are base64
// digits and an id's hex is a multiple of 4 long, so encoding the bytes back
// to base64 gives the hex again, which decodes to the id.
func hexIDs(req *collectortrace.ExportTraceServiceRequest) error {
	var err error
	fix := func(b *[]byte) {
		if len(*b) == 0 || err != nil {
			return
		}
		*b, err = hex.DecodeString(base64.StdEncoding.EncodeToString(*b))
	}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				fix(&s.TraceId)
				fix(&s.SpanId)
				fix(&s.ParentSpanId)
				for _, l := range s.Links {
					fix(&l.TraceId)
					fix(&l.SpanId)
				}
			}
		}
	}
	return err
}
