package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Live measures: a line appended over HTTP (as the runner sends it) → the same bytes at
// every websocket viewer of the job's log, through the real server: 100 viewers
// (p95) and, in --full, 1,000 (p99).
func Live(e *Env) {
	ds := liveLatencies(e, 100, e.pick(100, 300))
	e.emit(atMost(Figure{Key: "live_100_p95_ms", Label: "runner write → 100 websocket viewers: p95", Value: quantile(ds, 0.95), Unit: "ms"}, 100))
	if e.Full {
		ds := liveLatencies(e, 1000, 100)
		e.emit(atMost(Figure{Key: "live_1000_p99_ms", Label: "runner write → 1,000 websocket viewers: p99", Value: quantile(ds, 0.99), Unit: "ms"}, 500))
	}
}

type arrival struct {
	end int64
	at  time.Time
}

func liveLatencies(e *Env, viewers, lines int) []time.Duration {
	// Every viewer connects from loopback: one address.
	s := e.StartServer("--events-per-address", strconv.Itoa(viewers+8), "--events-per-token", strconv.Itoa(viewers+8))
	defer s.Stop()
	tok := s.Project("proj")
	rt := s.RunnerToken("r1", "linux")
	j := s.Submit(tok, nil)
	jobs, err := claimJobs(e.Ctx, client, s.URL, rt, 1)
	check(err, "claim")
	if len(jobs) != 1 {
		fail("no job claimed")
	}
	heartbeat := func() {
		s.Call("POST", fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), rt, map[string]any{"attempt": 1}, nil, 200)
	}
	heartbeat()
	arrivals := make(chan arrival, viewers*4)
	wsURL := "ws" + strings.TrimPrefix(s.URL, "http") + "/api/v1/events"
	topic := fmt.Sprintf("log:%d", j.ID)
	for range viewers {
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
		check(err, "websocket")
		resp.Body.Close()
		defer conn.Close()
		check(conn.WriteJSON(map[string]any{"op": "subscribe", "topic": topic}), "subscribe")
		for subscribed := false; !subscribed; {
			check(conn.SetReadDeadline(time.Now().Add(30*time.Second)), "deadline")
			var m struct{ Type, Topic, Message string }
			_, data, err := conn.ReadMessage()
			check(err, "subscribe")
			_ = json.Unmarshal(data, &m)
			if m.Type == "error" {
				fail("subscribe: %s", m.Message)
			}
			subscribed = m.Type == "subscribed" && m.Topic == topic
		}
		_ = conn.SetReadDeadline(time.Time{})
		go func() {
			for {
				_, data, err := conn.ReadMessage()
				at := time.Now()
				if err != nil {
					return
				}
				var m struct {
					Type           string
					Offset, Length int64
				}
				if json.Unmarshal(data, &m) == nil && m.Type == "log" {
					arrivals <- arrival{end: m.Offset + m.Length, at: at}
				}
			}
		}()
	}
	c := &http.Client{Timeout: 10 * time.Second}
	var latencies []time.Duration
	offset := 0
	for i := range lines {
		if i%100 == 99 {
			heartbeat() // the lease is 30 s
		}
		line := fmt.Sprintf("%s step %d: compiling backend/internal/events/hub.go ... ok\n", time.Now().Format(time.TimeOnly), i)
		req, _ := http.NewRequestWithContext(e.Ctx, "PATCH", fmt.Sprintf("%s/api/v1/jobs/%d/log?attempt=1&offset=%d", s.URL, j.ID, offset), strings.NewReader(line))
		req.Header.Set("Authorization", "Bearer "+rt)
		req.Header.Set("Content-Type", "application/octet-stream")
		start := time.Now()
		resp, err := c.Do(req)
		check(err, "append")
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			fail("append: %s", resp.Status)
		}
		offset += len(line)
		for got := 0; got < viewers; {
			select {
			case a := <-arrivals:
				if a.end == int64(offset) {
					latencies = append(latencies, a.at.Sub(start))
					got++
				}
			case <-time.After(20 * time.Second):
				fail("%d of %d viewers did not get line %d", viewers-got, viewers, i)
			}
		}
	}
	return latencies
}
