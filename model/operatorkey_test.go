package model

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"kmsconsole/ecs/sshdtest"
)

// TestParseOperatorKey: from= is kept (and canonical in Line), every other
// option is refused with an error naming it, and a malformed from= list is
// refused rather than read as something looser.
func TestParseOperatorKey(t *testing.T) {
	pub, _ := sshdtest.GenerateKey(t, "ed25519")
	ok := []struct{ line, wantLine string }{
		{pub + " alice@laptop", pub},
		{"# alice\n\n" + pub + "\n", pub},
		{`from="10.0.0.0/8,!10.1.2.3" ` + pub + " alice", `from="10.0.0.0/8,!10.1.2.3" ` + pub},
		{`FROM="192.0.2.*,2001:db8::/32,::1" ` + pub, `from="192.0.2.*,2001:db8::/32,::1" ` + pub},
	}
	for _, c := range ok {
		k, err := ParseOperatorKey(c.line)
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		if got := k.Line(); got != c.wantLine {
			t.Errorf("%q: Line() = %q, want %q", c.line, got, c.wantLine)
		}
		again, err := ParseOperatorKey(k.Line())
		if err != nil || again.Line() != k.Line() {
			t.Errorf("%q: Line() does not parse back: %v", c.line, err)
		}
	}
	bad := []struct{ line, want string }{
		{`command="/bin/true" ` + pub, `"command" is not supported`},
		{`from="127.0.0.1",command="kms ListSecrets" ` + pub, `"command" is not supported`},
		{`restrict ` + pub, `"restrict" is not supported`},
		{`no-pty,from="127.0.0.1" ` + pub, `"no-pty" is not supported`},
		{`permitopen="host:22" ` + pub, `"permitopen" is not supported`},
		{`environment="A=b" ` + pub, `"environment" is not supported`},
		{`from="10.0.0.0/8",from="127.0.0.1" ` + pub, "given twice"},
		{`from="" ` + pub, "empty pattern"},
		{`from="10.0.0.1,,10.0.0.2" ` + pub, "empty pattern"},
		{`from="!" ` + pub, "empty pattern"},
		{`from="10.1.2.3/8" ` + pub, "bits set beyond"},
		{`from="10.0.0.0/33" ` + pub, "not a valid address/prefix"},
		{`from="*.example.com" ` + pub, "not host names"},
		{`from="bastion" ` + pub, "not host names"},
		{`from=10.0.0.1 ` + pub, "double quotes"},
		{"not-a-key", "not an OpenSSH public key line"},
		{pub + "\n" + pub, "more than one key"},
	}
	for _, c := range bad {
		_, err := ParseOperatorKey(c.line)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one with %q", c.line, err, c.want)
		}
	}
}

// TestMatchFrom: OpenSSH's from= semantics over the client's address:
// addresses, CIDR prefixes, * and ? wildcards, and a matching negated entry
// refuses whatever else matches.
func TestMatchFrom(t *testing.T) {
	cases := []struct {
		ip, list string
		want     bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.2", false},
		{"127.0.0.1", "127.0.0.0/8", true},
		{"127.0.0.1", "10.0.0.0/8", false},
		{"127.0.0.1", "10.0.0.0/8,127.0.0.1", true},
		{"127.0.0.1", "127.0.0.*", true},
		{"127.0.0.1", "127.0.0.?", true},
		{"127.0.0.12", "127.0.0.?", false},
		{"127.0.0.1", "*", true},
		{"127.0.0.1", "!127.0.0.1,*", false},
		{"127.0.0.1", "*,!127.0.0.1", false},
		{"127.0.0.1", "!127.0.0.0/8,*", false},
		{"127.0.0.1", "!127.0.0.*,*", false},
		{"127.0.0.2", "!127.0.0.1,*", true},
		{"127.0.0.1", "!10.0.0.0/8", false}, // only negative entries: nothing positive matched
		{"10.1.2.3", "10.0.0.0/8,!10.1.0.0/16", false},
		{"10.2.2.3", "10.0.0.0/8,!10.1.0.0/16", true},
		{"::1", "::1", true},
		{"::1", "127.0.0.1", false},
		{"2001:db8::5", "2001:db8::/32", true},
		{"2001:db8::5", "2001:DB8::*", true},
		{"2001:db9::5", "2001:db8::/32", false},
		{"::ffff:127.0.0.1", "127.0.0.1", true}, // a mapped address is the IPv4 one
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip)
		addr := &net.TCPAddr{IP: net.IP(ip.AsSlice()), Port: 50000}
		k := &OperatorKey{From: strings.Split(c.list, ",")}
		if got := k.AllowsFrom(addr); got != c.want {
			t.Errorf("from=%q, client %s: allowed %v, want %v", c.list, c.ip, got, c.want)
		}
	}
	if (&OperatorKey{From: []string{"*"}}).AllowsFrom(nil) {
		t.Error("a client without an address passed a from= list")
	}
}
