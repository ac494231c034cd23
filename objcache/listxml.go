package objcache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithytime "github.com/aws/smithy-go/time"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The SDK decodes a ListObjectsV2 answer with encoding/xml, at about 12 µs
// per entry here: half of the daemon's CPU during an `ls -l` of a large
// directory. fastListDecoding puts a one-pass parser of the plain form in
// front of it: the form every S3 service sends (elements, attributes,
// the five predefined entities and character references, UTF-8). Any
// document with more than that (CDATA, comments, a DOCTYPE, carriage
// returns, prefixed names, forbidden characters, ...) goes to the SDK's
// own decoder byte for byte, so the fast path never decides an answer the
// SDK would have decoded differently; listxml_test.go holds the two to the
// same output, fuzzing included.

// fastListDecoding is an s3.Options.APIOptions function: for ListObjectsV2
// it swaps the SDK's operation deserializer for listDecoder.
func fastListDecoding(stack *middleware.Stack) error {
	if stack.ID() != "ListObjectsV2" {
		return nil
	}
	d := &listDecoder{}
	sdk, err := stack.Deserialize.Swap(d.ID(), d)
	if err != nil {
		return err
	}
	d.sdk = sdk
	return nil
}

// listDecoder decodes a successful ListObjectsV2 answer with
// decodeListObjectsV2 and leaves everything else to the SDK's decoder.
type listDecoder struct {
	sdk middleware.DeserializeMiddleware
}

// ID is the SDK's own name for the step, which listDecoder takes over.
func (*listDecoder) ID() string { return "OperationDeserializer" }

// HandleDeserialize implements middleware.DeserializeMiddleware.
func (d *listDecoder) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if err != nil || !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return d.sdk.HandleDeserialize(ctx, in, answered{out, md, err})
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr == nil {
		if res, ok := decodeListObjectsV2(body); ok {
			if v := resp.Header.Values("x-amz-request-charged"); len(v) != 0 {
				res.RequestCharged = types.RequestCharged(strings.TrimSpace(v[0]))
			}
			out.Result = res
			return out, md, nil
		}
	}
	// The SDK reads the same bytes, and the same error after them.
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errorReader{rerr}))
	return d.sdk.HandleDeserialize(ctx, in, answered{out, md, nil})
}

// answered is a DeserializeHandler that returns an answer already
// received, to hand it to the SDK's decoder.
type answered struct {
	out middleware.DeserializeOutput
	md  middleware.Metadata
	err error
}

func (a answered) HandleDeserialize(context.Context, middleware.DeserializeInput) (middleware.DeserializeOutput, middleware.Metadata, error) {
	return a.out, a.md, a.err
}

// errorReader returns err, or io.EOF when err is nil.
type errorReader struct{ err error }

func (r errorReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}

// errDecline ends a parse that met something outside the plain form.
var errDecline = errors.New("not the plain form")

// decodeListObjectsV2 decodes the body of a ListObjectsV2 answer as the
// SDK does, or declines (false) when the body is not in the plain form.
// RequestCharged, from a header, is left to the caller.
func decodeListObjectsV2(body []byte) (*s3.ListObjectsV2Output, bool) {
	if bytes.IndexByte(body, '\r') >= 0 {
		// encoding/xml turns line ends into \n: not worth copying.
		return nil, false
	}
	p := xmlParser{b: body}
	out, err := p.document()
	if err != nil {
		return nil, false
	}
	return out, true
}

// xmlParser reads the plain form of an XML document from b.
type xmlParser struct {
	b    []byte
	i    int
	open [][]byte // the names of the elements being read, innermost last
}

// document reads the prolog and the root element's children, as the SDK
// does: whatever the root's name, and nothing after it.
func (p *xmlParser) document() (*s3.ListObjectsV2Output, error) {
	if err := p.prolog(); err != nil {
		return nil, err
	}
	_, empty, err := p.startTag()
	if err != nil {
		return nil, err
	}
	out := &s3.ListObjectsV2Output{}
	if empty {
		return out, nil
	}
	err = p.children(func(name []byte, empty bool) error {
		var err error
		switch {
		case eq(name, "CommonPrefixes"):
			var cp types.CommonPrefix
			err = p.container(empty, func(name []byte, empty bool) error {
				if eq(name, "Prefix") {
					return leaf(p, empty, &cp.Prefix, asString)
				}
				return p.skip(empty)
			})
			if out.CommonPrefixes == nil {
				out.CommonPrefixes = []types.CommonPrefix{}
			}
			out.CommonPrefixes = append(out.CommonPrefixes, cp)
		case eq(name, "Contents"):
			var o types.Object
			err = p.object(empty, &o)
			if out.Contents == nil {
				out.Contents = []types.Object{}
			}
			out.Contents = append(out.Contents, o)
		case eq(name, "ContinuationToken"):
			err = leaf(p, empty, &out.ContinuationToken, asString)
		case eq(name, "Delimiter"):
			err = leaf(p, empty, &out.Delimiter, asString)
		case eq(name, "EncodingType"):
			var s string
			s, err = p.text(empty)
			out.EncodingType = types.EncodingType(s)
		case eq(name, "IsTruncated"):
			err = leaf(p, empty, &out.IsTruncated, strconv.ParseBool)
		case eq(name, "KeyCount"):
			err = leaf(p, empty, &out.KeyCount, asInt32)
		case eq(name, "MaxKeys"):
			err = leaf(p, empty, &out.MaxKeys, asInt32)
		case eq(name, "Name"):
			err = leaf(p, empty, &out.Name, asString)
		case eq(name, "NextContinuationToken"):
			err = leaf(p, empty, &out.NextContinuationToken, asString)
		case eq(name, "Prefix"):
			err = leaf(p, empty, &out.Prefix, asString)
		case eq(name, "StartAfter"):
			err = leaf(p, empty, &out.StartAfter, asString)
		default:
			err = p.skip(empty)
		}
		return err
	})
	return out, err
}

// object reads the children of a Contents element.
func (p *xmlParser) object(empty bool, o *types.Object) error {
	return p.container(empty, func(name []byte, empty bool) error {
		switch {
		case eq(name, "ChecksumAlgorithm"):
			s, err := p.text(empty)
			if err != nil {
				return err
			}
			if o.ChecksumAlgorithm == nil {
				o.ChecksumAlgorithm = []types.ChecksumAlgorithm{}
			}
			o.ChecksumAlgorithm = append(o.ChecksumAlgorithm, types.ChecksumAlgorithm(s))
			return nil
		case eq(name, "ChecksumType"):
			s, err := p.text(empty)
			o.ChecksumType = types.ChecksumType(s)
			return err
		case eq(name, "ETag"):
			return leaf(p, empty, &o.ETag, asString)
		case eq(name, "Key"):
			return leaf(p, empty, &o.Key, asString)
		case eq(name, "LastModified"):
			return leaf(p, empty, &o.LastModified, smithytime.ParseDateTime)
		case eq(name, "Owner"):
			if o.Owner == nil {
				o.Owner = &types.Owner{}
			}
			return p.container(empty, func(name []byte, empty bool) error {
				switch {
				case eq(name, "DisplayName"):
					return leaf(p, empty, &o.Owner.DisplayName, asString)
				case eq(name, "ID"):
					return leaf(p, empty, &o.Owner.ID, asString)
				}
				return p.skip(empty)
			})
		case eq(name, "RestoreStatus"):
			if o.RestoreStatus == nil {
				o.RestoreStatus = &types.RestoreStatus{}
			}
			return p.container(empty, func(name []byte, empty bool) error {
				switch {
				case eq(name, "IsRestoreInProgress"):
					return leaf(p, empty, &o.RestoreStatus.IsRestoreInProgress, strconv.ParseBool)
				case eq(name, "RestoreExpiryDate"):
					return leaf(p, empty, &o.RestoreStatus.RestoreExpiryDate, smithytime.ParseDateTime)
				}
				return p.skip(empty)
			})
		case eq(name, "Size"):
			return leaf(p, empty, &o.Size, asInt64)
		case eq(name, "StorageClass"):
			s, err := p.text(empty)
			o.StorageClass = types.ObjectStorageClass(s)
			return err
		}
		return p.skip(empty)
	})
}

// eq matches an element name as the SDK does: case-insensitively.
func eq(name []byte, want string) bool { return strings.EqualFold(string(name), want) }

// prolog passes white space and an XML declaration of version 1.0 in
// UTF-8 (or saying neither).
func (p *xmlParser) prolog() error {
	p.space()
	if bytes.HasPrefix(p.b[p.i:], []byte("<?xml")) {
		end := bytes.Index(p.b[p.i:], []byte("?>"))
		if end < 0 {
			return errDecline
		}
		decl := string(p.b[p.i+len("<?xml") : p.i+end])
		if decl != "" && !isSpace(decl[0]) {
			return errDecline // <?xml-stylesheet ...?> and the like
		}
		if !declAttr(decl, "version", "1.0") || !declAttr(decl, "encoding", "utf-8") {
			return errDecline
		}
		p.i += end + len("?>")
		p.space()
	}
	return nil
}

// declAttr reports whether the declaration's attribute name is absent or
// has the value want (case-insensitively), quoted either way.
func declAttr(decl, name, want string) bool {
	i := strings.Index(decl, name)
	if i < 0 {
		return true
	}
	v := strings.TrimLeft(decl[i+len(name):], " \t\n")
	if !strings.HasPrefix(v, "=") {
		return false
	}
	v = strings.TrimLeft(v[1:], " \t\n")
	if len(v) < 2 || (v[0] != '"' && v[0] != '\'') {
		return false
	}
	end := strings.IndexByte(v[1:], v[0])
	return end >= 0 && strings.EqualFold(v[1:1+end], want) && strings.Count(decl, name) == 1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

func (p *xmlParser) space() {
	for p.i < len(p.b) && isSpace(p.b[p.i]) {
		p.i++
	}
}

// children calls fn for each child element of the element whose start tag
// was just read, up to its end tag. Only white space may lie between.
// fn must read the child up to and including its end tag.
func (p *xmlParser) children(fn func(name []byte, empty bool) error) error {
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '<' {
			return errDecline
		}
		if p.i+1 < len(p.b) && p.b[p.i+1] == '/' {
			return p.endTag()
		}
		name, empty, err := p.startTag()
		if err != nil {
			return err
		}
		if err := fn(name, empty); err != nil {
			return err
		}
	}
}

// container reads an element that holds elements.
func (p *xmlParser) container(empty bool, fn func(name []byte, empty bool) error) error {
	if empty {
		return nil
	}
	return p.children(fn)
}

// skip passes over an element the SDK does not know, checking it as the
// SDK's decoder would.
func (p *xmlParser) skip(empty bool) error {
	if empty {
		return nil
	}
	for {
		if _, err := p.chars(); err != nil {
			return err
		}
		if p.i+1 < len(p.b) && p.b[p.i+1] == '/' {
			return p.endTag()
		}
		_, empty, err := p.startTag()
		if err != nil {
			return err
		}
		if err := p.skip(empty); err != nil {
			return err
		}
	}
}

// startTag reads "<name attr='v' ...>" or its empty-element form. Names
// are ASCII without a namespace prefix; attributes are checked and
// dropped.
func (p *xmlParser) startTag() (name []byte, empty bool, err error) {
	if p.i >= len(p.b) || p.b[p.i] != '<' {
		return nil, false, errDecline
	}
	p.i++
	if name = p.name(false); name == nil {
		return nil, false, errDecline
	}
	for {
		sp := p.i
		p.space()
		if p.i >= len(p.b) {
			return nil, false, errDecline
		}
		switch p.b[p.i] {
		case '>':
			p.i++
			p.open = append(p.open, name)
			return name, false, nil
		case '/':
			if p.i+1 < len(p.b) && p.b[p.i+1] == '>' {
				p.i += 2
				return name, true, nil
			}
			return nil, false, errDecline
		}
		attr := p.name(true)
		if p.i == sp || attr == nil || bytes.Count(attr, []byte(":")) > 1 {
			return nil, false, errDecline // set apart by space; a:b:c is no name
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '=' {
			return nil, false, errDecline
		}
		p.i++
		p.space()
		if p.i >= len(p.b) || (p.b[p.i] != '"' && p.b[p.i] != '\'') {
			return nil, false, errDecline
		}
		q := p.b[p.i]
		end := bytes.IndexByte(p.b[p.i+1:], q)
		if end < 0 {
			return nil, false, errDecline
		}
		v := p.b[p.i+1 : p.i+1+end]
		if bytes.IndexByte(v, '<') >= 0 {
			return nil, false, errDecline
		}
		if _, err := unescape(v); err != nil {
			return nil, false, err
		}
		p.i += end + 2
	}
}

// name reads an ASCII XML name: a letter or '_' first, then letters,
// digits, '_', '-' and '.'; ':' only in an attribute's name (xmlns:s3).
func (p *xmlParser) name(attr bool) []byte {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		other := c >= '0' && c <= '9' || c == '-' || c == '.' || (attr && c == ':')
		if !letter && (!other || p.i == start) {
			break
		}
		p.i++
	}
	if p.i == start {
		return nil
	}
	if p.i < len(p.b) && p.b[p.i] >= 0x80 {
		return nil // a name going on in non-ASCII letters
	}
	return p.b[start:p.i]
}

// endTag reads "</name>" closing the innermost element being read.
func (p *xmlParser) endTag() error {
	p.i += 2
	name := p.name(false)
	if name == nil || len(p.open) == 0 || !bytes.Equal(name, p.open[len(p.open)-1]) {
		return errDecline
	}
	p.open = p.open[:len(p.open)-1]
	p.space()
	if p.i >= len(p.b) || p.b[p.i] != '>' {
		return errDecline
	}
	p.i++
	return nil
}

// text reads a leaf element's value up to its end tag: "" when empty.
func (p *xmlParser) text(empty bool) (string, error) {
	if empty {
		return "", nil
	}
	v, err := p.chars()
	if err != nil {
		return "", err
	}
	if p.i+1 >= len(p.b) || p.b[p.i+1] != '/' {
		return "", errDecline // an element inside a value
	}
	return v, p.endTag()
}

// chars reads character data up to the next '<', entities resolved.
func (p *xmlParser) chars() (string, error) {
	end := bytes.IndexByte(p.b[p.i:], '<')
	if end < 0 {
		return "", errDecline
	}
	raw := p.b[p.i : p.i+end]
	p.i += end
	if bytes.Contains(raw, []byte("]]>")) {
		return "", errDecline
	}
	return unescape(raw)
}

// leaf reads a leaf element's value into a new *dst, parsed as the SDK
// parses it; a value that does not parse is left to the SDK.
func leaf[T any](p *xmlParser, empty bool, dst **T, parse func(string) (T, error)) error {
	s, err := p.text(empty)
	if err != nil {
		return err
	}
	v, err := parse(s)
	if err != nil {
		return errDecline
	}
	*dst = &v
	return nil
}

func asString(s string) (string, error) { return s, nil }

func asInt64(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

// asInt32 converts as the SDK does: parsed as 64 bits, then truncated.
func asInt32(s string) (int32, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	return int32(v), err
}

// unescape resolves the predefined entities and character references of
// raw and checks that every character is one XML allows.
func unescape(raw []byte) (string, error) {
	amp := bytes.IndexByte(raw, '&')
	if amp < 0 {
		if !validChars(raw) {
			return "", errDecline
		}
		return string(raw), nil
	}
	var sb strings.Builder
	sb.Grow(len(raw))
	for len(raw) > 0 {
		amp = bytes.IndexByte(raw, '&')
		if amp < 0 {
			amp = len(raw)
		}
		if !validChars(raw[:amp]) {
			return "", errDecline
		}
		sb.Write(raw[:amp])
		raw = raw[amp:]
		if len(raw) == 0 {
			break
		}
		semi := bytes.IndexByte(raw, ';')
		if semi < 0 || semi > 12 {
			return "", errDecline
		}
		r, ok := entity(raw[1:semi])
		if !ok {
			return "", errDecline
		}
		sb.WriteRune(r)
		raw = raw[semi+1:]
	}
	return sb.String(), nil
}

// entity resolves what lies between '&' and ';'.
func entity(e []byte) (rune, bool) {
	switch string(e) {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	if len(e) < 2 || e[0] != '#' {
		return 0, false
	}
	digits, base := e[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, false
	}
	for _, c := range digits {
		dec := c >= '0' && c <= '9'
		hex := c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		if !dec && (base == 10 || !hex) {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil || !xmlChar(rune(n)) {
		return 0, false
	}
	return rune(n), true
}

// validChars reports whether b is UTF-8 of characters XML allows (no '\r':
// decodeListObjectsV2 has ruled it out).
func validChars(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || !xmlChar(r) {
			return false
		}
		i += size
	}
	return true
}

// xmlChar is XML 1.0's Char production, as encoding/xml checks it.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
