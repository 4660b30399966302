package transform_test

import (
	"encoding/json"
	"errors"
	"math/big"
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
	row, _, err := transform.DecodePstnCallWithReport(firstRow(t, "testdata/usage/pstn-page.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := transform.FlattenPstnCall("tenant-1", row)
	if got.ID != "9c4984c7-6c3c-427d-a30c-bd0b2eacee90" || got.CallType != "user_in" || got.Currency != "USD" ||
		*got.DurationSeconds != 219 || got.LicenseCapability != "MCOPSTNU" || got.DestinationContext != "" {
		t.Errorf("FlattenPstnCall = %+v", got)
	}
	if got.Charge == nil || *got.Charge != (schemas.Decimal128{}) || got.ConnectionCharge == nil || *got.ConnectionCharge != (schemas.Decimal128{}) {
		t.Errorf("charges = %v/%v, want exact zero (not NULL)", got.Charge, got.ConnectionCharge)
	}
	if s := got.StartDateTime.Format("2006-01-02T15:04:05.999999Z"); s != "2019-11-01T00:00:08.258993Z" {
		t.Errorf("start = %s", s)
	}
}

func TestFlattenDirectRoutingCall(t *testing.T) {
	row, _, err := transform.DecodeDirectRoutingCallWithReport(firstRow(t, "testdata/usage/directrouting-page.json"))
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

// TestDecimalCharges: charges are exact to 18 fractional digits, through
// the column's 16-byte two's complement too; beyond DECIMAL(38,18) a charge is
// NULL and counted, and the row stored.
func TestDecimalCharges(t *testing.T) {
	tests := []struct {
		charge string
		want   string // "NULL": stored as NULL and counted
	}{
		{`0.1`, "0.100000000000000000"},
		{`1.234567`, "1.234567000000000000"},
		{`"0.0135"`, "0.013500000000000000"},
		{`-2.5e-3`, "-0.002500000000000000"},
		{`0.1234567`, "0.123456700000000000"}, // 7 digits: refused by the DECIMAL(18,6) of old
		{`0.21000000000000002`, "0.210000000000000020"},
		{`-1`, "-1.000000000000000000"},
		{`99999999999999999999.999999999999999999`, "99999999999999999999.999999999999999999"},
		{`-99999999999999999999.999999999999999999`, "-99999999999999999999.999999999999999999"},
		{`0.1234567890123456789`, "NULL"},
		{`1e30`, "NULL"},
		{`"twelve"`, "NULL"},
	}
	for _, tt := range tests {
		raw := `{"id":"a","startDateTime":"2026-01-01T00:00:00Z","charge":` + tt.charge + `}`
		row, rep, err := transform.DecodePstnCallWithReport([]byte(raw))
		if err != nil {
			t.Errorf("DecodePstnCallWithReport(%s) = %v, want the row stored", raw, err)
			continue
		}
		if got := row.Charge.String(); got != tt.want || (rep.Invalid["charge"] == 1) != (tt.want == "NULL") {
			t.Errorf("DecodePstnCallWithReport(%s).Charge = %s, report %+v, want %s", raw, got, rep, tt.want)
		}
		stored := "NULL"
		if col := transform.FlattenPstnCall("t", row).Charge; col != nil {
			stored = col.String()
		}
		if stored != tt.want {
			t.Errorf("FlattenPstnCall(%s).Charge = %s, want %s", raw, stored, tt.want)
		}
	}
	// 0.1 + 0.2 is exactly 0.3 in the lake's DECIMAL, unlike in a double.
	a, _ := schemas.ParseDecimal("0.1")
	b, _ := schemas.ParseDecimal("0.2")
	if sum := (schemas.Decimal{Unscaled: new(big.Int).Add(a.Unscaled, b.Unscaled)}).String(); sum != "0.300000000000000000" {
		t.Errorf("0.1 + 0.2 = %s, want 0.3", sum)
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
		if _, _, err := transform.DecodeDirectRoutingCallWithReport([]byte(raw)); !errors.Is(err, transform.ErrInvalidRecord) {
			t.Errorf("DecodeDirectRoutingCallWithReport(%s) = %v, want ErrInvalidRecord", raw, err)
		}
	}
}
