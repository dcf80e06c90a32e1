//go:build !linux

package job

import "errors"

func setSubreaper() error { return errors.New("a child subreaper needs Linux") }
