package graphsim

// Value pools for generated data. Enum members come from the v1.0 CSDL
// (reference §6.1); free-text values imitate what real tenants return.

// evolvable lists enum members declared after unknownFutureValue; they are
// only sent to clients that ask with Prefer: include-unknown-enum-members.
var evolvable = map[string]bool{
	"azureCommunicationServices": true,
}

type personName struct {
	display string // as shown in Teams
	ascii   string // used to build the UPN
}

var firstNames = []personName{
	{"Abbie", "abbie"}, {"Owen", "owen"}, {"Anette", "anette"}, {"Zoë", "zoe"},
	{"Søren", "soren"}, {"José", "jose"}, {"Aarav", "aarav"}, {"Mei", "mei"},
	{"Fatima", "fatima"}, {"Björn", "bjorn"}, {"Chloé", "chloe"}, {"Łukasz", "lukasz"},
	{"Olivia", "olivia"}, {"Liam", "liam"}, {"Emma", "emma"}, {"Noah", "noah"},
	{"Mateo", "mateo"}, {"Yuki", "yuki"}, {"Ingrid", "ingrid"}, {"Renée", "renee"},
	{"Dmitri", "dmitri"}, {"Amélie", "amelie"}, {"Kwame", "kwame"}, {"Priya", "priya"},
	{"Hana", "hana"}, {"Lars", "lars"}, {"Siobhán", "siobhan"}, {"Ömer", "omer"},
	{"Nguyễn", "nguyen"}, {"Ava", "ava"}, {"Pedro", "pedro"}, {"Grace", "grace"},
}

var lastNames = []personName{
	{"Wilkins", "wilkins"}, {"Franklin", "franklin"}, {"Thomsen", "thomsen"},
	{"Ångström", "angstrom"}, {"Ødegård 🎧", "odegard"}, {"García", "garcia"},
	{"Müller", "muller"}, {"Kowalski", "kowalski"}, {"Sharma", "sharma"},
	{"Novák", "novak"}, {"O'Brien", "obrien"}, {"Yılmaz", "yilmaz"},
	{"Dubois", "dubois"}, {"Rossi", "rossi"}, {"Smith", "smith"},
	{"Johnson", "johnson"}, {"Tanaka", "tanaka"}, {"Haddad", "haddad"},
	{"Okafor", "okafor"}, {"Nakamura", "nakamura"}, {"Fernández", "fernandez"},
	{"Jensen", "jensen"}, {"Kim", "kim"}, {"Çelik", "celik"}, {"Ivanova", "ivanova"},
	{"\"Ace\" Walker", "walker"},
}

// fullNames are names that are not "First Last" shaped.
var fullNames = []personName{
	{"李娜", "li.na"}, {"王伟", "wang.wei"}, {"张敏", "zhang.min"},
	{"佐藤 花子", "hanako.sato"}, {"김민준", "minjun.kim"}, {"محمد علي", "mohammed.ali"},
	{"Zoë Ångström", "zoe.angstrom2"}, {"Conference Room 4.12 (Oslo)", "room412.oslo"},
}

var externalDomains = []string{"fabrikam.com", "northwindtraders.com", "adatum.biz", "tailspintoys.onmicrosoft.com"}

var phonePrefixes = []string{"+1425555", "+4420794", "+4930120", "+5564981", "+8135550", "+4722123", "+6129876", "+3314567"}

var cpuNames = []string{
	"Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
	"11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz",
	"AMD EPYC 7452 32-Core Processor",
	"Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz",
	"Apple M2",
	"Apple M1 Pro",
	"Qualcomm Snapdragon 8cx Gen 3 @ 3.0 GHz",
	"AMD Ryzen 7 PRO 5850U with Radeon Graphics",
	"13th Gen Intel(R) Core(TM) i7-1365U",
}

var mobileCPUs = []string{"Apple A16 Bionic", "Qualcomm Snapdragon 8 Gen 2", "Google Tensor G3"}

type agentTemplate struct {
	platform string
	family   string
	header   string
	version  string // "" means null
}

var clientAgents = []agentTemplate{
	{"windows", "teams", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0 Teams/24215.1007.3082.1590/49", "24215.1007.3082.1590"},
	{"windows", "teams", "CallSignalingAgent (49/24215.1007.3082.1590//)", "24215.1007.3082.1590"},
	{"windows", "skypeForBusiness", "UCCAPI/16.0.12527.20122 OC/16.0.12527.20194 (Skype for Business)", ""},
	{"macOS", "teams", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Teams/24193.1707.3028.4282", "24193.1707.3028.4282"},
	{"iOS", "teams", "Teams/6.12.1 (iPhone; iOS 17.5.1; Scale/3.00) CallingSdk/2024.23.01.4", "6.12.1"},
	{"android", "skypeForBusiness", "RTCC/7.0.0.0 UCWA/7.0.0.0 AndroidLync/6.25.0.27 (SM-G930U Android 8.0.0)", ""},
	{"android", "teams", "Teams/1416/1.0.0.2024143903 (Android 14; Pixel 8)", "1416/1.0.0.2024143903"},
	{"web", "teams", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Teams/24203.1501.3047.8283", "24203.1501.3047.8283"},
	{"ipPhone", "teams", "Poly CCX 600/7.2.4.0140 (Android 9) Teams/1449/1.0.94.2024091102", "1449/1.0.94.2024091102"},
	{"roomSystem", "teams", "MicrosoftTeamsRooms/5.0.111.0 (Windows NT 10.0; Win64; x64) Teams/24096.3602.2835.2001", "5.0.111.0"},
	{"surfaceHub", "teams", "SurfaceHub/10.0.19045 Teams/1.7.00.12345", "1.7.00.12345"},
	{"holoLens", "teams", "HoloLens/10.0.20348 Teams/1.2.3", ""},
	{"unknown", "unknown", "", ""},
	{"unknownFutureValue", "unknownFutureValue", "SomeNewClient/0.1", "0.1"},
}

var acsAgent = agentTemplate{"web", "azureCommunicationServices", "azsdk-js-communication-calling/1.24.1 (Windows NT 10.0; Win64; x64) Chrome/126.0.0.0", "1.24.1"}

var serviceHeaders = map[string]string{
	"skypeForBusinessAudioVideoMcu":   "AVMCU/2024.06.11.1 Microsoft.Skype.Conferencing.AVMCU",
	"mediaController":                 "Microsoft.Skype.MediaController/2024.23.01.4 (Azure)",
	"conferencingAnnouncementService": "Microsoft.Skype.CAA/2024.1.0",
	"conferencingAttendant":           "Microsoft.Skype.ConferencingAttendant/2024.1.0",
	"mediationServer":                 "Microsoft.PSTNHub.SIPProxy v.2024.7.11.2 i.USEA.2",
	"gateway":                         "AudioCodes/7.40A.500.475 Mediant SW",
	"skypeForBusinessAutoAttendant":   "Microsoft.Skype.AutoAttendant/2024.5.0",
	"skypeForBusinessCallQueues":      "Microsoft.Skype.CallQueues/2024.5.0",
	"voicemail":                       "Microsoft.Skype.Voicemail/2024.2.0",
	"customBot":                       "Microsoft.Graph.Communications.Calls/1.2.0.8",
	"unknownFutureValue":              "Microsoft.Skype.FutureService/1.0",
	"unknown":                         "",
}

var feedbackTokens = []string{
	"NoSound", "OtherNoSound", "Echo", "Noisy", "LowVolume", "Stopped", "DistortedSound",
	"Interruptions", "BackgroundNoise", "DistortedSpeech", "ElectronicFeedback", "MuffledSpeech",
}

var feedbackRatings = []string{"notRated", "bad", "poor", "fair", "good", "excellent", "unknownFutureValue"}

var feedbackTexts = []string{
	"Audio kept cutting out",
	"Kunde inte höra någon 😕",
	"声音断断续续",
	"Great call, crystal clear!",
	"Echo on the other side — \"very\" annoying",
	"Video froze twice\nthen recovered",
}

var failureReasons = []string{
	"CallSetupFailed: media connectivity could not be established",
	"The call was ended because the network connection was lost",
	"Unexpected server error (500)",
	"Callee did not answer before timeout",
	"MediaRelayConnectivityFailure",
}

var failureStages = []string{"callSetup", "midcall", "unknown", "unknownFutureValue"}

var audioCodecs = []string{"opus", "satin", "satinFullband", "silk", "silkWide", "silkNarrow", "g722", "pcmu", "pcma", "amrWide", "g7221", "g7221c", "g729", "rtAudio16", "rtAudio8", "siren", "xmsRta", "muchv2", "multiChannelAudio", "cn", "invalid", "unknown", "unknownFutureValue"}

var videoCodecs = []string{"h264", "h264s", "h264uc", "h265", "av1", "rtvc1", "rtVideo", "xrtvc1", "h263", "invalid", "unknown", "unknownFutureValue"}

var captureDevices = []string{
	"Microphone (Realtek(R) Audio)",
	"Headset Microphone (Jabra Evolve2 65)",
	"Default input device",
	"Mikrofon (Logitech Zone Wireless)",
	"麦克风 (Realtek High Definition Audio)",
	"Microphone (Microsoft Virtual Audio Device (Simple) (WDM))",
	"MacBook Pro Microphone",
}

var renderDevices = []string{
	"Speakers (Realtek(R) Audio)",
	"Headset Earphone (Jabra Evolve2 65)",
	"Default output device",
	"Lautsprecher (Logitech Zone Wireless)",
	"Speakers (Microsoft Virtual Audio Device (Simple) (WDM))",
	"MacBook Pro Speakers",
}

var deviceDrivers = []string{
	"Microsoft: 10.0.22621.1",
	"Realtek Semiconductor Corp.: 6.0.9235.1",
	"Microsoft: 5.0.8638.1100",
	"Jabra: 1.22.0.0",
	"Logitech: 2.3.18.0",
}

var wifiDrivers = []struct{ ms, msVer, vendor, vendorVer string }{
	{"Microsoft", "10.0.22621.1", "Intel(R) Wi-Fi 6 AX201 160MHz", "22.200.0.6"},
	{"Microsoft", "10.0.19041.1", "Realtek RTL8852BE WiFi 6 802.11ax PCIe Adapter", "6001.16.131.0"},
	{"Корпорация Майкрософт", "10.0.22621.2506", "Qualcomm Atheros QCA61x4A", "12.0.0.1118"},
	{"Microsoft", "10.0.22000.1", "Killer(R) Wi-Fi 6E AX1675i 160MHz", "22.230.0.8"},
}

var dnsSuffixes = []string{"corp.contoso.com", "contoso.local", "home", "fritz.box"}

var connTypes = []string{"wired", "wifi", "wifi", "mobile", "tunnel", "unknown", "unknownFutureValue"}

var wifiBands = []string{"frequency24GHz", "frequency50GHz", "frequency60GHz", "unknown", "unknownFutureValue"}

var wifiRadios = []string{"wifi80211ac", "wifi80211ax", "wifi80211n", "wifi80211g", "wifi80211a", "wifi80211b", "unknown", "unknownFutureValue"}

var meetingRoles = []string{
	"skypeForBusinessAudioVideoMcu", "skypeForBusinessAudioVideoMcu", "skypeForBusinessAudioVideoMcu",
	"mediaController", "conferencingAnnouncementService", "conferencingAttendant", "customBot", "unknownFutureValue",
}
