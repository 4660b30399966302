package transform_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

// firstRow returns the first row of a recorded report page.
func firstRow(t *testing.T, path string) []byte {
	t.Helper()
	var page struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(MustReadFile(t, path), &page); err != nil || len(page.Value) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	return page.Value[0]
}

func TestFlattenPstnCall(t *testing.T) {
	row, err := transform.DecodePstnCall(firstRow(t, "testdata/usage/pstn-page.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := transform.FlattenPstnCall("tenant-1", row)
	if got.ID != "9c4984c7-6c3c-427d-a30c-bd0b2eacee90" || got.CallType != "user_in" || got.Currency != "USD" ||
		*got.DurationSeconds != 219 || got.LicenseCapability != "MCOPSTNU" || got.DestinationContext != "" {
		t.Errorf("FlattenPstnCall = %+v", got)
	}
	if got.Charge == nil || *got.Charge != 0 || got.ConnectionCharge == nil || *got.ConnectionCharge != 0 {
		t.Errorf("charges = %v/%v, want exact zero (not NULL)", got.Charge, got.ConnectionCharge)
	}
	if s := got.StartDateTime.Format("2006-01-02T15:04:05.999999Z"); s != "2019-11-01T00:00:08.258993Z" {
		t.Errorf("start = %s", s)
	}
}

func TestFlattenDirectRoutingCall(t *testing.T) {
	row, err := transform.DecodeDirectRoutingCall(firstRow(t, "testdata/usage/directrouting-page.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := transform.FlattenDirectRoutingCall("tenant-1", row)
	if !got.FailureDateTime.IsZero() {
		t.Errorf("failure_date_time = %v, want NULL for the 0001-01-01 sentinel", got.FailureDateTime)
	}
	if got.TrunkFullyQualifiedDomainName != "tll-audiocodes01.adatum.biz" || *got.FinalSipCode != 0 || *got.CallEndSubReason != 540000 ||
		got.FinalSipCodePhrase != "BYE" || !*got.SuccessfulCall || got.CallerNumber != "+12345678***" {
		t.Errorf("FlattenDirectRoutingCall = %+v", got)
	}
}

func TestDecimalCharges(t *testing.T) {
	tests := []struct {
		json string
		want int64
		ok   bool // false: stored as NULL and counted
	}{
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":0.1}`, 100_000, true},
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":1.234567}`, 1_234_567, true},
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":"0.0135"}`, 13_500, true},
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":-2.5e-3}`, -2_500, true},
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":0.1234567}`, 0, false},
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":1e30}`, 0, false},
	}
	for _, tt := range tests {
		row, rep, err := transform.DecodePstnCallWithReport([]byte(tt.json))
		if err != nil {
			t.Errorf("DecodePstnCallWithReport(%s) = %v, want the row stored", tt.json, err)
			continue
		}
		if row.Charge.Valid != tt.ok || row.Charge.Unscaled != tt.want || (rep.Invalid["charge"] == 1) == tt.ok {
			t.Errorf("DecodePstnCallWithReport(%s).Charge = %+v, report %+v, want %d (×10^-6), valid %v", tt.json, row.Charge, rep, tt.want, tt.ok)
		}
	}
	// 0.1 + 0.2 is exactly 0.3 in the lake's DECIMAL, unlike in a double.
	a, _ := schemas.ParseDecimal("0.1")
	b, _ := schemas.ParseDecimal("0.2")
	if sum := (schemas.Decimal{Unscaled: a.Unscaled + b.Unscaled, Valid: true}).String(); sum != "0.300000" {
		t.Errorf("0.1 + 0.2 = %s, want 0.300000", sum)
	}
}

// TestDecodeUsage_Tolerant: a report row with a value that does not convert
// is stored with it NULL and counted, and unknown properties are counted.
func TestDecodeUsage_Tolerant(t *testing.T) {
	raw := `{"id":"x","startDateTime":"2026-01-01T00:00:00Z","endDateTime":"later","duration":12.5,"successfulCall":"yes",
		"finalSipCode":1e400,"callType":7,"otherPartyCountryCode":"fr","@odata.type":"#x"}`
	row, rep, err := transform.DecodeDirectRoutingCallWithReport([]byte(raw))
	if err != nil {
		t.Fatalf("DecodeDirectRoutingCallWithReport = %v, want the row stored", err)
	}
	if row.ID != "x" || !row.EndDateTime.IsZero() || row.Duration != nil || row.SuccessfulCall != nil || row.FinalSipCode != nil || row.CallType != nil {
		t.Errorf("DecodeDirectRoutingCallWithReport = %+v, want the bad values NULL", row)
	}
	want := transform.Report{
		Invalid: map[string]int{"endDateTime": 1, "duration": 1, "successfulCall": 1, "finalSipCode": 1, "callType": 1},
		Unknown: map[string]int{"otherPartyCountryCode": 1},
	}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("DecodeDirectRoutingCallWithReport report = %+v, want %+v", rep, want)
	}
}

func TestDecodeUsage_Invalid(t *testing.T) {
	for _, raw := range []string{`{"startDateTime":"2026-01-01T00:00:00Z"}`, `{"id":"x"}`, `{"id":"x","startDateTime":"soon"}`, `{"id":5,"startDateTime":"2026-01-01T00:00:00Z"}`, `[`, `[]`} {
		if _, err := transform.DecodeDirectRoutingCall([]byte(raw)); !errors.Is(err, transform.ErrInvalidRecord) {
			t.Errorf("DecodeDirectRoutingCall(%s) = %v, want ErrInvalidRecord", raw, err)
		}
	}
}
