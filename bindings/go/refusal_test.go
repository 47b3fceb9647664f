// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import "testing"

// TestRefusalBody: the body of every refusal of the shared fixture, from its status, reason
// and rule.
func TestRefusalBody(t *testing.T) {
	_, cases := contractCases(t)
	n := 0
	for _, c := range cases {
		if c.Status == 200 {
			continue
		}
		n++
		rule, _ := c.Log["rule"].(string)
		d := Decision{Reason: c.Log["reason"].(string), Rule: rule}
		if got := RefusalBody(c.Status, d); got != c.Body {
			t.Errorf("%s: %q, want %q", c.Name, got, c.Body)
		}
	}
	if n < 4 {
		t.Fatalf("only %d refusals in the fixture", n)
	}
	// A rule id is escaped as JSON requires, and no more.
	if got, want := RefusalBody(403, Decision{Reason: ReasonDenied, Rule: "a\"b\\c<d>\x01"}),
		`{"error":"forbidden","reason":"denied","rule":"a\"b\\c<d>\u0001"}`+"\n"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
