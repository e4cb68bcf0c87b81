// Command bigtable is an s2-style block encoder under load: the case `twixt confirm --at`
// exists for (issue 16).
//
// encodeBlock, like klauspost/compress's s2.encodeBlockGo, keeps a 64 KiB hash table on
// its stack ([16384]uint32, zeroed on every call) and does real work per call: it hashes
// every 4-byte sequence of its 64 KiB + 64 byte input, finds earlier matches through the
// table and emits literals and copies. Its frame is over 64 KiB, so a toolchain without
// the golang/go#73259 fix pops it with two ADDs, and a preemption between them breaks the
// garbage collector's stack scan. But the window is two instructions in hundreds of
// thousands per call: a stress run almost never preempts there.
//
// main encodes the same block in a loop on every P while another goroutine calls
// runtime.GC in a loop. Flags: -seconds S (default: run until killed).
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

const (
	tableBits = 14
	tableSize = 1 << tableBits // entries of the hash table: 64 KiB of uint32
	minMatch  = 4
	blockSize = 64<<10 + 64 // the input: 64 KiB + 64 bytes
)

func hash4(u uint32) uint32 {
	return (u * 0x1e35a7bd) >> (32 - tableBits)
}

// emitLiteral writes a literal run: a tag with its length, then the bytes.
//
//go:noinline
func emitLiteral(dst, lit []byte) int {
	n := binary.PutUvarint(dst, uint64(len(lit))<<1)
	return n + copy(dst[n:], lit)
}

// emitCopy writes a back-reference: a tag with its length, then the offset.
//
//go:noinline
func emitCopy(dst []byte, offset, length int) int {
	n := binary.PutUvarint(dst, uint64(length)<<1|1)
	return n + binary.PutUvarint(dst[n:], uint64(offset))
}

// encodeBlock encodes src into dst (which must hold len(src)*2 bytes) and returns the
// encoded length.
//
//go:noinline
func encodeBlock(dst, src []byte) int {
	var table [tableSize]uint32
	d, lit := 0, 0
	for s := 0; s+minMatch <= len(src); {
		u := binary.LittleEndian.Uint32(src[s:])
		h := hash4(u)
		cand := int(table[h])
		table[h] = uint32(s)
		if cand < s && binary.LittleEndian.Uint32(src[cand:]) == u {
			n := minMatch
			for s+n < len(src) && src[cand+n] == src[s+n] {
				n++
			}
			if lit < s {
				d += emitLiteral(dst[d:], src[lit:s])
			}
			d += emitCopy(dst[d:], s-cand, n)
			s += n
			lit = s
			continue
		}
		s++
	}
	if lit < len(src) {
		d += emitLiteral(dst[d:], src[lit:])
	}
	return d
}

// input is blockSize bytes of text-like data: words from a small vocabulary in an order a
// fixed linear congruential generator picks, so that some sequences repeat and some do not.
func input() []byte {
	words := []string{"the ", "window ", "stack ", "frame ", "unwinder ", "goroutine ",
		"preempt ", "scan ", "epilogue ", "pop ", "return ", "table ", "hash ", "block "}
	src := make([]byte, 0, blockSize+16)
	x := uint32(12345)
	for len(src) < blockSize {
		x = x*1664525 + 1013904223
		src = append(src, words[x>>28%uint32(len(words))]...)
		if x&0x700 == 0 {
			src = append(src, byte('0'+x%10))
		}
	}
	return src[:blockSize]
}

var blocks, cycles uint64

func main() {
	seconds := flag.Float64("seconds", 0, "stop after this many seconds (0: run until killed)")
	flag.Parse()
	src := input()
	for p := 0; p < runtime.GOMAXPROCS(0); p++ {
		go func() {
			dst := make([]byte, 2*len(src))
			for {
				if encodeBlock(dst, src) == 0 {
					panic("empty encoding")
				}
				atomic.AddUint64(&blocks, 1)
			}
		}()
	}
	go func() {
		for {
			runtime.GC()
			atomic.AddUint64(&cycles, 1)
		}
	}()
	if *seconds <= 0 {
		select {}
	}
	time.Sleep(time.Duration(*seconds * float64(time.Second)))
	fmt.Fprintf(os.Stdout, "bigtable: %d blocks encoded, %d GC cycles in %.1f s\n",
		atomic.LoadUint64(&blocks), atomic.LoadUint64(&cycles), *seconds)
}
