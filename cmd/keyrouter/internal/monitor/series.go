package monitor

import "time"

// historySeconds is how far back a sparkline goes.
const historySeconds = 180

// series counts events per second over the last historySeconds seconds.
// It does no I/O and never reads the clock: every call takes the instant.
// Not safe for concurrent use (the View's lock guards it).
type series struct {
	counts [historySeconds]uint32
	secs   [historySeconds]int64 // the unix second each slot counts
}

func (s *series) add(now time.Time, n uint32) {
	sec := now.Unix()
	i := int(sec % historySeconds)
	if s.secs[i] != sec {
		s.secs[i], s.counts[i] = sec, 0
	}
	s.counts[i] += n
}

// last returns the counts of the n seconds before now's second, oldest
// first (now's own second, still counting, is left out).
func (s *series) last(now time.Time, n int) []uint32 {
	n = min(n, historySeconds-1)
	out := make([]uint32, n)
	end := now.Unix()
	for k := range n {
		sec := end - int64(n) + int64(k)
		i := int(sec % historySeconds)
		if s.secs[i] == sec {
			out[k] = s.counts[i]
		}
	}
	return out
}

// rate is the mean per second over the n seconds before now's second.
func (s *series) rate(now time.Time, n int) float64 {
	sum := 0
	for _, c := range s.last(now, n) {
		sum += int(c)
	}
	return float64(sum) / float64(n)
}
