// keepBelow(x uint64) uint64: a frameless leaf that parks x below SP while it computes.
// The Go assembler marks assembly functions as never asynchronously preemptible, so the
// runtime itself never injects a call here; `twixt run --inject --all-boundaries` shows
// what would break if anything did (a signal handler on this stack, a stack move).

#include "textflag.h"

TEXT ·keepBelow(SB), NOSPLIT|NOFRAME, $0-16
	MOVD	x+0(FP), R0
	MOVD	R0, -16(RSP)     // live data below SP from here...
	MOVD	$7, R1
	ADD	R1, R1, R1
	EOR	$0x55, R1, R1
	MOVD	-16(RSP), R2     // ...to here
	ADD	R2, R1, R0
	MOVD	R0, ret+8(FP)
	RET
