package objcache

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A listing is a chain of pages, each request waiting for the one before
// it (its continuation token). When the names in a directory are roughly
// known beforehand (from its attribute index), the key range can be cut at
// some of them and the pieces listed at once: ListSplit. The cuts only
// decide which request asks for which keys; whatever the directory holds
// now is listed exactly once, however stale the names they came from.

// SplitLister is implemented by buckets that can list a key range in
// parallel pieces.
type SplitLister interface {
	// ListFirst returns the first page of a listing, of at most max
	// entries, and whether more follow (the rest can be had with
	// ListSplit after the page's last entry).
	ListFirst(ctx context.Context, prefix, delimiter string, max int) (ListPage, bool, error)

	// ListSplit lists like List, but only the keys (and common prefixes)
	// after the key after ("" for all), in len(splits)+1 pieces listed at
	// once: (after, splits[0]], (splits[0], splits[1]], ... (splits[n-1],
	// end). splits must be sorted and after after. fn is called for each
	// page as it comes, one call at a time, in no particular order.
	ListSplit(ctx context.Context, prefix, delimiter, after string, splits []string, fn func(ListPage) error) error
}

// ListFirst implements SplitLister.
func (c *Client) ListFirst(ctx context.Context, prefix, delimiter string, max int) (ListPage, bool, error) {
	out, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:    aws.String(c.cfg.Bucket),
		Prefix:    optional(c.fullKey(prefix)),
		Delimiter: optional(delimiter),
		MaxKeys:   aws.Int32(int32(max)),
	})
	if err != nil {
		return ListPage{}, false, mapErr("list", prefix, err)
	}
	page, _ := c.listPage(out)
	return page, aws.ToBool(out.IsTruncated) && aws.ToString(out.NextContinuationToken) != "", nil
}

// ListSplit implements SplitLister.
func (c *Client) ListSplit(ctx context.Context, prefix, delimiter, after string, splits []string, fn func(ListPage) error) error {
	bounds := append([]string{after}, splits...)
	errs := make([]error, len(bounds))
	var fnMu sync.Mutex
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, from := range bounds {
		upto := ""
		if i+1 < len(bounds) {
			upto = bounds[i+1]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.listRange(ctx, prefix, delimiter, from, upto, func(pg ListPage) error {
				fnMu.Lock()
				defer fnMu.Unlock()
				return fn(pg)
			})
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, e := range errs { // the first cause, not the cancellations it caused
			if e != nil && !errors.Is(e, context.Canceled) {
				return e
			}
		}
		return err
	}
	return nil
}

// listRange lists the keys k with after < k <= upto (upto "" for no end),
// keys relative to the mount's prefix.
func (c *Client) listRange(ctx context.Context, prefix, delimiter, after, upto string, fn func(ListPage) error) error {
	in := &s3.ListObjectsV2Input{
		Bucket:    aws.String(c.cfg.Bucket),
		Prefix:    optional(c.fullKey(prefix)),
		Delimiter: optional(delimiter),
	}
	if after != "" {
		in.StartAfter = aws.String(c.fullKey(after))
	}
	for {
		out, err := c.s3.ListObjectsV2(ctx, in)
		if err != nil {
			return mapErr("list", prefix, err)
		}
		page, last := c.listPage(out)
		// Everything up to upto is in once a page reaches it.
		past := upto != "" && last >= upto
		if past {
			page = page.upTo(upto)
		}
		if len(page.Objects) > 0 || len(page.Prefixes) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if past || !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// upTo returns the page without the keys and prefixes after upto.
func (pg ListPage) upTo(upto string) ListPage {
	var out ListPage
	for _, o := range pg.Objects {
		if o.Key <= upto {
			out.Objects = append(out.Objects, o)
		}
	}
	for _, p := range pg.Prefixes {
		if p <= upto {
			out.Prefixes = append(out.Prefixes, p)
		}
	}
	return out
}

// listSplitSequential is ListSplit for a bucket that cannot list from a
// key: one listing, with what comes before after left out.
func listSplitSequential(ctx context.Context, b Bucket, prefix, delimiter, after string, fn func(ListPage) error) error {
	return b.List(ctx, prefix, delimiter, func(pg ListPage) error {
		var out ListPage
		for _, o := range pg.Objects {
			if o.Key > after {
				out.Objects = append(out.Objects, o)
			}
		}
		for _, p := range pg.Prefixes {
			// A prefix sorts before its keys: "d/" holds keys after
			// "d/" itself, so it counts when after lies inside it too.
			if p > after || strings.HasPrefix(after, p) {
				out.Prefixes = append(out.Prefixes, p)
			}
		}
		if len(out.Objects)+len(out.Prefixes) == 0 {
			return nil
		}
		return fn(out)
	})
}
