package faultproxy

import (
	"net/http"
	"strings"
)

// Request classifiers for Plan.Match and Next.

// IsRead matches GET requests (object reads and listings).
func IsRead(r *http.Request) bool { return r.Method == http.MethodGet }

// IsObjectGet matches GETs of an object (not bucket listings).
func IsObjectGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1
}

// IsWrite matches requests that change the bucket: PUT, POST and DELETE.
func IsWrite(r *http.Request) bool {
	return r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodDelete
}

// IsUploadPart matches UploadPart requests of a multipart upload.
func IsUploadPart(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId")
}

// IsObjectPut matches PutObject and UploadPart requests with a body.
func IsObjectPut(r *http.Request) bool {
	return r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == "" && r.ContentLength != 0
}

// Any combines classifiers: a request matches when one of them does.
func Any(fns ...func(*http.Request) bool) func(*http.Request) bool {
	return func(r *http.Request) bool {
		for _, fn := range fns {
			if fn(r) {
				return true
			}
		}
		return false
	}
}

// IsCreateMultipart matches CreateMultipartUpload (POST ?uploads).
func IsCreateMultipart(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Has("uploads")
}

// IsCompleteMultipart matches CompleteMultipartUpload (POST ?uploadId=).
func IsCompleteMultipart(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
}

// IsHead matches HEAD requests.
func IsHead(r *http.Request) bool { return r.Method == http.MethodHead }
