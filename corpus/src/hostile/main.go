// hostile tries what a program under `twixt confirm` must not be able to do, and prints
// what happened to each attempt (one line each, "hostile: WHAT: RESULT"), then sleeps
// until it is killed. The containment test (crates/twixt/tests/confirm.rs) runs it and
// checks the host afterwards.
//
// Flags: -marker M (names the files and processes it makes, so the test can look for
// them), -port P (a TCP port on the host's loopback to connect to), -forks N (at most
// this many processes to start).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

func result(err error) string {
	if err == nil {
		return "ok"
	}
	return "refused: " + err.Error()
}

func main() {
	marker := flag.String("marker", "twixt-hostile", "names what it makes")
	port := flag.Int("port", 9, "TCP port on 127.0.0.1 to connect to")
	forks := flag.Int("forks", 100000, "at most this many processes to start")
	flag.Parse()

	// Writes: its own directory (allowed), then outside it.
	for _, path := range []string{
		"inside-" + *marker,
		"/tmp/" + *marker,
		"../" + *marker,
		"/var/tmp/" + *marker,
		"/dev/shm/" + *marker,
	} {
		err := os.WriteFile(path, []byte("written by hostile\n"), 0o644)
		fmt.Printf("hostile: write %s: %s\n", path, result(err))
	}

	// The network: a TCP connection to the host's loopback, and a DNS-free UDP send.
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(*port), 2*time.Second)
	if err == nil {
		conn.Write([]byte(*marker + "\n"))
		conn.Close()
	}
	fmt.Printf("hostile: connect 127.0.0.1:%d: %s\n", *port, result(err))

	// A fork bomb: start processes (each in a session of its own, out of the process
	// group) until the system says no.
	started := 0
	var last error
	for started < *forks {
		cmd := exec.Command("/bin/sleep", "3600")
		cmd.Env = []string{"TWIXT_HOSTILE=" + *marker}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if last = cmd.Start(); last != nil {
			break
		}
		started++
	}
	fmt.Printf("hostile: fork: started %d processes, then: %s\n", started, result(last))

	// Then wait to be killed.
	fmt.Printf("hostile: sleeping\n")
	time.Sleep(time.Hour)
}
