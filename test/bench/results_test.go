package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/ssefs/ssefs/objcache"
)

// row is one line of the table.
type row struct {
	label string
	unit  string
	ref   string // the column of (a) it is compared with; "" for none
	lower bool   // smaller is better (times, memory)
	// refRow is the row of (a) it is compared with, when not itself.
	refRow *row
	// pairRatios is the row holding, under each tool's name, the ratios
	// of its samples to (a)'s taken right before each; when a tool has
	// them, its ratio is their median instead of the ratio to the (a)
	// column.
	pairRatios *row
}

var (
	// Each cold read of a tool is paired with a cold read by the SDK made
	// right before it (rowColdSDK), in the same state of the machine, and
	// the ratio shown is the median of the pairs' ratios: a machine shared
	// with others moves every figure by a fifth from one minute to the
	// next, and the (a) column is measured first.
	rowCold    = &row{label: "cold sequential read", unit: "MB/s", ref: "sdk", pairRatios: rowColdRatios}
	rowColdSDK = &row{label: "  (a) SDK's, read right before each", unit: "MB/s"}
	// The CPU the whole machine spent on the cold read (backend, client,
	// mount daemon, dd), per GiB.
	rowColdCPU    = &row{label: "  CPU of the machine per GiB", unit: "s", ref: "sdk", lower: true, pairRatios: rowColdCPURatios}
	rowColdSDKCPU = &row{label: "  (a) SDK's, right before each", unit: "s", lower: true}
	// The pairs' ratios (not printed as rows).
	rowColdRatios    = &row{label: "cold-read ratios to the SDK read before"}
	rowColdCPURatios = &row{label: "cold-read CPU ratios to the SDK read before"}
	rowWarm          = &row{label: "warm re-read", unit: "MB/s", ref: "sdk"}
	// Each sequential write is paired the same way, with a parallel
	// multipart upload by the SDK of the same bytes right before it.
	rowWrite       = &row{label: "sequential write (dd bs=1M + close)", unit: "MB/s", ref: "sdk", pairRatios: rowWriteRatios}
	rowWriteSDK    = &row{label: "  (a) SDK's, written right before each", unit: "MB/s"}
	rowWriteRatios = &row{label: "write ratios to the SDK write before"}
	rowRandom      = &row{label: "4 KiB random reads", unit: "ops/s", ref: "sdk"}
	rowSmall       = &row{label: "create+write+close 4 KiB files", unit: "files/s", ref: "sdk"}
	// ls -l too: a bare listing by the SDK right before each.
	rowList       = &row{label: "ls -l of 5000 files", unit: "s", ref: "sdk", lower: true, pairRatios: rowListRatios}
	rowListSDK    = &row{label: "  (a) SDK's, listed right before each", unit: "s", lower: true}
	rowListRatios = &row{label: "ls -l ratios to the SDK listing before"}
	// The first ls -l of the directory, before any attribute index, on a
	// mount of its own (not one of the pairs above): its one sample,
	// against what the SDK takes to list the directory and HEAD each file
	// (the objects' attributes are in their metadata, which a listing does
	// not return), as many at once as ssefs sends.
	rowListHeads = &row{label: "  (a) SDK's listing + a HEAD per file", unit: "s", ref: "sdk", lower: true}
	rowListFirst = &row{label: "  first ls -l, before any index", unit: "s", ref: "sdk", lower: true, refRow: rowListHeads}
	// What ls -l itself costs, whatever the filesystem: the same ls -l
	// of as many empty files on tmpfs (not printed as a row; see
	// listBound).
	rowListLocal = &row{label: "ls -l of the files on tmpfs", unit: "s", lower: true}
	rowRSS       = &row{label: "peak RSS over the workloads", unit: "MiB", lower: true}
	rowRSSBig    = &row{label: "peak RSS reading the RSS object", unit: "MiB", lower: true}
	rows         = []*row{rowCold, rowColdSDK, rowColdCPU, rowColdSDKCPU, rowWarm, rowWrite, rowWriteSDK, rowRandom, rowSmall, rowList, rowListSDK, rowListHeads, rowListFirst, rowRSS, rowRSSBig}
)

// results collects samples per tool and row.
type results struct {
	samples map[string]map[*row][]float64
}

func newResults() *results { return &results{samples: map[string]map[*row][]float64{}} }

func (r *results) add(tool string, rw *row, v float64) {
	if r.samples[tool] == nil {
		r.samples[tool] = map[*row][]float64{}
	}
	r.samples[tool][rw] = append(r.samples[tool][rw], v)
}

// last returns the latest sample of a tool's row.
func (r *results) last(tool string, rw *row) (float64, bool) {
	vs := r.samples[tool][rw]
	if len(vs) == 0 {
		return 0, false
	}
	return vs[len(vs)-1], true
}

// fail records a failed run: the figure shows as failed.
func (r *results) fail(tool string, rw *row) { r.add(tool, rw, math.NaN()) }

func (r *results) median(tool string, rw *row) (float64, bool) {
	vs := slices.Clone(r.samples[tool][rw])
	if len(vs) == 0 {
		return 0, false
	}
	if slices.ContainsFunc(vs, math.IsNaN) {
		return math.NaN(), true
	}
	slices.Sort(vs)
	return vs[len(vs)/2], true
}

// table prints each row's median per tool and its ratio to the direct-SDK
// figure (for times, SDK time / tool time is not used: the ratio shown is
// tool time / SDK time, so that <= 1.5 reads as the target says). A row
// with pair ratios shows their median.
func (r *results) table(cfg config, tools []string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nssefs bench: %d MiB object, median of %d (cold reads: of %d, each ratio the median of the ratios to an SDK read right before), RSS object %d MiB, cache %d MiB (RSS bound %d MiB)\n",
		cfg.size>>20, cfg.runs, cfg.runs*cfg.coldPairs, cfg.rssSize>>20, objcache.DefaultCacheSize>>20, (objcache.DefaultCacheSize>>20)+128)
	fmt.Fprintf(&sb, "%-38s %14s", "", "(a) SDK")
	for _, tl := range tools {
		fmt.Fprintf(&sb, " %14s %7s", tl, "ratio")
	}
	sb.WriteString("\n")
	for _, rw := range rows {
		fmt.Fprintf(&sb, "%-38s", rw.label+" ("+rw.unit+")")
		refRow := rw
		if rw.refRow != nil {
			refRow = rw.refRow
		}
		ref, hasRef := r.median(rw.ref, refRow)
		if hasRef {
			fmt.Fprintf(&sb, " %14.3f", ref)
		} else {
			fmt.Fprintf(&sb, " %14s", "-")
		}
		for _, tl := range tools {
			v, ok := r.median(tl, rw)
			if !ok || math.IsNaN(v) {
				fmt.Fprintf(&sb, " %14s %7s", map[bool]string{false: "-", true: "failed"}[ok], "")
				continue
			}
			ratio := "-"
			if p, ok := r.median(tl, rw.pairRatios); rw.pairRatios != nil && ok && !math.IsNaN(p) {
				ratio = fmt.Sprintf("%.2fx", p)
			} else if hasRef && ref > 0 {
				ratio = fmt.Sprintf("%.2fx", v/ref)
			}
			fmt.Fprintf(&sb, " %14.3f %7s", v, ratio)
		}
		sb.WriteString("\n")
	}
	// The spread is part of the result: on a shared machine the pairs of
	// one run can differ by half, and a drift shows in their order.
	for _, pairs := range []struct {
		rw   *row
		what string
	}{{rowColdRatios, "cold-read"}, {rowWriteRatios, "write"}, {rowListRatios, "ls -l"}} {
		for _, tl := range tools {
			if vs := r.samples[tl][pairs.rw]; len(vs) > 0 {
				fmt.Fprintf(&sb, "%s: %s ratio of each pair, in the order measured:", tl, pairs.what)
				for _, v := range vs {
					fmt.Fprintf(&sb, " %.2f", v)
				}
				sb.WriteString("\n")
			}
		}
	}
	return sb.String()
}

func randInt64(n int64) int64 { return rand.Int64N(n) }
