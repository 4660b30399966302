package schemas

import "time"

// PSTN and Direct Routing usage (reference §6.14, §6.15): flat rows, one per id.

// PstnCallLogRow is a pstnCallLogRow as Graph sends it.
type PstnCallLogRow struct {
	ID                 string  `json:"id"`
	CallID             *string `json:"callId"`
	UserID             *string `json:"userId"`
	UserPrincipalName  *string `json:"userPrincipalName"`
	UserDisplayName    *string `json:"userDisplayName"`
	StartDateTime      Time    `json:"startDateTime"`
	EndDateTime        Time    `json:"endDateTime"`
	Duration           *int32  `json:"duration"`
	Charge             Decimal `json:"charge"`
	ConnectionCharge   Decimal `json:"connectionCharge"`
	Currency           *string `json:"currency"`
	CallType           *string `json:"callType"`
	CalleeNumber       *string `json:"calleeNumber"`
	CallerNumber       *string `json:"callerNumber"`
	UsageCountryCode   *string `json:"usageCountryCode"`
	TenantCountryCode  *string `json:"tenantCountryCode"`
	DestinationContext *string `json:"destinationContext"`
	DestinationName    *string `json:"destinationName"`
	ConferenceID       *string `json:"conferenceId"`
	LicenseCapability  *string `json:"licenseCapability"`
	InventoryType      *string `json:"inventoryType"`
	Operator           *string `json:"operator"`
	CallDurationSource *string `json:"callDurationSource"`
}

// DirectRoutingLogRow is a directRoutingLogRow as Graph sends it.
type DirectRoutingLogRow struct {
	ID                            string  `json:"id"`
	CorrelationID                 *string `json:"correlationId"`
	UserID                        *string `json:"userId"`
	UserPrincipalName             *string `json:"userPrincipalName"`
	UserDisplayName               *string `json:"userDisplayName"`
	StartDateTime                 Time    `json:"startDateTime"`
	InviteDateTime                Time    `json:"inviteDateTime"`
	FailureDateTime               Time    `json:"failureDateTime"`
	EndDateTime                   Time    `json:"endDateTime"`
	Duration                      *int32  `json:"duration"`
	CallType                      *string `json:"callType"`
	SuccessfulCall                *bool   `json:"successfulCall"`
	CallerNumber                  *string `json:"callerNumber"`
	CalleeNumber                  *string `json:"calleeNumber"`
	MediaPathLocation             *string `json:"mediaPathLocation"`
	SignalingLocation             *string `json:"signalingLocation"`
	FinalSipCode                  *int32  `json:"finalSipCode"`
	CallEndSubReason              *int32  `json:"callEndSubReason"`
	FinalSipCodePhrase            *string `json:"finalSipCodePhrase"`
	TrunkFullyQualifiedDomainName *string `json:"trunkFullyQualifiedDomainName"`
	MediaBypassEnabled            *bool   `json:"mediaBypassEnabled"`
}

// PstnCallRow is one row of table pstn_calls. charge and connection_charge are
// DECIMAL(38,18) (see DecimalScale): exact sums per currency, which a binary
// double cannot promise.
type PstnCallRow struct {
	TenantID           string      `parquet:"tenant_id,dict"`
	ID                 string      `parquet:"id"`
	CallID             string      `parquet:"call_id,optional"`
	UserID             string      `parquet:"user_id,optional"`
	UserPrincipalName  string      `parquet:"user_principal_name,optional"`
	UserDisplayName    string      `parquet:"user_display_name,optional"`
	StartDateTime      time.Time   `parquet:"start_date_time,timestamp(microsecond)"`
	EndDateTime        time.Time   `parquet:"end_date_time,optional,timestamp(microsecond)"`
	DurationSeconds    *int32      `parquet:"duration_seconds,optional"`
	Charge             *Decimal128 `parquet:"charge,optional,decimal(18:38)"`
	ConnectionCharge   *Decimal128 `parquet:"connection_charge,optional,decimal(18:38)"`
	Currency           string      `parquet:"currency,optional,dict"`
	CallType           string      `parquet:"call_type,optional,dict"`
	CalleeNumber       string      `parquet:"callee_number,optional"`
	CallerNumber       string      `parquet:"caller_number,optional"`
	UsageCountryCode   string      `parquet:"usage_country_code,optional,dict"`
	TenantCountryCode  string      `parquet:"tenant_country_code,optional,dict"`
	DestinationContext string      `parquet:"destination_context,optional,dict"`
	DestinationName    string      `parquet:"destination_name,optional,dict"`
	ConferenceID       string      `parquet:"conference_id,optional"`
	LicenseCapability  string      `parquet:"license_capability,optional,dict"`
	InventoryType      string      `parquet:"inventory_type,optional,dict"`
	Operator           string      `parquet:"operator,optional,dict"`
	CallDurationSource string      `parquet:"call_duration_source,optional,dict"`
}

// DirectRoutingCallRow is one row of table direct_routing_calls.
type DirectRoutingCallRow struct {
	TenantID                      string    `parquet:"tenant_id,dict"`
	ID                            string    `parquet:"id"`
	CorrelationID                 string    `parquet:"correlation_id,optional"`
	UserID                        string    `parquet:"user_id,optional"`
	UserPrincipalName             string    `parquet:"user_principal_name,optional"`
	UserDisplayName               string    `parquet:"user_display_name,optional"`
	StartDateTime                 time.Time `parquet:"start_date_time,timestamp(microsecond)"`
	InviteDateTime                time.Time `parquet:"invite_date_time,optional,timestamp(microsecond)"`
	FailureDateTime               time.Time `parquet:"failure_date_time,optional,timestamp(microsecond)"`
	EndDateTime                   time.Time `parquet:"end_date_time,optional,timestamp(microsecond)"`
	DurationSeconds               *int32    `parquet:"duration_seconds,optional"`
	CallType                      string    `parquet:"call_type,optional,dict"`
	SuccessfulCall                *bool     `parquet:"successful_call,optional"`
	CallerNumber                  string    `parquet:"caller_number,optional"`
	CalleeNumber                  string    `parquet:"callee_number,optional"`
	MediaPathLocation             string    `parquet:"media_path_location,optional,dict"`
	SignalingLocation             string    `parquet:"signaling_location,optional,dict"`
	FinalSipCode                  *int32    `parquet:"final_sip_code,optional"`
	CallEndSubReason              *int32    `parquet:"call_end_sub_reason,optional"`
	FinalSipCodePhrase            string    `parquet:"final_sip_code_phrase,optional,dict"`
	TrunkFullyQualifiedDomainName string    `parquet:"trunk_fully_qualified_domain_name,optional,dict"`
	MediaBypassEnabled            *bool     `parquet:"media_bypass_enabled,optional"`
}
