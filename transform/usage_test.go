package transform_test

import (
	"encoding/json"
	"errors"
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
		json   string
		want   int64
		wantOK bool
	}{
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":0.1}`, 100_000, true},
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":1.234567}`, 1_234_567, true},
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":"0.0135"}`, 13_500, true},
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":-2.5e-3}`, -2_500, true},
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":0.1234567}`, 0, false},
		{`{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":1e30}`, 0, false},
	}
	for _, tt := range tests {
		row, err := transform.DecodePstnCall([]byte(tt.json))
		if (err == nil) != tt.wantOK {
			t.Errorf("DecodePstnCall(%s) error = %v, want ok=%v", tt.json, err, tt.wantOK)
			continue
		}
		if tt.wantOK && row.Charge.Unscaled != tt.want {
			t.Errorf("DecodePstnCall(%s).Charge = %d, want %d (×10^-6)", tt.json, row.Charge.Unscaled, tt.want)
		}
	}
	// 0.1 + 0.2 is exactly 0.3 in the lake's DECIMAL, unlike in a double.
	a, _ := schemas.ParseDecimal("0.1")
	b, _ := schemas.ParseDecimal("0.2")
	if sum := (schemas.Decimal{Unscaled: a.Unscaled + b.Unscaled, Valid: true}).String(); sum != "0.300000" {
		t.Errorf("0.1 + 0.2 = %s, want 0.300000", sum)
	}
}

func TestDecodeUsage_Invalid(t *testing.T) {
	for _, raw := range []string{`{"startDateTime":"2026-01-01T00:00:00Z"}`, `{"id":"x"}`, `{"id":"x","startDateTime":"soon"}`, `[`} {
		if _, err := transform.DecodeDirectRoutingCall([]byte(raw)); !errors.Is(err, transform.ErrInvalidRecord) {
			t.Errorf("DecodeDirectRoutingCall(%s) = %v, want ErrInvalidRecord", raw, err)
		}
	}
}
