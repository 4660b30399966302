package main

import (
	"errors"
	"strings"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/jobs"
)

// The packages below main name settings as their Go fields; a user sets them
// as flags (or their environment variables). These maps are the translation,
// and explain uses them to say a failure in the user's words.

// fieldFlags names the flag of each field a jobs.ConfigError may name.
var fieldFlags = map[string]string{
	"TenantID":        "--tenant-id",
	"Dest":            "--dest",
	"Cloud":           "--cloud",
	"GraphURL":        "--graph-url",
	"Concurrency":     "--concurrency",
	"MaxRPS":          "--graph-max-rps",
	"LockTTL":         "--lock-ttl",
	"Lookback":        "--lookback",
	"UsageLookback":   "--usage-lookback",
	"UsageHistory":    "--usage-history",
	"From":            "--from",
	"To":              "--to",
	"Datasets":        "--datasets",
	"SingleWriter":    "--single-writer",
	"TempDir":         "--temp-dir",
	"NotificationURL": "--notification-url",
	"ClientState":     "--client-state",
}

// settingFlags names where each credential setting an extract.AuthError
// refers to is set.
var settingFlags = map[extract.Setting]string{
	extract.SettingTenantID:           "--tenant-id",
	extract.SettingClientID:           "--client-id",
	extract.SettingClientSecret:       "--client-secret",
	extract.SettingCertificate:        "--client-certificate",
	extract.SettingFederatedTokenFile: "--federated-token-file",
	extract.SettingAuthorityHost:      "--authority-host",
	extract.SettingCloud:              "--cloud",
	extract.SettingGraphURL:           "--graph-url",
	extract.SettingToken:              "CALLRECORDS_GRAPH_TOKEN",
}

// explain is what main prints for a failed command, one line each: for a
// credential failure, first the one sentence that says what to fix and the
// flags it means; then the error, with configuration fields named as flags.
func explain(err error) []string {
	var lines []string
	msg := err.Error()
	var auth *extract.AuthError
	if errors.As(err, &auth) {
		fix := auth.Fix
		if len(auth.Settings) > 0 {
			names := make([]string, len(auth.Settings))
			for i, s := range auth.Settings {
				names[i] = flagOf(settingFlags[s], string(s))
			}
			fix += " (" + strings.Join(names, ", ") + ")"
		}
		lines = append(lines, fix)
		// The second line gives the context and the details, not the
		// sentence just printed.
		detail := strings.TrimSuffix(strings.TrimPrefix(auth.Error(), auth.Fix), ")")
		detail = strings.TrimPrefix(strings.TrimSpace(detail), "(")
		msg = strings.Replace(msg, auth.Error(), "details: "+detail, 1)
		if detail == "" {
			msg = strings.Replace(msg, "details: ", "", 1)
		}
	}
	var ce *jobs.ConfigError
	if errors.As(err, &ce) {
		described := ce.Describe(func(field string) string { return flagOf(fieldFlags[field], field) })
		msg = strings.Replace(msg, ce.Error(), described, 1)
	}
	return append(lines, msg)
}

func flagOf(flag, field string) string {
	if flag == "" {
		return field // a field added below main without a flag here: still named
	}
	return flag
}
