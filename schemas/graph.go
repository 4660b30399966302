package schemas

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
)

// The types below are the v1.0 shapes of namespace microsoft.graph.callRecords as
// Graph sends them (reference §6). Nullable scalars are pointers or the Time, Float
// and Duration wrappers; open types (identities, feedback tokens) keep their raw keys.

// CallRecord is a callRecord with its sessions (and their segments) and
// participants_v2 expanded and every page merged in.
type CallRecord struct {
	ID                   string        `json:"id"`
	Version              int64         `json:"version"`
	Type                 string        `json:"type"`
	Modalities           []string      `json:"modalities"`
	StartDateTime        Time          `json:"startDateTime"`
	EndDateTime          Time          `json:"endDateTime"`
	LastModifiedDateTime Time          `json:"lastModifiedDateTime"`
	JoinWebURL           *string       `json:"joinWebUrl"`
	Organizer            IdentitySet   `json:"organizer"`
	OrganizerV2          *Participant  `json:"organizer_v2"`
	Participants         []IdentitySet `json:"participants"`
	ParticipantsV2       []Participant `json:"participants_v2"`
	Sessions             []Session     `json:"sessions"`
}

// Participant is a participantBase (organizer or participant).
type Participant struct {
	ID                      string                   `json:"id"`
	Identity                IdentitySet              `json:"identity"`
	AdministrativeUnitInfos []AdministrativeUnitInfo `json:"administrativeUnitInfos"`
}

// AdministrativeUnitInfo names an administrative unit a participant belongs to.
type AdministrativeUnitInfo struct {
	ID string `json:"id"`
}

// Session is a callRecords.session.
type Session struct {
	ID            string       `json:"id"`
	Modalities    []string     `json:"modalities"`
	StartDateTime Time         `json:"startDateTime"`
	EndDateTime   Time         `json:"endDateTime"`
	IsTest        *bool        `json:"isTest"`
	FailureInfo   *FailureInfo `json:"failureInfo"`
	Caller        *Endpoint    `json:"caller"`
	Callee        *Endpoint    `json:"callee"`
	Segments      []Segment    `json:"segments"`
}

// Segment is a callRecords.segment.
type Segment struct {
	ID            string       `json:"id"`
	StartDateTime Time         `json:"startDateTime"`
	EndDateTime   Time         `json:"endDateTime"`
	FailureInfo   *FailureInfo `json:"failureInfo"`
	Caller        *Endpoint    `json:"caller"`
	Callee        *Endpoint    `json:"callee"`
	Media         []Media      `json:"media"`
}

// FailureInfo says why a session or segment failed.
type FailureInfo struct {
	Reason *string `json:"reason"`
	Stage  *string `json:"stage"`
}

// Endpoint is a callRecords.endpoint: a participantEndpoint or a serviceEndpoint,
// told apart by @odata.type.
type Endpoint struct {
	ODataType              string        `json:"@odata.type"`
	UserAgent              *UserAgent    `json:"userAgent"`
	AssociatedIdentity     *UserIdentity `json:"associatedIdentity"`
	Identity               IdentitySet   `json:"identity"`
	Name                   *string       `json:"name"`
	CPUName                *string       `json:"cpuName"`
	CPUCoresCount          *int32        `json:"cpuCoresCount"`
	CPUProcessorSpeedInMhz *int32        `json:"cpuProcessorSpeedInMhz"`
	Feedback               *UserFeedback `json:"feedback"`
}

// UserAgent is a clientUserAgent or serviceUserAgent, told apart by @odata.type.
type UserAgent struct {
	ODataType              string  `json:"@odata.type"`
	ApplicationVersion     *string `json:"applicationVersion"`
	HeaderValue            *string `json:"headerValue"`
	Platform               *string `json:"platform"`
	ProductFamily          *string `json:"productFamily"`
	CommunicationServiceID *string `json:"communicationServiceId"`
	AzureADAppID           *string `json:"azureADAppId"`
	Role                   *string `json:"role"`
}

// UserIdentity is the identity shape Graph sends as associatedIdentity.
type UserIdentity struct {
	ID                *string `json:"id"`
	DisplayName       *string `json:"displayName"`
	TenantID          *string `json:"tenantId"`
	UserPrincipalName *string `json:"userPrincipalName"`
}

// UserFeedback is what a user said about the call.
type UserFeedback struct {
	Rating *string          `json:"rating"`
	Text   *string          `json:"text"`
	Tokens map[string]*bool `json:"tokens"`
}

// Media is one negotiated media line of a segment.
type Media struct {
	Label         *string       `json:"label"`
	CallerNetwork *NetworkInfo  `json:"callerNetwork"`
	CalleeNetwork *NetworkInfo  `json:"calleeNetwork"`
	CallerDevice  *DeviceInfo   `json:"callerDevice"`
	CalleeDevice  *DeviceInfo   `json:"calleeDevice"`
	Streams       []MediaStream `json:"streams"`
}

// MediaStream carries every quality metric of one direction of a media line.
type MediaStream struct {
	StreamID                                 *string  `json:"streamId"`
	StreamDirection                          *string  `json:"streamDirection"`
	StartDateTime                            Time     `json:"startDateTime"`
	EndDateTime                              Time     `json:"endDateTime"`
	AudioCodec                               *string  `json:"audioCodec"`
	VideoCodec                               *string  `json:"videoCodec"`
	AverageAudioDegradation                  Float    `json:"averageAudioDegradation"`
	AverageAudioNetworkJitter                Duration `json:"averageAudioNetworkJitter"`
	MaxAudioNetworkJitter                    Duration `json:"maxAudioNetworkJitter"`
	AverageBandwidthEstimate                 *int64   `json:"averageBandwidthEstimate"`
	AverageFreezeDuration                    Duration `json:"averageFreezeDuration"`
	RmsFreezeDuration                        Duration `json:"rmsFreezeDuration"`
	AverageJitter                            Duration `json:"averageJitter"`
	MaxJitter                                Duration `json:"maxJitter"`
	AveragePacketLossRate                    Float    `json:"averagePacketLossRate"`
	MaxPacketLossRate                        Float    `json:"maxPacketLossRate"`
	AverageRatioOfConcealedSamples           Float    `json:"averageRatioOfConcealedSamples"`
	MaxRatioOfConcealedSamples               Float    `json:"maxRatioOfConcealedSamples"`
	AverageReceivedFrameRate                 Float    `json:"averageReceivedFrameRate"`
	AverageRoundTripTime                     Duration `json:"averageRoundTripTime"`
	MaxRoundTripTime                         Duration `json:"maxRoundTripTime"`
	AverageVideoFrameLossPercentage          Float    `json:"averageVideoFrameLossPercentage"`
	AverageVideoFrameRate                    Float    `json:"averageVideoFrameRate"`
	AverageVideoPacketLossRate               Float    `json:"averageVideoPacketLossRate"`
	IsAudioForwardErrorCorrectionUsed        *bool    `json:"isAudioForwardErrorCorrectionUsed"`
	LowFrameRateRatio                        Float    `json:"lowFrameRateRatio"`
	LowVideoProcessingCapabilityRatio        Float    `json:"lowVideoProcessingCapabilityRatio"`
	PacketUtilization                        *int64   `json:"packetUtilization"`
	PostForwardErrorCorrectionPacketLossRate Float    `json:"postForwardErrorCorrectionPacketLossRate"`
	WasMediaBypassed                         *bool    `json:"wasMediaBypassed"`
}

// NetworkInfo describes one side's network during a media line (26 properties).
type NetworkInfo struct {
	BandwidthLowEventRatio     Float           `json:"bandwidthLowEventRatio"`
	BasicServiceSetIdentifier  *string         `json:"basicServiceSetIdentifier"`
	ConnectionType             *string         `json:"connectionType"`
	DelayEventRatio            Float           `json:"delayEventRatio"`
	DNSSuffix                  *string         `json:"dnsSuffix"`
	IPAddress                  *string         `json:"ipAddress"`
	LinkSpeed                  *int64          `json:"linkSpeed"`
	MACAddress                 *string         `json:"macAddress"`
	NetworkTransportProtocol   *string         `json:"networkTransportProtocol"`
	Port                       *int32          `json:"port"`
	ReceivedQualityEventRatio  Float           `json:"receivedQualityEventRatio"`
	ReflexiveIPAddress         *string         `json:"reflexiveIPAddress"`
	RelayIPAddress             *string         `json:"relayIPAddress"`
	RelayPort                  *int32          `json:"relayPort"`
	SentQualityEventRatio      Float           `json:"sentQualityEventRatio"`
	Subnet                     *string         `json:"subnet"`
	TraceRouteHops             []TraceRouteHop `json:"traceRouteHops"`
	WifiBand                   *string         `json:"wifiBand"`
	WifiBatteryCharge          *int32          `json:"wifiBatteryCharge"`
	WifiChannel                *int32          `json:"wifiChannel"`
	WifiMicrosoftDriver        *string         `json:"wifiMicrosoftDriver"`
	WifiMicrosoftDriverVersion *string         `json:"wifiMicrosoftDriverVersion"`
	WifiRadioType              *string         `json:"wifiRadioType"`
	WifiSignalStrength         *int32          `json:"wifiSignalStrength"`
	WifiVendorDriver           *string         `json:"wifiVendorDriver"`
	WifiVendorDriverVersion    *string         `json:"wifiVendorDriverVersion"`
}

// TraceRouteHop is one hop of a trace route.
type TraceRouteHop struct {
	HopCount      *int32   `json:"hopCount"`
	IPAddress     *string  `json:"ipAddress"`
	RoundTripTime Duration `json:"roundTripTime"`
}

// DeviceInfo describes one side's audio devices during a media line (21 properties).
type DeviceInfo struct {
	CaptureDeviceDriver              *string `json:"captureDeviceDriver"`
	CaptureDeviceName                *string `json:"captureDeviceName"`
	CaptureNotFunctioningEventRatio  Float   `json:"captureNotFunctioningEventRatio"`
	CPUInsufficentEventRatio         Float   `json:"cpuInsufficentEventRatio"`
	DeviceClippingEventRatio         Float   `json:"deviceClippingEventRatio"`
	DeviceGlitchEventRatio           Float   `json:"deviceGlitchEventRatio"`
	HowlingEventCount                *int32  `json:"howlingEventCount"`
	InitialSignalLevelRootMeanSquare Float   `json:"initialSignalLevelRootMeanSquare"`
	LowSpeechLevelEventRatio         Float   `json:"lowSpeechLevelEventRatio"`
	LowSpeechToNoiseEventRatio       Float   `json:"lowSpeechToNoiseEventRatio"`
	MicGlitchRate                    Float   `json:"micGlitchRate"`
	ReceivedNoiseLevel               *int32  `json:"receivedNoiseLevel"`
	ReceivedSignalLevel              *int32  `json:"receivedSignalLevel"`
	RenderDeviceDriver               *string `json:"renderDeviceDriver"`
	RenderDeviceName                 *string `json:"renderDeviceName"`
	RenderMuteEventRatio             Float   `json:"renderMuteEventRatio"`
	RenderNotFunctioningEventRatio   Float   `json:"renderNotFunctioningEventRatio"`
	RenderZeroVolumeEventRatio       Float   `json:"renderZeroVolumeEventRatio"`
	SentNoiseLevel                   *int32  `json:"sentNoiseLevel"`
	SentSignalLevel                  *int32  `json:"sentSignalLevel"`
	SpeakerGlitchRate                Float   `json:"speakerGlitchRate"`
}

// IdentitySet is a graph.identitySet / communicationsIdentitySet: an open type whose
// keys (user, phone, guest, application, applicationInstance, acsUser, ...) each
// hold an identity or null. It keeps every key so that nothing is lost.
type IdentitySet map[string]json.RawMessage

// Identity is one identity of an IdentitySet, with the properties of every
// identity type Graph sends in one (reference §6.13).
type Identity struct {
	Kind                                 string  // the IdentitySet key: user, phone, guest, ...
	ODataType                            *string `json:"@odata.type"`
	ID                                   *string `json:"id"`
	DisplayName                          *string `json:"displayName"`
	TenantID                             *string `json:"tenantId"`
	UserPrincipalName                    *string `json:"userPrincipalName"`
	Email                                *string `json:"email"`
	AzureCommunicationServicesResourceID *string `json:"azureCommunicationServicesResourceId"`
	ApplicationType                      *string `json:"applicationType"`
	Hidden                               *bool   `json:"hidden"`
}

// identityKindOrder is the order in which the kinds of an IdentitySet are
// preferred when one identity must represent the set. The more specific
// (who really took part) come first.
var identityKindOrder = []string{
	"user", "phone", "guest", "acsUser", "spoolUser", "azureCommunicationServicesUser",
	"applicationInstance", "acsApplicationInstance", "spoolApplicationInstance",
	"application", "device", "onPremises", "encrypted", "assertedIdentity",
}

// Identities returns every non-null identity in the set, the most specific
// first: the known kinds in identityKindOrder, then unknown kinds (Graph adds
// open keys over time) in name order. The first represents the set where one
// must. decode is json.Unmarshal or a decoder that behaves the same.
func (s IdentitySet) Identities(decode func(raw []byte, id *Identity) error) []Identity {
	var out []Identity
	for _, kind := range s.kinds() {
		if id, ok := s.identity(kind, decode); ok {
			out = append(out, id)
		}
	}
	return out
}

// kinds lists the keys of s that may hold an identity, known kinds first in
// identityKindOrder, then the others by name; annotations (@odata.type) and
// endpointType are not identities.
func (s IdentitySet) kinds() []string {
	if len(s) == 0 {
		return nil
	}
	var known, rest []string
	for _, k := range identityKindOrder {
		if _, ok := s[k]; ok {
			known = append(known, k)
		}
	}
	for k := range s {
		if !strings.HasPrefix(k, "@") && k != "endpointType" && !slices.Contains(identityKindOrder, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(known, rest...)
}

// identity decodes the identity of kind; ok is false when it is null or not
// an object.
func (s IdentitySet) identity(kind string, decode func(raw []byte, id *Identity) error) (Identity, bool) {
	raw := s[kind]
	if len(raw) == 0 || string(raw) == "null" || raw[0] != '{' {
		return Identity{}, false
	}
	var id Identity
	if err := decode(raw, &id); err != nil {
		return Identity{}, false
	}
	id.Kind = kind
	return id, true
}

// EndpointType returns the communicationsIdentitySet endpointType, if present.
func (s IdentitySet) EndpointType() string {
	raw, ok := s["endpointType"]
	if !ok {
		return ""
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v
}
