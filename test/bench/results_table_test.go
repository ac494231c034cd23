package bench

import (
	"strings"
	"testing"
)

// The table shows the median of the pair ratios as a tool's cold-read
// ratio, and every pair's ratio in the order measured on a line of its own.
func TestTableShowsEachColdReadPair(t *testing.T) {
	res := newResults()
	res.add("sdk", rowCold, 1000)
	for _, p := range [][2]float64{{400, 1000}, {900, 1000}, {700, 1000}} {
		res.add("ssefs", rowColdSDK, p[1])
		res.add("ssefs", rowCold, p[0])
		res.add("ssefs", rowColdRatios, p[0]/p[1])
	}
	out := res.table(config{size: 1 << 30, runs: 1, coldPairs: 3}, []string{"ssefs"})
	var cold string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, rowCold.label+" (") {
			cold = line
		}
	}
	if f := strings.Fields(cold); len(f) < 2 || f[len(f)-1] != "0.70x" {
		t.Errorf("cold-read row %q: want the median pair ratio 0.70x last", cold)
	}
	if want := "ssefs: cold-read ratio of each pair, in the order measured: 0.40 0.90 0.70\n"; !strings.Contains(out, want) {
		t.Errorf("table lacks %q:\n%s", want, out)
	}
}

// The sequential-write row is paired the same way: its ratio is the median
// of the ratios to the SDK upload right before each write, not the ratio
// to the (a) column measured at the start, and each pair is listed.
func TestTableShowsEachWritePair(t *testing.T) {
	res := newResults()
	res.add("sdk", rowWrite, 100) // (a), measured first: a ratio to it would be 2.50x
	for _, p := range [][2]float64{{250, 300}, {240, 260}, {260, 400}} {
		res.add("ssefs", rowWriteSDK, p[1])
		res.add("ssefs", rowWrite, p[0])
		res.add("ssefs", rowWriteRatios, p[0]/p[1])
	}
	out := res.table(config{size: 1 << 30, runs: 3, coldPairs: 1}, []string{"ssefs"})
	var write, sdk string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, rowWrite.label+" ("):
			write = line
		case strings.HasPrefix(line, rowWriteSDK.label+" ("):
			sdk = line
		}
	}
	if f := strings.Fields(write); len(f) < 2 || f[len(f)-1] != "0.83x" {
		t.Errorf("write row %q: want the median pair ratio 0.83x last", write)
	}
	if !strings.Contains(sdk, "300.000") {
		t.Errorf("row of the paired SDK writes %q: want their median, 300.000", sdk)
	}
	if want := "ssefs: write ratio of each pair, in the order measured: 0.83 0.92 0.65\n"; !strings.Contains(out, want) {
		t.Errorf("table lacks %q:\n%s", want, out)
	}
}

// ls -l is paired with a bare SDK listing right before each: a time, so
// its ratio is the tool's time over the SDK's.
func TestTableShowsEachListPair(t *testing.T) {
	res := newResults()
	res.add("sdk", rowList, 0.100) // (a), measured first: a ratio to it would be 2.60x
	for _, p := range [][2]float64{{0.26, 0.20}, {0.25, 0.125}, {0.30, 0.20}} {
		res.add("ssefs", rowListSDK, p[1])
		res.add("ssefs", rowList, p[0])
		res.add("ssefs", rowListRatios, p[0]/p[1])
	}
	out := res.table(config{size: 1 << 30, runs: 3, coldPairs: 1}, []string{"ssefs"})
	var list string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, rowList.label+" (") {
			list = line
		}
	}
	if f := strings.Fields(list); len(f) < 2 || f[len(f)-1] != "1.50x" {
		t.Errorf("ls -l row %q: want the median pair ratio 1.50x last", list)
	}
	if want := "ssefs: ls -l ratio of each pair, in the order measured: 1.30 2.00 1.50\n"; !strings.Contains(out, want) {
		t.Errorf("table lacks %q:\n%s", want, out)
	}
}
