#include "textflag.h"
#include "go_asm.h"

// The scheduler's producer side, called by modules through the host table
// (scheduler_commit, scheduler_delete) on any thread, with the C calling
// convention (System V AMD64: arguments in DI, SI; result in AX). It runs
// entirely here: no Go runtime, no stack (NOFRAME), no libc. It touches
// only caller-saved registers and memory that is never unmapped: the
// process-wide domain table and domains' C memory (see sched.go). The one
// syscall is a raw write(2) to the domain's eventfd: it cannot raise
// SIGPIPE, and, being raw, never touches errno.

// DECODE loads the slot a scheduler handle names.
// In: DI = handle. Out: R8 = domain header, R9 = slot index, R10 = slot,
// R11 = generation. Jumps to badhandle when the handle names no domain,
// to stale when it names no slot. Clobbers AX, CX.
#define DECODE \
	MOVQ	DI, AX; \
	SHRQ	$const_handleKindShift, AX; \
	CMPQ	AX, $const_kindScheduler; \
	JNE	badhandle; \
	MOVQ	DI, AX; \
	SHRQ	$const_handleDomainShift, AX; \
	ANDQ	$const_handleDomainMask, AX; \
	LEAQ	·schedDomainAddrs(SB), CX; \
	MOVQ	(CX)(AX*8), R8; \
	TESTQ	R8, R8; \
	JZ	badhandle; \
	MOVQ	DI, R9; \
	ANDQ	$const_handleIndexMask, R9; \
	CMPQ	R9, $const_schedMaxSlots; \
	JAE	stale; \
	MOVQ	R9, AX; \
	SHRQ	$const_schedChunkShift, AX; \
	MOVQ	schedDomainHdr_chunks(R8)(AX*8), R10; \
	TESTQ	R10, R10; \
	JZ	stale; \
	MOVQ	R9, AX; \
	ANDQ	$const_schedChunkMask, AX; \
	IMULQ	$schedSlot__size, AX; \
	ADDQ	AX, R10; \
	MOVQ	DI, R11; \
	SHRQ	$const_handleGenShift, R11; \
	ANDQ	$const_handleGenMask, R11

// READY marks slot R9 ready in domain R8 and wakes the domain's loop unless
// a wake-up is already pending. Clobbers AX, CX, DX, SI, DI, R11.
#define READY \
	MOVQ	R9, AX; \
	SHRQ	$6, AX; \
	MOVQ	R9, CX; \
	ANDQ	$63, CX; \
	LOCK; \
	BTSQ	CX, schedDomainHdr_ready(R8)(AX*8); \
	MOVQ	AX, CX; \
	SHRQ	$6, AX; \
	ANDQ	$63, CX; \
	LOCK; \
	BTSQ	CX, schedDomainHdr_summary(R8)(AX*8); \
	MOVL	$1, AX; \
	XCHGL	AX, schedDomainHdr_wakePending(R8); \
	TESTL	AX, AX; \
	JNZ	woken; \
write: \
	MOVLQSX	schedDomainHdr_wakeFD(R8), DI; \
	LEAQ	·eventfdOne(SB), SI; \
	MOVQ	$8, DX; \
	MOVQ	$1, AX; \
	SYSCALL; \
	CMPQ	AX, $-4; \
	JEQ	write; \
	LOCK; \
	INCQ	schedDomainHdr_wakes(R8); \
woken:

// bool schedCommit(uint64 handle, uint64 event_id)
TEXT ·schedCommit(SB), NOSPLIT|NOFRAME, $0-0
	DECODE
	MOVLQSX	schedDomainHdr_closed(R8), AX
	TESTQ	AX, AX
	JNZ	closed
	// The slot must be this generation, not deleted, target alive.
	MOVQ	R11, DX
	SHLQ	$2, DX
	ORQ	$const_schedStateOpen, DX
	CMPQ	schedSlot_state(R10), DX
	JNE	stale
claim:
	// Tail word: epoch(1) | log2(capacity)(5) | position(58); see
	// schedqueue.go.
	MOVQ	schedSlot_tail(R10), AX
	MOVQ	AX, CX
	SHRQ	$const_schedCapShift, CX
	ANDQ	$const_schedCapMask, CX
	MOVQ	$1, DI
	SHLQ	CX, DI                  // DI = capacity
	MOVQ	$const_schedPosMask, DX
	ANDQ	AX, DX
	SUBQ	schedSlot_head(R10), DX // DX = positions in use
	CMPQ	DX, DI
	JAE	full
	LEAQ	1(AX), DX
	LOCK
	CMPXCHGQ	DX, schedSlot_tail(R10)
	JNE	claim
	// The position in AX is ours. Its epoch's queue: cells, then the
	// published bitmap.
	MOVQ	AX, CX
	SHRQ	$const_schedEpochShift, CX
	MOVQ	schedSlot_queues(R10)(CX*8), DX
	MOVQ	$const_schedPosMask, CX
	ANDQ	CX, AX
	DECQ	DI
	ANDQ	DI, AX                  // AX = cell
	MOVQ	AX, CX
	SHLQ	$4, CX
	MOVQ	R11, 0(DX)(CX*1)        // record: generation, event id
	MOVQ	SI, 8(DX)(CX*1)
	INCQ	DI
	SHLQ	$4, DI
	ADDQ	DI, DX                  // DX = published bitmap
	MOVQ	AX, CX
	SHRQ	$6, CX
	ANDQ	$63, AX
	LOCK
	BTSQ	AX, (DX)(CX*8)          // publish
	// Already notified: the worker will see this event without help.
	MOVL	$1, AX
	XCHGL	AX, schedSlot_notified(R10)
	TESTL	AX, AX
	JNZ	accepted
	READY
accepted:
	MOVL	$1, AX
	RET
full:
	MOVL	$1, schedSlot_full(R10)
	LOCK
	INCQ	schedDomainHdr_rejectedFull(R8)
	XORL	AX, AX
	RET
closed:
	LOCK
	INCQ	schedDomainHdr_rejectedClosed(R8)
	XORL	AX, AX
	RET
stale:
	LOCK
	INCQ	schedDomainHdr_rejectedStale(R8)
	XORL	AX, AX
	RET
badhandle:
	LOCK
	INCQ	·schedBadHandles(SB)
	XORL	AX, AX
	RET

// void schedDelete(uint64 handle)
TEXT ·schedDelete(SB), NOSPLIT|NOFRAME, $0-0
	DECODE
	// Clear the live flag if the state is still this generation's.
	MOVQ	R11, DX
	SHLQ	$2, DX
retry:
	MOVQ	schedSlot_state(R10), AX
	MOVQ	AX, CX
	SHRQ	$2, CX
	CMPQ	CX, R11
	JNE	done
	TESTQ	$const_schedStateLive, AX
	JZ	done
	MOVQ	AX, CX
	ANDQ	$~const_schedStateLive, CX
	LOCK
	CMPXCHGQ	CX, schedSlot_state(R10)
	JNE	retry
	// The loop reclaims the slot once its target is gone too; if it is
	// already gone, tell the loop now.
	TESTQ	$const_schedStateTarget, CX
	JNZ	done
	MOVLQSX	schedDomainHdr_closed(R8), AX
	TESTQ	AX, AX
	JNZ	done
	READY
done:
	RET
stale:
	RET
badhandle:
	LOCK
	INCQ	·schedBadHandles(SB)
	RET

// func schedCommitAddr() uintptr / schedDeleteAddr() uintptr: the C entry
// points' addresses, for the host table.
TEXT ·schedCommitAddr(SB), NOSPLIT, $0-8
	MOVQ	$·schedCommit(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·schedDeleteAddr(SB), NOSPLIT, $0-8
	MOVQ	$·schedDelete(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
