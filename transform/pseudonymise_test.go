package transform_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

var testKey = []byte("0123456789abcdef-test-key")

// policyOf is a policy with action for every class.
func policyOf(action transform.Action) transform.Policy {
	p := transform.Policy{Classes: map[schemas.PersonalClass]transform.Action{}, IPv4Prefix: 24, IPv6Prefix: 48}
	for _, c := range schemas.PersonalClasses {
		p.Classes[c] = action
	}
	return p
}

func mustPseudonymiser(t testing.TB, p transform.Policy, key []byte) *transform.Pseudonymiser {
	t.Helper()
	ps, err := transform.NewPseudonymiser(p, key)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestParsePolicy(t *testing.T) {
	p, err := transform.ParsePolicy("p.yaml", []byte("default: drop\nclasses:\n  user_id: hash\n  subnet: keep\nip_prefix:\n  ipv4: 16\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Action(schemas.ClassUserID) != transform.Hash || p.Action(schemas.ClassSubnet) != transform.Keep || p.Action(schemas.ClassPhoneNumber) != transform.Drop || p.IPv4Prefix != 16 || p.IPv6Prefix != 48 {
		t.Errorf("ParsePolicy = %+v", p)
	}
	j, err := transform.ParsePolicy("p.json", []byte(`{"default": "drop", "classes": {"user_id": "hash", "subnet": "keep"}, "ip_prefix": {"ipv4": 16}}`))
	if err != nil || j.Digest() != p.Digest() {
		t.Errorf("the JSON twin of the YAML policy: %v, digest %s, want %s", err, j.Digest(), p.Digest())
	}
	if empty, err := transform.ParsePolicy("empty.yaml", nil); err != nil || !empty.KeepsAll() || empty.Digest() != (transform.Policy{}).Digest() {
		t.Errorf("an empty policy: %+v, %v; want keep everything, as the zero Policy", empty, err)
	}
	for _, tc := range []struct{ file, want string }{
		{"classes:\n  phone: hash\n", `bad.yaml: classes: unknown class "phone"`},
		{"classes:\n  user_id: encrypt\n", `bad.yaml: classes: user_id: unknown action "encrypt"`},
		{"default: maybe\n", `bad.yaml: default: unknown action "maybe"`},
		{"classe:\n  user_id: hash\n", `bad.yaml: yaml: unmarshal errors:
  line 1: field classe not found`},
		{"ip_prefix:\n  ipv4: 33\n", "bad.yaml: ip_prefix.ipv4: 33 is not a prefix length from 0 to 32"},
	} {
		_, err := transform.ParsePolicy("bad.yaml", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePolicy(%q) = %v, want an error containing %q", tc.file, err, tc.want)
		}
	}
}

func TestNewPseudonymiser_Key(t *testing.T) {
	if ps, err := transform.NewPseudonymiser(policyOf(transform.Keep), nil); ps != nil || err != nil {
		t.Errorf("keep everything = %v, %v; want nil, nil", ps, err)
	}
	if _, err := transform.NewPseudonymiser(policyOf(transform.Drop), nil); err != nil {
		t.Errorf("drop needs no key: %v", err)
	}
	if _, err := transform.NewPseudonymiser(policyOf(transform.Hash), nil); err != transform.ErrNoKey {
		t.Errorf("hash without a key = %v, want ErrNoKey", err)
	}
	if _, err := transform.NewPseudonymiser(policyOf(transform.Hash), []byte("short")); err == nil {
		t.Error("hash with a 5-byte key: want an error")
	}
}

func TestPseudonymiser_Value(t *testing.T) {
	ps := mustPseudonymiser(t, policyOf(transform.Hash), testKey)
	other := mustPseudonymiser(t, policyOf(transform.Hash), []byte("another key of 16 bytes or more"))
	hex24 := `[0-9a-f]{24}`
	for _, tc := range []struct {
		class schemas.PersonalClass
		in    string
		want  string // a regexp
	}{
		{schemas.ClassUserID, "2f1a0c3e-0000-4000-8000-000000000001", "^" + hex24 + "$"},
		{schemas.ClassPhoneNumber, "+442079460000", `^\+44~` + hex24 + "$"},
		{schemas.ClassPhoneNumber, "+14255550100", `^\+1~` + hex24 + "$"},
		{schemas.ClassPhoneNumber, "+3545551234", `^\+354~` + hex24 + "$"},
		{schemas.ClassPhoneNumber, "2079460000", "^" + hex24 + "$"},
		{schemas.ClassIPAddress, "10.1.2.37", `^10\.1\.2\.0/24~` + hex24 + "$"},
		{schemas.ClassIPAddress, "2001:db8:aa:1::7", `^2001:db8:aa::/48~` + hex24 + "$"},
		{schemas.ClassIPAddress, "not an address", "^" + hex24 + "$"},
		{schemas.ClassSubnet, "10.1.2.0", "^" + hex24 + "$"},
	} {
		got := ps.Value(tc.class, tc.in)
		if !regexp.MustCompile(tc.want).MatchString(got) {
			t.Errorf("Value(%s, %q) = %q, want %s", tc.class, tc.in, got, tc.want)
		}
		if again := mustPseudonymiser(t, policyOf(transform.Hash), testKey).Value(tc.class, tc.in); again != got {
			t.Errorf("Value(%s, %q) = %q, then %q with the same key: want stable", tc.class, tc.in, got, again)
		}
		if o := other.Value(tc.class, tc.in); o == got {
			t.Errorf("Value(%s, %q) = %q with two keys: want different pseudonyms", tc.class, tc.in, got)
		}
	}
	if got := ps.Value(schemas.NotPersonal, "callSetup"); got != "callSetup" {
		t.Errorf("Value(NotPersonal) = %q, want it kept", got)
	}
	if got := mustPseudonymiser(t, policyOf(transform.Drop), nil).Value(schemas.ClassDisplayName, "Zoë"); got != "" {
		t.Errorf("drop: Value = %q, want NULL", got)
	}
}

// personalValues calls fn with the path and value of every personal
// string of v (a row struct, or a slice of them), as ColumnClass classes it.
func personalValues(t *testing.T, v reflect.Value, prefix string, fn func(path, s string)) {
	switch v.Kind() {
	case reflect.Slice:
		for i := range v.Len() {
			personalValues(t, v.Index(i), prefix, fn)
		}
		return
	case reflect.Pointer:
		if !v.IsNil() {
			personalValues(t, v.Elem(), prefix, fn)
		}
		return
	case reflect.Struct:
	default:
		return
	}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Anonymous || f.Tag.Get("parquet") == "" { // embedded, or a table of CallRecordRows
			personalValues(t, v.Field(i), prefix, fn)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		fv := v.Field(i)
		elem := f.Type
		for elem.Kind() == reflect.Slice || elem.Kind() == reflect.Pointer {
			elem = elem.Elem()
		}
		if elem.Kind() == reflect.Struct && elem != reflect.TypeFor[schemas.Time]() {
			personalValues(t, fv, prefix+name+".", fn)
			continue
		}
		if elem.Kind() != reflect.String {
			continue
		}
		class, ok := schemas.ColumnClass(prefix + name)
		if !ok {
			t.Fatalf("no class for %s", prefix+name)
		}
		if class == schemas.NotPersonal {
			continue
		}
		var ss []string
		switch fv.Kind() {
		case reflect.String:
			ss = []string{fv.String()}
		case reflect.Pointer:
			if !fv.IsNil() {
				ss = []string{fv.Elem().String()}
			}
		case reflect.Slice:
			ss = fv.Interface().([]string)
		}
		for _, s := range ss {
			if s != "" {
				fn(prefix+name, s)
			}
		}
	}
}

func flattenFixture(t *testing.T, path string) schemas.CallRecordRows {
	rec, err := transform.DecodeCallRecord(MustReadFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return transform.FlattenCallRecord("tenant-1", rec)
}

// TestCallRecordRows_Policy: under a hash policy no personal value of a
// flattened record is left in clear and each has its one pseudonym
// wherever it is; under a drop policy every personal column is NULL; a
// keep policy changes nothing.
func TestCallRecordRows_Policy(t *testing.T) {
	for _, fixture := range []string{"testdata/quirks.json", "testdata/docs-p2p.json"} {
		clear := flattenFixture(t, fixture)
		var personal []string
		personalValues(t, reflect.ValueOf(clear), "", func(_, s string) { personal = append(personal, s) })
		if len(personal) < 10 {
			t.Fatalf("%s: only %d personal values: the walk is broken", fixture, len(personal))
		}

		hashed := flattenFixture(t, fixture)
		ps := mustPseudonymiser(t, policyOf(transform.Hash), testKey)
		ps.CallRecordRows(&hashed)
		out, _ := json.Marshal(hashed)
		for _, s := range personal {
			if strings.Contains(string(out), mustJSON(t, s)) {
				t.Errorf("%s: %q is in clear after hashing", fixture, s)
			}
		}
		personalValues(t, reflect.ValueOf(hashed), "", func(path, s string) {
			if !regexp.MustCompile(`[0-9a-f]{24}$`).MatchString(s) {
				t.Errorf("%s: %s = %q, want a pseudonym", fixture, path, s)
			}
		})
		// The same values, hashed once each: flattening shares lists between rows.
		var want []string
		personalValues(t, reflect.ValueOf(clear), "", func(path, s string) {
			class, _ := schemas.ColumnClass(path)
			want = append(want, ps.Value(class, s))
		})
		var got []string
		personalValues(t, reflect.ValueOf(hashed), "", func(_, s string) { got = append(got, s) })
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: hashed values differ from each clear value's pseudonym", fixture)
		}

		dropped := flattenFixture(t, fixture)
		mustPseudonymiser(t, policyOf(transform.Drop), nil).CallRecordRows(&dropped)
		personalValues(t, reflect.ValueOf(dropped), "", func(path, s string) {
			t.Errorf("%s: drop policy: %s = %q, want NULL", fixture, path, s)
		})
		if dropped.Sessions[0].SessionID != clear.Sessions[0].SessionID || dropped.CallRecord.Version != clear.CallRecord.Version {
			t.Errorf("%s: drop policy changed a column that is not personal", fixture)
		}
	}
}

// TestPseudonymiser_JSON: the record JSON follows the policy as the rows
// do, and, unless the policy drops user ids, flattening the pseudonymised
// JSON gives the pseudonymised rows — what the job relies on when it
// archives: it pseudonymises a record's JSON and makes its rows from that,
// whole or a few sessions at a time. Checked under hash and drop of every
// class, each class dropped alone, and the deploy example, on the fixtures
// and a month of the simulator's records (journeys, PSTN, quirks).
func TestPseudonymiser_JSON(t *testing.T) {
	records := map[string][]byte{}
	for _, fixture := range []string{"testdata/quirks.json", "testdata/docs-p2p.json"} {
		records[fixture] = MustReadFile(t, fixture)
	}
	journeys := 0
	for id, raw := range transform.SimulatorRecords(t, 2, 1) {
		records["simulator "+id] = raw
		if rec, err := transform.DecodeCallRecord(raw); err == nil && len(transform.FlattenCallRecord("tenant-1", rec).JourneyHops) > 0 {
			journeys++
		}
	}
	if journeys == 0 {
		t.Fatal("no simulator record with a journey: user ids are compared there")
	}
	for name, policy := range policiesToCheck(t) {
		ps := mustPseudonymiser(t, policy, testKey)
		if want := policy.Action(schemas.ClassUserID) != transform.Drop; ps.SameRowsFromJSON() != want {
			t.Errorf("%s: SameRowsFromJSON = %t, want %t", name, !want, want)
		}
		for source, raw := range records {
			out, err := ps.JSON(raw)
			if err != nil {
				t.Fatalf("%s: %s: %v", name, source, err)
			}
			rec, err := transform.DecodeCallRecord(raw)
			if err != nil {
				t.Fatal(err)
			}
			rows := transform.FlattenCallRecord("tenant-1", rec)
			if name == "hash" {
				strs := jsonStrings(t, out)
				personalValues(t, reflect.ValueOf(rows), "", func(path, s string) {
					if strs[s] {
						t.Errorf("%s: %s %q is in clear in the pseudonymised JSON", source, path, s)
					}
				})
			}
			ps.CallRecordRows(&rows)
			if !ps.SameRowsFromJSON() {
				continue
			}
			rec, err = transform.DecodeCallRecord(out)
			if err != nil {
				t.Fatalf("%s: %s: the pseudonymised JSON does not decode: %v", name, source, err)
			}
			if a, b := mustJSON(t, transform.FlattenCallRecord("tenant-1", rec)), mustJSON(t, rows); a != b {
				i := 0
				for i < len(a) && i < len(b) && a[i] == b[i] {
					i++
				}
				t.Errorf("%s: %s: rows of the pseudonymised JSON differ from the pseudonymised rows at byte %d:\n%s\n%s", name, source, i, a[max(0, i-200):min(len(a), i+100)], b[max(0, i-200):min(len(b), i+100)])
			}
			if a, b := bigRows(t, nil, out), bigRows(t, ps, raw); !reflect.DeepEqual(a, b) {
				t.Errorf("%s: %s: batches of the pseudonymised JSON differ from the pseudonymised batches", name, source)
			}
		}
	}
}

// policiesToCheck: every class hashed, every class dropped, each class
// dropped alone, and the deploy example.
func policiesToCheck(t *testing.T) map[string]transform.Policy {
	t.Helper()
	deploy, err := transform.ParsePolicy("deploy", MustReadFile(t, "../deploy/privacy-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	policies := map[string]transform.Policy{"hash": policyOf(transform.Hash), "drop": policyOf(transform.Drop), "deploy": deploy}
	for _, c := range schemas.PersonalClasses {
		p := policyOf(transform.Keep)
		p.Classes[c] = transform.Drop
		policies["drop "+string(c)] = p
	}
	return policies
}

// TestPseudonymiser_UsageJSON: a PSTN or Direct Routing row flattened from
// its pseudonymised JSON is the row flattened and pseudonymised — what a run
// relies on when it spools the rows pseudonymised — under every policy,
// user ids dropped included (nothing compares them in these rows).
func TestPseudonymiser_UsageJSON(t *testing.T) {
	pstn := firstRow(t, "testdata/usage/pstn-page.json")
	dr := firstRow(t, "testdata/usage/directrouting-page.json")
	for name, policy := range policiesToCheck(t) {
		ps := mustPseudonymiser(t, policy, testKey)
		flattenPstn := func(raw []byte) []schemas.PstnCallRow {
			r, _, err := transform.DecodePstnCallWithReport(raw)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return []schemas.PstnCallRow{transform.FlattenPstnCall("tenant-1", r)}
		}
		flattenDR := func(raw []byte) []schemas.DirectRoutingCallRow {
			r, _, err := transform.DecodeDirectRoutingCallWithReport(raw)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return []schemas.DirectRoutingCallRow{transform.FlattenDirectRoutingCall("tenant-1", r)}
		}
		pstnRows, drRows := flattenPstn(pstn), flattenDR(dr)
		transform.Rows(ps, pstnRows)
		transform.Rows(ps, drRows)
		pstnOut, err := ps.JSON(pstn)
		if err != nil {
			t.Fatal(err)
		}
		drOut, err := ps.JSON(dr)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := mustJSON(t, flattenPstn(pstnOut)), mustJSON(t, pstnRows); a != b {
			t.Errorf("%s: PSTN row of the pseudonymised JSON\n%s\nwant the pseudonymised row\n%s", name, a, b)
		}
		if a, b := mustJSON(t, flattenDR(drOut)), mustJSON(t, drRows); a != b {
			t.Errorf("%s: Direct Routing row of the pseudonymised JSON\n%s\nwant the pseudonymised row\n%s", name, a, b)
		}
		if name == "hash" && (bytes.Contains(pstnOut, []byte("richard.malk")) || mustJSON(t, pstnRows) == mustJSON(t, flattenPstn(pstn))) {
			t.Errorf("hash: the PSTN row kept its clear values")
		}
	}
}

// jsonStrings is the set of the strings of a JSON document.
func jsonStrings(t *testing.T, doc []byte) map[string]bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			set[v] = true
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return set
}

// bigRows is raw decoded as a big record and flattened a few streams at a
// time, each batch under ps, as JSON.
func bigRows(t *testing.T, ps *transform.Pseudonymiser, raw []byte) []string {
	t.Helper()
	big, ok, err := transform.DecodeBigCallRecord(raw)
	if !ok || err != nil {
		t.Fatalf("big record decoder: ok %t, %v", ok, err)
	}
	var batches []string
	err = big.Rows("tenant-1", 3, func(rows schemas.CallRecordRows, _ bool) error {
		ps.CallRecordRows(&rows)
		batches = append(batches, mustJSON(t, rows))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return batches
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestParsePolicy_DeployExample: the documented example parses, and is
// the GDPR-minded policy README describes.
func TestParsePolicy_DeployExample(t *testing.T) {
	path := "../deploy/privacy-policy.yaml"
	p, err := transform.ParsePolicy(path, MustReadFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	want := map[schemas.PersonalClass]transform.Action{
		schemas.ClassUserID: transform.Hash, schemas.ClassDisplayName: transform.Drop, schemas.ClassUPNEmail: transform.Hash,
		schemas.ClassPhoneNumber: transform.Hash, schemas.ClassIPAddress: transform.Hash, schemas.ClassSubnet: transform.Keep,
		schemas.ClassDeviceName: transform.Hash, schemas.ClassFeedbackText: transform.Drop,
	}
	for c, a := range want {
		if p.Action(c) != a {
			t.Errorf("%s: %s = %s, want %s", path, c, p.Action(c), a)
		}
	}
	if p.IPv4Prefix != 24 || p.IPv6Prefix != 48 {
		t.Errorf("%s: prefixes /%d and /%d, want /24 and /48", path, p.IPv4Prefix, p.IPv6Prefix)
	}
}

// TestPseudonymiser_JSONTokens: strings with escaped quotes and backslashes
// end where JSON says, whitespace and everything not personal is copied
// byte for byte, a dropped value is null, and a document with nothing to
// rewrite comes back as it was.
func TestPseudonymiser_JSONTokens(t *testing.T) {
	hash := mustPseudonymiser(t, policyOf(transform.Hash), testKey)
	name := `Ann \"The\" O'Neil \\`
	in := "{ \"id\" : \"rec-1\",\n\t\"participants_v2\": [ {\"id\": \"u\\\\1\", \"identity\": {\"user\": {\"displayName\": \"" + name + "\", \"note\\\"x\": \"\\\\\"}}, \"n\": [1, -2.5e3, true, null]} ] }"
	unquoted := `Ann "The" O'Neil \`
	want := "{ \"id\" : \"rec-1\",\n\t\"participants_v2\": [ {\"id\": \"" + hash.Value(schemas.ClassUserID, `u\1`) + "\", \"identity\": {\"user\": {\"displayName\": \"" +
		hash.Value(schemas.ClassDisplayName, unquoted) + "\", \"note\\\"x\": \"\\\\\"}}, \"n\": [1, -2.5e3, true, null]} ] }"
	out, err := hash.JSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", out, want)
	}

	drop := mustPseudonymiser(t, policyOf(transform.Drop), testKey)
	out, err = drop.JSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := "{ \"id\" : \"rec-1\",\n\t\"participants_v2\": [ {\"id\": null, \"identity\": {\"user\": {\"displayName\": null, \"note\\\"x\": \"\\\\\"}}, \"n\": [1, -2.5e3, true, null]} ] }"; string(out) != want {
		t.Errorf("dropped JSON =\n%s\nwant\n%s", out, want)
	}

	plain := `{"id": "rec-2", "version": 3, "modalities": ["audio"], "note": "say \"hi\""}`
	if out, err := hash.JSON([]byte(plain)); err != nil || string(out) != plain {
		t.Errorf("JSON of a record with nothing personal = %s, %v; want it unchanged", out, err)
	}
	for _, bad := range []string{`{"id": "rec`, `{"displayName": "x\"}`, `{"a" 1}`, `[1, 2`, `{"a": }`} {
		if _, err := hash.JSON([]byte(bad)); err == nil {
			t.Errorf("JSON(%s): no error", bad)
		}
	}
}
