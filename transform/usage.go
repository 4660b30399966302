package transform

import (
	"encoding/json"
	"fmt"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// DecodePstnCall parses one pstnCallLogRow. A row without id or start cannot be
// keyed or partitioned and is refused.
func DecodePstnCall(raw []byte) (schemas.PstnCallLogRow, error) {
	var row schemas.PstnCallLogRow
	if err := json.Unmarshal(raw, &row); err != nil {
		return row, fmt.Errorf("decode PSTN call %s: %w: %v", peekID(raw), ErrInvalidRecord, err)
	}
	return row, checkKeys("PSTN call", row.ID, row.StartDateTime)
}

// DecodeDirectRoutingCall parses one directRoutingLogRow.
func DecodeDirectRoutingCall(raw []byte) (schemas.DirectRoutingLogRow, error) {
	var row schemas.DirectRoutingLogRow
	if err := json.Unmarshal(raw, &row); err != nil {
		return row, fmt.Errorf("decode Direct Routing call %s: %w: %v", peekID(raw), ErrInvalidRecord, err)
	}
	return row, checkKeys("Direct Routing call", row.ID, row.StartDateTime)
}

// checkKeys refuses a record without the fields every row needs.
func checkKeys(kind, id string, start schemas.Time) error {
	if id == "" {
		return fmt.Errorf("decode %s: %w: no id", kind, ErrInvalidRecord)
	}
	if start.IsZero() {
		return fmt.Errorf("decode %s %s: %w: no startDateTime", kind, id, ErrInvalidRecord)
	}
	return nil
}

// FlattenPstnCall turns a pstnCallLogRow into a pstn_calls row.
func FlattenPstnCall(tenantID string, r schemas.PstnCallLogRow) schemas.PstnCallRow {
	return schemas.PstnCallRow{
		TenantID:           tenantID,
		ID:                 r.ID,
		CallID:             str(r.CallID),
		UserID:             str(r.UserID),
		UserPrincipalName:  str(r.UserPrincipalName),
		UserDisplayName:    str(r.UserDisplayName),
		StartDateTime:      r.StartDateTime.Time,
		EndDateTime:        r.EndDateTime.Time,
		DurationSeconds:    r.Duration,
		Charge:             r.Charge.Ptr(),
		ConnectionCharge:   r.ConnectionCharge.Ptr(),
		Currency:           str(r.Currency),
		CallType:           str(r.CallType),
		CalleeNumber:       str(r.CalleeNumber),
		CallerNumber:       str(r.CallerNumber),
		UsageCountryCode:   str(r.UsageCountryCode),
		TenantCountryCode:  str(r.TenantCountryCode),
		DestinationContext: str(r.DestinationContext),
		DestinationName:    str(r.DestinationName),
		ConferenceID:       str(r.ConferenceID),
		LicenseCapability:  str(r.LicenseCapability),
		InventoryType:      str(r.InventoryType),
		Operator:           str(r.Operator),
		CallDurationSource: str(r.CallDurationSource),
	}
}

// FlattenDirectRoutingCall turns a directRoutingLogRow into a direct_routing_calls
// row. The 0001-01-01 "no value" dates are already NULL (schemas.Time).
func FlattenDirectRoutingCall(tenantID string, r schemas.DirectRoutingLogRow) schemas.DirectRoutingCallRow {
	return schemas.DirectRoutingCallRow{
		TenantID:                      tenantID,
		ID:                            r.ID,
		CorrelationID:                 str(r.CorrelationID),
		UserID:                        str(r.UserID),
		UserPrincipalName:             str(r.UserPrincipalName),
		UserDisplayName:               str(r.UserDisplayName),
		StartDateTime:                 r.StartDateTime.Time,
		InviteDateTime:                r.InviteDateTime.Time,
		FailureDateTime:               r.FailureDateTime.Time,
		EndDateTime:                   r.EndDateTime.Time,
		DurationSeconds:               r.Duration,
		CallType:                      str(r.CallType),
		SuccessfulCall:                r.SuccessfulCall,
		CallerNumber:                  str(r.CallerNumber),
		CalleeNumber:                  str(r.CalleeNumber),
		MediaPathLocation:             str(r.MediaPathLocation),
		SignalingLocation:             str(r.SignalingLocation),
		FinalSipCode:                  r.FinalSipCode,
		CallEndSubReason:              r.CallEndSubReason,
		FinalSipCodePhrase:            str(r.FinalSipCodePhrase),
		TrunkFullyQualifiedDomainName: str(r.TrunkFullyQualifiedDomainName),
		MediaBypassEnabled:            r.MediaBypassEnabled,
	}
}
