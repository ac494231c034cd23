package ssekeys

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ParseKMSKeyID turns what a user gives for --sse-kms-key-id into the key id
// to send: a Barbican secret UUID, or a secret href
// (https://barbican.example:9311/v1/secrets/UUID), becomes the bare
// lower-case UUID, because Ceph RGW answers 404 for an href or an upper-case
// id. Any other non-empty id (an AWS KMS key id, alias or ARN) is kept as
// given.
func ParseKMSKeyID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("empty KMS key id")
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("KMS key id %q: not a valid href: %v", s, err)
		}
		parts := strings.Split(strings.TrimRight(u.Path, "/"), "/")
		last := parts[len(parts)-1]
		if len(parts) < 2 || parts[len(parts)-2] != "secrets" || !uuidPattern.MatchString(last) {
			return "", fmt.Errorf("KMS key id %q: expected a Barbican secret href ending in /secrets/<uuid>", s)
		}
		return strings.ToLower(last), nil
	}
	if uuidPattern.MatchString(s) {
		return strings.ToLower(s), nil
	}
	if strings.ContainsAny(s, " \t\n") {
		return "", fmt.Errorf("KMS key id %q contains white space", s)
	}
	return s, nil
}

// IsBarbicanID reports whether id is a bare Barbican secret UUID.
func IsBarbicanID(id string) bool { return uuidPattern.MatchString(id) }
