package model

import (
	"strings"
	"testing"
)

func classCount(p, class string) int {
	n := 0
	for _, r := range p {
		if strings.ContainsRune(class, r) {
			n++
		}
	}
	return n
}

func TestPasswordClasses(t *testing.T) {
	// The four classes are disjoint and cover the printable ASCII except space.
	all := Lowercase + Uppercase + Digits + Punctuation
	if len(all) != 94 {
		t.Fatalf("classes hold %d characters, want 94", len(all))
	}
	for c := byte(0x21); c < 0x7f; c++ {
		if strings.Count(all, string(c)) != 1 {
			t.Errorf("%q appears %d times in the classes", c, strings.Count(all, string(c)))
		}
	}
}

func TestRandomPasswordDefault(t *testing.T) {
	all := Lowercase + Uppercase + Digits + Punctuation
	for i := 0; i < 500; i++ {
		p, err := RandomPassword(DefaultPasswordOptions())
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 32 {
			t.Fatalf("length %d, want 32", len(p))
		}
		for _, class := range []string{Lowercase, Uppercase, Digits, Punctuation} {
			if classCount(p, class) == 0 {
				t.Fatalf("password %d lacks a character from %q", i, class)
			}
		}
		if classCount(p, all) != len(p) {
			t.Fatalf("password %d has characters outside the classes", i)
		}
	}
}

func TestRandomPasswordLength(t *testing.T) {
	tests := []struct {
		length, want int
		code         string
	}{
		{0, 32, ok}, // 0 means the default
		{8, 8, ok},
		{9, 9, ok},
		{64, 64, ok},
		{128, 128, ok},
		{7, 0, invalid},
		{1, 0, invalid},
		{-1, 0, invalid},
		{129, 0, invalid},
		{1 << 20, 0, invalid},
	}
	for _, tc := range tests {
		for _, require := range []bool{true, false} {
			p, err := RandomPassword(PasswordOptions{Length: tc.length, RequireEachIncludedType: require})
			check(t, err, tc.code, "PasswordLength")
			if len(p) != tc.want {
				t.Errorf("Length %d: got %d characters, want %d", tc.length, len(p), tc.want)
			}
		}
	}
}

func TestRandomPasswordShortStillHasEachClass(t *testing.T) {
	for i := 0; i < 500; i++ {
		p, err := RandomPassword(PasswordOptions{Length: 8, RequireEachIncludedType: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, class := range []string{Lowercase, Uppercase, Digits, Punctuation} {
			if classCount(p, class) == 0 {
				t.Fatalf("8-character password lacks %q", class)
			}
		}
	}
}

func TestRandomPasswordExcludes(t *testing.T) {
	classes := map[string]string{"lower": Lowercase, "upper": Uppercase, "digits": Digits, "punct": Punctuation}
	tests := []struct {
		name     string
		opts     PasswordOptions
		excluded []string // classes that must not appear
	}{
		{"lowercase", PasswordOptions{ExcludeLowercase: true}, []string{"lower"}},
		{"uppercase", PasswordOptions{ExcludeUppercase: true}, []string{"upper"}},
		{"numbers", PasswordOptions{ExcludeNumbers: true}, []string{"digits"}},
		{"punctuation", PasswordOptions{ExcludePunctuation: true}, []string{"punct"}},
		{"letters", PasswordOptions{ExcludeLowercase: true, ExcludeUppercase: true}, []string{"lower", "upper"}},
		{"digits only", PasswordOptions{ExcludeLowercase: true, ExcludeUppercase: true, ExcludePunctuation: true}, []string{"lower", "upper", "punct"}},
		{"class removed by ExcludeCharacters", PasswordOptions{ExcludeCharacters: Digits}, []string{"digits"}},
	}
	for _, tc := range tests {
		for _, require := range []bool{true, false} {
			t.Run(tc.name, func(t *testing.T) {
				opts := tc.opts
				opts.Length = 16
				opts.RequireEachIncludedType = require
				excluded := map[string]bool{}
				for _, e := range tc.excluded {
					excluded[e] = true
				}
				for i := 0; i < 200; i++ {
					p, err := RandomPassword(opts)
					if err != nil {
						t.Fatal(err)
					}
					if len(p) != 16 {
						t.Fatalf("length %d", len(p))
					}
					for name, class := range classes {
						n := classCount(p, class)
						if excluded[name] && n > 0 {
							t.Fatalf("%q contains excluded class %s", p, name)
						}
						if require && !excluded[name] && n == 0 {
							t.Fatalf("%q lacks included class %s", p, name)
						}
					}
				}
			})
		}
	}
}

func TestRandomPasswordExcludeCharacters(t *testing.T) {
	const bad = `abcxyzABCXYZ0189!"'\` + "`$ "
	for i := 0; i < 300; i++ {
		p, err := RandomPassword(PasswordOptions{Length: 64, ExcludeCharacters: bad, RequireEachIncludedType: true})
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(p, bad) {
			t.Fatalf("%q contains an excluded character", p)
		}
		for _, class := range []string{Lowercase, Uppercase, Digits, Punctuation} {
			if classCount(p, class) == 0 {
				t.Fatalf("%q lacks %q", p, class)
			}
		}
	}
	// Non-ASCII exclusions are harmless.
	if _, err := RandomPassword(PasswordOptions{ExcludeCharacters: "éü密"}); err != nil {
		t.Error(err)
	}
	// Only one character left: the password is made of it.
	p, err := RandomPassword(PasswordOptions{
		Length: 8, ExcludeCharacters: strings.ReplaceAll(Lowercase, "q", ""),
		ExcludeUppercase: true, ExcludeNumbers: true, ExcludePunctuation: true,
		RequireEachIncludedType: true,
	})
	if err != nil || p != "qqqqqqqq" {
		t.Errorf("got %q, %v; want qqqqqqqq", p, err)
	}
}

func TestRandomPasswordAllExcluded(t *testing.T) {
	tests := []struct {
		name string
		opts PasswordOptions
	}{
		{"all flags", PasswordOptions{ExcludeLowercase: true, ExcludeUppercase: true, ExcludeNumbers: true, ExcludePunctuation: true}},
		{"all characters", PasswordOptions{ExcludeCharacters: Lowercase + Uppercase + Digits + Punctuation}},
		{"flags and characters", PasswordOptions{ExcludeLowercase: true, ExcludeUppercase: true, ExcludeNumbers: true, ExcludeCharacters: Punctuation}},
	}
	for _, tc := range tests {
		for _, require := range []bool{true, false} {
			tc.opts.RequireEachIncludedType = require
			p, err := RandomPassword(tc.opts)
			check(t, err, invalid, "")
			if p != "" {
				t.Errorf("%s: got %q with the error", tc.name, p)
			}
		}
	}
}

func TestRandomPasswordWithoutRequireEachType(t *testing.T) {
	all := Lowercase + Uppercase + Digits + Punctuation
	for i := 0; i < 200; i++ {
		p, err := RandomPassword(PasswordOptions{Length: 8})
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 8 || classCount(p, all) != 8 {
			t.Fatalf("bad password %q", p)
		}
	}
}

func TestRandomPasswordUnique(t *testing.T) {
	seen := make(map[string]bool, 1000)
	for i := 0; i < 1000; i++ {
		p, err := RandomPassword(DefaultPasswordOptions())
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("password repeated after %d draws", i)
		}
		seen[p] = true
	}
}

// The guaranteed characters are shuffled in: over many draws every position
// sees every class.
func TestRandomPasswordPositionsMixed(t *testing.T) {
	const n = 8
	seen := [n]map[int]bool{}
	for i := range seen {
		seen[i] = map[int]bool{}
	}
	classes := []string{Lowercase, Uppercase, Digits, Punctuation}
	for i := 0; i < 2000; i++ {
		p, _ := RandomPassword(PasswordOptions{Length: n, RequireEachIncludedType: true})
		for pos := 0; pos < n; pos++ {
			for c, class := range classes {
				if strings.IndexByte(class, p[pos]) >= 0 {
					seen[pos][c] = true
				}
			}
		}
	}
	for pos := range seen {
		if len(seen[pos]) != 4 {
			t.Errorf("position %d only ever held classes %v", pos, seen[pos])
		}
	}
}
