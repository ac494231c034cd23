package keymanager

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// maxBody bounds request bodies; secrets and ACLs are small.
const maxBody = 1 << 20

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// readJSON decodes r's body into v.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// keystoneError answers in Keystone's error format.
func keystoneError(w http.ResponseWriter, code int, message string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code": code, "title": http.StatusText(code), "message": message,
	}})
}

// barbicanError answers in Barbican's error format.
func barbicanError(w http.ResponseWriter, code int, description string) {
	writeJSON(w, code, map[string]any{
		"code": code, "title": http.StatusText(code), "description": description,
	})
}

// keystoneTime formats t as Keystone does ("2006-01-02T15:04:05.000000Z").
func keystoneTime(ns int64) string {
	return unixNano(ns).Format("2006-01-02T15:04:05.000000Z")
}

// barbicanTime formats t as Barbican does: UTC, no zone ("2006-01-02T15:04:05").
func barbicanTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05")
}

func unixNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }
