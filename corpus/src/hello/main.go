// Program hello is a typical small Go program (fmt, strings, sort, strconv): the
// benchmark input for twixt. It counts the words of its arguments (or of a built-in
// text), sorts them by frequency and prints a small report.
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

const text = `Go is an open source programming language that makes it simple to build
secure, scalable systems. Go is expressive, concise, clean, and efficient. Its
concurrency mechanisms make it easy to write programs that get the most out of
multicore and networked machines.`

type entry struct {
	word  string
	count int
}

type byCount []entry

func (b byCount) Len() int      { return len(b) }
func (b byCount) Swap(i, j int) { b[i], b[j] = b[j], b[i] }
func (b byCount) Less(i, j int) bool {
	if b[i].count != b[j].count {
		return b[i].count > b[j].count
	}
	return b[i].word < b[j].word
}

func count(s string) []entry {
	counts := make(map[string]int)
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		counts[w]++
	}
	out := make([]entry, 0, len(counts))
	for w, c := range counts {
		out = append(out, entry{w, c})
	}
	sort.Sort(byCount(out))
	return out
}

func main() {
	input := text
	if len(os.Args) > 1 {
		input = strings.Join(os.Args[1:], " ")
	}
	entries := count(input)
	var b strings.Builder
	total := 0
	for i, e := range entries {
		total += e.count
		if i < 10 {
			fmt.Fprintf(&b, "%-12s %3d %s\n", e.word, e.count, strings.Repeat("*", e.count))
		}
	}
	fmt.Print(b.String())
	fmt.Println("distinct:", strconv.Itoa(len(entries)), "total:", strconv.Quote(strconv.Itoa(total)))
	if n, err := strconv.ParseFloat(os.Getenv("HELLO_SCALE"), 64); err == nil {
		fmt.Printf("scaled: %.3f\n", float64(total)*n)
	}
	os.Exit(0)
}
