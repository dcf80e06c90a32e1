package bench

import (
	"bytes"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// start watches w.dir with inotify: a created file's event is read the moment
// the kernel queues it, so its time is the creating shell's.
func (w *startWatch) start() func() {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return w.pollStarts()
	}
	if _, err := unix.InotifyAddWatch(fd, w.dir, unix.IN_CREATE); err != nil {
		unix.Close(fd)
		return w.pollStarts()
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: reads wait in the poller
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			for at := 0; at+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[at]))
				name := buf[at+unix.SizeofInotifyEvent : at+unix.SizeofInotifyEvent+int(ev.Len)]
				at += unix.SizeofInotifyEvent + int(ev.Len)
				if s := string(bytes.TrimRight(name, "\x00")); !strings.HasSuffix(s, ".date") {
					w.note(s, now)
				}
			}
		}
	}()
	return func() { _ = f.Close() }
}
