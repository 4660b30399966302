package schemas

// The Callee twins of the Caller structs below are generated into
// columns_callee.go (go generate; edit the Caller structs only). A pair has
// identical field names so that one flattening function can fill both (a
// struct conversion ignores tags).

//go:generate go run ./internal/gentwins columns.go columns_callee.go

// CallerEndpoint holds the flattened caller endpoint of a session or segment.
type CallerEndpoint struct {
	EndpointType                        string          `parquet:"caller_endpoint_type,optional,dict"`
	Name                                string          `parquet:"caller_name,optional"`
	CPUName                             string          `parquet:"caller_cpu_name,optional"`
	CPUCoresCount                       *int32          `parquet:"caller_cpu_cores_count,optional"`
	CPUProcessorSpeedInMhz              *int32          `parquet:"caller_cpu_processor_speed_in_mhz,optional"`
	UserAgentType                       string          `parquet:"caller_user_agent_type,optional,dict"`
	UserAgentHeaderValue                string          `parquet:"caller_user_agent_header_value,optional"`
	UserAgentApplicationVersion         string          `parquet:"caller_user_agent_application_version,optional"`
	UserAgentPlatform                   string          `parquet:"caller_user_agent_platform,optional,dict"`
	UserAgentProductFamily              string          `parquet:"caller_user_agent_product_family,optional,dict"`
	UserAgentCommunicationServiceID     string          `parquet:"caller_user_agent_communication_service_id,optional"`
	UserAgentAzureADAppID               string          `parquet:"caller_user_agent_azure_ad_app_id,optional"`
	UserAgentRole                       string          `parquet:"caller_user_agent_role,optional,dict"`
	AssociatedIdentityID                string          `parquet:"caller_associated_identity_id,optional"`
	AssociatedIdentityDisplayName       string          `parquet:"caller_associated_identity_display_name,optional"`
	AssociatedIdentityTenantID          string          `parquet:"caller_associated_identity_tenant_id,optional"`
	AssociatedIdentityUserPrincipalName string          `parquet:"caller_associated_identity_user_principal_name,optional"`
	IdentityKind                        string          `parquet:"caller_identity_kind,optional,dict" doc:"deprecated: from participantEndpoint.identity, which Graph stopped filling (removal 2026-11-06), use caller_associated_identity_*"`
	IdentityID                          string          `parquet:"caller_identity_id,optional" doc:"deprecated: from participantEndpoint.identity, which Graph stopped filling (removal 2026-11-06), use caller_associated_identity_*"`
	IdentityDisplayName                 string          `parquet:"caller_identity_display_name,optional" doc:"deprecated: from participantEndpoint.identity, which Graph stopped filling (removal 2026-11-06), use caller_associated_identity_*"`
	IdentityTenantID                    string          `parquet:"caller_identity_tenant_id,optional" doc:"deprecated: from participantEndpoint.identity, which Graph stopped filling (removal 2026-11-06), use caller_associated_identity_*"`
	IdentityUserPrincipalName           string          `parquet:"caller_identity_user_principal_name,optional" doc:"deprecated: from participantEndpoint.identity, which Graph stopped filling (removal 2026-11-06), use caller_associated_identity_*"`
	IdentityEmail                       string          `parquet:"caller_identity_email,optional" doc:"deprecated: from participantEndpoint.identity, which Graph stopped filling (removal 2026-11-06), use caller_associated_identity_*"`
	Identities                          []IdentityRow   `parquet:"caller_identities,list" doc:"deprecated: from participantEndpoint.identity, which Graph stopped filling (removal 2026-11-06), use caller_associated_identity_*"`
	FeedbackRating                      string          `parquet:"caller_feedback_rating,optional,dict"`
	FeedbackText                        string          `parquet:"caller_feedback_text,optional"`
	FeedbackTokens                      map[string]bool `parquet:"caller_feedback_tokens,optional"`
}

// CallerNetwork holds the caller's networkInfo of a media line.
type CallerNetwork struct {
	BandwidthLowEventRatio     *float64           `parquet:"caller_network_bandwidth_low_event_ratio,optional"`
	BasicServiceSetIdentifier  string             `parquet:"caller_network_basic_service_set_identifier,optional"`
	ConnectionType             string             `parquet:"caller_network_connection_type,optional,dict"`
	DelayEventRatio            *float64           `parquet:"caller_network_delay_event_ratio,optional"`
	DNSSuffix                  string             `parquet:"caller_network_dns_suffix,optional"`
	IPAddress                  string             `parquet:"caller_network_ip_address,optional"`
	LinkSpeed                  *int64             `parquet:"caller_network_link_speed,optional"`
	MACAddress                 string             `parquet:"caller_network_mac_address,optional"`
	NetworkTransportProtocol   string             `parquet:"caller_network_network_transport_protocol,optional,dict"`
	Port                       *int32             `parquet:"caller_network_port,optional"`
	ReceivedQualityEventRatio  *float64           `parquet:"caller_network_received_quality_event_ratio,optional"`
	ReflexiveIPAddress         string             `parquet:"caller_network_reflexive_ip_address,optional"`
	RelayIPAddress             string             `parquet:"caller_network_relay_ip_address,optional"`
	RelayPort                  *int32             `parquet:"caller_network_relay_port,optional"`
	SentQualityEventRatio      *float64           `parquet:"caller_network_sent_quality_event_ratio,optional"`
	Subnet                     string             `parquet:"caller_network_subnet,optional"`
	TraceRouteHops             []TraceRouteHopRow `parquet:"caller_network_trace_route_hops,optional,list"`
	WifiBand                   string             `parquet:"caller_network_wifi_band,optional,dict"`
	WifiBatteryCharge          *int32             `parquet:"caller_network_wifi_battery_charge,optional"`
	WifiChannel                *int32             `parquet:"caller_network_wifi_channel,optional"`
	WifiMicrosoftDriver        string             `parquet:"caller_network_wifi_microsoft_driver,optional"`
	WifiMicrosoftDriverVersion string             `parquet:"caller_network_wifi_microsoft_driver_version,optional"`
	WifiRadioType              string             `parquet:"caller_network_wifi_radio_type,optional,dict"`
	WifiSignalStrength         *int32             `parquet:"caller_network_wifi_signal_strength,optional"`
	WifiVendorDriver           string             `parquet:"caller_network_wifi_vendor_driver,optional"`
	WifiVendorDriverVersion    string             `parquet:"caller_network_wifi_vendor_driver_version,optional"`
}

// CallerDevice holds the caller's deviceInfo of a media line.
type CallerDevice struct {
	CaptureDeviceDriver              string   `parquet:"caller_device_capture_device_driver,optional"`
	CaptureDeviceName                string   `parquet:"caller_device_capture_device_name,optional"`
	CaptureNotFunctioningEventRatio  *float64 `parquet:"caller_device_capture_not_functioning_event_ratio,optional"`
	CPUInsufficentEventRatio         *float64 `parquet:"caller_device_cpu_insufficent_event_ratio,optional"`
	DeviceClippingEventRatio         *float64 `parquet:"caller_device_device_clipping_event_ratio,optional"`
	DeviceGlitchEventRatio           *float64 `parquet:"caller_device_device_glitch_event_ratio,optional"`
	HowlingEventCount                *int32   `parquet:"caller_device_howling_event_count,optional"`
	InitialSignalLevelRootMeanSquare *float64 `parquet:"caller_device_initial_signal_level_root_mean_square,optional"`
	LowSpeechLevelEventRatio         *float64 `parquet:"caller_device_low_speech_level_event_ratio,optional"`
	LowSpeechToNoiseEventRatio       *float64 `parquet:"caller_device_low_speech_to_noise_event_ratio,optional"`
	MicGlitchRate                    *float64 `parquet:"caller_device_mic_glitch_rate,optional"`
	ReceivedNoiseLevel               *int32   `parquet:"caller_device_received_noise_level,optional"`
	ReceivedSignalLevel              *int32   `parquet:"caller_device_received_signal_level,optional"`
	RenderDeviceDriver               string   `parquet:"caller_device_render_device_driver,optional"`
	RenderDeviceName                 string   `parquet:"caller_device_render_device_name,optional"`
	RenderMuteEventRatio             *float64 `parquet:"caller_device_render_mute_event_ratio,optional"`
	RenderNotFunctioningEventRatio   *float64 `parquet:"caller_device_render_not_functioning_event_ratio,optional"`
	RenderZeroVolumeEventRatio       *float64 `parquet:"caller_device_render_zero_volume_event_ratio,optional"`
	SentNoiseLevel                   *int32   `parquet:"caller_device_sent_noise_level,optional"`
	SentSignalLevel                  *int32   `parquet:"caller_device_sent_signal_level,optional"`
	SpeakerGlitchRate                *float64 `parquet:"caller_device_speaker_glitch_rate,optional"`
}

// StreamMetrics holds every quality metric of a media stream; durations are in milliseconds.
type StreamMetrics struct {
	AudioCodec                               string   `parquet:"audio_codec,optional,dict"`
	VideoCodec                               string   `parquet:"video_codec,optional,dict"`
	AverageAudioDegradation                  *float64 `parquet:"average_audio_degradation,optional"`
	AverageAudioNetworkJitterMS              *float64 `parquet:"average_audio_network_jitter_ms,optional"`
	MaxAudioNetworkJitterMS                  *float64 `parquet:"max_audio_network_jitter_ms,optional"`
	AverageBandwidthEstimate                 *int64   `parquet:"average_bandwidth_estimate,optional"`
	AverageFreezeDurationMS                  *float64 `parquet:"average_freeze_duration_ms,optional"`
	RMSFreezeDurationMS                      *float64 `parquet:"rms_freeze_duration_ms,optional"`
	AverageJitterMS                          *float64 `parquet:"average_jitter_ms,optional"`
	MaxJitterMS                              *float64 `parquet:"max_jitter_ms,optional"`
	AveragePacketLossRate                    *float64 `parquet:"average_packet_loss_rate,optional"`
	MaxPacketLossRate                        *float64 `parquet:"max_packet_loss_rate,optional"`
	AverageRatioOfConcealedSamples           *float64 `parquet:"average_ratio_of_concealed_samples,optional"`
	MaxRatioOfConcealedSamples               *float64 `parquet:"max_ratio_of_concealed_samples,optional"`
	AverageReceivedFrameRate                 *float64 `parquet:"average_received_frame_rate,optional"`
	AverageRoundTripTimeMS                   *float64 `parquet:"average_round_trip_time_ms,optional"`
	MaxRoundTripTimeMS                       *float64 `parquet:"max_round_trip_time_ms,optional"`
	AverageVideoFrameLossPercentage          *float64 `parquet:"average_video_frame_loss_percentage,optional"`
	AverageVideoFrameRate                    *float64 `parquet:"average_video_frame_rate,optional"`
	AverageVideoPacketLossRate               *float64 `parquet:"average_video_packet_loss_rate,optional"`
	IsAudioForwardErrorCorrectionUsed        *bool    `parquet:"is_audio_forward_error_correction_used,optional"`
	LowFrameRateRatio                        *float64 `parquet:"low_frame_rate_ratio,optional"`
	LowVideoProcessingCapabilityRatio        *float64 `parquet:"low_video_processing_capability_ratio,optional"`
	PacketUtilization                        *int64   `parquet:"packet_utilization,optional"`
	PostForwardErrorCorrectionPacketLossRate *float64 `parquet:"post_forward_error_correction_packet_loss_rate,optional"`
	WasMediaBypassed                         *bool    `parquet:"was_media_bypassed,optional"`
}
