package api

// A submit body is checked by its validate tags. The validator reads them by
// reflection, field by field: for a batch of 1,000 jobs that took longer than
// decoding its JSON. A body whose every field is plainly within its tags says
// so itself (plainlyValid), in plain code, and skips the validator; any other
// body goes through it, so every refusal is the validator's, worded as ever.
// plainlyValid may only err on the side of "not plainly": TestPlainlyValid
// holds it to the tags, and fails when a tag changes.

// plainly is a body that can tell that its validate tags hold without the
// validator (decode skips it then).
type plainly interface {
	plainlyValid() bool
}

func (b *jobBatchSubmit) plainlyValid() bool {
	if len(b.Jobs) == 0 {
		return false
	}
	for i := range b.Jobs {
		if !b.Jobs[i].plainlyValid() {
			return false
		}
	}
	return true
}

// plainlyValid reports whether the job is within its tags, where that is
// plain to see: ASCII names, no secrets, no entity meta, lengths in bytes.
func (b *jobSubmit) plainlyValid() bool {
	switch {
	case b.Project != "" && !plainSlug(b.Project), !plainSlug(b.EntityKey), !plainSlug(b.EntityVal), !plainSlug(b.Name),
		b.Cmd == "", len(b.Cmd) > 65536, !plainTag(b.Tag), b.Priority < -1000, b.Priority > 1000,
		len(b.Env) > 500, len(b.SecretEnv) > 0, len(b.Collections) > 50,
		len(b.PrecedingJobs) > 100, len(b.PrecedingNames) > 100, len(b.EntityTitle) > 1000, b.EntityMeta != nil,
		b.TimeoutSeconds != nil && (*b.TimeoutSeconds < 1 || *b.TimeoutSeconds > 604800),
		b.MaxAttempts != nil && (*b.MaxAttempts < 1 || *b.MaxAttempts > 10):
		return false
	}
	for k := range b.Env {
		if !plainEnvName(k) {
			return false
		}
	}
	for k, v := range b.Collections {
		if !plainSlug(k) || !plainSlug(v) {
			return false
		}
	}
	for _, id := range b.PrecedingJobs {
		if id < 1 {
			return false
		}
	}
	for _, name := range b.PrecedingNames {
		if !plainSlug(name) {
			return false
		}
	}
	return true
}

// plainSlug reports whether s matches slugPattern, whose characters are all ASCII.
func plainSlug(s string) bool {
	if len(s) == 0 || len(s) > 260 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || c == ':' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// plainTag reports whether s is 1 to 260 printable ASCII characters but
// space, which tagPattern matches (it takes more: any character but white
// space).
func plainTag(s string) bool {
	if len(s) == 0 || len(s) > 260 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// plainEnvName reports whether s matches envNamePattern.
func plainEnvName(s string) bool {
	if len(s) == 0 || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}
