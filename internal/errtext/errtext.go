// Package errtext keeps error messages readable whatever the input: a value
// echoed in a message is cut to a bounded length (with its real length), and
// a message is kept on one line. A compose file can hold a 5 MB scalar; an
// error about it must still fit on a terminal line.
package errtext

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxValue is how many characters of an offending value a message shows.
const MaxValue = 80

// MaxLine is the longest line Clip leaves alone.
const MaxLine = 400

// Quote returns v quoted as %q does, cut to MaxValue characters with an
// ellipsis and its length when it is longer.
func Quote(v string) string {
	n := utf8.RuneCountInString(v)
	if n <= MaxValue {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%s (%d chars)", strconv.Quote(head(v, MaxValue)+"…"), n)
}

// OneLine joins the non-empty lines of msg with "; " (with a space after a
// line ending in ':'): libraries such as mapstructure report "decoding
// failed due to the following error(s):", a blank line, then the errors.
func OneLine(msg string) string {
	var b strings.Builder
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

// Clip cuts every line of msg longer than MaxLine: first the quoted values
// in it ('…' or "…") longer than MaxValue, then any other run of
// non-blank characters longer than MaxValue, and if the line is still too
// long, the line itself. Each cut says how long the original was.
func Clip(msg string) string {
	if len(msg) <= MaxLine && !strings.Contains(msg, "\n") {
		return msg
	}
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		if len(l) > MaxLine {
			lines[i] = clipLine(l)
		}
	}
	return strings.Join(lines, "\n")
}

func clipLine(l string) string {
	l = clipQuoted(l)
	if len(l) > MaxLine {
		l = clipTokens(l)
	}
	if n := utf8.RuneCountInString(l); n > MaxLine {
		l = head(l, MaxLine) + fmt.Sprintf("… (%d chars)", n)
	}
	return l
}

// clipQuoted shortens the contents of quoted segments. A quote that is not
// closed on the line runs to its end.
func clipQuoted(l string) string {
	var b strings.Builder
	for {
		i := strings.IndexAny(l, `"'`)
		if i < 0 {
			b.WriteString(l)
			return b.String()
		}
		q := l[i]
		b.WriteString(l[:i+1])
		rest := l[i+1:]
		end := closingQuote(rest, q)
		inner, after, closed := rest, "", false
		if end >= 0 {
			inner, after, closed = rest[:end], rest[end+1:], true
		}
		if n := utf8.RuneCountInString(inner); n > MaxValue {
			b.WriteString(head(inner, MaxValue) + "…")
			if closed {
				b.WriteByte(q)
			}
			fmt.Fprintf(&b, " (%d chars)", n)
		} else {
			b.WriteString(inner)
			if closed {
				b.WriteByte(q)
			}
		}
		if !closed {
			return b.String()
		}
		l = after
	}
}

// closingQuote finds the quote q that ends a segment; a double quote may
// be escaped with a backslash, as %q writes it.
func closingQuote(s string, q byte) int {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && q == '"':
			i++
		case s[i] == q:
			return i
		}
	}
	return -1
}

func clipTokens(l string) string {
	var b strings.Builder
	for len(l) > 0 {
		i := strings.IndexAny(l, " \t")
		tok, sep := l, ""
		if i >= 0 {
			tok, sep, l = l[:i], l[i:i+1], l[i+1:]
		} else {
			l = ""
		}
		if n := utf8.RuneCountInString(tok); n > MaxValue {
			tok = head(tok, MaxValue) + fmt.Sprintf("… (%d chars)", n)
		}
		b.WriteString(tok)
		b.WriteString(sep)
	}
	return b.String()
}

// head returns the first n runes of s.
func head(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
