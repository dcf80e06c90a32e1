package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// keyValues is one key of a config file with its value or values.
type keyValues struct {
	key    string
	values []string
	isList bool
	// crammed: a YAML flow list such as [native,linux], with no space after a
	// comma, which is easily meant as one tag containing commas.
	crammed bool
	where   string // "line 3: " for YAML, empty for JSON
}

// parseJSON reads a flat JSON object whose values are strings, numbers, booleans
// or lists of strings.
func parseJSON(data []byte) ([]keyValues, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	var out []keyValues
	for key, raw := range obj {
		kv := keyValues{key: key}
		var list []string
		var scalar any
		switch {
		case json.Unmarshal(raw, &list) == nil:
			kv.values, kv.isList = list, true
		case json.Unmarshal(raw, &scalar) == nil:
			switch v := scalar.(type) {
			case string:
				kv.values = []string{v}
			case float64:
				kv.values = []string{strconv.FormatFloat(v, 'f', -1, 64)}
			case bool:
				kv.values = []string{strconv.FormatBool(v)}
			default:
				return nil, fmt.Errorf("%q: want a string, a number or a list of strings", key)
			}
		default:
			return nil, fmt.Errorf("%q: want a string, a number or a list of strings", key)
		}
		out = append(out, kv)
	}
	return out, nil
}

// parseYAML reads the flat YAML subset described in the package comment.
func parseYAML(text string) ([]keyValues, error) {
	var out []keyValues
	var open *keyValues // a key with no value on its line, which may get `- item` lines
	for i, line := range strings.Split(text, "\n") {
		where := fmt.Sprintf("line %d: ", i+1)
		line, err := stripComment(strings.TrimRight(line, "\r"))
		if err != nil {
			return nil, errors.New(where + err.Error())
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed == "---" {
			continue
		}
		if item, ok := strings.CutPrefix(trimmed, "-"); ok && (item == "" || item[0] == ' ' || item[0] == '\t') {
			if open == nil {
				return nil, errors.New(where + "a list item without a key above it")
			}
			v, err := unquote(strings.TrimSpace(item))
			if err != nil {
				return nil, errors.New(where + err.Error())
			}
			open.values = append(open.values, v)
			open.isList = true
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, errors.New(where + "nested settings are not supported; write `key: value` lines")
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok || strings.TrimSpace(key) == "" {
			return nil, errors.New(where + "want `key: value`")
		}
		kv := keyValues{key: strings.TrimSpace(key), where: where}
		value = strings.TrimSpace(value)
		switch {
		case value == "":
			out = append(out, kv)
			open = &out[len(out)-1]
			continue
		case strings.HasPrefix(value, "["):
			if kv.values, err = flowList(value); err != nil {
				return nil, errors.New(where + err.Error())
			}
			kv.isList = true
			kv.crammed = crammedList(value)
		default:
			v, err := unquote(value)
			if err != nil {
				return nil, errors.New(where + err.Error())
			}
			kv.values = []string{v}
		}
		out = append(out, kv)
		open = nil
	}
	return out, nil
}

// stripComment drops a # comment: at the start of the line or after white
// space, outside quotes.
func stripComment(line string) (string, error) {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i], nil
		}
	}
	if quote != 0 {
		return "", errors.New("unterminated quoted string")
	}
	return line, nil
}

// unquote reads a plain, 'single' or "double" quoted scalar.
func unquote(s string) (string, error) {
	switch {
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"':
		return strconv.Unquote(s)
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case strings.HasPrefix(s, "\"") || strings.HasPrefix(s, "'"):
		return "", fmt.Errorf("bad quoting in %s", s)
	}
	return s, nil
}

// flowList reads `[a, "b c", 'd']`.
func flowList(s string) ([]string, error) {
	if !strings.HasSuffix(s, "]") {
		return nil, errors.New("a list must end with ] on the same line")
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	var items []string
	for inner != "" {
		var item string
		if inner[0] == '"' || inner[0] == '\'' {
			end := closingQuote(inner)
			if end < 0 {
				return nil, errors.New("unterminated quoted string in a list")
			}
			v, err := unquote(inner[:end+1])
			if err != nil {
				return nil, err
			}
			item, inner = v, strings.TrimSpace(inner[end+1:])
			if inner != "" && inner[0] != ',' {
				return nil, errors.New("want , between list items")
			}
		} else {
			raw, rest, found := strings.Cut(inner, ",")
			item, inner = strings.TrimSpace(raw), ""
			if found {
				inner = rest
			}
		}
		items = append(items, item)
		inner = strings.TrimSpace(strings.TrimPrefix(inner, ","))
	}
	return items, nil
}

// closingQuote returns the index of the quote that closes the one at s[0].
func closingQuote(s string) int {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case q == '\'' && s[i] == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			return i
		}
	}
	return -1
}

// crammedList reports whether a flow list has an unquoted comma followed by no
// space, as in [native,linux].
func crammedList(s string) bool {
	var quote byte
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == ',' && s[i+1] != ' ' && s[i+1] != '\t' && s[i+1] != ']':
			return true
		}
	}
	return false
}
