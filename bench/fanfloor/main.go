// Command fanfloor measures the floor under the daemon's event fan-out on
// this machine: what it costs the kernel and the subscribers alone to carry
// one message to N loopback TCP streams, with no HTTP, no events and no
// build. A writer process (this command, re-run with -serve) accepts N
// connections and, every -pause, writes one -size byte message stamped with
// the time to each of them in turn; this process reads them on N
// goroutines, as bench/ssefan reads the daemon's streams, and reports the
// latency from the stamp to each message's last byte.
//
//	fanfloor -subscribers 200 -size 900 -rounds 300 [-writer-cpus 0]
//
// Compare its p50 with bench/ssefan's against a daemon for the same number
// of subscribers and about the same bytes per build: the difference is what
// the daemon adds. With -writer-cpus the writer runs under taskset(1) on
// those CPUs (run this command itself under taskset on others), as
// bench/daemon.sh does with PIN=1.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	serve := flag.String("serve", "", "run as the writer, listening on this address (internal)")
	n := flag.Int("subscribers", 200, "concurrent streams")
	rounds := flag.Int("rounds", 300, "messages to each stream")
	size := flag.Int("size", 900, "bytes per message (at least 8)")
	pause := flag.Duration("pause", 5*time.Millisecond, "pause between rounds")
	writerCPUs := flag.String("writer-cpus", "", "run the writer under taskset on these CPUs (e.g. 0)")
	flag.Parse()
	if *size < 8 || *n < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "fanfloor: -size must be at least 8, -subscribers and -rounds at least 1")
		os.Exit(2)
	}
	var err error
	if *serve != "" {
		err = write(*serve, *n, *rounds, *size, *pause)
	} else {
		err = measure(*n, *rounds, *size, *pause, *writerCPUs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fanfloor:", err)
		os.Exit(1)
	}
}

// write accepts n connections on addr, then writes rounds messages to each.
func write(addr string, n, rounds, size int, pause time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr()) // tells the reader where to connect
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		defer c.Close()
		conns = append(conns, c)
	}
	msg := make([]byte, size)
	for range rounds {
		time.Sleep(pause)
		binary.LittleEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		for _, c := range conns {
			if _, err := c.Write(msg); err != nil {
				return err
			}
		}
	}
	return nil
}

// measure starts the writer as a process of its own (under taskset on
// writerCPUs, if set), connects n streams to it and reports the latencies
// of their messages.
func measure(n, rounds, size int, pause time.Duration, writerCPUs string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{self, "-serve", "127.0.0.1:0", "-subscribers", fmt.Sprint(n),
		"-rounds", fmt.Sprint(rounds), "-size", fmt.Sprint(size), "-pause", pause.String()}
	if writerCPUs != "" {
		args = append([]string{"taskset", "-c", writerCPUs}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Wait()
		return fmt.Errorf("writer gave no address: %w", err)
	}
	addr = strings.TrimSpace(addr)

	var (
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
		wg.Go(func() {
			defer c.Close()
			br := bufio.NewReaderSize(c, 64<<10)
			msg := make([]byte, size)
			mine := make([]time.Duration, 0, rounds)
			for {
				if _, err := io.ReadFull(br, msg); err != nil {
					break
				}
				mine = append(mine, time.Since(time.Unix(0, int64(binary.LittleEndian.Uint64(msg)))))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	if len(latencies) != n*rounds {
		return fmt.Errorf("%d of %d messages arrived", len(latencies), n*rounds)
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	fmt.Printf("subscribers=%d size=%d messages=%d p50=%.3fms p99=%.3fms max=%.3fms\n", n, size, len(latencies),
		ms(pct(0.5)), ms(pct(0.99)), ms(latencies[len(latencies)-1]))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
