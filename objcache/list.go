package objcache

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Delete removes the object; a missing object is not an error. No SSE
// parameters are sent (DESIGN.md: never on deletes).
func (c *Client) Delete(ctx context.Context, key string) error {
	c.forget(key)
	return c.deleteObject(ctx, key)
}

func (c *Client) deleteObject(ctx context.Context, key string) error {
	_, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(c.fullKey(key))})
	if err != nil {
		if _, code, _ := statusOf(err); code == "NoSuchKey" {
			return nil
		}
		return mapErr("delete", key, err)
	}
	return nil
}

// List calls fn for each page of ListObjectsV2 under prefix (relative to
// the mount's prefix), following continuation tokens. Keys and common
// prefixes are returned relative to the mount's prefix; the mount prefix's
// own directory marker is skipped. Sizes are the server's listing sizes.
func (c *Client) List(ctx context.Context, prefix, delimiter string, fn func(ListPage) error) error {
	return c.listRange(ctx, prefix, delimiter, "", "", fn)
}

// listPage converts one answer, returning also its last key or common
// prefix (relative to the mount's prefix, "" when empty).
func (c *Client) listPage(out *s3.ListObjectsV2Output) (ListPage, string) {
	var page ListPage
	last := ""
	for _, o := range out.Contents {
		full := aws.ToString(o.Key)
		rel, ok := strings.CutPrefix(full, c.cfg.Prefix)
		if !ok || rel == "" {
			continue // the mount prefix's own marker
		}
		page.Objects = append(page.Objects, ObjectInfo{
			Key:          rel,
			Size:         aws.ToInt64(o.Size),
			ETag:         aws.ToString(o.ETag),
			LastModified: aws.ToTime(o.LastModified),
		})
		last = max(last, rel)
	}
	for _, p := range out.CommonPrefixes {
		if rel, ok := strings.CutPrefix(aws.ToString(p.Prefix), c.cfg.Prefix); ok && rel != "" {
			page.Prefixes = append(page.Prefixes, rel)
			last = max(last, rel)
		}
	}
	return page, last
}
