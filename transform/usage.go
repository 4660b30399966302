package transform

import (
	"fmt"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// DecodePstnCallWithReport parses one pstnCallLogRow as
// DecodeCallRecordWithReport parses a call record: a value that does not
// convert is NULL and counted, an unknown property counted, and only a row
// whose id or start cannot be read is refused.
func DecodePstnCallWithReport(raw []byte) (schemas.PstnCallLogRow, Report, error) {
	var row schemas.PstnCallLogRow
	rep, err := decodeUsage(raw, &row, "PSTN call")
	if err == nil {
		err = checkKeys("PSTN call", row.ID, row.StartDateTime)
	}
	if err != nil {
		return row, Report{}, err
	}
	return row, rep, nil
}

// DecodeDirectRoutingCallWithReport is DecodePstnCallWithReport for a
// directRoutingLogRow.
func DecodeDirectRoutingCallWithReport(raw []byte) (schemas.DirectRoutingLogRow, Report, error) {
	var row schemas.DirectRoutingLogRow
	rep, err := decodeUsage(raw, &row, "Direct Routing call")
	if err == nil {
		err = checkKeys("Direct Routing call", row.ID, row.StartDateTime)
	}
	if err != nil {
		return row, Report{}, err
	}
	return row, rep, nil
}

// usageKeys are the properties without which a report row cannot be stored:
// it is keyed on id and partitioned on its start.
var usageKeys = []string{"", "id", "startDateTime"}

// decodeUsage decodes one report row (small and few: no fast path) into row.
func decodeUsage(raw []byte, row any, kind string) (Report, error) {
	rep, err := decodeTolerant(raw, row, "", usageKeys)
	if err != nil {
		return Report{}, fmt.Errorf("decode %s %s: %w: %v", kind, peekID(raw), ErrInvalidRecord, err)
	}
	return rep, nil
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
		Charge:             r.Charge.Column(),
		ConnectionCharge:   r.ConnectionCharge.Column(),
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
