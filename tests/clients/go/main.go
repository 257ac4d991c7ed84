// Command zkgo drives a zabkeeper (or ZooKeeper) server with github.com/samuel/go-zookeeper/zk
// (Debian's golang-github-samuel-go-zookeeper-dev; github.com/go-zookeeper/zk is its continuation
// with the same connection code), a client zabkeeper's authors did not write, and exits non-zero
// on the first thing that goes wrong.
//
// This client sends auth and setWatches with ordinary xids (the Java client and kazoo use -4 and
// -8) and matches every reply to its request by xid: a server that answers with the special xids
// leaves AddAuth, and the auth it re-sends after a reconnect, waiting for ever, and makes it log
// "Xid < 0 (-8) but not ping or watcher event".
//
// Steps: AddAuth digest "user:pass" and "blah" (credentials without ':'); create a node with an
// auth ACL; set a data watch; drop the TCP connection under the client (it reconnects, re-sends
// its auth and re-registers the watch with setWatches) and check the watch fires and the ACL still
// lets the client write; then set a watch again, print "RESTART" and wait for a line on stdin
// while the test restarts the server on the same port and data directory, and check the same
// again. Every wait is bounded; any log line about an unmatched reply fails the run.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/samuel/go-zookeeper/zk"
)

// step bounds every single wait.
const step = 20 * time.Second

// recorder keeps the client's log lines; lines about replies it could not match are failures.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Printf(format string, args ...interface{}) {
	line := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "zk:", line)
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
}

func (r *recorder) unmatched() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var bad []string
	for _, l := range r.lines {
		if strings.Contains(l, "Xid < 0") || strings.Contains(l, "unknown request") {
			bad = append(bad, l)
		}
	}
	return bad
}

// dialer remembers the connection the client is using so the program can drop it.
type dialer struct {
	mu   sync.Mutex
	conn net.Conn
}

func (d *dialer) dial(network, address string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, address, timeout)
	if err == nil {
		d.mu.Lock()
		d.conn = c
		d.mu.Unlock()
	}
	return c, err
}

func (d *dialer) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.Close()
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// bounded runs f and fails the program if it does not return within step.
func bounded(what string, f func() error) {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			fail("%s: %v", what, err)
		}
	case <-time.After(step):
		fail("%s: no answer within %v", what, step)
	}
}

func main() {
	addr := flag.String("addr", "", "server host:port")
	flag.Parse()
	if *addr == "" {
		fail("-addr is required")
	}
	log := &recorder{}
	d := &dialer{}
	conn, events, err := zk.Connect([]string{*addr}, 30*time.Second,
		zk.WithDialer(d.dial), zk.WithLogger(log))
	if err != nil {
		fail("connect: %v", err)
	}
	defer conn.Close()
	sessions := make(chan struct{}, 16)
	go func() {
		for ev := range events {
			if ev.Type == zk.EventSession && ev.State == zk.StateHasSession {
				sessions <- struct{}{}
			}
			if ev.State == zk.StateExpired {
				fail("session expired")
			}
		}
	}()
	waitSession := func(what string) {
		select {
		case <-sessions:
		case <-time.After(step):
			fail("%s: no session within %v", what, step)
		}
	}
	waitSession("connect")

	for _, credentials := range []string{"user:pass", "blah"} {
		bounded("AddAuth digest "+credentials, func() error {
			return conn.AddAuth("digest", []byte(credentials))
		})
	}
	const path = "/go-client"
	bounded("create with an auth ACL", func() error {
		_, err := conn.Create(path, []byte("v0"), 0, zk.AuthACL(zk.PermAll))
		return err
	})
	bounded("getACL", func() error {
		acl, _, err := conn.GetACL(path)
		if err != nil {
			return err
		}
		var got []string
		for _, a := range acl {
			got = append(got, fmt.Sprintf("%d %s:%s", a.Perms, a.Scheme, a.ID))
		}
		sort.Strings(got)
		want := []string{
			"31 digest:blah:W/H9kn37hnlJai5s8Ay+UMHIcUU=",
			"31 digest:user:smGaoVKd/cQkjm7b88GyorAUz20=",
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			return fmt.Errorf("ACL %v, want %v", got, want)
		}
		return nil
	})

	// reconnectAndCheck sets a data watch, lets `disrupt` break the connection, and checks the
	// watch survives the reconnect and the client's auth was re-sent.
	version := 0
	reconnectAndCheck := func(what string, disrupt func()) {
		var watch <-chan zk.Event
		bounded(what+": getData with a watch", func() error {
			var err error
			_, _, watch, err = conn.GetW(path)
			return err
		})
		disrupt()
		waitSession(what + ": reconnect")
		version++
		data := fmt.Sprintf("v%d", version)
		// The node's ACL admits only the digest ids: this works only if AddAuth was re-sent.
		bounded(what+": setData after the reconnect", func() error {
			_, err := conn.Set(path, []byte(data), -1)
			return err
		})
		select {
		case ev := <-watch:
			if ev.Type != zk.EventNodeDataChanged || ev.Path != path {
				fail("%s: watch delivered %+v", what, ev)
			}
		case <-time.After(step):
			fail("%s: the watch did not fire within %v", what, step)
		}
		// Replies come in request order: once this one is back, setWatches' reply was read.
		bounded(what+": getData after the watch", func() error {
			got, _, err := conn.Get(path)
			if err == nil && string(got) != data {
				err = fmt.Errorf("data %q, want %q", got, data)
			}
			return err
		})
		if bad := log.unmatched(); len(bad) > 0 {
			fail("%s: replies the client could not match: %q", what, bad)
		}
	}

	reconnectAndCheck("dropped connection", d.drop)
	reconnectAndCheck("server restart", func() {
		fmt.Println("RESTART")
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "RESTARTED" {
			fail("expected RESTARTED on stdin, got %q (%v)", line, err)
		}
	})
	fmt.Println("OK")
}
