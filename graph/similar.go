package graph

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxDistance is the largest edit distance at which a name counts as
// similar.
const maxDistance = 2

// similar returns up to limit of the known names close to name, best
// first: smaller edit distance, then longer common prefix, then name order.
func similar(known []string, name string, limit int) []string {
	if limit <= 0 {
		return nil
	}
	type candidate struct {
		name   string
		dist   int
		prefix int
	}
	want := strings.ToLower(name)
	var found []candidate
	for _, k := range known {
		if k == name {
			continue
		}
		lk := strings.ToLower(k)
		prefix := commonPrefix(want, lk)
		dist := levenshtein(want, lk)
		if alike(want, lk, dist, prefix) {
			found = append(found, candidate{name: k, dist: dist, prefix: prefix})
		}
	}
	slices.SortFunc(found, func(a, b candidate) int {
		return cmp.Or(
			cmp.Compare(a.dist, b.dist),
			cmp.Compare(b.prefix, a.prefix),
			cmp.Compare(a.name, b.name),
		)
	})
	if len(found) > limit {
		found = found[:limit]
	}
	if len(found) == 0 {
		return nil
	}
	out := make([]string, len(found))
	for i, c := range found {
		out[i] = c.name
	}
	return out
}

// alike reports whether the lower-cased names a and b are alike enough to
// suggest one for the other. Very short names need stricter rules, or "ui"
// would suggest "db".
func alike(a, b string, dist, prefix int) bool {
	la, lb := utf8.RuneCountInString(a), utf8.RuneCountInString(b)
	shorter := min(la, lb)
	switch {
	case dist == 0: // differs only in case
		return true
	case dist <= maxDistance && dist < shorter:
		return true
	case shorter >= 3 && (strings.Contains(a, b) || strings.Contains(b, a)):
		return true
	case prefix >= 3 && 2*prefix >= la:
		return true
	}
	return false
}

// commonPrefix returns the number of leading runes a and b share.
func commonPrefix(a, b string) int {
	n := 0
	for a != "" && b != "" {
		ra, sa := utf8.DecodeRuneInString(a)
		rb, sb := utf8.DecodeRuneInString(b)
		if ra != rb {
			break
		}
		n++
		a, b = a[sa:], b[sb:]
	}
	return n
}

// levenshtein returns the edit distance between a and b in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	row := make([]int, len(rb)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		diag := row[0]
		row[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			next := min(row[j]+1, row[j-1]+1, diag+cost)
			diag = row[j]
			row[j] = next
		}
	}
	return row[len(rb)]
}
