// memberlist beside distlab (issue 17, item 5): N instances of HashiCorp's memberlist with
// DefaultLANConfig in one Go process, each on its own loopback address, measured the way
// bench/p2p.ts measures distlab's overlay: a mass join (every instance joins one seed at once),
// one late join through that seed, the detection of one instance that stops without a word, live
// members falsely declared dead, suspicions raised, and the CPU seconds each phase took.
// Built from Debian's golang-go and golang-github-hashicorp-memberlist-dev in GOPATH mode
// (GOPATH=/usr/share/gocode, GO111MODULE=off); bench/p2p.ts builds and runs it.
// Output: one JSON object on stdout; progress on stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/memberlist"
)

// counts suspicions from memberlist's own metrics (memberlist.msg.suspect: suspect messages handled).
type suspectSink struct {
	metrics.BlackholeSink
	suspects int64
}

func (s *suspectSink) IncrCounter(key []string, val float32) { s.count(key, val) }

func (s *suspectSink) IncrCounterWithLabels(key []string, val float32, _ []metrics.Label) {
	s.count(key, val)
}

func (s *suspectSink) count(key []string, val float32) {
	if len(key) >= 2 && key[len(key)-1] == "suspect" && key[len(key)-2] == "msg" {
		atomic.AddInt64(&s.suspects, int64(val))
	}
}

// view is one instance's membership as its event delegate sees it, indexed by instance number.
type view struct {
	mu    sync.Mutex
	alive []bool
	count int
	// leaves of instances that were running when they were declared dead
	falseLeaves *int64
	running     []int32
}

func index(name string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "m"))
	if err != nil {
		return -1
	}
	return i
}

func (v *view) NotifyJoin(n *memberlist.Node) {
	i := index(n.Name)
	v.mu.Lock()
	if i >= 0 && i < len(v.alive) && !v.alive[i] {
		v.alive[i] = true
		v.count++
	}
	v.mu.Unlock()
}

func (v *view) NotifyLeave(n *memberlist.Node) {
	i := index(n.Name)
	v.mu.Lock()
	if i >= 0 && i < len(v.alive) && v.alive[i] {
		v.alive[i] = false
		v.count--
	}
	v.mu.Unlock()
	if i >= 0 && i < len(v.running) && atomic.LoadInt32(&v.running[i]) == 1 {
		atomic.AddInt64(v.falseLeaves, 1)
	}
}

func (v *view) NotifyUpdate(*memberlist.Node) {}

func (v *view) size() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.count
}

func (v *view) knows(i int) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.alive[i]
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

type result struct {
	N             int          `json:"n"`
	StartMs       int64        `json:"startMs"`
	JoinP999Ms    *int64       `json:"joinP999Ms"`
	JoinFullMs    *int64       `json:"joinFullMs"`
	JoinErrors    int64        `json:"joinErrors"`
	OneJoinMs     *int64       `json:"oneJoinMs"`
	DetectMs      *int64       `json:"detectMs"`
	FalseRemovals int64        `json:"falseRemovals"`
	Suspects      int64        `json:"suspects"`
	CPUJoinS      float64      `json:"cpuJoinSeconds"`
	CPUTotalS     float64      `json:"cpuTotalSeconds"`
	MaxProcs      int          `json:"gomaxprocs"`
	Trace         [][2]float64 `json:"trace"`
}

func ms(d time.Duration) *int64 { v := d.Milliseconds(); return &v }

func main() {
	n := flag.Int("n", 50, "instances")
	prefix := flag.String("prefix", "127.26.100", "first three octets of the first address; the third grows by one every 250 instances")
	port := flag.Int("port", 7946, "port of every instance (each has its own address)")
	convergeCap := flag.Duration("converge-cap", 120*time.Second, "longest wait for a convergence")
	detectCap := flag.Duration("detect-cap", 45*time.Second, "longest wait for a failure to be detected")
	procs := flag.Int("procs", 0, "GOMAXPROCS; 0 keeps Go's default (every core)")
	flag.Parse()
	if *n < 2 || *n > 10000 {
		fmt.Fprintln(os.Stderr, "memberlist-bench: -n must be 2..10000")
		os.Exit(2)
	}
	if *procs > 0 {
		setProcs(*procs)
	}
	octets := strings.Split(*prefix, ".")
	if len(octets) != 3 {
		fmt.Fprintln(os.Stderr, "memberlist-bench: -prefix must be three octets such as 127.26.100")
		os.Exit(2)
	}
	third, _ := strconv.Atoi(octets[2])
	addr := func(i int) string { return fmt.Sprintf("%s.%s.%d.%d", octets[0], octets[1], third+i/250, 1+i%250) }

	sink := &suspectSink{}
	mc := metrics.DefaultConfig("bench")
	mc.EnableHostname = false
	mc.EnableRuntimeMetrics = false
	_, _ = metrics.NewGlobal(mc, sink)

	total := *n + 1 // the late joiner is instance n
	var falseLeaves int64
	running := make([]int32, total)
	views := make([]*view, total)
	lists := make([]*memberlist.Memberlist, total)
	create := func(i int) error {
		v := &view{alive: make([]bool, total), falseLeaves: &falseLeaves, running: running}
		conf := memberlist.DefaultLANConfig()
		conf.Name = fmt.Sprintf("m%d", i)
		conf.BindAddr = addr(i)
		conf.BindPort = *port
		conf.AdvertiseAddr = addr(i)
		conf.AdvertisePort = *port
		conf.Events = v
		conf.LogOutput = io.Discard
		l, err := memberlist.Create(conf)
		if err != nil {
			return err
		}
		views[i], lists[i] = v, l
		atomic.StoreInt32(&running[i], 1)
		return nil
	}
	cpu0 := cpuSeconds()
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		if err := create(i); err != nil {
			fmt.Fprintf(os.Stderr, "memberlist-bench: instance %d on %s: %v\n", i, addr(i), err)
			os.Exit(1)
		}
	}
	seed := fmt.Sprintf("%s:%d", addr(0), *port)
	// The mass join: every instance joins the seed at once.
	var joinErrors int64
	var wg sync.WaitGroup
	for i := 1; i < *n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := lists[i].Join([]string{seed}); err != nil {
				atomic.AddInt64(&joinErrors, 1)
			}
		}(i)
	}
	lastStart := time.Now()
	r := result{N: *n, StartMs: lastStart.Sub(t0).Milliseconds(), MaxProcs: maxProcs()}
	want := *n
	for {
		known := 0
		full := true
		for i := 0; i < *n; i++ {
			s := views[i].size()
			if s > want {
				s = want
			}
			known += s
			if s < want {
				full = false
			}
		}
		el := time.Since(lastStart)
		frac := float64(known) / float64(want*want)
		r.Trace = append(r.Trace, [2]float64{el.Seconds(), 100 * frac})
		if r.JoinP999Ms == nil && frac >= 0.999 {
			r.JoinP999Ms = ms(el)
		}
		if full {
			r.JoinFullMs = ms(el)
			break
		}
		if el > *convergeCap {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	r.JoinErrors = atomic.LoadInt64(&joinErrors)
	r.CPUJoinS = cpuSeconds() - cpu0
	fmt.Fprintf(os.Stderr, "  memberlist %d: mass join %v\n", *n, fmtMs(r.JoinFullMs))

	// One late join through the seed.
	if err := create(*n); err != nil {
		fmt.Fprintf(os.Stderr, "memberlist-bench: late instance: %v\n", err)
		os.Exit(1)
	}
	t1 := time.Now()
	if _, err := lists[*n].Join([]string{seed}); err != nil {
		fmt.Fprintf(os.Stderr, "  memberlist %d: late join failed: %v\n", *n, err)
	}
	for {
		all := true
		for i := 0; i < *n && all; i++ {
			all = views[i].knows(*n)
		}
		if all {
			r.OneJoinMs = ms(time.Since(t1))
			break
		}
		if time.Since(t1) > *convergeCap {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "  memberlist %d: one join %v\n", *n, fmtMs(r.OneJoinMs))

	// Failure detection: one instance stops without leaving.
	victim := *n / 2
	atomic.StoreInt32(&running[victim], 0)
	_ = lists[victim].Shutdown()
	t2 := time.Now()
	for {
		all := true
		for i := 0; i <= *n && all; i++ {
			if i != victim {
				all = !views[i].knows(victim)
			}
		}
		if all {
			r.DetectMs = ms(time.Since(t2))
			break
		}
		if time.Since(t2) > *detectCap {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	r.FalseRemovals = atomic.LoadInt64(&falseLeaves)
	r.Suspects = atomic.LoadInt64(&sink.suspects)
	r.CPUTotalS = cpuSeconds() - cpu0
	fmt.Fprintf(os.Stderr, "  memberlist %d: detection %v, %d false removals, %d suspicions\n",
		*n, fmtMs(r.DetectMs), r.FalseRemovals, r.Suspects)
	for i, l := range lists {
		if l != nil && i != victim {
			atomic.StoreInt32(&running[i], 0)
		}
	}
	for i, l := range lists {
		if l != nil && i != victim {
			_ = l.Shutdown()
		}
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

func fmtMs(v *int64) string {
	if v == nil {
		return "not within cap"
	}
	return fmt.Sprintf("%.2f s", float64(*v)/1000)
}
