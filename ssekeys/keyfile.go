package ssekeys

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Keyring is the ordered list of SSE-C keys from one key file. The first key
// encrypts new writes; the others only open objects written under them
// (rotation).
type Keyring struct {
	keys []*Key
}

// NewKeyring makes a keyring of keys; keys[0] is the write key.
func NewKeyring(keys ...*Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("a keyring needs at least one key")
	}
	return &Keyring{keys: append([]*Key(nil), keys...)}, nil
}

// Write is the key new objects are encrypted with.
func (r *Keyring) Write() *Key { return r.keys[0] }

// All returns every key, the write key first.
func (r *Keyring) All() []*Key { return append([]*Key(nil), r.keys...) }

// Len is the number of keys.
func (r *Keyring) Len() int { return len(r.keys) }

// KeyFileError is a key file that cannot be used. Its message names the file
// and, for a bad key, the line; it never contains key material.
type KeyFileError struct {
	Path string
	Line int // 0 when the problem is the whole file
	Msg  string
}

func (e *KeyFileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("key file %s, line %d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("key file %s: %s", e.Path, e.Msg)
}

// LoadKeyFile reads a key file: refuses it when group or others may read it
// (as ssh does), then parses it with ParseKeys.
func LoadKeyFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &KeyFileError{Path: path, Msg: "does not exist"}
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, &KeyFileError{Path: path, Msg: "cannot be read: permission denied"}
		}
		return nil, &KeyFileError{Path: path, Msg: err.Error()}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &KeyFileError{Path: path, Msg: err.Error()}
	}
	if !st.Mode().IsRegular() {
		return nil, &KeyFileError{Path: path, Msg: "is not a regular file"}
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, &KeyFileError{Path: path, Msg: fmt.Sprintf("permissions %04o are too open: other users could read the key; run chmod 600 %s", perm, path)}
	}
	if st.Size() > 64<<10 {
		return nil, &KeyFileError{Path: path, Msg: "is too large to be a key file"}
	}
	// The file's bytes go to this buffer only (os.File reads straight into
	// it) and are wiped once parsed, whatever happens.
	data := make([]byte, st.Size())
	defer clear(data)
	if _, err := readFull(f, data); err != nil {
		return nil, &KeyFileError{Path: path, Msg: err.Error()}
	}
	ring, err := ParseKeys(data)
	if err != nil {
		var kfe *KeyFileError
		if errors.As(err, &kfe) {
			kfe.Path = path
		}
		return nil, err
	}
	return ring, nil
}

func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ParseKeys parses key file contents. A file of exactly 32 bytes is one raw
// key (what `openssl rand -out FILE 32` writes). Otherwise each non-empty
// line that does not start with '#' holds one key as 64 hex digits or as
// base64; every key must decode to exactly 32 bytes.
//
// ParseKeys copies key material nowhere but into the keys' locked slots:
// lines are sliced from data (no string conversion), and each key is
// decoded into one scratch buffer that is wiped after every key. The
// caller should wipe data.
func ParseKeys(data []byte) (*Keyring, error) {
	if len(data) == KeySize {
		k, err := NewKey(data)
		if err != nil {
			return nil, err
		}
		return NewKeyring(k)
	}
	// Room for the longest decoding of any line (base64 of the whole file).
	buf := make([]byte, base64.RawStdEncoding.DecodedLen(len(data))+3)
	defer clear(buf)
	var keys []*Key
	rest := data
	for lineNo := 1; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		n, err := decodeKeyLine(buf, line)
		if err != nil {
			return nil, &KeyFileError{Line: lineNo, Msg: err.Error()}
		}
		k, err := NewKey(buf[:n])
		clear(buf)
		if err != nil {
			return nil, &KeyFileError{Line: lineNo, Msg: err.Error()}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		if len(data) == 0 {
			return nil, &KeyFileError{Msg: "is empty"}
		}
		return nil, &KeyFileError{Msg: "holds no key"}
	}
	return NewKeyring(keys...)
}

// decodeKeyLine decodes one key line into buf (which the caller wipes) and
// returns the key's length there, always KeySize without an error.
// hex.Decode and base64's Decode write only to buf, unlike their *String
// forms, which would first copy the line to the heap.
func decodeKeyLine(buf, line []byte) (int, error) {
	if len(line) == 2*KeySize && isHex(line) {
		return hex.Decode(buf, line)
	}
	n, err := base64.StdEncoding.Decode(buf, line)
	if err != nil {
		n, err = base64.RawStdEncoding.Decode(buf, line)
	}
	if err != nil {
		return 0, fmt.Errorf("not a key: expected 64 hex digits or base64 of %d bytes (or a file of exactly %d raw bytes)", KeySize, KeySize)
	}
	if n != KeySize {
		hint := ""
		if n == KeySize+1 && buf[KeySize] == '\n' {
			hint = " (the base64 encodes a trailing newline, as `echo ... | base64` does; use `printf %s` or `openssl rand -base64 32`)"
		}
		return 0, fmt.Errorf("key decodes to %d bytes, want %d%s", n, KeySize, hint)
	}
	return n, nil
}

func isHex(s []byte) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// GenerateKeyFile writes a new random 32-byte raw key to path with mode
// 0600. It refuses to overwrite an existing file.
func GenerateKeyFile(path string) (*Key, error) {
	k, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := WriteKeyFile(path, k); err != nil {
		return nil, err
	}
	return k, nil
}

// WriteKeyFile writes k as a raw 32-byte key file with mode 0600, refusing
// to overwrite an existing file. The file is synced before it is closed.
func WriteKeyFile(path string, k *Key) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; refusing to overwrite a key file", path)
		}
		return err
	}
	raw := k.Bytes()
	defer clear(raw)
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
