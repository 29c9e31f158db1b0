package files

import (
	"fmt"
	"strings"
)

// Line kinds of a [Hunk].
const (
	LineContext = " "
	LineAdd     = "+"
	LineDelete  = "-"
)

// DiffLine is one line of a hunk.
type DiffLine struct {
	// Kind is " " (context), "+" (added) or "-" (deleted).
	Kind string `json:"kind"`
	Text string `json:"text"`
	// Old and New are the 1-based line numbers on each side; 0 where the
	// line does not exist on that side.
	Old int `json:"old,omitempty"`
	New int `json:"new,omitempty"`
}

// Hunk is a run of changes with their context.
type Hunk struct {
	OldStart int        `json:"old_start"`
	OldLines int        `json:"old_lines"`
	NewStart int        `json:"new_start"`
	NewLines int        `json:"new_lines"`
	Lines    []DiffLine `json:"lines"`
}

// Diff compares two versions of a file.
type Diff struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Binary is set when either side is binary: no hunks then, only
	// whether they differ.
	Binary  bool   `json:"binary,omitempty"`
	Changed bool   `json:"changed"`
	Hunks   []Hunk `json:"hunks"`
	// Unified is the diff in unified format (diff -u, git diff).
	Unified string `json:"unified"`
}

// diffContext is how many unchanged lines surround each change.
const diffContext = 3

// splitLines splits s into lines without their newline.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// op is one step of an edit script.
type op struct {
	kind string
	a, b int // indexes in old and new
}

// editScript returns the shortest edit script turning a into b (Myers'
// O(ND) algorithm).
func editScript(a, b []string) []op {
	n, m := len(a), len(b)
	maxD := n + m
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int
	for d := 0; d <= maxD; d++ {
		trace = append(trace, append([]int(nil), v...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(trace, a, b, off, d)
			}
		}
	}
	return nil
}

func backtrack(trace [][]int, a, b []string, off, d int) []op {
	x, y := len(a), len(b)
	var ops []op
	for ; d > 0; d-- {
		v := trace[d]
		k := x - y
		var prevK int
		if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := v[off+prevK]
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			x, y = x-1, y-1
			ops = append(ops, op{LineContext, x, y})
		}
		if x == prevX {
			y--
			ops = append(ops, op{LineAdd, x, y})
		} else {
			x--
			ops = append(ops, op{LineDelete, x, y})
		}
	}
	for x > 0 && y > 0 {
		x, y = x-1, y-1
		ops = append(ops, op{LineContext, x, y})
	}
	for i, j := 0, len(ops)-1; i < j; i, j = i+1, j-1 {
		ops[i], ops[j] = ops[j], ops[i]
	}
	return ops
}

// maxDiffLines bounds the lines Myers' algorithm compares; beyond it the
// files are reported as changed without hunks.
const maxDiffLines = 20000

// TextDiff compares two texts line by line and returns the hunks and the
// unified diff, headed with the names from and to.
func TextDiff(from, to, old, new string) Diff {
	d := Diff{From: from, To: to, Hunks: []Hunk{}, Changed: old != new}
	if !d.Changed {
		return d
	}
	a, b := splitLines(old), splitLines(new)
	if len(a)+len(b) > maxDiffLines {
		d.Unified = fmt.Sprintf("--- %s\n+++ %s\n(files differ; too long to compare line by line)\n", from, to)
		return d
	}
	ops := editScript(a, b)
	var lines []DiffLine
	for _, o := range ops {
		switch o.kind {
		case LineContext:
			lines = append(lines, DiffLine{Kind: LineContext, Text: a[o.a], Old: o.a + 1, New: o.b + 1})
		case LineDelete:
			lines = append(lines, DiffLine{Kind: LineDelete, Text: a[o.a], Old: o.a + 1})
		case LineAdd:
			lines = append(lines, DiffLine{Kind: LineAdd, Text: b[o.b], New: o.b + 1})
		}
	}
	// Group changes with their context into hunks.
	for i := 0; i < len(lines); {
		if lines[i].Kind == LineContext {
			i++
			continue
		}
		start := max(0, i-diffContext)
		end := i
		for end < len(lines) {
			if lines[end].Kind != LineContext {
				end++
				continue
			}
			run := end
			for run < len(lines) && lines[run].Kind == LineContext {
				run++
			}
			if run == len(lines) || run-end > 2*diffContext {
				end = min(len(lines), end+diffContext)
				break
			}
			end = run
		}
		d.Hunks = append(d.Hunks, makeHunk(lines[start:end]))
		i = end
	}
	var u strings.Builder
	fmt.Fprintf(&u, "--- %s\n+++ %s\n", from, to)
	for _, h := range d.Hunks {
		fmt.Fprintf(&u, "@@ -%s +%s @@\n", span(h.OldStart, h.OldLines), span(h.NewStart, h.NewLines))
		for _, l := range h.Lines {
			u.WriteString(l.Kind + l.Text + "\n")
		}
	}
	if !strings.HasSuffix(old, "\n") && old != "" || !strings.HasSuffix(new, "\n") && new != "" {
		u.WriteString("\\ No newline at end of file\n")
	}
	d.Unified = u.String()
	return d
}

func makeHunk(lines []DiffLine) Hunk {
	h := Hunk{Lines: append([]DiffLine(nil), lines...)}
	for _, l := range lines {
		if l.Kind != LineAdd {
			if h.OldStart == 0 {
				h.OldStart = l.Old
			}
			h.OldLines++
		}
		if l.Kind != LineDelete {
			if h.NewStart == 0 {
				h.NewStart = l.New
			}
			h.NewLines++
		}
	}
	// With context around every change, a side is empty only when its
	// file is: diff -u then starts it at 0.
	if h.OldLines == 0 {
		h.OldStart = 0
	}
	if h.NewLines == 0 {
		h.NewStart = 0
	}
	return h
}

func span(start, n int) string {
	if n == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}
