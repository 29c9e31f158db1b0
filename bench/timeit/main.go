// Command timeit runs a command several times and reports its wall time
// and peak memory.
//
//	timeit -runs 10 [-warmup 1] [-json] [-v] [-pre 'shell command'] -- cmd args...
//
// Each run starts the command directly (no shell) and times it from start
// to exit. The -pre command runs through sh -c before every run, warm-ups
// included, and is not timed. timeit reports the median, minimum, p90 and
// maximum wall time of the timed runs and the largest peak resident set size
// (getrusage ru_maxrss) any of them reached. It fails as soon as the command
// or the -pre command fails, printing the tail of its output.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "timeit:", err)
		}
		os.Exit(1)
	}
}

// stats summarises the timed runs.
type stats struct {
	Command  []string  `json:"command"`
	Runs     int       `json:"runs"`
	Warmup   int       `json:"warmup"`
	MedianMS float64   `json:"median_ms"`
	MinMS    float64   `json:"min_ms"`
	P90MS    float64   `json:"p90_ms"`
	MaxMS    float64   `json:"max_ms"`
	MeanMS   float64   `json:"mean_ms"`
	MaxRSSKB int64     `json:"max_rss_kb"`
	TimesMS  []float64 `json:"times_ms"`
}

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("timeit", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: timeit [-runs N] [-warmup N] [-json] [-v] [-pre 'shell command'] -- cmd args...")
		fl.PrintDefaults()
	}
	runs := fl.Int("runs", 10, "timed runs")
	warmup := fl.Int("warmup", 1, "untimed runs before the timed ones")
	asJSON := fl.Bool("json", false, "print the result as one JSON object")
	verbose := fl.Bool("v", false, "pass the command's output through and report each run on stderr")
	pre := fl.String("pre", "", "shell command run (untimed) before each run")
	if err := fl.Parse(args); err != nil {
		return err
	}
	argv := fl.Args()
	switch {
	case len(argv) == 0:
		fl.Usage()
		return errors.New("no command given")
	case *runs < 1:
		return errors.New("-runs must be at least 1")
	case *warmup < 0:
		return errors.New("-warmup must not be negative")
	}

	var times []time.Duration
	var maxRSS int64
	for i := range *warmup + *runs {
		if *pre != "" {
			if err := execute(exec.Command("sh", "-c", *pre), *verbose, stderr); err != nil {
				return fmt.Errorf("run -pre %q: %w", *pre, err)
			}
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		start := time.Now()
		err := execute(cmd, *verbose, stderr)
		elapsed := time.Since(start)
		if err != nil {
			return fmt.Errorf("run %s: %w", strings.Join(argv, " "), err)
		}
		rss := maxRSSKB(cmd.ProcessState)
		timed := i >= *warmup
		if *verbose {
			kind := "warmup"
			if timed {
				kind = "run"
			}
			fmt.Fprintf(stderr, "timeit: %s %d: %s, peak RSS %s\n", kind, i+1, formatMS(ms(elapsed)), formatKB(rss))
		}
		if timed {
			times = append(times, elapsed)
			maxRSS = max(maxRSS, rss)
		}
	}

	s := summarize(times)
	s.Command, s.Warmup, s.MaxRSSKB = argv, *warmup, maxRSS
	if *asJSON {
		return json.NewEncoder(stdout).Encode(s)
	}
	fmt.Fprintf(stdout, "%s\n  %d runs (%d warmup): median %s, min %s, p90 %s, max %s; peak RSS %s\n",
		strings.Join(argv, " "), s.Runs, s.Warmup, formatMS(s.MedianMS), formatMS(s.MinMS),
		formatMS(s.P90MS), formatMS(s.MaxMS), formatKB(s.MaxRSSKB))
	return nil
}

// execute runs cmd. Its output goes to stderr when verbose, otherwise it is
// kept and its tail is added to the error if the command fails.
func execute(cmd *exec.Cmd, verbose bool, stderr io.Writer) error {
	var tail tailBuffer
	if verbose {
		cmd.Stdout, cmd.Stderr = stderr, stderr
	} else {
		cmd.Stdout, cmd.Stderr = &tail, &tail
	}
	err := cmd.Run()
	if err != nil && tail.Len() > 0 {
		return fmt.Errorf("%w; last output:\n%s", err, tail.String())
	}
	return err
}

// maxRSSKB returns the peak resident set size of a finished process in KB
// (ru_maxrss is in kilobytes on Linux), or 0 where it is not available.
func maxRSSKB(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss)
	}
	return 0
}

// summarize computes the statistics of the timed runs.
func summarize(times []time.Duration) stats {
	xs := make([]float64, len(times))
	for i, t := range times {
		xs[i] = ms(t)
	}
	s := stats{Runs: len(xs), TimesMS: xs}
	if len(xs) == 0 {
		return s
	}
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	s.MedianMS = median(sorted)
	s.MinMS = sorted[0]
	s.MaxMS = sorted[len(sorted)-1]
	s.P90MS = percentile(sorted, 90)
	var sum float64
	for _, x := range sorted {
		sum += x
	}
	s.MeanMS = round3(sum / float64(len(sorted)))
	return s
}

// median returns the median of sorted values: the middle one, or the mean
// of the two middle ones for an even count.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return round3((sorted[n/2-1] + sorted[n/2]) / 2)
}

// percentile returns the p-th percentile of sorted values by the
// nearest-rank method: the smallest value with at least p% of the values
// at or below it.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

// round3 rounds to a microsecond, the precision reported.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func formatMS(x float64) string {
	if x >= 1000 {
		return fmt.Sprintf("%.2f s", x/1000)
	}
	return fmt.Sprintf("%.1f ms", x)
}

func formatKB(kb int64) string {
	return fmt.Sprintf("%.1f MB", float64(kb)/1024)
}

// tailBuffer keeps the last tailSize bytes written to it.
type tailBuffer struct {
	buf []byte
}

const tailSize = 8 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Len() int { return min(len(t.buf), tailSize) }

func (t *tailBuffer) String() string { return string(t.buf[len(t.buf)-t.Len():]) }
