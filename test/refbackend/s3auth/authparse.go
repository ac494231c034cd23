package s3auth

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// parseAuth extracts the claimed signature from the Authorization header or
// the presigned query parameters.
func parseAuth(r *http.Request) (*sigInput, error) {
	params, qerr := parseQuery(r.URL.RawQuery)
	auth := r.Header.Values("Authorization")
	presigned := qerr == nil && paramCount(params, "X-Amz-Algorithm") > 0
	switch {
	case len(auth) > 0 && presigned:
		return nil, newErr(http.StatusBadRequest, CodeInvalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")
	case len(auth) > 0:
		if qerr != nil {
			return nil, errInvalidRequest("The query string is malformed.")
		}
		return parseHeaderAuth(r, auth, params)
	case presigned:
		return parsePresigned(r, params)
	case qerr == nil && (paramCount(params, "X-Amz-Signature") > 0 || paramCount(params, "X-Amz-Credential") > 0):
		return nil, errQueryMalformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	return nil, errAccessDenied("Anonymous access is forbidden for this operation")
}

func paramCount(params []queryParam, name string) int {
	n := 0
	for _, p := range params {
		if p.name == name {
			n++
		}
	}
	return n
}

func paramValue(params []queryParam, name string) string {
	for _, p := range params {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

// parseCredential splits "AKID/date/region/service/aws4_request" into in.
func (in *sigInput) parseCredential(cred string) error {
	parts := strings.Split(cred, "/")
	if len(parts) < 5 {
		return in.malformed("the Credential %q is not of the form AKID/date/region/s3/aws4_request.", truncate(cred, 128))
	}
	n := len(parts)
	in.accessKey = strings.Join(parts[:n-4], "/")
	in.date, in.region = parts[n-4], parts[n-3]
	if parts[n-2] != "s3" {
		return in.malformed("incorrect service %q. This endpoint belongs to \"s3\".", truncate(parts[n-2], 64))
	}
	if parts[n-1] != "aws4_request" {
		return in.malformed("incorrect terminal %q. This endpoint uses \"aws4_request\".", truncate(parts[n-1], 64))
	}
	if in.region == "" {
		return in.malformed("the region is empty.")
	}
	return nil
}

// parseHeaderAuth parses
// "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func parseHeaderAuth(r *http.Request, auth []string, params []queryParam) (*sigInput, error) {
	in := &sigInput{params: params}
	if len(auth) != 1 {
		return nil, in.malformed("more than one Authorization header.")
	}
	alg, rest, _ := strings.Cut(strings.TrimSpace(auth[0]), " ")
	switch {
	case alg == Algorithm:
	case alg == "AWS" || strings.HasPrefix(alg, "AWS4-"):
		return nil, errInvalidRequest("The authorization mechanism you have provided is not supported. Please use %s.", Algorithm)
	default:
		return nil, newErr(http.StatusBadRequest, CodeInvalidArgument, "Unsupported Authorization Type")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return nil, in.malformed("the component %q is not of the form key=value.", truncate(f, 64))
		}
		if _, dup := fields[k]; dup {
			return nil, in.malformed("the component %q is repeated.", truncate(k, 64))
		}
		fields[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if _, ok := fields[k]; !ok {
			return nil, in.malformed("missing %s.", k)
		}
	}
	if len(fields) != 3 {
		return nil, in.malformed("unexpected components.")
	}
	if err := in.parseCredential(fields["Credential"]); err != nil {
		return nil, err
	}
	in.signedHeaders = fields["SignedHeaders"]
	in.signature = strings.ToLower(fields["Signature"])

	when, err := requestTime(r)
	if err != nil {
		return nil, err
	}
	in.when = when

	payload := r.Header.Values("X-Amz-Content-Sha256")
	if len(payload) != 1 {
		return nil, errInvalidRequest("Missing required header for this request: x-amz-content-sha256")
	}
	in.payloadHash = payload[0]

	// Every x-amz-* header must be covered by the signature.
	signed := strings.Split(in.signedHeaders, ";")
	for name := range r.Header {
		lname := strings.ToLower(name)
		if strings.HasPrefix(lname, "x-amz-") && !contains(signed, lname) {
			return nil, errAccessDenied("There were headers present in the request which were not signed: %s", truncate(lname, 64))
		}
	}
	return in, nil
}

// requestTime reads x-amz-date, or Date when x-amz-date is absent.
func requestTime(r *http.Request) (time.Time, error) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(iso8601Basic, v)
		if err != nil {
			return time.Time{}, errAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
		}
		return t, nil
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return time.Time{}, errAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
		}
		return t.UTC(), nil
	}
	return time.Time{}, errAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
}

// parsePresigned parses the X-Amz-* query parameters of a presigned URL.
func parsePresigned(r *http.Request, params []queryParam) (*sigInput, error) {
	in := &sigInput{presigned: true, params: params}
	names := []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"}
	for _, n := range names {
		if paramCount(params, n) != 1 {
			return nil, errQueryMalformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	if paramValue(params, "X-Amz-Algorithm") != Algorithm {
		return nil, errQueryMalformed("X-Amz-Algorithm only supports \"%s\"", Algorithm)
	}
	if err := in.parseCredential(paramValue(params, "X-Amz-Credential")); err != nil {
		return nil, err
	}
	t, err := time.Parse(iso8601Basic, paramValue(params, "X-Amz-Date"))
	if err != nil {
		return nil, errQueryMalformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	in.when = t
	exp, err := strconv.ParseInt(paramValue(params, "X-Amz-Expires"), 10, 64)
	if err != nil || exp < 0 {
		return nil, errQueryMalformed("X-Amz-Expires should be a number")
	}
	if exp > MaxPresignExpires {
		return nil, errQueryMalformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	in.expires = exp
	in.signedHeaders = paramValue(params, "X-Amz-SignedHeaders")
	in.signature = strings.ToLower(paramValue(params, "X-Amz-Signature"))
	in.payloadHash = "UNSIGNED-PAYLOAD"
	if v := r.Header.Values("X-Amz-Content-Sha256"); len(v) > 0 {
		in.payloadHash = v[0]
	} else if paramCount(params, "X-Amz-Content-Sha256") > 0 {
		in.payloadHash = paramValue(params, "X-Amz-Content-Sha256")
	}
	return in, nil
}
