// Program belowsp has an arm64 assembly function that keeps live data below SP across
// instructions: the shape `twixt run --inject` must report as a clobber window, because
// an injected call (pushCall writes [SP-16] and [SP-24]) or a stack move while the
// goroutine is stopped destroys it.
package main

import "os"

// keepBelow stores x at -16(RSP), below its (empty) frame, runs a few instructions, loads
// it back and returns it plus the instructions' result. Implemented in below_arm64.s.
func keepBelow(x uint64) uint64

// useBelow is an ordinary Go caller of keepBelow.
//
//go:noinline
func useBelow(x uint64) uint64 {
	return keepBelow(x+1) * 3
}

func main() {
	s := useBelow(uint64(len(os.Args)))
	println(s)
	os.Exit(int(s & 1))
}
