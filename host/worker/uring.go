package worker

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioRing is an io_uring used for two things only: the first reads of the
// connections one epoll_wait reported readable, and the sends of one loop
// iteration, each group in a single io_uring_enter where each would
// otherwise be a read or sendmsg of its own. The requests are those same
// calls (recv with MSG_DONTWAIT; sendmsg with MSG_NOSIGNAL|MSG_DONTWAIT,
// the same msghdr and iovecs): the kernel runs them inline within that
// io_uring_enter, and a socket that is not ready answers EAGAIN instead of
// being polled (newIORing checks that this kernel does so), so each result
// means exactly what the plain call's would. The call waits for every
// completion before it returns, so nothing the kernel reads or writes
// (msghdr, iovecs, buffers) is touched after it. See RATIONALE.md,
// "Batched reads and sends".
type ioRing struct {
	fd int

	sqHead, sqTail, sqMask *uint32
	sqes                   []ringSQE
	cqHead, cqTail, cqMask *uint32
	cqes                   []ringCQE

	ringMem, sqeMem []byte

	// The probe's msghdr and iovec: heap memory, as everything a request
	// names must be (see prepSendmsg).
	probeMsg unix.Msghdr
	probeIov unix.Iovec
}

// The kernel's structures (include/uapi/linux/io_uring.h).
type ringSQOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

type ringCQOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

type ringParams struct {
	SQEntries, CQEntries, Flags, SQThreadCPU, SQThreadIdle, Features, WQFd uint32
	Resv                                                                   [3]uint32
	SQOff                                                                  ringSQOffsets
	CQOff                                                                  ringCQOffsets
}

type ringSQE struct {
	Opcode      uint8
	Flags       uint8
	Ioprio      uint16
	Fd          int32
	Off         uint64
	Addr        uint64
	Len         uint32
	MsgFlags    uint32
	UserData    uint64
	BufIndex    uint16
	Personality uint16
	SpliceFdIn  int32
	Addr3       uint64
	Pad         uint64
}

type ringCQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

const (
	sysIOUringSetup = 425
	sysIOUringEnter = 426

	ringOpSendmsg      = 9
	ringOpRecv         = 27
	ringEnterGetEvents = 1
	ringOffSQRing      = 0
	ringOffSQEs        = 0x10000000

	// ringBatchMax is the most requests one io_uring_enter carries (the
	// ring's size); a longer flush list goes in several, and readable
	// connections past it read as without the ring.
	ringBatchMax = 64
)

// resNotRun marks a request the kernel did not take (it may refuse
// requests while short of memory): the caller sends those with sendmsg.
const resNotRun = math.MinInt32

// newIORing sets up a ring of ringBatchMax entries. It fails where the
// kernel has no io_uring or forbids it (kernel.io_uring_disabled, a
// seccomp profile, a kernel that waits on sockets that are not ready): the
// worker then reads and sends with a system call per connection.
func newIORing() (*ioRing, error) {
	var p ringParams
	fd, _, errno := unix.RawSyscall(sysIOUringSetup, ringBatchMax, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, errno
	}
	r := &ioRing{fd: int(fd)}
	unix.CloseOnExec(r.fd)
	// The SQ and CQ rings share one mapping on every kernel since 5.4
	// (IORING_FEAT_SINGLE_MMAP); it is sized for the larger of the two.
	size := max(p.SQOff.Array+p.SQEntries*4, p.CQOff.Cqes+p.CQEntries*uint32(unsafe.Sizeof(ringCQE{})))
	mem, err := unix.Mmap(r.fd, ringOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		unix.Close(r.fd)
		return nil, err
	}
	r.ringMem = mem
	sqes, err := unix.Mmap(r.fd, ringOffSQEs, int(p.SQEntries)*int(unsafe.Sizeof(ringSQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		unix.Munmap(mem)
		unix.Close(r.fd)
		return nil, err
	}
	r.sqeMem = sqes
	base := unsafe.Pointer(&mem[0])
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Add(base, off)) }
	r.sqHead, r.sqTail, r.sqMask = at(p.SQOff.Head), at(p.SQOff.Tail), at(p.SQOff.RingMask)
	r.cqHead, r.cqTail, r.cqMask = at(p.CQOff.Head), at(p.CQOff.Tail), at(p.CQOff.RingMask)
	r.cqes = unsafe.Slice((*ringCQE)(unsafe.Add(base, p.CQOff.Cqes)), p.CQEntries)
	r.sqes = unsafe.Slice((*ringSQE)(unsafe.Pointer(&sqes[0])), p.SQEntries)
	// The submission array maps ring slots to SQEs one to one, once.
	array := unsafe.Slice(at(p.SQOff.Array), p.SQEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	if err := r.probe(); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// errRingWaits: this kernel's io_uring waits for a socket that is not ready
// instead of answering EAGAIN as MSG_DONTWAIT asks (kernels before 5.x
// did); a worker waiting there would stall every connection it has.
var errRingWaits = errors.New("io_uring waits on sockets that are not ready (kernel too old)")

// probe checks that a recv from an empty socket and a sendmsg to a full
// one complete inside the call with EAGAIN.
func (r *ioRing) probe() error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	chunk := make([]byte, 64<<10)
	for {
		if _, err := unix.Write(fds[0], chunk); err == unix.EAGAIN {
			break
		} else if err != nil {
			return err
		}
	}
	r.probeIov = unix.Iovec{Base: &chunk[0]}
	r.probeIov.SetLen(1)
	r.probeMsg = unix.Msghdr{Iov: &r.probeIov}
	r.probeMsg.SetIovlen(1)
	r.prepSendmsg(0, fds[0], &r.probeMsg)
	r.prepRecv(1, fds[0], chunk)
	tail := *r.sqTail
	atomic.StoreUint32(r.sqTail, tail+2)
	ringEnter(r.fd, 2, 0) // no wait: what has not completed now waits
	var res [2]int32
	res[0], res[1] = resNotRun, resNotRun
	if got := r.reap(res[:]); got != 2 {
		return errRingWaits
	}
	if res[0] != -int32(unix.EAGAIN) || res[1] != -int32(unix.EAGAIN) {
		return fmt.Errorf("io_uring probe: sendmsg to a full socket gave %d, recv from an empty one %d (want -EAGAIN)", res[0], res[1])
	}
	return nil
}

func (r *ioRing) close() {
	unix.Munmap(r.sqeMem)
	unix.Munmap(r.ringMem)
	unix.Close(r.fd)
}

// sendmsgs runs sendmsg(fds[i], &msgs[i], MSG_NOSIGNAL|MSG_DONTWAIT) for
// every i in one io_uring_enter; see run for res. len(fds) ≤ ringBatchMax.
func (r *ioRing) sendmsgs(fds []int, msgs []unix.Msghdr, res []int32) {
	for i := range fds {
		r.prepSendmsg(uint32(i), fds[i], &msgs[i])
	}
	r.run(uint32(len(fds)), res)
}

// prepSendmsg writes request i of the next run: sendmsg(fd, msg,
// MSG_NOSIGNAL|MSG_DONTWAIT). msg, its iovecs and their buffers must be
// heap memory, never a goroutine's stack: the request holds their address
// as a number, and a stack that grows before run is copied elsewhere.
// (The worker's are in its ringBatch and its connections' queues.)
func (r *ioRing) prepSendmsg(i uint32, fd int, msg *unix.Msghdr) {
	r.sqes[(*r.sqTail+i)&*r.sqMask] = ringSQE{
		Opcode:   ringOpSendmsg,
		Fd:       int32(fd),
		Addr:     uint64(uintptr(unsafe.Pointer(msg))),
		Len:      1,
		MsgFlags: unix.MSG_NOSIGNAL | unix.MSG_DONTWAIT,
		UserData: uint64(i),
	}
}

// prepRecv writes request i of the next run: recv(fd, p, MSG_DONTWAIT), a
// read(2) of a socket. p must be heap memory, as for prepSendmsg.
func (r *ioRing) prepRecv(i uint32, fd int, p []byte) {
	r.sqes[(*r.sqTail+i)&*r.sqMask] = ringSQE{
		Opcode:   ringOpRecv,
		Fd:       int32(fd),
		Addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p)))),
		Len:      uint32(len(p)),
		MsgFlags: unix.MSG_DONTWAIT,
		UserData: uint64(i),
	}
}

// run submits the n requests prepared (prep*, indexes 0..n-1) in one
// io_uring_enter and puts each result in res[i]: the byte count, the
// negated errno, or resNotRun for a request the kernel would not take
// (after a few tries; none of those ran). It returns once every request the
// kernel took has completed, so none of the memory they name is read
// afterwards. n ≤ ringBatchMax.
func (r *ioRing) run(n uint32, res []int32) {
	tail := *r.sqTail // this thread alone writes the tail
	for i := uint32(0); i < n; i++ {
		res[i] = resNotRun
	}
	atomic.StoreUint32(r.sqTail, tail+n) // publishes the SQEs
	done, stalls := uint32(0), 0
	for done < n {
		taken := atomic.LoadUint32(r.sqHead) - tail
		if taken == done && stalls >= 3 {
			// Everything taken has completed and the kernel keeps
			// refusing the rest: withdraw it (the kernel reads SQEs only
			// up to the tail it sees when entered).
			atomic.StoreUint32(r.sqTail, tail+taken)
			return
		}
		// Requests on non-blocking sockets with MSG_DONTWAIT complete
		// inside the call (newIORing checked that this kernel does so),
		// so the wait for them is free, and the call is raw for the reason
		// sendmsg's is. The kernel skips the wait when it took fewer
		// requests than offered, so asking for n-done never hangs. Its
		// errors (EAGAIN or EBUSY while short of memory, EINTR) need no
		// telling apart: what counts is whether requests were taken or
		// completed.
		ringEnter(r.fd, n-taken, n-done)
		got := r.reap(res)
		done += got
		if got == 0 && atomic.LoadUint32(r.sqHead)-tail == taken {
			stalls++
		} else {
			stalls = 0
		}
	}
}

// ringEnter submits toSubmit requests and waits for minComplete
// completions (a variable so that a test can play a kernel that refuses).
var ringEnter = func(fd int, toSubmit, minComplete uint32) {
	unix.RawSyscall6(sysIOUringEnter, uintptr(fd), uintptr(toSubmit), uintptr(minComplete), ringEnterGetEvents, 0, 0)
}

// reap moves completions to res, returning how many.
func (r *ioRing) reap(res []int32) uint32 {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	mask := *r.cqMask
	got := tail - head
	for ; head != tail; head++ {
		c := &r.cqes[head&mask]
		res[c.UserData] = c.Res
	}
	atomic.StoreUint32(r.cqHead, head)
	return got
}
