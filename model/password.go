package model

import (
	"crypto/rand"
	"math/big"
	"strings"
)

// Character classes of GetRandomPassword, as the cloud defines them.
const (
	Lowercase   = "abcdefghijklmnopqrstuvwxyz"
	Uppercase   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	Digits      = "0123456789"
	Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

// PasswordOptions are GetRandomPassword's parameters.
type PasswordOptions struct {
	Length                  int // 8–128; 0 means the default 32
	ExcludeCharacters       string
	ExcludeLowercase        bool
	ExcludeUppercase        bool
	ExcludeNumbers          bool
	ExcludePunctuation      bool
	RequireEachIncludedType bool
}

// DefaultPasswordOptions is what a rotation uses: 32 characters from all four
// classes, each present.
func DefaultPasswordOptions() PasswordOptions {
	return PasswordOptions{Length: 32, RequireEachIncludedType: true}
}

// RandomPassword draws a password from crypto/rand.
func RandomPassword(o PasswordOptions) (string, error) {
	if o.Length == 0 {
		o.Length = 32
	}
	if o.Length < 8 || o.Length > 128 {
		return "", InvalidParam("PasswordLength", "must be between 8 and 128, got %d", o.Length)
	}
	var classes []string
	add := func(excluded bool, set string) {
		if excluded {
			return
		}
		var b strings.Builder
		for _, r := range set {
			if !strings.ContainsRune(o.ExcludeCharacters, r) {
				b.WriteRune(r)
			}
		}
		if b.Len() > 0 {
			classes = append(classes, b.String())
		}
	}
	add(o.ExcludeLowercase, Lowercase)
	add(o.ExcludeUppercase, Uppercase)
	add(o.ExcludeNumbers, Digits)
	add(o.ExcludePunctuation, Punctuation)
	if len(classes) == 0 {
		return "", InvalidParam("ExcludeCharacters", "every character class is excluded")
	}
	if o.RequireEachIncludedType && o.Length < len(classes) {
		return "", InvalidParam("PasswordLength", "too short to include each of the %d character types", len(classes))
	}
	all := strings.Join(classes, "")
	out := make([]byte, o.Length)
	pos := 0
	if o.RequireEachIncludedType {
		for _, c := range classes {
			out[pos] = c[randInt(len(c))]
			pos++
		}
	}
	for ; pos < o.Length; pos++ {
		out[pos] = all[randInt(len(all))]
	}
	// Shuffle so the guaranteed characters are not always first.
	for i := len(out) - 1; i > 0; i-- {
		j := randInt(i + 1)
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		// crypto/rand never fails on Linux; if it did, no password is safe.
		panic("crypto/rand: " + err.Error())
	}
	return int(v.Int64())
}
