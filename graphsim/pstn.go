package graphsim

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The PSTN and Direct Routing usage reports (reference §1.6, §1.7, §6.14,
// §6.15, §7.4, §7.5). Rows are generated like call records: a row is a pure
// function of (seed, UTC day, index in the day), with a start time that is
// increasing in the index except for the rows snapped to a UTC midnight or
// to the hour, which make window-edge bugs show. Rows of a day are served in
// (startDateTime, id) order.

// Endpoint kinds of the usage functions, as counted in Stats.Requests.
const (
	kindPstn          = "pstn"
	kindDirectRouting = "directrouting"
)

const (
	usagePage        = 1000
	maxUsageWindow   = 90 * day
	defaultPstnDay   = 40
	defaultDRDay     = 25
	defaultUsageKeep = 365 * day
	drSentinel       = "0001-01-01T00:00:00Z"
)

// Salts of the usage-report streams (distinct from the call-record salts).
const (
	saltPstnStart uint64 = 0x5eed0101 + iota
	saltPstnRow
	saltPstnCallID
	saltDRStart
	saltDRRow
	saltUsageCountry
	saltUsageDID
)

// functionKinds maps the bound functions of the callRecords collection to
// their endpoint kind; unknown functions are kindOther.
var functionKinds = map[string]string{
	"getPstnCalls":          kindPstn,
	"getDirectRoutingCalls": kindDirectRouting,
}

// functionKind is the endpoint kind of a path segment such as
// "microsoft.graph.callRecords.getPstnCalls(fromDateTime=…,toDateTime=…)".
func functionKind(segment string) string {
	name, _, _ := strings.Cut(segment, "(")
	if k, ok := functionKinds[strings.TrimPrefix(name, "microsoft.graph.callRecords.")]; ok {
		return k
	}
	return kindOther
}

// UsageTruth is what the server holds at Now for PSTN or Direct Routing
// rows whose startDateTime is in [from, to): retained (started within
// Config.UsageRetention before Now) and published (24 to 48 hours after the
// call ended), exactly the rows the function returns for that range once
// its own bound semantics are applied.
type UsageTruth struct {
	// Rows is the number of rows.
	Rows int
	// IDs are the rows' ids, sorted.
	IDs []string
	// ChargeByCurrency sums `charge` per ISO 4217 currency, as an exact
	// decimal with six fractional digits ("12.345600"). Every currency that
	// occurs in a row has an entry, even if its sum is zero. PSTN only;
	// empty for Direct Routing.
	ChargeByCurrency map[string]string
	// ConnectionChargeByCurrency sums `connectionCharge` the same way.
	ConnectionChargeByCurrency map[string]string
	// Failed counts Direct Routing rows with successfulCall false; 0 for
	// PSTN.
	Failed int
	// DurationSeconds sums `duration`.
	DurationSeconds int64
}

// PstnTruth returns what getPstnCalls holds at Now for rows whose
// startDateTime is in the half-open range [from, to). getPstnCalls itself
// includes toDateTime, so a request for (a, b) returns PstnTruth(a, b+1ns).
func (s *Simulator) PstnTruth(from, to time.Time) UsageTruth {
	return s.usageTruth(&pstnFunc, from, to)
}

// DirectRoutingTruth returns what getDirectRoutingCalls holds at Now for
// rows whose startDateTime is in [from, to), which is exactly what a
// request for (from, to) returns.
func (s *Simulator) DirectRoutingTruth(from, to time.Time) UsageTruth {
	return s.usageTruth(&drFunc, from, to)
}

func (s *Simulator) usageTruth(f *usageFunc, from, to time.Time) UsageTruth {
	t := UsageTruth{IDs: []string{}, ChargeByCurrency: map[string]string{}, ConnectionChargeByCurrency: map[string]string{}}
	charge, conn := map[string]int64{}, map[string]int64{}
	for _, row := range s.usageRows(f, s.now(), from.UTC(), to.UTC()) {
		t.Rows++
		t.IDs = append(t.IDs, row.rowID())
		switch r := row.(type) {
		case *pstnRow:
			t.DurationSeconds += r.dur
			charge[r.currency] += r.charge
			conn[r.currency] += r.conn
		case *drRow:
			t.DurationSeconds += r.dur
			if !r.ok {
				t.Failed++
			}
		}
	}
	for c, v := range charge {
		t.ChargeByCurrency[c] = formatMicros6(v)
	}
	for c, v := range conn {
		t.ConnectionChargeByCurrency[c] = formatMicros6(v)
	}
	slices.Sort(t.IDs)
	return t
}

// formatMicros6 formats an amount in millionths with six fractional digits.
func formatMicros6(v int64) string {
	frac := strconv.FormatInt(v%1e6, 10)
	return strconv.FormatInt(v/1e6, 10) + "." + strings.Repeat("0", 6-len(frac)) + frac
}

// appendDecimal writes an Edm.Decimal amount in millionths as a JSON number:
// zero as 0.00 (or 0 when bare), otherwise with its significant fractional
// digits, at least two and at most six.
func appendDecimal(b []byte, v int64, bare bool) []byte {
	if v == 0 {
		if bare {
			return append(b, '0')
		}
		return append(b, "0.00"...)
	}
	s := formatMicros6(v)
	n := len(s)
	for n > len(s)-4 && s[n-1] == '0' {
		n--
	}
	return append(b, s[:n]...)
}

// usageRow is one generated PSTN or Direct Routing row.
type usageRow interface {
	rowStart() time.Time
	rowID() string
	rowPublish() time.Time
	write(w *jw)
}

// usageFunc describes one usage-report function.
type usageFunc struct {
	name        string
	rowType     string
	inclusiveTo bool
	perDay      func(s *Simulator) int
	gen         func(s *Simulator, d int64, idx int) usageRow
}

var (
	pstnFunc = usageFunc{
		name: "getPstnCalls", rowType: "pstnCallLogRow", inclusiveTo: true,
		perDay: (*Simulator).pstnPerDay,
		gen:    func(s *Simulator, d int64, idx int) usageRow { return s.pstnRow(d, idx) },
	}
	drFunc = usageFunc{
		name: "getDirectRoutingCalls", rowType: "directRoutingLogRow",
		perDay: (*Simulator).drPerDay,
		gen:    func(s *Simulator, d int64, idx int) usageRow { return s.drRow(d, idx) },
	}
)

func positiveOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (s *Simulator) pstnPerDay() int { return positiveOr(s.cfg.PstnPerDay, defaultPstnDay) }

func (s *Simulator) drPerDay() int { return positiveOr(s.cfg.DirectRoutingPerDay, defaultDRDay) }

func (s *Simulator) usageRetention() time.Duration {
	return positiveOr(s.cfg.UsageRetention, defaultUsageKeep)
}

// usageDay generates every row of day d, in (startDateTime, id) order.
func (s *Simulator) usageDay(f *usageFunc, d int64) []usageRow {
	n := f.perDay(s)
	rows := make([]usageRow, n)
	for i := range n {
		rows[i] = f.gen(s, d, i)
	}
	slices.SortFunc(rows, func(a, b usageRow) int {
		if c := a.rowStart().Compare(b.rowStart()); c != 0 {
			return c
		}
		return strings.Compare(a.rowID(), b.rowID())
	})
	return rows
}

// usageRows lists the rows visible at now with lo <= start < hi, in order.
func (s *Simulator) usageRows(f *usageFunc, now, lo, hi time.Time) []usageRow {
	if r := now.Add(-s.usageRetention()); lo.Before(r) {
		lo = r
	}
	if now.Before(hi) {
		hi = now
	}
	if !lo.Before(hi) {
		return nil
	}
	var out []usageRow
	for d := dayOf(lo); d <= dayOf(hi.Add(-time.Nanosecond)); d++ {
		for _, row := range s.usageDay(f, d) {
			st := row.rowStart()
			if st.Before(lo) || !st.Before(hi) || row.rowPublish().After(now) {
				continue
			}
			out = append(out, row)
		}
	}
	return out
}

// usageStart is the start of row idx of day d: spread over the day like
// call records, except that on about half the days the first row starts at
// exactly 00:00:00.0000000 and about 5% of rows start exactly on the hour.
func (s *Simulator) usageStart(salt uint64, perDay int, d int64, idx int) time.Time {
	h := mix(s.seed, salt, uint64(d), uint64(idx))
	u := (float64(idx) + unit(h)*0.98) / float64(perDay)
	t := time.Unix(d*86400, int64(warp(u)*1e9)/100*100).UTC()
	switch {
	case idx == 0 && mix(s.seed, salt, uint64(d))%2 == 0:
		return dayStart(d)
	case splitmix(h)%100 < 5:
		return t.Truncate(time.Hour)
	}
	return t
}

// publishDelay is how long after the call a row appears: 24 to 48 hours.
func publishDelay(u float64) time.Duration {
	return (24*time.Hour + time.Duration(u*float64(24*time.Hour))).Truncate(100)
}

// usageCountry is a country a PSTN user or number can be in.
type usageCountry struct {
	code, name, currency, dial string
	digits                     int   // national significant digits
	factor                     int64 // currency units per USD-ish unit, for rates
}

var usageCountries = []usageCountry{
	{"US", "United States", "USD", "+1", 10, 1},
	{"GB", "United Kingdom", "GBP", "+44", 10, 1},
	{"DE", "Germany", "EUR", "+49", 10, 1},
	{"FR", "France", "EUR", "+33", 9, 1},
	{"JP", "Japan", "JPY", "+81", 10, 100},
	{"CH", "Switzerland", "CHF", "+41", 9, 1},
	{"NO", "Norway", "NOK", "+47", 8, 10},
	{"AU", "Australia", "AUD", "+61", 9, 1},
	{"CA", "Canada", "CAD", "+1", 10, 1},
}

func (s *Simulator) tenantCountry() int {
	return int(mix(s.seed, saltUsageCountry) % 4) // US, GB, DE or FR
}

// userCountry is where user k is licensed: mostly the tenant's country.
func (s *Simulator) userCountry(k int) int {
	h := mix(s.seed, saltUsageCountry, uint64(k))
	if unit(h) < 0.6 {
		return s.tenantCountry()
	}
	return int(splitmix(h) % uint64(len(usageCountries)))
}

// e164 is a phone number in country c drawn from h.
func e164(c usageCountry, h uint64) string {
	lo := uint64(math.Pow10(c.digits - 1))
	return c.dial + strconv.FormatUint(lo*2+h%(lo*7), 10)
}

// did is user k's (or service number k's) direct number.
func (s *Simulator) did(k int) string {
	return e164(usageCountries[s.userCountry(k)], mix(s.seed, saltUsageDID, uint64(k)))
}

func mask(n string) string {
	if len(n) < 6 {
		return n
	}
	return n[:len(n)-3] + "***"
}

// weighted picks an item by cumulative percentage.
type weighted struct {
	v   string
	pct float64
}

func pickWeighted(u float64, xs []weighted) string {
	acc := 0.0
	for _, x := range xs {
		acc += x.pct
		if u*100 < acc {
			return x.v
		}
	}
	return xs[len(xs)-1].v
}

var pstnCallTypes = []weighted{
	{"user_in", 30}, {"user_out", 30}, {"user_out_conf", 5}, {"user_out_transfer", 4},
	{"user_out_forwarding", 4}, {"conf_in", 12}, {"conf_out", 5}, {"ucap_in", 6}, {"ucap_out", 4},
}

var userLicenses = []weighted{
	{"MCOPSTN1", 35}, {"MCOPSTN2", 20}, {"MCOPSTNU", 15}, {"MCOPSTN5", 10}, {"MCOPSTN6", 8}, {"MCOPSTNPP", 12},
}

var operatorConnect = []string{"BT", "Orange Business", "Telia Company", "NTT Communications", "Vodafone Business", "Colt Technology Services", "Swisscom", "Deutsche Telekom"}

var serviceAccounts = []struct{ upn, name string }{
	{"aa-mainline@contoso.com", "Contoso Main Line"},
	{"cq-helpdesk@contoso.com", "Helpdesk Queue – Support"},
	{"aa-tokyo@contoso.com", "東京オフィス 受付"},
}

// Rates in millionths of a currency unit per minute (before the country
// factor), and one-off connection fees.
var (
	domesticRates = []int64{10000, 13500, 12345, 22000, 4500}
	intlRates     = []int64{123400, 250000, 1234500, 356789, 98000}
	tollFreeRates = []int64{19000, 26000, 12500}
	connFees      = []int64{19000, 5000, 350000, 123456}
)

// pstnRow is one pstnCallLogRow.
type pstnRow struct {
	id, callID             string
	user                   bool   // userId/userPrincipalName/userDisplayName set
	userEmpty              bool   // bot rows: "" rather than null
	userID, upn, name      string // for bots: resource account upn/name, may be ""
	start, end, publish    time.Time
	dur                    int64
	charge, conn           int64 // millionths
	bareCharge, bareConn   bool  // zero written as 0 rather than 0.00
	currency, callType     string
	callee, caller         string
	usageCC, tenantCC      string
	destCtx, destName      string // destCtx "" is null
	confID                 string // "" is null
	license, inventory, op string
	durSource              string
}

func (p *pstnRow) rowStart() time.Time   { return p.start }
func (p *pstnRow) rowID() string         { return p.id }
func (p *pstnRow) rowPublish() time.Time { return p.publish }

func callID(h uint64) string {
	return strconv.FormatUint(1e9+h%3_000_000_000, 10) + "_" + strconv.FormatUint(1e8+(h>>20)%900_000_000, 10) +
		"@" + strconv.Itoa(int(h>>8&0x7f)+20) + "." + strconv.Itoa(int(h>>16&0xff)) + "." +
		strconv.Itoa(int(h>>24&0xff)) + "." + strconv.Itoa(int(h>>32&0xfe)+1)
}

func (s *Simulator) pstnRow(d int64, idx int) *pstnRow {
	perDay := s.pstnPerDay()
	key := mix(s.seed, saltPstnRow, uint64(d), uint64(idx))
	r := newRand(key, saltPstnRow)
	p := &pstnRow{id: hashGUID(key), start: s.usageStart(saltPstnStart, perDay, d, idx)}
	// callId is not unique: transfers and forwards repeat the previous one.
	cid := idx
	if idx > 0 && r.Float64() < 0.07 {
		cid = idx - 1
	}
	p.callID = callID(mix(s.seed, saltPstnCallID, uint64(d), uint64(cid)))
	p.callType = pickWeighted(r.Float64(), pstnCallTypes)
	k := r.IntN(usersInDir)
	uc := s.userCountry(k)
	tc := s.tenantCountry()
	home := usageCountries[uc]
	p.usageCC, p.tenantCC, p.currency = home.code, usageCountries[tc].code, home.currency
	other := uc
	if r.Float64() < 0.3 {
		other = r.IntN(len(usageCountries))
	}
	oc := usageCountries[other]
	p.destName = oc.name
	intl := other != uc && oc.dial != home.dial
	ext := e164(oc, r.Uint64())
	svcNum := s.did(usersInDir + r.IntN(3))
	bot := strings.HasPrefix(p.callType, "ucap")
	conf := strings.HasPrefix(p.callType, "conf") || p.callType == "user_out_conf"
	outbound := strings.Contains(p.callType, "_out")
	switch {
	case bot:
		p.userEmpty = r.Float64() < 0.5
		if r.Float64() < 0.5 {
			sa := serviceAccounts[r.IntN(len(serviceAccounts))]
			p.upn, p.name = sa.upn, sa.name
		}
		p.license, p.inventory = "MCOPSTNU", "Service"
	default:
		p.user = true
		p.userID, p.name, p.upn = s.user(k)
		p.license, p.inventory = pickWeighted(r.Float64(), userLicenses), "Subscriber"
		if conf {
			p.license = []string{"MCOMEETADD", "MCOMEETACPEA"}[r.IntN(2)]
			p.inventory = []string{"Service", "Subscriber"}[r.IntN(2)]
			p.confID = strconv.FormatUint(1e8+r.Uint64N(9e8), 10)
		}
	}
	mine := s.did(k)
	if bot || strings.HasPrefix(p.callType, "conf") {
		mine = svcNum
	}
	if outbound {
		p.caller, p.callee = mine, ext
		switch v := r.Float64(); {
		case v < 0.02:
		case intl:
			p.destCtx = "International"
		default:
			p.destCtx = "Domestic"
		}
	} else {
		p.caller, p.callee = ext, mine
	}
	switch v := r.Float64(); {
	case v < 0.03:
		p.dur = r.Int64N(3)
	default:
		p.dur = int64(min(10+math.Exp(r.NormFloat64()+math.Log(150)), 4*3600))
	}
	p.end = p.start.Add(time.Duration(p.dur) * time.Second)
	p.op = "Microsoft"
	p.durSource = "microsoft"
	if r.Float64() < 0.3 {
		p.op = operatorConnect[r.IntN(len(operatorConnect))]
		if r.Float64() < 0.8 {
			p.durSource = "operator"
		}
	}
	minutes := (p.dur + 59) / 60
	perSecond := r.Float64() < 0.3
	bill := func(rate int64) int64 {
		rate *= home.factor
		if perSecond {
			return p.dur * rate / 60
		}
		return minutes * rate
	}
	switch {
	case outbound && (intl && r.Float64() < 0.9 || !intl && (p.license == "MCOPSTNPP" || r.Float64() < 0.25)):
		if intl {
			p.charge = bill(intlRates[r.IntN(len(intlRates))])
		} else {
			p.charge = bill(domesticRates[r.IntN(len(domesticRates))])
		}
		if r.Float64() < 0.2 {
			p.conn = connFees[r.IntN(len(connFees))] * home.factor
		}
	case !outbound && r.Float64() < 0.08:
		p.charge = bill(tollFreeRates[r.IntN(len(tollFreeRates))])
	}
	p.bareCharge, p.bareConn = r.Float64() < 0.15, r.Float64() < 0.15
	p.publish = p.end.Add(publishDelay(r.Float64()))
	return p
}

func (p *pstnRow) write(w *jw) {
	w.open("")
	w.str("id", p.id)
	w.str("callId", p.callID)
	switch {
	case p.user:
		w.str("userId", p.userID)
	case p.userEmpty:
		w.str("userId", "")
	default:
		w.null("userId")
	}
	if p.user || p.upn != "" || !p.userEmpty {
		w.strOrNull("userPrincipalName", p.upn)
		w.strOrNull("userDisplayName", p.name)
	} else {
		w.str("userPrincipalName", "")
		w.str("userDisplayName", "")
	}
	w.ts("startDateTime", p.start, tsSeven)
	w.ts("endDateTime", p.end, tsSeven)
	w.int("duration", p.dur)
	w.raw("charge", appendDecimal(nil, p.charge, p.bareCharge))
	w.str("callType", p.callType)
	w.str("currency", p.currency)
	w.str("calleeNumber", p.callee)
	w.str("usageCountryCode", p.usageCC)
	w.str("tenantCountryCode", p.tenantCC)
	w.raw("connectionCharge", appendDecimal(nil, p.conn, p.bareConn))
	w.str("callerNumber", p.caller)
	w.strOrNull("destinationContext", p.destCtx)
	w.str("destinationName", p.destName)
	w.strOrNull("conferenceId", p.confID)
	w.str("licenseCapability", p.license)
	w.str("inventoryType", p.inventory)
	w.str("operator", p.op)
	w.str("callDurationSource", p.durSource)
	w.close()
}

var drCallTypes = []weighted{
	{"ByotIn", 27}, {"ByotOut", 20}, {"dr_in", 15}, {"dr_out", 15}, {"dr_out_user_forwarding", 4},
	{"dr_out_user_transfer", 4}, {"dr_out_user_conf", 4}, {"dr_in_ucap", 6}, {"dr_out_ucap", 4},
	{"dr_emergency_out", 1},
}

var drFailures = []struct {
	code, sub int
	phrase    string
}{
	{404, 560404, "Not Found"}, {486, 560486, "Busy Here"}, {487, 560487, "Request Terminated"},
	{503, 560503, "Service Unavailable"}, {480, 560480, "Temporarily Unavailable"},
	{408, 560408, "Request Timeout"}, {500, 560500, "Server Internal Error"}, {603, 560603, "Decline"},
}

var (
	sbcFQDNs     = []string{"tll-audiocodes01.adatum.biz", "sbc1.contoso.com", "sbc2.contoso.com", "ribbon-eu.contoso.de"}
	azureRegions = []string{"USWE", "USEA", "EUNO", "EUWE", "APSE", "APEA", "AUEA", "JPEA"}
)

// drRow is one directRoutingLogRow.
type drRow struct {
	id, corr                    string
	userID, upn, name           string // "" is null
	start, invite, failure, end time.Time
	publish                     time.Time
	style                       tsStyle
	endNull                     bool // failed call: endDateTime null rather than the sentinel
	dur                         int64
	callType                    string
	ok                          bool
	caller, callee              string
	mediaLoc, sigLoc            string
	sipCode, subReason          int
	phrase, trunk               string
	bypass                      bool
}

func (p *drRow) rowStart() time.Time   { return p.start }
func (p *drRow) rowID() string         { return p.id }
func (p *drRow) rowPublish() time.Time { return p.publish }

func (s *Simulator) drRow(d int64, idx int) *drRow {
	perDay := s.drPerDay()
	key := mix(s.seed, saltDRRow, uint64(d), uint64(idx))
	r := newRand(key, saltDRRow)
	p := &drRow{id: hashGUID(key), corr: randGUID(r), start: s.usageStart(saltDRStart, perDay, d, idx)}
	if key%2 == 0 {
		// Millisecond timestamps written as 2019-11-01T00:00:25.105Z.
		p.style = tsTrimmed
		p.start = p.start.Truncate(time.Millisecond)
	}
	p.callType = pickWeighted(r.Float64(), drCallTypes)
	k := r.IntN(usersInDir)
	if strings.Contains(p.callType, "ucap") {
		k = usersInDir + r.IntN(3) // a resource account's service number
	} else {
		p.userID, p.name, p.upn = s.user(k)
	}
	home := usageCountries[s.userCountry(k)]
	mine := s.did(k)
	ext := e164(usageCountries[r.IntN(len(usageCountries))], r.Uint64())
	if p.callType == "dr_emergency_out" {
		ext = map[string]string{"+1": "911", "+81": "110"}[home.dial]
		if ext == "" {
			ext = "112"
		}
	}
	switch v := r.Float64(); {
	case v < 0.5:
		ext = mask(ext)
	case v < 0.6:
		ext, mine = mask(ext), mask(mine)
	}
	if strings.Contains(p.callType, "In") || strings.Contains(p.callType, "_in") {
		if r.Float64() < 0.03 {
			ext = "Anonymous"
		}
		p.caller, p.callee = ext, mine
	} else {
		p.caller, p.callee = mine, ext
	}
	p.mediaLoc = azureRegions[r.IntN(len(azureRegions))]
	p.sigLoc = azureRegions[r.IntN(len(azureRegions))]
	p.trunk = sbcFQDNs[r.IntN(len(sbcFQDNs))]
	p.bypass = r.Float64() < 0.35
	gap := func(maxSec float64) time.Duration {
		g := time.Duration((0.2 + r.Float64()*maxSec) * float64(time.Second))
		if p.style == tsTrimmed {
			return g.Truncate(time.Millisecond)
		}
		return g.Truncate(100)
	}
	p.ok = r.Float64() < 0.8
	if p.ok {
		p.invite = p.start.Add(-gap(6))
		p.dur = int64(min(5+math.Exp(r.NormFloat64()+math.Log(120)), 3*3600))
		p.end = p.start.Add(time.Duration(p.dur) * time.Second)
		p.phrase = "BYE"
		p.subReason = 540000
		if r.Float64() < 0.25 {
			p.sipCode = 200
		}
		p.publish = p.end.Add(publishDelay(r.Float64()))
		return p
	}
	f := drFailures[r.IntN(len(drFailures))]
	p.sipCode, p.subReason, p.phrase = f.code, f.sub, f.phrase
	if r.Float64() < 0.5 {
		p.invite, p.failure = p.start, p.start.Add(gap(30))
	} else {
		p.invite, p.failure = p.start.Add(-gap(30)), p.start
	}
	p.endNull = r.Float64() < 0.4
	p.publish = p.failure.Add(publishDelay(r.Float64()))
	return p
}

func (p *drRow) write(w *jw) {
	w.open("")
	w.str("id", p.id)
	w.str("correlationId", p.corr)
	w.strOrNull("userId", p.userID)
	w.strOrNull("userPrincipalName", p.upn)
	w.strOrNull("userDisplayName", p.name)
	w.ts("startDateTime", p.start, p.style)
	w.ts("inviteDateTime", p.invite, p.style)
	if p.ok {
		w.str("failureDateTime", drSentinel)
		w.ts("endDateTime", p.end, p.style)
	} else {
		w.ts("failureDateTime", p.failure, p.style)
		if p.endNull {
			w.null("endDateTime")
		} else {
			w.str("endDateTime", drSentinel)
		}
	}
	w.int("duration", p.dur)
	w.str("callType", p.callType)
	w.bool("successfulCall", p.ok)
	w.str("callerNumber", p.caller)
	w.str("calleeNumber", p.callee)
	w.str("mediaPathLocation", p.mediaLoc)
	w.str("signalingLocation", p.sigLoc)
	w.int("finalSipCode", int64(p.sipCode))
	w.int("callEndSubReason", int64(p.subReason))
	w.str("finalSipCodePhrase", p.phrase)
	w.str("trunkFullyQualifiedDomainName", p.trunk)
	w.bool("mediaBypassEnabled", p.bypass)
	w.close()
}

// parseUsageArgs reads "fromDateTime=<lit>,toDateTime=<lit>" (either order)
// where a literal is a date (midnight UTC) or an RFC 3339 timestamp, and
// returns a Graph-style message when it cannot.
func parseUsageArgs(f *usageFunc, args string) (from, to time.Time, msg string) {
	var seen [2]bool
	var vals [2]time.Time
	off := 0
	for part := range strings.SplitSeq(args, ",") {
		name, lit, hasEq := strings.Cut(part, "=")
		pos := off + len(name) + 1
		off += len(part) + 1
		name = strings.TrimSpace(name)
		i := -1
		switch {
		case strings.EqualFold(name, "fromDateTime"):
			i = 0
		case strings.EqualFold(name, "toDateTime"):
			i = 1
		case name == "" && !hasEq:
			return from, to, "Expression expected at position " + strconv.Itoa(pos-1) + " in '" + args + "'."
		default:
			return from, to, "The parameter '" + name + "' is not defined for function 'microsoft.graph.callRecords." + f.name + "'."
		}
		if seen[i] {
			return from, to, "The parameter '" + name + "' is specified more than once."
		}
		seen[i] = true
		lit = strings.TrimSpace(lit)
		if !hasEq || lit == "" {
			return from, to, "Expression expected at position " + strconv.Itoa(pos) + " in '" + args + "'."
		}
		t, ok := parseDateLiteral(lit)
		if !ok {
			return from, to, "Cannot convert the literal '" + lit + "' to the expected type 'Edm.DateTimeOffset'."
		}
		vals[i] = t
	}
	for i, name := range []string{"fromDateTime", "toDateTime"} {
		if !seen[i] {
			return from, to, "The parameter '" + name + "' is missing in the call to function 'microsoft.graph.callRecords." + f.name + "'."
		}
	}
	return vals[0], vals[1], ""
}

func parseDateLiteral(lit string) (time.Time, bool) {
	if t, err := time.Parse(time.DateOnly, lit); err == nil {
		return t, true
	}
	t, err := time.Parse(time.RFC3339Nano, lit)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// skipLink is the request URL with $skip set.
func skipLink(r *http.Request, skip int) string {
	return withQueryParam(r, "$skip", strconv.Itoa(skip))
}

func (s *Simulator) servePstn(w http.ResponseWriter, r *http.Request, rc *reqCtx, args string) {
	s.serveUsage(&pstnFunc, w, r, rc, args)
}

func (s *Simulator) serveDirectRouting(w http.ResponseWriter, r *http.Request, rc *reqCtx, args string) {
	s.serveUsage(&drFunc, w, r, rc, args)
}

// serveUsage serves one page of getPstnCalls or getDirectRoutingCalls.
// Unknown query options ($filter included) are ignored, as Graph does.
func (s *Simulator) serveUsage(f *usageFunc, w http.ResponseWriter, r *http.Request, rc *reqCtx, args string) {
	if !strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), ")") {
		s.badRequest(w, rc, "Bad Request - Error in query syntax.")
		return
	}
	from, to, msg := parseUsageArgs(f, args)
	if msg != "" {
		s.badRequest(w, rc, msg)
		return
	}
	if from.After(to) {
		s.badRequest(w, rc, "The value of fromDateTime must not be later than the value of toDateTime.")
		return
	}
	if to.Sub(from) > maxUsageWindow {
		s.writeError(w, rc, http.StatusNotAcceptable, "NotAcceptable",
			"The time range between fromDateTime and toDateTime must not exceed 90 days.")
		return
	}
	q, ok := s.query(w, r, rc)
	if !ok {
		return
	}
	skip := 0
	if v := q.Get("$skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.badRequest(w, rc, "Invalid value '"+v+"' for $skip query option found. The $skip query option requires a non-negative integer value.")
			return
		}
		skip = n
	}
	hi := to
	if f.inclusiveTo {
		hi = to.Add(time.Nanosecond)
	}
	rows := s.usageRows(f, rc.now, from, hi)
	size := rc.prefs.pageSize(usagePage)
	start := min(skip, len(rows))
	end := min(start+size, len(rows))
	jw := rc.prefs.writer()
	jw.open("")
	jw.str("@odata.context", metaBase+"Collection(microsoft.graph.callRecords."+f.rowType+")")
	jw.int("@odata.count", int64(end-start))
	jw.openArr("value")
	for _, row := range rows[start:end] {
		row.write(jw)
	}
	jw.closeArr()
	if end < len(rows) {
		jw.str("@odata.nextLink", skipLink(r, end))
	}
	jw.close()
	s.writeBody(w, rc, rc.prefs.applied(usagePage, true), jw.b)
}
