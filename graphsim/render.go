package graphsim

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// gen couples a writer with the random stream that decides the values.
type gen struct {
	w  *jw
	r  *rand.Rand
	st tsStyle
	// badNetwork: the record is on a bad network day (Config.BadNetworkDays).
	badNetwork bool
}

// goodShare is the share of streams whose network metrics are good: real
// tenants see a few percent of poor audio streams, many more on a bad day.
func (g *gen) goodShare() float64 {
	if g.badNetwork {
		return 0.8
	}
	return 0.985
}

var specialFloats = [...]string{"NaN", "INF", "-INF"}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// single writes a nullable Edm.Single drawn from [lo, hi); now and then it
// is one of the strings "NaN", "INF", "-INF" the OpenAPI allows.
func (g *gen) single(k string, lo, hi, pNull float64) { g.singleMostly(k, lo, hi, hi, 1, pNull) }

// mostly maps v in [0, 1) onto [lo, hi) so that the share of it falls
// below good and the rest above: a quality metric is mostly good, with a
// tail of bad streams (real tenants see a few percent of poor streams).
func mostly(v, lo, good, hi, share float64) float64 {
	if v < share {
		return lo + v/share*(good-lo)
	}
	return good + (v-share)/(1-share)*(hi-good)
}

// singleMostly is single with mostly's shape: share of the values in
// [lo, good), the rest in [good, hi).
func (g *gen) singleMostly(k string, lo, good, hi, share, pNull float64) {
	u, v := g.r.Float64(), g.r.Float64()
	switch {
	case u < pNull:
		g.w.null(k)
	case u < pNull+0.006:
		g.w.str(k, specialFloats[int(v*3)])
	default:
		g.w.f32(k, math.Round(mostly(v, lo, good, hi, share)*1e6)/1e6)
	}
}

// ratio writes a nullable fraction, usually 0 or small.
func (g *gen) ratio(k string, pNull float64) {
	u, v := g.r.Float64(), g.r.Float64()
	switch {
	case u < pNull:
		g.w.null(k)
	case u < pNull+0.005:
		g.w.str(k, specialFloats[int(v*3)])
	case v < 0.45:
		g.w.int(k, 0)
	default:
		g.w.f32(k, math.Round(math.Pow(v, 4)*1e6)/1e6)
	}
}

// ms writes a nullable Edm.Duration of lo..hi milliseconds; rarely a value
// over a minute (PT1M2.5S) and sometimes the long form P0DT0H0M0.002S.
func (g *gen) ms(k string, lo, hi, pNull float64) {
	u, v, x := g.r.Float64(), g.r.Float64(), g.r.Float64()
	if u < pNull {
		g.w.null(k)
		return
	}
	g.writeMs(k, lo+v*(hi-lo), x)
}

func (g *gen) writeMs(k string, msv, x float64) {
	if x < 0.01 {
		msv += 60000 + x*3e6
	}
	var d time.Duration
	if x > 0.9 {
		d = time.Duration(msv*10) * 100 * time.Microsecond // 0.1 ms steps
	} else {
		d = time.Duration(msv) * time.Millisecond
	}
	g.w.dur(k, d, x > 0.02 && x < 0.04)
}

// msPair writes an average and a maximum duration, max >= average.
func (g *gen) msPair(kAvg, kMax string, lo, hi, pNull float64) {
	g.msPairMostly(kAvg, kMax, lo, hi, hi, 1, pNull)
}

// msPairMostly is msPair with mostly's shape for the average.
func (g *gen) msPairMostly(kAvg, kMax string, lo, good, hi, share, pNull float64) {
	u, v, x, y := g.r.Float64(), g.r.Float64(), g.r.Float64(), g.r.Float64()
	if u < pNull {
		g.w.null(kAvg)
		g.w.null(kMax)
		return
	}
	avg := mostly(v, lo, good, hi, share)
	g.writeMs(kAvg, avg, 0.5)
	g.writeMs(kMax, avg*(1+2*y)+1, x)
}

// ratioPair writes an average and a maximum fraction, max >= average.
func (g *gen) ratioPair(kAvg, kMax string, pNull float64) {
	u, v, y := g.r.Float64(), g.r.Float64(), g.r.Float64()
	switch {
	case u < pNull:
		g.w.null(kAvg)
		g.w.null(kMax)
	case u < pNull+0.005:
		g.w.str(kAvg, specialFloats[int(v*3)])
		g.w.str(kMax, specialFloats[int(v*3)])
	case v < 0.45:
		g.w.int(kAvg, 0)
		g.w.f32(kMax, math.Round(math.Pow(y, 6)*1e6)/1e6)
	default:
		// Mostly under 3%, a tail up to 50%.
		avg := math.Round(mostly((v-0.45)/0.55, 0, 0.03, 0.5, g.goodShare())*1e6) / 1e6
		g.w.f32(kAvg, avg)
		g.w.f32(kMax, math.Min(1, math.Round((avg+(1-avg)*math.Pow(y, 3))*1e6)/1e6))
	}
}

// i32 writes a nullable integer in [lo, hi].
func (g *gen) i32(k string, lo, hi int, pNull float64) {
	u := g.r.Float64()
	v := lo + g.r.IntN(hi-lo+1)
	g.w.optInt(k, int64(v), u >= pNull)
}

// optBool writes true/false, or null with probability pNull.
func (g *gen) optBool(k string, pTrue, pNull float64) {
	u, v := g.r.Float64(), g.r.Float64()
	if u < pNull {
		g.w.null(k)
		return
	}
	g.w.bool(k, v < pTrue)
}

// device is what a participant brings to a call: machine, client and network.
type device struct {
	agent          agentTemplate
	commSvc        string
	aadApp         string
	machine        string
	cpu            string
	cores, mhz     int
	legacyIdentity bool
	net            netBase
	capture        string
	render         string
	capDrv, renDrv string
}

type netBase struct {
	conn      string
	ip        string
	subnet    string
	mac       string
	bssid     string
	dns       string
	linkSpeed int64 // < 0 is null
	wifi      bool
	band      string
	radio     string
	channel   int
	driver    int
	reflexive string
	service   bool
}

var agentWeights = []int{30, 10, 4, 12, 8, 2, 8, 6, 3, 4, 1, 1, 2, 1}

const upperHex = "0123456789ABCDEF"

const teamsAppID = "1fec8e78-bce4-4aaf-ab1b-5451cc387264"

func ipv4(a, b int, h uint64) string {
	return strconv.Itoa(a) + "." + strconv.Itoa(b) + "." + strconv.Itoa(int(h%256)) + "." + strconv.Itoa(int(h>>8%254+1))
}

func macFrom(h uint64, sep string) string {
	var sb strings.Builder
	for i := range 6 {
		if i > 0 {
			sb.WriteString(sep)
		}
		v := byte(h >> (8 * i))
		sb.WriteByte(upperHex[v>>4])
		sb.WriteByte(upperHex[v&0xf])
	}
	return sb.String()
}

func (s *Simulator) device(m *meta, j int, p party) device {
	r := newRand(m.key, mix(saltDevice, uint64(j)))
	var dv device
	switch p.kind {
	case pkPhone:
		dv.agent = agentTemplate{platform: "unknown", family: "unknown"}
	case pkACS:
		dv.agent = acsAgent
		dv.commSvc = hashGUID(mix(s.seed, saltTenant, 99))
		dv.aadApp = hashGUID(mix(s.seed, saltTenant, 98))
	case pkGuest:
		dv.agent = clientAgents[7]
	default:
		n := r.IntN(100)
		for i, w := range agentWeights {
			if n < w {
				dv.agent = clientAgents[i]
				break
			}
			n -= w
		}
		if dv.agent.family == "teams" && r.Float64() < 0.25 {
			dv.aadApp = teamsAppID
		}
	}
	h := r.Uint64()
	mobile := dv.agent.platform == "iOS" || dv.agent.platform == "android"
	switch {
	case p.kind == pkPhone:
	case r.Float64() < 0.08:
		dv.machine = "machineName_" + strconv.Itoa(int(h%9)+1)
	case dv.agent.platform == "macOS":
		dv.machine = strings.ReplaceAll(strings.Split(p.name+" ", " ")[0], "'", "") + "s-MacBook-Pro"
	case mobile:
		dv.machine = "iPhone"
		if dv.agent.platform == "android" {
			dv.machine = "Pixel-8"
		}
	default:
		dv.machine = "DESKTOP-" + strings.ToUpper(strconv.FormatUint(h%78364164096+2176782336, 36))
	}
	switch {
	case p.kind == pkPhone || (mobile && r.Float64() < 0.5):
	case mobile:
		dv.cpu = pick(r, mobileCPUs)
		dv.cores = 6
		dv.mhz = 2800 + r.IntN(600)
	default:
		dv.cpu = pick(r, cpuNames)
		dv.cores = []int{2, 4, 8, 12, 16}[r.IntN(5)]
		dv.mhz = 1800 + r.IntN(2000)
	}
	dv.legacyIdentity = r.Float64() < 0.4
	dv.capture = pick(r, captureDevices)
	dv.render = pick(r, renderDevices)
	dv.capDrv = pick(r, deviceDrivers)
	dv.renDrv = pick(r, deviceDrivers)
	nb := &dv.net
	nb.conn = pick(r, connTypes)
	if mobile && r.Float64() < 0.5 {
		nb.conn = "mobile"
	}
	if p.kind == pkPhone {
		nb.conn = "unknown"
	}
	h2 := r.Uint64()
	switch h2 % 4 {
	case 0:
		nb.ip, nb.subnet = ipv4(192, 168, h2>>8), "192.168."+strconv.Itoa(int(h2>>8%256))+".0"
	case 1:
		nb.ip, nb.subnet = ipv4(172, 16+int(h2>>20%16), h2>>8), "172.16.0.0"
	default:
		nb.ip, nb.subnet = ipv4(10, int(h2>>20%256), h2>>8), "10."+strconv.Itoa(int(h2>>20%256))+".0.0"
	}
	switch v := r.Float64(); {
	case v < 0.45:
		nb.mac = "00-00-00-00-00-00"
	case v < 0.55:
		nb.mac = "02:00:00:00:00:00"
	case v < 0.85:
		nb.mac = macFrom(h2, "-")
	}
	nb.wifi = nb.conn == "wifi"
	if nb.wifi {
		nb.bssid = macFrom(splitmix(h2), "-")
		nb.band = pick(r, wifiBands)
		nb.radio = pick(r, wifiRadios)
		nb.channel = []int{1, 6, 11, 36, 44, 149}[r.IntN(6)]
		nb.driver = r.IntN(len(wifiDrivers))
	}
	if r.Float64() < 0.6 {
		nb.dns = pick(r, dnsSuffixes)
	}
	nb.linkSpeed = []int64{-1, 54000000, 100000000, 1000000000, 4294967295, 866700000}[r.IntN(6)]
	nb.reflexive = ipv4(203, 0, r.Uint64())
	return dv
}

func serviceNet(r *rand.Rand) netBase {
	h := r.Uint64()
	return netBase{
		conn: "wired", ip: ipv4(52, 112+int(h%4), h>>8), subnet: "52.112.0.0",
		linkSpeed: -1, service: true,
	}
}

func (s *Simulator) writeClientUA(w *jw, dv device) {
	w.open("userAgent")
	w.str("@odata.type", typeClientUA)
	w.strOrNull("headerValue", dv.agent.header)
	w.strOrNull("applicationVersion", dv.agent.version)
	w.enum("platform", dv.agent.platform)
	w.enum("productFamily", dv.agent.family)
	w.strOrNull("communicationServiceId", dv.commSvc)
	w.strOrNull("azureADAppId", dv.aadApp)
	w.close()
}

func writeServiceUA(w *jw, role string) {
	w.open("userAgent")
	w.str("@odata.type", typeSvcUA)
	w.strOrNull("headerValue", serviceHeaders[role])
	w.null("applicationVersion")
	w.enum("role", role)
	w.close()
}

// writeIdentityShort writes a graph.identity the way identitySets and
// organizer_v2 carry it: id, displayName, tenantId.
func writeIdentityShort(w *jw, k string, p party) {
	w.open(k)
	w.str("id", p.id)
	w.strOrNull("displayName", p.name)
	w.strOrNull("tenantId", p.tenant)
	w.close()
}

// writeIdentitySet writes the deprecated graph.identitySet form used by
// callRecord.organizer, callRecord.participants and participantEndpoint.identity.
func writeIdentitySet(w *jw, k string, p party) {
	w.open(k)
	switch p.kind {
	case pkPhone:
		w.null("user")
		w.open("phone")
		w.str("id", p.id)
		w.null("displayName")
		w.close()
	case pkGuest:
		w.null("user")
		writeIdentityShort(w, "guest", p)
	case pkACS:
		w.null("user")
		writeIdentityShort(w, "acsUser", p)
	default:
		writeIdentityShort(w, "user", p)
	}
	writeExtraIdentities(w, p, nil)
	w.close()
}

var identitySlots = []string{
	"acsUser", "spoolUser", "phone", "guest", "encrypted", "onPremises",
	"acsApplicationInstance", "spoolApplicationInstance", "applicationInstance",
	"application", "device", "user",
}

func slotOf(k partyKind) string {
	switch k {
	case pkPhone:
		return "phone"
	case pkGuest:
		return "guest"
	case pkACS:
		return "acsUser"
	default:
		return "user"
	}
}

// extraIdentities are the slots of the identities a multi party's sets
// hold besides its own, as Graph sends them: a phone with the number it
// asserted and an encrypted one, a guest also encrypted, an ACS user with its
// resource, a user with the app it joined through (hidden). Each kind ranks
// after the party's own (schemas identityKindOrder), so the primary identity
// stays the party's.
func extraIdentities(p party) []string {
	if !p.multi {
		return nil
	}
	switch p.kind {
	case pkPhone:
		return []string{"encrypted", "assertedIdentity"}
	case pkGuest:
		return []string{"encrypted"}
	case pkACS:
		return []string{"azureCommunicationServicesUser"}
	default:
		return []string{"application"}
	}
}

// writeExtraIdentity writes the identity of slot that p's sets hold besides
// its own.
func writeExtraIdentity(w *jw, slot string, p party) {
	w.open(slot)
	switch slot {
	case "encrypted":
		w.str("@odata.type", "#microsoft.graph.communicationsEncryptedIdentity")
		w.str("id", "enc:"+p.id)
		w.null("displayName")
	case "assertedIdentity":
		w.str("id", p.id)
		w.str("displayName", "Reception")
	case "azureCommunicationServicesUser":
		w.str("@odata.type", "#microsoft.graph.azureCommunicationServicesUserIdentity")
		w.str("id", p.id)
		w.strOrNull("displayName", p.name)
		w.str("azureCommunicationServicesResourceId", "acs-resource-"+p.tenant)
	case "application":
		w.str("@odata.type", "#microsoft.graph.communicationsApplicationIdentity")
		w.str("id", "a1b2c3d4-0000-4000-8000-000000000b07")
		w.str("displayName", "Meeting Recorder")
		w.str("applicationType", "bot")
		w.bool("hidden", true)
	}
	w.close()
}

// writeExtraIdentities writes p's extra identities whose slot is not in
// written (those the caller writes itself).
func writeExtraIdentities(w *jw, p party, written []string) {
	for _, k := range extraIdentities(p) {
		if !slices.Contains(written, k) {
			writeExtraIdentity(w, k, p)
		}
	}
}

// writeParticipant writes a participants_v2 item (reference §7.3).
func writeParticipant(w *jw, p party) {
	w.open("")
	w.str("id", p.id)
	w.open("identity")
	slot := slotOf(p.kind)
	extra := extraIdentities(p)
	for _, k := range identitySlots {
		if slices.Contains(extra, k) {
			writeExtraIdentity(w, k, p)
			continue
		}
		if k != slot {
			w.null(k)
			continue
		}
		w.open(k)
		if k == "user" {
			w.str("@odata.type", typeUserID)
		}
		w.str("id", p.id)
		w.strOrNull("displayName", p.name)
		w.strOrNull("tenantId", p.tenant)
		if k == "user" {
			w.strOrNull("userPrincipalName", p.upn)
		}
		w.close()
	}
	writeExtraIdentities(w, p, identitySlots)
	w.close()
	w.openArr("administrativeUnitInfos")
	if p.au != "" {
		w.open("")
		w.str("id", p.au)
		w.close()
	}
	w.closeArr()
	w.close()
}

// writeOrganizerV2 writes organizer_v2 in the shapes of the list example.
func writeOrganizerV2(w *jw, p party) {
	w.open("organizer_v2")
	w.str("id", p.id)
	w.open("identity")
	switch p.kind {
	case pkUser, pkExternal:
		writeIdentityShort(w, "user", p)
	default:
		w.null("user")
		w.null("acsUser")
		w.null("spoolUser")
		writeIdentityShort(w, slotOf(p.kind), p)
	}
	writeExtraIdentities(w, p, nil)
	w.close()
	w.openArr("administrativeUnitInfos")
	if p.au != "" {
		w.open("")
		w.str("id", p.au)
		w.close()
	}
	w.closeArr()
	w.close()
}

func writeFailure(g *gen) {
	g.w.open("failureInfo")
	g.w.str("reason", pick(g.r, failureReasons))
	g.w.enum("stage", pick(g.r, failureStages))
	g.w.close()
}

// writeEndpoint writes a caller/callee. Session endpoints are complete;
// segment endpoints are the slimmer form seen in segment examples.
func (s *Simulator) writeEndpoint(g *gen, k string, m *meta, e epRef, full bool) {
	w := g.w
	w.open(k)
	if e.part < 0 {
		if a := e.account; a != nil {
			// An auto attendant or call queue is its resource account:
			// a participant with the service's user agent.
			w.str("@odata.type", typePartEP)
			writeServiceUA(w, e.role)
			w.open("associatedIdentity")
			w.str("id", a.id)
			w.str("displayName", a.name)
			w.str("tenantId", s.tenant)
			if full {
				w.str("userPrincipalName", a.upn)
			}
			w.close()
			w.close()
			return
		}
		w.str("@odata.type", typeSvcEP)
		writeServiceUA(w, e.role)
		w.close()
		return
	}
	p := s.party(m, e.part)
	dv := s.device(m, e.part, p)
	w.str("@odata.type", typePartEP)
	w.strOrNull("name", dv.machine)
	if full {
		w.optStr("cpuName", dv.cpu, dv.cpu != "")
		w.optInt("cpuCoresCount", int64(dv.cores), dv.cpu != "")
		w.optInt("cpuProcessorSpeedInMhz", int64(dv.mhz), dv.cpu != "")
		if g.chance(0.15) && p.kind != pkPhone {
			w.open("feedback")
			w.enum("rating", pick(g.r, feedbackRatings))
			if g.chance(0.4) {
				w.str("text", pick(g.r, feedbackTexts))
			} else {
				w.null("text")
			}
			if g.chance(0.8) {
				w.open("tokens")
				for _, t := range feedbackTokens {
					if g.chance(0.6) {
						w.bool(t, g.chance(0.2))
					}
				}
				w.close()
			} else {
				w.null("tokens")
			}
			w.close()
		} else {
			w.null("feedback")
		}
	}
	s.writeClientUA(w, dv)
	w.open("associatedIdentity")
	w.str("id", p.id)
	w.strOrNull("displayName", p.name)
	w.strOrNull("tenantId", p.tenant)
	if full {
		w.strOrNull("userPrincipalName", p.upn)
	}
	w.close()
	if full && dv.legacyIdentity {
		writeIdentitySet(w, "identity", p)
	}
	w.close()
}

// writeSession writes one session, with its segments when withSegs.
func (s *Simulator) writeSession(w *jw, m *meta, d *sdesc, withSegs bool) {
	plan, r := s.sessionPlan(m, d)
	g := &gen{w: w, r: r, st: m.style, badNetwork: m.badNetwork}
	w.open("")
	w.openArr("modalities")
	for _, mod := range plan.mods {
		w.enum("", mod)
	}
	w.closeArr()
	w.ts("startDateTime", d.start, m.style)
	w.ts("endDateTime", d.end, m.style)
	w.str("id", d.id)
	switch v := r.Float64(); {
	case v < 0.9:
		w.bool("isTest", false)
	case v < 0.98:
		w.null("isTest")
	default:
		w.bool("isTest", true)
	}
	if g.chance(0.05) {
		writeFailure(g)
	} else {
		w.null("failureInfo")
	}
	s.writeEndpoint(g, "caller", m, d.caller, true)
	s.writeEndpoint(g, "callee", m, d.callee, true)
	if withSegs {
		w.str("segments@odata.context", metaBase+"communications/callRecords('"+m.id+"')/sessions('"+d.id+"')/segments")
		w.openArr("segments")
		n := len(plan.segs)
		parallel := s.hasPhone(m, d)
		for k := range plan.segs {
			st, en := d.start, d.end
			if !parallel && n > 1 {
				span := d.end.Sub(d.start)
				st = d.start.Add((span * time.Duration(k) / time.Duration(n)).Truncate(100))
				en = d.start.Add((span * time.Duration(k+1) / time.Duration(n)).Truncate(100))
			}
			s.writeSegment(w, m, d, k, n, &plan.segs[k], st, en)
		}
		w.closeArr()
	}
	w.close()
}

func (s *Simulator) writeSegment(w *jw, m *meta, d *sdesc, k, n int, sp *segPlan, st, en time.Time) {
	r := newRand(m.key, mix(saltSegment, uint64(d.seq), uint64(k)))
	g := &gen{w: w, r: r, st: m.style, badNetwork: m.badNetwork}
	w.open("")
	w.ts("startDateTime", st, m.style)
	w.ts("endDateTime", en, m.style)
	id := randGUID(r)
	if k == 0 {
		id = d.id
	}
	w.str("id", id)
	if g.chance(0.03) {
		writeFailure(g)
	} else {
		w.null("failureInfo")
	}
	// With several segments the call passes intermediate service endpoints
	// (e.g. a mediation server for PSTN).
	mid := svc("mediaController")
	if s.hasPhone(m, d) {
		mid = svc("mediationServer")
	}
	caller, callee := d.caller, d.callee
	if n > 1 {
		if k > 0 {
			caller = mid
		}
		if k < n-1 {
			callee = mid
		}
		if k > 0 && k < n-1 {
			callee = svc("gateway")
		}
	}
	s.writeEndpoint(g, "caller", m, caller, false)
	s.writeEndpoint(g, "callee", m, callee, false)
	switch {
	case sp.mediaNull:
		w.null("media")
	default:
		callerNet, calleeNet := s.netFor(m, caller, r), s.netFor(m, callee, r)
		callerDev, calleeDev := s.devFor(m, caller), s.devFor(m, callee)
		w.openArr("media")
		for _, mp := range sp.media {
			w.open("")
			w.str("label", mp.label)
			writeNetwork(g, "callerNetwork", callerNet)
			writeNetwork(g, "calleeNetwork", calleeNet)
			writeDevice(g, "callerDevice", callerDev)
			writeDevice(g, "calleeDevice", calleeDev)
			w.openArr("streams")
			for i := range mp.streams {
				dir := "callerToCallee"
				if i == 1 || (i > 1 && g.chance(0.5)) {
					dir = "calleeToCaller"
				}
				writeStream(g, dir, mp.audio, st, en)
			}
			w.closeArr()
			w.close()
		}
		w.closeArr()
	}
	w.close()
}

func (s *Simulator) netFor(m *meta, e epRef, r *rand.Rand) netBase {
	if e.part < 0 {
		return serviceNet(r)
	}
	p := s.party(m, e.part)
	return s.device(m, e.part, p).net
}

// devFor returns the participant's device, or nil for a service endpoint.
func (s *Simulator) devFor(m *meta, e epRef) *device {
	if e.part < 0 {
		return nil
	}
	dv := s.device(m, e.part, s.party(m, e.part))
	return &dv
}

// writeNetwork writes a networkInfo (26 properties).
func writeNetwork(g *gen, k string, nb netBase) {
	w := g.w
	w.open(k)
	w.str("ipAddress", nb.ip)
	w.str("subnet", nb.subnet)
	w.optInt("linkSpeed", nb.linkSpeed, nb.linkSpeed >= 0)
	w.enum("connectionType", nb.conn)
	g.i32("port", 1024, 65535, 0.05)
	w.optStr("reflexiveIPAddress", nb.reflexive, nb.reflexive != "")
	if nb.service {
		w.null("relayIPAddress")
		w.null("relayPort")
	} else {
		w.str("relayIPAddress", ipv4(52, 114, g.r.Uint64()))
		g.i32("relayPort", 50000, 59999, 0.1)
	}
	w.strOrNull("macAddress", nb.mac)
	w.strOrNull("dnsSuffix", nb.dns)
	g.ratio("sentQualityEventRatio", 0.15)
	g.ratio("receivedQualityEventRatio", 0.15)
	g.ratio("delayEventRatio", 0.15)
	g.ratio("bandwidthLowEventRatio", 0.15)
	w.openArr("traceRouteHops")
	if g.chance(0.04) {
		n := 2 + g.r.IntN(5)
		for i := range n {
			w.open("")
			w.int("hopCount", int64(i+1))
			if g.chance(0.1) {
				w.null("ipAddress")
			} else {
				w.str("ipAddress", ipv4(10+i*10, i, g.r.Uint64()))
			}
			g.ms("roundTripTime", float64(i+1), float64(5*(i+1)), 0.05)
			w.close()
		}
	}
	w.closeArr()
	w.strOrNull("basicServiceSetIdentifier", nb.bssid)
	// The CSDL declares the enums below not-null, yet payloads omit them
	// now and then (reference §6.11).
	absent := g.chance(0.25)
	if !absent {
		w.enum("networkTransportProtocol", pick(g.r, []string{"udp", "udp", "udp", "tcp", "unknown", "unknownFutureValue"}))
	}
	if nb.wifi {
		if !absent {
			w.enum("wifiBand", nb.band)
		}
		g.i32("wifiBatteryCharge", 0, 100, 0.4)
		w.int("wifiChannel", int64(nb.channel))
		dr := wifiDrivers[nb.driver]
		w.str("wifiMicrosoftDriver", dr.ms)
		w.str("wifiMicrosoftDriverVersion", dr.msVer)
		if !absent {
			w.enum("wifiRadioType", nb.radio)
		}
		g.i32("wifiSignalStrength", 10, 100, 0.1)
		w.str("wifiVendorDriver", dr.vendor)
		w.str("wifiVendorDriverVersion", dr.vendorVer)
	} else {
		if !absent {
			w.enum("wifiBand", "unknown")
		}
		w.null("wifiBatteryCharge")
		w.null("wifiChannel")
		w.null("wifiMicrosoftDriver")
		w.null("wifiMicrosoftDriverVersion")
		if !absent {
			w.enum("wifiRadioType", "unknown")
		}
		w.null("wifiSignalStrength")
		w.null("wifiVendorDriver")
		w.null("wifiVendorDriverVersion")
	}
	w.close()
}

var deviceFields = []string{
	"captureDeviceName", "captureDeviceDriver", "renderDeviceName", "renderDeviceDriver",
	"receivedSignalLevel", "receivedNoiseLevel", "sentSignalLevel", "sentNoiseLevel",
	"initialSignalLevelRootMeanSquare", "micGlitchRate", "speakerGlitchRate",
	"lowSpeechToNoiseEventRatio", "lowSpeechLevelEventRatio", "deviceClippingEventRatio",
	"howlingEventCount", "renderZeroVolumeEventRatio", "renderMuteEventRatio",
	"renderNotFunctioningEventRatio", "captureNotFunctioningEventRatio",
	"deviceGlitchEventRatio", "cpuInsufficentEventRatio",
}

// writeDevice writes a deviceInfo (21 properties); a service side (dv nil)
// reports nothing.
func writeDevice(g *gen, k string, dv *device) {
	w := g.w
	w.open(k)
	if dv == nil {
		for _, f := range deviceFields {
			w.null(f)
		}
		w.close()
		return
	}
	w.str("captureDeviceName", dv.capture)
	w.optStr("captureDeviceDriver", dv.capDrv, g.chance(0.8))
	w.str("renderDeviceName", dv.render)
	w.optStr("renderDeviceDriver", dv.renDrv, g.chance(0.8))
	g.i32("receivedSignalLevel", -40, 0, 0.2)
	g.i32("receivedNoiseLevel", -95, -50, 0.2)
	g.i32("sentSignalLevel", -40, 0, 0.2)
	g.i32("sentNoiseLevel", -95, -50, 0.2)
	g.single("initialSignalLevelRootMeanSquare", 10, 400, 0.2)
	g.single("micGlitchRate", 0, 500, 0.2)
	g.single("speakerGlitchRate", 0, 4000, 0.2)
	g.ratio("lowSpeechToNoiseEventRatio", 0.2)
	g.ratio("lowSpeechLevelEventRatio", 0.2)
	g.ratio("deviceClippingEventRatio", 0.2)
	g.i32("howlingEventCount", 0, 3, 0.3)
	g.ratio("renderZeroVolumeEventRatio", 0.2)
	g.ratio("renderMuteEventRatio", 0.2)
	g.ratio("renderNotFunctioningEventRatio", 0.2)
	g.ratio("captureNotFunctioningEventRatio", 0.2)
	g.ratio("deviceGlitchEventRatio", 0.2)
	g.ratio("cpuInsufficentEventRatio", 0.2)
	w.close()
}

var audioCodecWeights = []string{"opus", "opus", "opus", "opus", "satin", "satin", "silk", "silkWide", "g722", "pcmu"}

// writeStream writes a mediaStream (30 properties).
func writeStream(g *gen, dir string, audio bool, segStart, segEnd time.Time) {
	w := g.w
	w.open("")
	w.str("streamId", strconv.FormatUint(uint64(g.r.Uint32()), 10))
	w.str("streamDirection", dir)
	if g.chance(0.5) {
		span := segEnd.Sub(segStart)
		a := time.Duration(g.r.Float64() * 0.1 * float64(span)).Truncate(100)
		w.ts("startDateTime", segStart.Add(a), g.st)
		w.ts("endDateTime", segEnd, g.st)
	} else {
		w.null("startDateTime")
		w.null("endDateTime")
	}
	if audio {
		codec := pick(g.r, audioCodecWeights)
		if g.chance(0.05) {
			codec = pick(g.r, audioCodecs)
		}
		w.enum("audioCodec", codec)
		w.null("videoCodec")
		g.singleMostly("averageAudioDegradation", 0, 0.8, 3.5, g.goodShare(), 0.3)
	} else {
		w.null("audioCodec")
		w.enum("videoCodec", pick(g.r, videoCodecs))
		w.null("averageAudioDegradation")
	}
	g.msPairMostly("averageJitter", "maxJitter", 1, 20, 120, g.goodShare(), 0.1)
	g.ratioPair("averagePacketLossRate", "maxPacketLossRate", 0.1)
	if audio {
		g.ratioPair("averageRatioOfConcealedSamples", "maxRatioOfConcealedSamples", 0.3)
	} else {
		w.null("averageRatioOfConcealedSamples")
		w.null("maxRatioOfConcealedSamples")
	}
	g.msPair("averageRoundTripTime", "maxRoundTripTime", 10, 250, 0.1)
	g.i32("packetUtilization", 0, 250000, 0.1)
	g.i32("averageBandwidthEstimate", 30000, 20000000, 0.2)
	g.optBool("wasMediaBypassed", 0.1, 0.2)
	if audio {
		g.msPair("averageAudioNetworkJitter", "maxAudioNetworkJitter", 1, 300, 0.3)
		w.null("rmsFreezeDuration")
		w.null("averageFreezeDuration")
		g.optBool("isAudioForwardErrorCorrectionUsed", 0.4, 0.2)
		for _, f := range []string{"averageReceivedFrameRate", "averageVideoFrameLossPercentage", "averageVideoFrameRate", "averageVideoPacketLossRate", "lowFrameRateRatio", "lowVideoProcessingCapabilityRatio"} {
			w.null(f)
		}
	} else {
		w.null("averageAudioNetworkJitter")
		w.null("maxAudioNetworkJitter")
		g.ms("rmsFreezeDuration", 0, 3000, 0.3)
		g.ms("averageFreezeDuration", 0, 2000, 0.3)
		w.null("isAudioForwardErrorCorrectionUsed")
		g.single("averageReceivedFrameRate", 0, 30, 0.2)
		g.single("averageVideoFrameLossPercentage", 0, 25, 0.2)
		g.single("averageVideoFrameRate", 0, 30, 0.2)
		g.ratio("averageVideoPacketLossRate", 0.2)
		g.ratio("lowFrameRateRatio", 0.2)
		g.ratio("lowVideoProcessingCapabilityRatio", 0.2)
	}
	g.ratio("postForwardErrorCorrectionPacketLossRate", 0.3)
	w.close()
}

// writeRecordProps writes the callRecord's own properties and organizers.
func (s *Simulator) writeRecordProps(w *jw, m *meta, now time.Time, get bool) int {
	v, lm, bumps := s.versionAt(m, now)
	if !get {
		w.str("id", m.id)
	}
	w.int("version", v)
	w.enum("type", m.typ)
	w.openArr("modalities")
	for _, mod := range m.mods {
		w.enum("", mod)
	}
	w.closeArr()
	w.ts("lastModifiedDateTime", lm, m.style)
	w.ts("startDateTime", m.start, m.style)
	w.ts("endDateTime", m.end, m.style)
	if get {
		w.str("id", m.id)
	}
	w.strOrNull("joinWebUrl", m.joinURL)
	org := s.party(m, 0)
	writeIdentitySet(w, "organizer", org)
	if get {
		w.openArr("participants")
		for j := range min(m.nPart, 130) {
			writeIdentitySet(w, "", s.party(m, j))
		}
		w.closeArr()
	}
	w.str("organizer_v2@odata.context", metaBase+"communications/callRecords('"+m.id+"')/organizer_v2/$entity")
	writeOrganizerV2(w, org)
	return bumps
}

// getOpts says how to render GET /callRecords/{id}.
type getOpts struct {
	sessions, segments, participants bool
	all                              bool   // no paging (Simulator.Record)
	base                             string // scheme://host for nextLinks
}

const (
	sessionsPage     = 60
	participantsPage = 130
	listPage         = 60
)

func (s *Simulator) writeRecord(w *jw, m *meta, now time.Time, o getOpts) {
	var exp []string
	switch {
	case o.sessions && o.segments:
		exp = append(exp, "sessions(segments())")
	case o.sessions:
		exp = append(exp, "sessions()")
	}
	if o.participants {
		exp = append(exp, "participants_v2()")
	}
	ctx := metaBase + "communications/callRecords/$entity"
	if len(exp) > 0 {
		ctx = metaBase + "communications/callRecords(" + strings.Join(exp, ",") + ")/$entity"
	}
	w.open("")
	w.str("@odata.context", ctx)
	bumps := s.writeRecordProps(w, m, now, true)
	w.str("participants_v2@odata.context", metaBase+"communications/callRecords('"+m.id+"')/participants_v2/$entity")
	recURL := o.base + "/v1.0/communications/callRecords/" + m.id
	if o.participants {
		n := m.nPart
		if !o.all {
			n = min(n, participantsPage)
		}
		w.openArr("participants_v2")
		for j := range n {
			writeParticipant(w, s.party(m, j))
		}
		w.closeArr()
		if n < m.nPart {
			w.str("participants_v2@odata.nextLink", recURL+"/participants_v2?$skiptoken="+offsetToken(n))
		}
	}
	if o.sessions {
		lay := s.layout(m, bumps)
		n := len(lay)
		if !o.all {
			n = min(n, sessionsPage)
		}
		sctx := metaBase + "communications/callRecords('" + m.id + "')/sessions"
		if o.segments {
			sctx += "(segments())"
		}
		w.str("sessions@odata.context", sctx)
		w.openArr("sessions")
		for i := range n {
			s.writeSession(w, m, &lay[i], o.segments)
		}
		w.closeArr()
		if n < len(lay) {
			q := "?"
			if o.segments {
				q = "?$expand=segments&"
			}
			w.str("sessions@odata.nextLink", recURL+"/sessions"+q+"$skiptoken="+offsetToken(n))
		}
	}
	w.close()
}
