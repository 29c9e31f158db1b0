package server

import (
	"runtime"
	"sync"
	"time"
)

// hostStats is /status "host": the machine the daemon runs on. Values a
// platform cannot report are 0.
type hostStats struct {
	CPUPercent        float64 `json:"cpu_percent"`
	Load1             float64 `json:"load1"`
	MemTotalBytes     uint64  `json:"mem_total_bytes"`
	MemAvailableBytes uint64  `json:"mem_available_bytes"`
	DiskTotalBytes    uint64  `json:"disk_total_bytes"`
	DiskFreeBytes     uint64  `json:"disk_free_bytes"`
	RSSBytes          uint64  `json:"rss_bytes"`
	Goroutines        int     `json:"goroutines"`
}

// hostMaxAge is how long a reading of the host is reused: panels poll
// /status, and reading /proc for each of them would cost more than the
// rest of the answer.
const hostMaxAge = time.Second

// hostReading is the last reading of the host.
type hostReading struct {
	mu sync.Mutex
	at time.Time
	v  hostStats
}

func (s *Server) hostStats() hostStats {
	c := s.host
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < hostMaxAge {
		return c.v
	}
	h := hostStats{CPUPercent: s.hostCPU.percent(), Goroutines: runtime.NumGoroutine()}
	h.Load1 = load1()
	h.MemTotalBytes, h.MemAvailableBytes = memInfo()
	h.DiskTotalBytes, h.DiskFreeBytes = diskSpace(s.e.Root())
	h.RSSBytes = rss()
	c.v, c.at = h, time.Now()
	return h
}

// minCPUWindow is the shortest window cpu_percent is measured over;
// calls closer together reuse the last value.
const minCPUWindow = 500 * time.Millisecond

// cpuSampler turns the machine's cumulative CPU times into a percentage
// busy since the previous sample.
type cpuSampler struct {
	// mu guards the fields below.
	mu          sync.Mutex
	at          time.Time
	total, idle uint64
	last        float64
}

func newCPUSampler() *cpuSampler {
	c := &cpuSampler{at: time.Now()}
	c.total, c.idle, _ = cpuTimes()
	return c
}

func (c *cpuSampler) percent() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < minCPUWindow {
		return c.last
	}
	total, idle, ok := cpuTimes()
	if !ok {
		return 0
	}
	if dt := total - c.total; total > c.total && idle >= c.idle {
		c.last = float64(dt-min(idle-c.idle, dt)) * 100 / float64(dt)
	}
	c.at, c.total, c.idle = time.Now(), total, idle
	return c.last
}
