package api

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestErrorCodesUniqueAndNonZero(t *testing.T) {
	seen := map[uint32]string{}
	for i, e := range AllErrors() {
		if e.Code == 0 {
			t.Errorf("%q has code 0, which means success", e.Desc)
		}
		if prev, ok := seen[e.Code]; ok {
			t.Errorf("code %d used by both %q and %q", e.Code, prev, e.Desc)
		}
		seen[e.Code] = e.Desc
		// In code order, without gaps: a code is never reused, so a gap
		// would be a code nobody can ever have.
		if e.Code != uint32(i+1) {
			t.Errorf("AllErrors()[%d] = %q with code %d; want code %d", i, e.Desc, e.Code, i+1)
		}
	}
}

func TestErrorTableMatchesSentinels(t *testing.T) {
	// The file doc of errors.go lists every code; keep the two in step.
	src, err := os.ReadFile("errors.go")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^//\t\s*(\d+)\s+(Err\w+)\s`)
	table := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(src), -1) {
		table[m[1]] = m[2]
	}
	if len(table) != len(AllErrors()) {
		t.Errorf("the table in errors.go has %d rows; there are %d sentinels", len(table), len(AllErrors()))
	}
	for _, e := range AllErrors() {
		name, ok := table[fmt.Sprint(e.Code)]
		if !ok {
			t.Errorf("code %d (%s) is missing from the table in errors.go", e.Code, e.Desc)
			continue
		}
		if !strings.Contains(string(src), fmt.Sprintf("%s = &Error{%d, ", name, e.Code)) &&
			!regexp.MustCompile(name+`\s*= &Error\{`+fmt.Sprint(e.Code)+`,`).Match(src) {
			t.Errorf("the table says code %d is %s, but %s is declared with another code", e.Code, name, name)
		}
	}
}

func TestCodeOf(t *testing.T) {
	err := Errorf(ErrSequenceUsed, "sequence %d already used by account %s; next is %d", 12, "3F9A", 13)
	if got := err.Error(); got != "sequence 12 already used by account 3F9A; next is 13" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(err, ErrSequenceUsed) {
		t.Error("errors.Is(err, ErrSequenceUsed) = false")
	}
	wrappedTwice := fmt.Errorf("deliver: %w", err)
	cases := []struct {
		err  error
		want uint32
	}{
		{nil, 0},
		{err, 7},
		{wrappedTwice, 7},
		{ErrTxTooLarge, 1},
		{errors.New("boom"), ErrInternal.Code},
	}
	for _, c := range cases {
		if got := CodeOf(c.err); got != c.want {
			t.Errorf("CodeOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
