package model

// Operator key lines and their options: `operator add` (service) checks
// and stores them, serve enforces them at login.

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"golang.org/x/crypto/ssh"
)

// OperatorKey is an operator's registered public key with the one
// authorized_keys option serve honours: from=.
type OperatorKey struct {
	Key ssh.PublicKey
	// From is the from= pattern list (OpenSSH semantics: addresses, CIDR
	// prefixes, * and ? wildcards, ! negation); nil means any address.
	From []string
}

// ParseOperatorKey parses an operator's key as given to `operator add`: one
// authorized_keys line ("[options] type base64 [comment]"; blank and #
// lines around it are ignored). The only option accepted is from="…"; any
// other (command=, restrict, no-pty, …) is refused with an error naming it,
// since serve would not enforce it and a restriction silently ignored is
// worse than none.
func ParseOperatorKey(line string) (*OperatorKey, error) {
	pk, options, err := ParseOperatorKeyLine(line)
	if err != nil {
		return nil, err
	}
	from, err := OperatorKeyOptions(options)
	if err != nil {
		return nil, err
	}
	return &OperatorKey{Key: pk, From: from}, nil
}

// Line is the key's canonical authorized_keys line, the form to store: the
// from= option if any, the type and the base64 key, no comment.
func (k *OperatorKey) Line() string {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.Key)))
	if k.From == nil {
		return line
	}
	return `from="` + strings.Join(k.From, ",") + `" ` + line
}

// AllowsFrom reports whether a client at remote may log in with this key:
// always without from=, otherwise when remote's address matches the list
// as sshd matches it (with UseDNS no, its default: addresses only).
func (k *OperatorKey) AllowsFrom(remote net.Addr) bool {
	if k.From == nil {
		return true
	}
	ip, ok := remoteIP(remote)
	return ok && matchFrom(ip, k.From)
}

// SameKey reports whether pk is this operator key (options aside).
func (k *OperatorKey) SameKey(pk ssh.PublicKey) bool {
	return pk != nil && bytes.Equal(k.Key.Marshal(), pk.Marshal())
}

// ParseOperatorKeyLine parses exactly one key line (blank and # lines
// around it ignored) by the model key rules and returns its raw options.
func ParseOperatorKeyLine(line string) (ssh.PublicKey, []string, error) {
	var keyLine string
	for _, l := range strings.Split(line, "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if keyLine != "" {
			return nil, nil, fmt.Errorf("more than one key line: give one key per operator")
		}
		keyLine = l
	}
	pk, options, err := ParseUserPublicKey("Key", keyLine)
	if err != nil {
		return nil, nil, fmt.Errorf("%s", AsAPIError(err).Message)
	}
	return pk, options, nil
}

// OperatorKeyOptions checks a key's authorized_keys options and returns its from=
// patterns (nil if it has none).
func OperatorKeyOptions(options []string) ([]string, error) {
	var from []string
	for _, opt := range options {
		name, value, hasValue := strings.Cut(opt, "=")
		if !strings.EqualFold(name, "from") {
			return nil, fmt.Errorf("key option %q is not supported by kmsconsole serve (only from=\"PATTERNS\" is); remove it from the key line", name)
		}
		if from != nil {
			return nil, fmt.Errorf("key option from= is given twice; give one from=\"PATTERN,…\" list")
		}
		if !hasValue {
			return nil, fmt.Errorf(`key option from needs a quoted list: from="10.0.0.0/8,192.0.2.7"`)
		}
		list, err := dequote(value)
		if err != nil {
			return nil, fmt.Errorf("key option from=: %v", err)
		}
		if from, err = parseFromList(list); err != nil {
			return nil, err
		}
	}
	return from, nil
}

// dequote undoes an option value's quotes as sshd does: "…" with \" for a
// quote inside.
func dequote(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' {
		return "", fmt.Errorf("the value must be in double quotes")
	}
	var b strings.Builder
	i := 1
	for ; i < len(v) && v[i] != '"'; i++ {
		if v[i] == '\\' && i+1 < len(v) && v[i+1] == '"' {
			i++
		}
		b.WriteByte(v[i])
	}
	if i != len(v)-1 {
		return "", fmt.Errorf("missing or misplaced closing quote")
	}
	return b.String(), nil
}

// parseFromList splits and checks a from= list. Each entry is an address,
// a CIDR prefix (no host bits set, as sshd requires) or a wildcard pattern
// over an address, optionally negated with !. Host names are refused:
// serve matches the client's address, never a name (sshd's UseDNS no).
func parseFromList(list string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(list, ",") {
		pat := strings.TrimPrefix(p, "!")
		if pat == "" {
			return nil, fmt.Errorf("key option from=: empty pattern in %q", list)
		}
		if strings.Contains(pat, "/") {
			pfx, err := netip.ParsePrefix(pat)
			if err != nil {
				return nil, fmt.Errorf("key option from=: %q is not a valid address/prefix", pat)
			}
			if pfx.Masked() != pfx {
				return nil, fmt.Errorf("key option from=: %q has bits set beyond its /%d (did you mean %s?)", pat, pfx.Bits(), pfx.Masked())
			}
		} else if _, err := netip.ParseAddr(pat); err != nil {
			if strings.Trim(pat, "0123456789abcdefABCDEF.:*?") != "" || !strings.ContainsAny(pat, "*?") {
				return nil, fmt.Errorf("key option from=: %q is not an address, a CIDR prefix or an address pattern with * or ? (serve matches addresses, not host names)", pat)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// remoteIP is the client's address as sshd sees it: IPv4-mapped IPv6
// addresses as IPv4, no zone.
func remoteIP(remote net.Addr) (netip.Addr, bool) {
	if remote == nil {
		return netip.Addr{}, false
	}
	var ip netip.Addr
	if ta, ok := remote.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr()
	} else if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
		ip = ap.Addr()
	}
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}

// matchFrom is OpenSSH's match_host_and_ip for a client known by its
// address only (host name = address): the address is matched against the
// list as addresses and prefixes (addr_match_list) and as wildcard
// patterns (match_hostname); a negated entry that matches refuses, and at
// least one positive entry must match.
func matchFrom(ip netip.Addr, patterns []string) bool {
	addr := strings.ToLower(ip.String())
	// addr_match_list: CIDR first, a wildcard match otherwise.
	mip := 0
	for _, p := range patterns {
		pat, neg := strings.CutPrefix(p, "!")
		var hit bool
		if pfx, err := netip.ParsePrefix(pat); err == nil {
			hit = pfx.Contains(ip)
		} else if a, err := netip.ParseAddr(pat); err == nil {
			hit = a.Unmap() == ip
		} else {
			hit = wildcardMatch(addr, strings.ToLower(pat))
		}
		if hit {
			if neg {
				return false
			}
			mip = 1
		}
	}
	// match_hostname over the address as a name.
	mhost := 0
	for _, p := range patterns {
		pat, neg := strings.CutPrefix(p, "!")
		if wildcardMatch(addr, strings.ToLower(pat)) {
			if neg {
				return false
			}
			mhost = 1
		}
	}
	return mip == 1 || mhost == 1
}

// wildcardMatch is OpenSSH's match_pattern: * is any run of characters, ?
// one character, everything else itself.
func wildcardMatch(s, pat string) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case '*':
			pat = strings.TrimLeft(pat, "*")
			if pat == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if wildcardMatch(s[i:], pat) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			s, pat = s[1:], pat[1:]
		default:
			if s == "" || s[0] != pat[0] {
				return false
			}
			s, pat = s[1:], pat[1:]
		}
	}
	return s == ""
}
