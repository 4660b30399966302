package schemas

import "strings"

// PersonalClass is the class of personal data a string column holds; a
// privacy policy says per class whether it is kept, hashed or dropped.
type PersonalClass string

// Personal data classes, as privacy policy files name them.
const (
	ClassUserID       PersonalClass = "user_id"       // Entra user and directory object ids, participant ids, meeting join URLs (they hold the organiser's id)
	ClassDisplayName  PersonalClass = "display_name"  // people's and rooms' display names
	ClassUPNEmail     PersonalClass = "upn_email"     // user principal names and e-mail addresses
	ClassPhoneNumber  PersonalClass = "phone_number"  // E.164 phone numbers
	ClassIPAddress    PersonalClass = "ip_address"    // IPv4 and IPv6 addresses of endpoints, relays and trace-route hops
	ClassSubnet       PersonalClass = "subnet"        // the subnet of an endpoint's network
	ClassDeviceName   PersonalClass = "device_name"   // machine names, audio device names, MAC addresses and Wi-Fi BSSIDs
	ClassFeedbackText PersonalClass = "feedback_text" // what a user typed as call feedback
)

// PersonalClasses lists the classes a policy may name, in README order.
var PersonalClasses = []PersonalClass{ClassUserID, ClassDisplayName, ClassUPNEmail, ClassPhoneNumber, ClassIPAddress, ClassSubnet, ClassDeviceName, ClassFeedbackText}

// Column classes beyond the personal ones.
const (
	// NotPersonal: the column holds no personal data (enums, versions,
	// call and session ids, tenant ids, hardware models); it is always kept.
	NotPersonal PersonalClass = "-"
	// RecordJSON: the column holds a record as Graph sent it; personal
	// properties in it follow the policy property by property.
	RecordJSON PersonalClass = "record_json"
)

// ColumnClasses is the class of every string column of every table (the
// fact tables and the raw archive), by column name: a name means the same
// in every table that has it. A column of a list of structs is named
// list.field, a map's keys map.key. The Callee twin of a caller_ column has
// the caller_ column's class (ColumnClass).
//
// A new string column must be added here: TestColumnClasses fails until it is.
var ColumnClasses = map[string]PersonalClass{
	"tenant_id":                         NotPersonal,
	"call_record_id":                    NotPersonal,
	"id":                                NotPersonal, // a report row's id
	"type":                              NotPersonal,
	"modalities":                        NotPersonal,
	"join_web_url":                      ClassUserID,
	"organizer_id":                      ClassUserID,
	"organizer_identity_kind":           NotPersonal,
	"organizer_display_name":            ClassDisplayName,
	"organizer_tenant_id":               NotPersonal,
	"organizer_user_principal_name":     ClassUPNEmail,
	"organizer_administrative_unit_ids": ClassUserID,
	"administrative_unit_ids":           ClassUserID,
	"quality_rules_version":             NotPersonal,
	"session_id":                        NotPersonal,
	// call_journey_hops: a hop's callee is a resource account (an auto
	// attendant's or queue's) or, for user and transfer hops, a person.
	"hop_kind":                 NotPersonal,
	"service_role":             NotPersonal,
	"service_id":               ClassUserID,
	"service_display_name":     ClassDisplayName,
	"answered_by_id":           ClassUserID,
	"answered_by_display_name": ClassDisplayName,
	"outcome":                  NotPersonal,
	// call_record_ledger: ids, versions and run ids only.
	"version_first_seen_run": NotPersonal,
	"segment_id":             NotPersonal,
	"stream_id":              NotPersonal,
	"failure_info_reason":    NotPersonal,
	"failure_info_stage":     NotPersonal,
	"media_label":            NotPersonal,
	"stream_direction":       NotPersonal,
	"audio_codec":            NotPersonal,
	"video_codec":            NotPersonal,
	"quality":                NotPersonal,
	"poor_due_to":            NotPersonal,

	"participant_id":               ClassUserID,
	"identity_kind":                NotPersonal,
	"identity_id":                  ClassUserID,
	"identity_display_name":        ClassDisplayName,
	"identity_tenant_id":           NotPersonal,
	"identity_user_principal_name": ClassUPNEmail,
	"identity_email":               ClassUPNEmail,
	"identity_endpoint_type":       NotPersonal,

	// Endpoints (CallerEndpoint).
	"caller_endpoint_type":                           NotPersonal,
	"caller_name":                                    ClassDeviceName,
	"caller_cpu_name":                                NotPersonal,
	"caller_user_agent_type":                         NotPersonal,
	"caller_user_agent_header_value":                 NotPersonal,
	"caller_user_agent_application_version":          NotPersonal,
	"caller_user_agent_platform":                     NotPersonal,
	"caller_user_agent_product_family":               NotPersonal,
	"caller_user_agent_communication_service_id":     NotPersonal,
	"caller_user_agent_azure_ad_app_id":              NotPersonal,
	"caller_user_agent_role":                         NotPersonal,
	"caller_associated_identity_id":                  ClassUserID,
	"caller_associated_identity_display_name":        ClassDisplayName,
	"caller_associated_identity_tenant_id":           NotPersonal,
	"caller_associated_identity_user_principal_name": ClassUPNEmail,
	"caller_identity_kind":                           NotPersonal,
	"caller_identity_id":                             ClassUserID,
	"caller_identity_display_name":                   ClassDisplayName,
	"caller_identity_tenant_id":                      NotPersonal,
	"caller_identity_user_principal_name":            ClassUPNEmail,
	"caller_identity_email":                          ClassUPNEmail,
	"caller_feedback_rating":                         NotPersonal,
	"caller_feedback_text":                           ClassFeedbackText,
	"caller_feedback_tokens.key":                     NotPersonal,

	// Networks (CallerNetwork).
	"caller_network_basic_service_set_identifier":  ClassDeviceName,
	"caller_network_connection_type":               NotPersonal,
	"caller_network_dns_suffix":                    NotPersonal,
	"caller_network_ip_address":                    ClassIPAddress,
	"caller_network_mac_address":                   ClassDeviceName,
	"caller_network_network_transport_protocol":    NotPersonal,
	"caller_network_reflexive_ip_address":          ClassIPAddress,
	"caller_network_relay_ip_address":              ClassIPAddress,
	"caller_network_subnet":                        ClassSubnet,
	"caller_network_trace_route_hops.ip_address":   ClassIPAddress,
	"caller_network_wifi_band":                     NotPersonal,
	"caller_network_wifi_microsoft_driver":         NotPersonal,
	"caller_network_wifi_microsoft_driver_version": NotPersonal,
	"caller_network_wifi_radio_type":               NotPersonal,
	"caller_network_wifi_vendor_driver":            NotPersonal,
	"caller_network_wifi_vendor_driver_version":    NotPersonal,

	// Devices (CallerDevice).
	"caller_device_capture_device_driver": NotPersonal,
	"caller_device_capture_device_name":   ClassDeviceName,
	"caller_device_render_device_driver":  NotPersonal,
	"caller_device_render_device_name":    ClassDeviceName,

	// Identity lists (IdentityRow), of organizer_identities, identities and
	// caller_identities.
	"identities.kind":                NotPersonal,
	"identities.id":                  ClassUserID,
	"identities.display_name":        ClassDisplayName,
	"identities.tenant_id":           NotPersonal,
	"identities.user_principal_name": ClassUPNEmail,
	"identities.email":               ClassUPNEmail,
	"identities.azure_communication_services_resource_id": NotPersonal,
	"identities.application_type":                         NotPersonal,
	"identities.odata_type":                               NotPersonal,

	// PSTN and Direct Routing.
	"call_id":                           NotPersonal,
	"correlation_id":                    NotPersonal,
	"conference_id":                     NotPersonal,
	"user_id":                           ClassUserID,
	"user_principal_name":               ClassUPNEmail,
	"user_display_name":                 ClassDisplayName,
	"caller_number":                     ClassPhoneNumber,
	"callee_number":                     ClassPhoneNumber,
	"currency":                          NotPersonal,
	"call_type":                         NotPersonal,
	"usage_country_code":                NotPersonal,
	"tenant_country_code":               NotPersonal,
	"destination_context":               NotPersonal,
	"destination_name":                  NotPersonal,
	"license_capability":                NotPersonal,
	"inventory_type":                    NotPersonal,
	"operator":                          NotPersonal,
	"call_duration_source":              NotPersonal,
	"media_path_location":               NotPersonal,
	"signaling_location":                NotPersonal,
	"final_sip_code_phrase":             NotPersonal,
	"trunk_fully_qualified_domain_name": NotPersonal,

	// The raw archive.
	"json":       RecordJSON,
	"json_piece": RecordJSON,
}

// ColumnClass is the class of the string column at path (a column name, or
// list.field, or map.key): ok is false when ColumnClasses has none. The
// identity lists share their fields' classes, and callee_ columns their
// caller_ twins'.
func ColumnClass(path string) (class PersonalClass, ok bool) {
	if c, ok := ColumnClasses[path]; ok {
		return c, true
	}
	if rest, found := strings.CutPrefix(path, "callee_"); found {
		if c, ok := ColumnClasses["caller_"+rest]; ok {
			return c, true
		}
	}
	for _, list := range []string{"organizer_identities.", "caller_identities.", "callee_identities."} {
		if rest, found := strings.CutPrefix(path, list); found {
			return ColumnClass("identities." + rest)
		}
	}
	return "", false
}
