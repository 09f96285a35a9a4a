package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// procUsage is what a process has used so far: CPU time (user and
// system) and its resident set.
type procUsage struct {
	CPU time.Duration
	RSS int64 // bytes
}

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// every Linux keyrouter runs on).
const clockTick = 10 * time.Millisecond

// selfUsage is this process's usage: CPU from getrusage (microseconds),
// RSS from /proc/self/status.
func selfUsage() (procUsage, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return procUsage{}, err
	}
	rss, err := vmRSS("self")
	if err != nil {
		return procUsage{}, err
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return procUsage{CPU: cpu, RSS: rss}, nil
}

// pidUsage is process pid's usage, from /proc/<pid>/stat (CPU in clock
// ticks) and /proc/<pid>/status.
func pidUsage(pid int) (procUsage, error) {
	p := strconv.Itoa(pid)
	data, err := os.ReadFile("/proc/" + p + "/stat")
	if err != nil {
		return procUsage{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing one. utime and stime are fields 14
	// and 15.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procUsage{}, fmt.Errorf("/proc/%s/stat: no command name", p)
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 13 {
		return procUsage{}, fmt.Errorf("/proc/%s/stat: %d fields", p, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return procUsage{}, fmt.Errorf("/proc/%s/stat: bad utime or stime", p)
	}
	rss, err := vmRSS(p)
	if err != nil {
		return procUsage{}, err
	}
	return procUsage{CPU: time.Duration(ut+st) * clockTick, RSS: rss}, nil
}

// vmRSS reads VmRSS (kB) from /proc/<pid>/status.
func vmRSS(pid string) (int64, error) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%s/status: VmRSS %q", pid, v)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%s/status: no VmRSS", pid)
}

// mb is bytes in MB (2^20), to one decimal.
func mb(b int64) float64 { return round(float64(b)/(1<<20), 1) }

// cpuPct is cpu used over wall as a percentage of one core, to two
// decimals.
func cpuPct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return round(100*cpu.Seconds()/wall.Seconds(), 2)
}
