package api

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	pathpkg "path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/store"
)

// artifactJSON is one artifact in the list.
type artifactJSON struct {
	Path        string     `json:"path"`
	Size        int64      `json:"size"`
	SHA256      string     `json:"sha256"`
	ContentType string     `json:"contentType"`
	Attempt     int        `json:"attempt"`
	ExpiresAt   *time.Time `json:"expiresAt"`
	CreatedAt   time.Time  `json:"createdAt"`
}

func toArtifact(a *store.Artifact) artifactJSON {
	return artifactJSON{Path: a.Path, Size: a.Size, SHA256: a.SHA256, ContentType: a.ContentType,
		Attempt: a.Attempt, ExpiresAt: a.ExpiresAt, CreatedAt: a.CreatedAt}
}

// maxArtifactPath bounds an artifact's path, in bytes.
const maxArtifactPath = 1024

// checkArtifactPath accepts a relative, slash-separated path with no empty,
// "." or ".." segment, no backslash and no control character: a path that
// means the same on every system and can never leave the folder it is
// downloaded into.
func checkArtifactPath(p string) error {
	bad := func(why string) error {
		return errorf(http.StatusBadRequest, "path", fmt.Sprintf("artifact path %q %s", p, why))
	}
	switch {
	case p == "":
		return bad("is empty")
	case len(p) > maxArtifactPath:
		return bad(fmt.Sprintf("is longer than %d bytes", maxArtifactPath))
	case !utf8.ValidString(p):
		return bad("is not UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("is absolute: give it relative to the artifact's folder")
	case strings.ContainsRune(p, '\\'):
		return bad("holds a backslash: separate folders with /")
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("holds a control character")
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return bad("has an empty segment")
		case ".", "..":
			return bad("has a " + seg + " segment")
		}
	}
	return nil
}

// artifactPath is the {path} of an artifact route, checked.
func artifactPath(r *http.Request) (string, error) {
	p := muxVar(r, "path")
	return p, checkArtifactPath(p)
}

func (h *handler) listArtifacts(w http.ResponseWriter, r *http.Request) {
	list, err := h.Store.ArtifactList(r.Context(), jobOf(r).ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[artifactJSON]{Items: mapSlice(list, toArtifact)})
}

// Headers of an upload.
const (
	headerSHA256       = "X-Aura-Sha256"
	headerExpireSecond = "X-Aura-Expire-Seconds"
)

// maxArtifactExpiry bounds the expiry an upload may ask for.
const maxArtifactExpiry = 10 * 365 * 24 * time.Hour

// uploadArtifact stores one file for the job token's running attempt. Limits
// are checked from Content-Length before a byte of the body is read (a client
// sending Expect: 100-continue sends nothing), and again while streaming, for
// a body without or with a false length. The body streams straight into the
// blob store under a key of its own; the row that makes it visible is written
// only once the bytes are stored and their SHA-256 checked, so an interrupted
// or refused upload leaves nothing visible and may be retried.
func (h *handler) uploadArtifact(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if p.Kind != auth.KindJob {
		writeError(w, r, errorf(http.StatusForbidden, "", "artifacts are uploaded with the job token of the running attempt (AURA_JOB_TOKEN)"))
		return
	}
	if h.Blobs == nil {
		writeError(w, r, errorf(http.StatusServiceUnavailable, "", "this server has no blob store for artifacts"))
		return
	}
	path, err := artifactPath(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sum := strings.ToLower(r.Header.Get(headerSHA256))
	if len(sum) != sha256.Size*2 || strings.Trim(sum, "0123456789abcdef") != "" {
		writeError(w, r, errorf(http.StatusBadRequest, headerSHA256, headerSHA256+" must be the body's SHA-256 in hex (64 digits)"))
		return
	}
	var expiresAt *time.Time
	if v := r.Header.Get(headerExpireSecond); v != "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs < 1 || secs > int64(maxArtifactExpiry/time.Second) {
			writeError(w, r, errorf(http.StatusBadRequest, headerExpireSecond,
				fmt.Sprintf("%s must be a number of seconds from 1 to %d", headerExpireSecond, int64(maxArtifactExpiry/time.Second))))
			return
		}
		at := time.Now().Add(time.Duration(secs) * time.Second).UTC()
		expiresAt = &at
	}
	maxFile, maxJob := h.artifactLimits()
	size := r.ContentLength // -1: unknown (chunked)
	if size > maxFile {
		writeError(w, r, tooLarge(fmt.Sprintf("%s is %d bytes, over the limit of %d bytes per file (AURA_ARTIFACT_MAX_FILE)", path, size, maxFile)))
		return
	}
	hold := store.Holder{JobID: heldJobID(r), Attempt: p.Attempt, Claim: p.Claim}
	used, err := h.Store.ArtifactUploadCheck(r.Context(), hold, path)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if size >= 0 && used+size > maxJob {
		writeError(w, r, tooLarge(fmt.Sprintf("the job's artifacts would take %d bytes, over the limit of %d bytes per job (AURA_ARTIFACT_MAX_JOB)", used+size, maxJob)))
		return
	}
	// The same bounds hold while streaming, whatever Content-Length said.
	body := &boundedBody{r: r.Body, left: min(maxFile, maxJob-used), rc: http.NewResponseController(w), idle: h.artifactIdle()}
	if maxFile <= maxJob-used {
		body.limit = fmt.Sprintf("over the limit of %d bytes per file (AURA_ARTIFACT_MAX_FILE)", maxFile)
	} else {
		body.limit = fmt.Sprintf("over the limit of %d bytes per job (AURA_ARTIFACT_MAX_JOB), of which %d are taken", maxJob, used)
	}
	buffered := bufio.NewReaderSize(body, 512)
	head, _ := buffered.Peek(512) // for content sniffing; a read error shows again below
	contentType := artifactContentType(r.Header.Get("Content-Type"), path, head)
	hashed := newHashingReader(buffered)
	defer hashed.Close()
	key := fmt.Sprintf("artifacts/%d/%d/%s", hold.JobID, hold.Attempt, uploadID())
	err = h.Blobs.Put(r.Context(), key, hashed, size)
	if err != nil {
		_ = h.Blobs.Delete(r.Context(), key) // Put leaves nothing; this makes sure
		switch {
		case body.over:
			err = tooLarge(path + " is " + body.limit)
		case errors.Is(body.err, os.ErrDeadlineExceeded):
			err = errorf(http.StatusRequestTimeout, "", fmt.Sprintf("the upload sent nothing for %s: nothing was kept", body.idle))
		case body.err != nil && r.Context().Err() == nil:
			err = errorf(http.StatusBadRequest, "", "reading the body: "+body.err.Error())
		}
		writeError(w, r, err)
		return
	}
	if got := hashed.Sum(); got != sum {
		_ = h.Blobs.Delete(r.Context(), key)
		writeError(w, r, errorf(http.StatusBadRequest, headerSHA256,
			fmt.Sprintf("the body's SHA-256 is %s, not %s as %s says: nothing was kept", got, sum, headerSHA256)))
		return
	}
	a, replaced, err := h.Store.ArtifactCreate(r.Context(), &store.ArtifactCreateParams{
		Holder: hold, Path: path, Size: body.read, SHA256: sum, ContentType: contentType,
		BlobKey: key, ExpiresAt: expiresAt, DefaultRetention: h.artifactRetention(), MaxJob: maxJob,
	})
	if err != nil {
		_ = h.Blobs.Delete(r.Context(), key)
		var se *store.Error
		if errors.As(err, &se) && se.Kind == store.TooLarge {
			err = tooLarge(se.Message)
		}
		writeError(w, r, err)
		return
	}
	if replaced != "" {
		if err := h.Blobs.Delete(r.Context(), replaced); err != nil {
			h.Logger.Warn("deleting a replaced artifact", "key", replaced, "err", err)
		}
	}
	writeJSON(w, http.StatusCreated, toArtifact(a))
}

// artifactRetention is how long an artifact uploaded without its own expiry
// is kept when its project sets no retention.
func (h *handler) artifactRetention() time.Duration {
	if h.ArtifactRetention <= 0 {
		return DefaultArtifactRetention
	}
	return h.ArtifactRetention
}

// artifactLimits are the configured limits, or their defaults.
func (h *handler) artifactLimits() (maxFile, maxJob int64) {
	maxFile, maxJob = h.ArtifactMaxFile, h.ArtifactMaxJob
	if maxFile <= 0 {
		maxFile = DefaultArtifactMaxFile
	}
	if maxJob <= 0 {
		maxJob = DefaultArtifactMaxJob
	}
	return maxFile, maxJob
}

// Default artifact limits, and how long artifacts and caches are kept.
const (
	DefaultArtifactRetention = 30 * 24 * time.Hour
	DefaultCacheRetention    = 7 * 24 * time.Hour

	DefaultArtifactMaxFile = 1 << 30
	DefaultArtifactMaxJob  = 5 << 30
)

func tooLarge(message string) error {
	return errorf(http.StatusRequestEntityTooLarge, "Content-Length", message)
}

// uploadID names one upload's blob, so that a retry never meets an earlier try.
func uploadID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// boundedBody reads an upload's body up to left bytes and records why it
// stopped. A body that sends nothing for idle is cut: a stalled client must
// not hold a connection and a half-written blob for ever.
type boundedBody struct {
	r        io.Reader
	left     int64
	read     int64
	limit    string // what the bound is, for the error
	over     bool
	err      error // the body's own read error
	rc       *http.ResponseController
	idle     time.Duration
	deadline time.Time // the read deadline last set
}

// extend moves the read deadline on, at most once a second (each move costs a timer reset).
func (b *boundedBody) extend() {
	if now := time.Now(); b.deadline.Sub(now) < b.idle-time.Second {
		b.deadline = now.Add(b.idle)
		_ = b.rc.SetReadDeadline(b.deadline)
	}
}

// artifactIdle is how long an upload may send nothing before it is cut.
func (h *handler) artifactIdle() time.Duration {
	if h.ArtifactIdle > 0 {
		return h.ArtifactIdle
	}
	return time.Minute
}

// errOverLimit stops a Put whose body passes its bound.
var errOverLimit = errors.New("artifact over its size limit")

func (b *boundedBody) Read(p []byte) (int, error) {
	b.extend()
	if b.left <= 0 {
		// One byte more tells a body that ends exactly at the bound from one that goes on.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			b.over = true
			return 0, errOverLimit
		}
		if err != nil && err != io.EOF {
			b.err = err
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	b.read += int64(n)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// artifactContentType is the type an artifact is served with: the one the
// upload declared (unless the generic octet-stream), else the one its
// extension names, else the one its first bytes suggest.
func artifactContentType(declared, path string, head []byte) string {
	if declared != "" {
		if mt, params, err := mime.ParseMediaType(declared); err == nil && mt != "application/octet-stream" {
			return mime.FormatMediaType(mt, params)
		}
	}
	if t := mime.TypeByExtension(pathpkg.Ext(path)); t != "" {
		return t
	}
	return http.DetectContentType(head)
}

// getArtifact serves an artifact's bytes: its content type, ETag (the
// SHA-256), Range, and as an attachment unless ?inline=1. Inline content runs
// under a sandbox CSP, which gives it an opaque origin: an HTML report can
// never run script with the dashboard's cookies or reach its API.
func (h *handler) getArtifact(w http.ResponseWriter, r *http.Request) {
	if h.Blobs == nil {
		writeError(w, r, errorf(http.StatusServiceUnavailable, "", "this server has no blob store for artifacts"))
		return
	}
	path, err := artifactPath(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	inline := false
	switch r.URL.Query().Get("inline") {
	case "", "0", "false":
	case "1", "true":
		inline = true
	default:
		writeError(w, r, errorf(http.StatusBadRequest, "inline", "inline must be 1 or 0"))
		return
	}
	h.serveArtifact(w, r, jobOf(r).ID, path, inline)
}

// serveArtifact serves job's artifact path, on the dashboard's origin or the artifact origin.
func (h *handler) serveArtifact(w http.ResponseWriter, r *http.Request, job int64, path string, inline bool) {
	if h.Blobs == nil {
		writeError(w, r, errorf(http.StatusServiceUnavailable, "", "this server has no blob store for artifacts"))
		return
	}
	a, err := h.Store.ArtifactGet(r.Context(), job, path)
	if err != nil {
		writeError(w, r, named(err, "artifact %s of job %d", path, job))
		return
	}
	if a.ExpiresAt != nil && !a.ExpiresAt.After(time.Now()) {
		writeError(w, r, errorf(http.StatusGone, "path", fmt.Sprintf("artifact %s of job %d expired on %s",
			path, job, a.ExpiresAt.UTC().Format(time.RFC3339))))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ContentType)
	hd.Set("ETag", `"`+a.SHA256+`"`)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "private, no-cache")
	disposition := "attachment"
	if inline {
		disposition = "inline"
		hd.Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline' 'self'; media-src 'self'")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	}
	hd.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": pathpkg.Base(path)}))
	content := &blobSeeker{r: r, blobs: h.Blobs, key: a.BlobKey, size: a.Size}
	defer content.Close()
	if f := fileOf(r, h.Blobs, a.BlobKey); f != nil {
		// The folder store's file itself: the bytes go from it to the socket by
		// sendfile(2), never through this process's memory.
		defer f.Close()
		http.ServeContent(w, r, "", a.CreatedAt, f)
		return
	}
	http.ServeContent(w, r, "", a.CreatedAt, content)
	if content.err != nil && r.Context().Err() == nil {
		h.Logger.Error("serving an artifact", "key", a.BlobKey, "err", content.err)
	}
}

// fileOf is the open file of a blob of the folder store, or nil (another
// store, or an error the blobSeeker then meets and reports).
func fileOf(r *http.Request, blobs blob.Store, key string) *os.File {
	if _, ok := blobs.(*blob.Dir); !ok {
		return nil
	}
	body, err := blobs.Open(r.Context(), key, 0, -1)
	if err != nil {
		return nil
	}
	if f, ok := body.(*os.File); ok {
		return f
	}
	_ = body.Close()
	return nil
}

// blobSeeker is the io.ReadSeeker http.ServeContent wants, over a blob: a
// seek only moves the offset, and the next read opens the blob there, so a
// Range request reads just its range and nothing is held in memory.
type blobSeeker struct {
	r      *http.Request
	blobs  blob.Store
	key    string
	size   int64
	offset int64
	body   io.ReadCloser
	err    error
}

func (s *blobSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.offset
	case io.SeekEnd:
		offset += s.size
	}
	if offset < 0 {
		return 0, errors.New("seek before the start")
	}
	if offset != s.offset && s.body != nil {
		_ = s.body.Close()
		s.body = nil
	}
	s.offset = offset
	return offset, nil
}

func (s *blobSeeker) Read(p []byte) (int, error) {
	if s.offset >= s.size {
		return 0, io.EOF
	}
	if s.body == nil {
		body, err := s.blobs.Open(s.r.Context(), s.key, s.offset, -1)
		if err != nil {
			s.err = err
			return 0, err
		}
		s.body = body
	}
	n, err := s.body.Read(p)
	s.offset += int64(n)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

func (s *blobSeeker) Close() error {
	if s.body != nil {
		return s.body.Close()
	}
	return nil
}
