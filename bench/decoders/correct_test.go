package decoders

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
	"github.com/google/go-cmp/cmp"
)

// diffReporter collects the paths at which two values differ.
type diffReporter struct {
	path  cmp.Path
	diffs []string
}

func (r *diffReporter) PushStep(ps cmp.PathStep) { r.path = append(r.path, ps) }
func (r *diffReporter) PopStep()                 { r.path = r.path[:len(r.path)-1] }
func (r *diffReporter) Report(rs cmp.Result) {
	if !rs.Equal() {
		vx, vy := r.path.Last().Values()
		r.diffs = append(r.diffs, fmt.Sprintf("%#v\x00%s\x00%s", r.path, show(vx), show(vy)))
	}
}

func show(v reflect.Value) string {
	if !v.IsValid() {
		return "<absent>"
	}
	if v.Kind() == reflect.Slice && v.IsNil() {
		return "nil " + v.Type().String()
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
		return fmt.Sprintf("%q", v.Bytes())
	}
	s := fmt.Sprintf("%+v", v.Interface())
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

var index = regexp.MustCompile(`\[\d+\]`)

// TestSameAsHand decodes the first testRecords corpus records with every
// decoder and compares the result with the hand-written decoder's
// (reflect.DeepEqual: nil and empty slices differ). Differences are grouped
// by field path; any difference or decode error fails the decoder's subtest.
func TestSameAsHand(t *testing.T) {
	recs := loadTestCorpus(t)
	ref := Decoders[0]
	want := make([]any, len(recs))
	for i, raw := range recs {
		rec, err := ref.Decode(raw)
		if err != nil {
			t.Fatalf("hand: record %d: %v", i, err)
		}
		want[i] = rec
	}
	for _, dec := range Decoders[1:] {
		t.Run(dec.Name, func(t *testing.T) {
			type group struct {
				n       int
				records map[int]bool
				example string
			}
			groups := map[string]*group{}
			var errs, bad, flatSame int
			for i, raw := range recs {
				got, err := dec.Decode(raw)
				if err != nil {
					errs++
					if errs <= 3 {
						t.Errorf("record %d: %v", i, err)
					}
					continue
				}
				if reflect.DeepEqual(got, want[i]) {
					continue
				}
				bad++
				if reflect.DeepEqual(transform.FlattenCallRecord("t", got), transform.FlattenCallRecord("t", want[i].(schemas.CallRecord))) {
					flatSame++
				}
				var r diffReporter
				cmp.Equal(want[i], got, cmp.Reporter(&r))
				if len(r.diffs) == 0 {
					r.diffs = []string{"(DeepEqual differs, cmp finds no difference)\x00\x00"}
				}
				for _, d := range r.diffs {
					parts := strings.SplitN(d, "\x00", 3)
					key := index.ReplaceAllString(parts[0], "[]")
					g := groups[key]
					if g == nil {
						g = &group{records: map[int]bool{}, example: fmt.Sprintf("record %d: hand=%s %s=%s", i, parts[1], dec.Name, parts[2])}
						groups[key] = g
					}
					g.n++
					g.records[i] = true
				}
			}
			keys := make([]string, 0, len(groups))
			for k := range groups {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t.Logf("%s: %d records, %d decode errors, %d differ from hand (%d of them flatten to the same rows)", dec.Name, len(recs), errs, bad, flatSame)
			for _, k := range keys {
				g := groups[k]
				t.Logf("  %s: %d values in %d records; e.g. %s", k, g.n, len(g.records), g.example)
			}
			if errs+bad > 0 {
				t.Fail()
			}
		})
	}
}
