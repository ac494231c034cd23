package bench

import (
	"strings"
	"testing"
)

// A paired row (cold read, sequential write, ls -l) shows as a tool's ratio
// the median of the ratios to the SDK figure taken right before each of
// its samples, not the ratio to the (a) column measured at the start, and
// lists every pair's ratio in the order measured on a line of its own.
func TestTableShowsEachPair(t *testing.T) {
	for _, tc := range []struct {
		rw, sdkRow *row
		ref        float64      // (a), measured first
		pairs      [][2]float64 // {tool's sample, SDK's right before}
		runs       int
		wantRatio  string
		wantSDK    string // the paired SDK row's median, when checked
		wantLine   string
	}{
		{rw: rowCold, sdkRow: rowColdSDK, ref: 1000, pairs: [][2]float64{{400, 1000}, {900, 1000}, {700, 1000}}, runs: 1,
			wantRatio: "0.70x", wantLine: "ssefs: cold-read ratio of each pair, in the order measured: 0.40 0.90 0.70\n"},
		// A ratio to (a) would be 2.50x.
		{rw: rowWrite, sdkRow: rowWriteSDK, ref: 100, pairs: [][2]float64{{250, 300}, {240, 260}, {260, 400}}, runs: 3,
			wantRatio: "0.83x", wantSDK: "300.000", wantLine: "ssefs: write ratio of each pair, in the order measured: 0.83 0.92 0.65\n"},
		// A time: the ratio is the tool's over the SDK's; to (a) it would be 2.60x.
		{rw: rowList, sdkRow: rowListSDK, ref: 0.100, pairs: [][2]float64{{0.26, 0.20}, {0.25, 0.125}, {0.30, 0.20}}, runs: 3,
			wantRatio: "1.50x", wantLine: "ssefs: ls -l ratio of each pair, in the order measured: 1.30 2.00 1.50\n"},
	} {
		t.Run(tc.rw.label, func(t *testing.T) {
			res := newResults()
			res.add("sdk", tc.rw, tc.ref)
			for _, p := range tc.pairs {
				res.add("ssefs", tc.sdkRow, p[1])
				res.add("ssefs", tc.rw, p[0])
				res.add("ssefs", tc.rw.pairRatios, p[0]/p[1])
			}
			out := res.table(config{size: 1 << 30, runs: tc.runs, coldPairs: len(tc.pairs) / tc.runs}, []string{"ssefs"})
			var line, sdk string
			for _, l := range strings.Split(out, "\n") {
				switch {
				case strings.HasPrefix(l, tc.rw.label+" ("):
					line = l
				case strings.HasPrefix(l, tc.sdkRow.label+" ("):
					sdk = l
				}
			}
			if f := strings.Fields(line); len(f) < 2 || f[len(f)-1] != tc.wantRatio {
				t.Errorf("row %q: want the median pair ratio %s last", line, tc.wantRatio)
			}
			if tc.wantSDK != "" && !strings.Contains(sdk, tc.wantSDK) {
				t.Errorf("row of the paired SDK figures %q: want their median, %s", sdk, tc.wantSDK)
			}
			if !strings.Contains(out, tc.wantLine) {
				t.Errorf("table lacks %q:\n%s", tc.wantLine, out)
			}
		})
	}
}

// The first, unindexed ls -l is compared with the SDK's listing plus a
// HEAD of each file, which is what it has to send, not with the bare
// listing.
func TestFirstListingComparedWithListingAndHeads(t *testing.T) {
	res := newResults()
	res.add("sdk", rowList, 0.150)
	res.add("sdk", rowListHeads, 1.200)
	res.add("ssefs", rowListFirst, 1.500)
	out := res.table(config{size: 1 << 30, runs: 1, coldPairs: 1}, []string{"ssefs"})
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, rowListFirst.label+" (") {
			continue
		}
		// To the bare listing it would be 10.00x.
		if f := strings.Fields(l); f[len(f)-1] != "1.25x" || !strings.Contains(l, "1.200") {
			t.Errorf("row %q: want the SDK's listing and HEADs (1.200) and the ratio 1.25x", l)
		}
		return
	}
	t.Errorf("table lacks the row %q:\n%s", rowListFirst.label, out)
}

// ls -l's own cost on tmpfs, and through FUSE alone, are reported beside
// the table with the ratio each makes against the SDK's listing (medians),
// and are not rows of the table.
func TestListBoundFromLocalLs(t *testing.T) {
	res := newResults()
	for _, v := range []float64{0.140, 0.150, 0.200} {
		res.add("sdk", rowList, v)
	}
	for _, v := range []float64{0.090, 0.060, 0.055} {
		res.add("sdk", rowListLocal, v)
	}
	cfg := config{size: 1 << 30, runs: 3, coldPairs: 1, listFiles: 5000}
	out := res.listBound(cfg)
	if !strings.Contains(out, "0.060 s") || !strings.Contains(out, "(0.150 + 0.060) / 0.150 = 1.40x") {
		t.Errorf("listBound printed %q; want ls's own 0.060 s and the floor 1.40x", out)
	}
	for _, v := range []float64{0.100, 0.105, 0.300} {
		res.add(fuseOnlyTool, rowList, v)
	}
	if out := res.listBound(cfg); !strings.Contains(out, "through FUSE alone") || !strings.Contains(out, "(0.150 + 0.105) / 0.150 = 1.70x") {
		t.Errorf("listBound printed %q; want FUSE alone's 0.105 s and the floor 1.70x", out)
	}
	if table := res.table(cfg, []string{"ssefs"}); strings.Contains(table, rowListLocal.label) {
		t.Errorf("the tmpfs ls -l is a row of the table:\n%s", table)
	}
	if got := newResults().listBound(cfg); got != "" {
		t.Errorf("listBound without samples printed %q", got)
	}
}
