package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// config is the file `aura login` writes: `url=…` and `token=…` lines, in
// $XDG_CONFIG_HOME/aura/config (~/.config/aura/config), readable by its owner only.
type config struct {
	URL, Token string
}

func configPath(getenv func(string) string) (string, error) {
	if p := getenv("AURA_CONFIG"); p != "" {
		return p, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", fmt.Errorf("neither XDG_CONFIG_HOME nor HOME is set: set AURA_CONFIG")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "aura", "config"), nil
}

func loadConfig(getenv func(string) string) (config, error) {
	var cfg config
	path, err := configPath(getenv)
	if err != nil {
		return cfg, nil // no file to read: the environment must do
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		switch strings.TrimSpace(k) {
		case "url":
			cfg.URL = strings.TrimSpace(v)
		case "token":
			cfg.Token = strings.TrimSpace(v)
		default:
			ok = false
		}
		if !ok {
			return cfg, usagef("%s line %d: want url=… or token=…", path, n)
		}
	}
	return cfg, sc.Err()
}

// login checks a URL and token against the server and writes them to the file.
func (c *command) login(ctx context.Context, args []string) error {
	var co common
	fs := c.flagSet("login", "URL [--token TOKEN]  (the token from --token, $AURA_TOKEN or standard input)", &co)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usagef("give the server's URL")
	}
	token := firstOf(co.token, c.env.Getenv("AURA_TOKEN"))
	if token == "" {
		fmt.Fprint(c.env.Stderr, "token: ")
		line, err := bufio.NewReader(c.env.Stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		token = strings.TrimSpace(line)
	}
	if token == "" {
		return usagef("no token given")
	}
	cl, err := newClient(pos[0], token)
	if err != nil {
		return err
	}
	var me struct {
		Kind, Name string
	}
	raw, err := cl.get(ctx, "/api/v1/me", nil, &me)
	if err != nil {
		return err
	}
	path, err := configPath(c.env.Getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	// A new file, renamed over the old one: the token is never readable by
	// others, whatever mode an older file had.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = fmt.Fprintf(tmp, "url=%s\ntoken=%s\n", cl.base, token)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if co.json {
		_, err = c.env.Stdout.Write(append(raw, '\n'))
		return err
	}
	fmt.Fprintf(c.env.Stdout, "signed in to %s as %s %s; saved in %s\n", cl.base, me.Kind, me.Name, path)
	return nil
}
