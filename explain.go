package main

import (
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/jobs"
)

// The packages below main name settings as their Go fields; a user sets them
// as flags (or their environment variables). These maps are the translation,
// and explain uses them to say a failure in the user's words.

// fieldFlags names the flag of each field a jobs.ConfigError may name.
var fieldFlags = map[string]string{
	"TenantID":          "--tenant-id",
	"Dest":              "--dest",
	"Cloud":             "--cloud",
	"GraphURL":          "--graph-url",
	"Concurrency":       "--concurrency",
	"MaxRPS":            "--graph-max-rps",
	"LockTTL":           "--lock-ttl",
	"Lookback":          "--lookback",
	"UsageLookback":     "--usage-lookback",
	"UsageHistory":      "--usage-history",
	"SettleRuns":        "--settle-runs",
	"From":              "--from",
	"To":                "--to",
	"Datasets":          "--datasets",
	"SingleWriter":      "--single-writer",
	"TempDir":           "--temp-dir",
	"Tables":            "--tables",
	"NotificationURL":   "--notification-url",
	"LifecycleURL":      "--lifecycle-url",
	"ClientState":       "--client-state",
	"PrivacyPolicyFile": "--privacy-policy",
	"PrivacyKeyFile":    "--privacy-key-file",
	"PrivacyKey":        privacyKeyEnv,
	"TableFormat":       "--table-format",
	"IcebergCatalog":    "--iceberg-catalog",
	// maintain's settings.
	"RetainLast":       "--retain-last",
	"OlderThan":        "--older-than",
	"OrphansOlderThan": "--orphans-older-than",
	// A REST Iceberg catalog's settings.
	"IcebergREST.Warehouse":       "--iceberg-warehouse",
	"IcebergREST.Credential":      icebergCredentialEnv,
	"IcebergREST.CredentialFile":  "--iceberg-credential-file",
	"IcebergREST.OAuth2ServerURI": "--iceberg-oauth2-server-uri",
	"IcebergREST.Scope":           "--iceberg-scope",
	"IcebergREST.Token":           icebergTokenEnv,
	"IcebergREST.TokenFile":       "--iceberg-token-file",
	"IcebergREST.SigV4Service":    "--iceberg-sigv4-service",
	"IcebergREST.SigV4Region":     "--iceberg-sigv4-region",
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

// flagInError finds the flag urfave/cli names in a parse error, for flag
// values ("for flag -lookback") and environment variables ("for flag lookback").
var flagInError = regexp.MustCompile(`for flag -{0,2}([a-z0-9-]+)`)

// example returns, for an error about a flag's value, what a good value of
// that flag's type looks like; "" when the error names no flag.
func example(app *cli.App, err error) string {
	m := flagInError.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	var kind cli.Flag
	var find func([]*cli.Command)
	find = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			for _, f := range cmd.Flags {
				if slices.Contains(f.Names(), m[1]) {
					kind = f
				}
			}
			find(cmd.Subcommands)
		}
	}
	find(app.Commands)
	switch kind.(type) {
	case *cli.DurationFlag:
		return " (want a duration such as 48h, 90m or 1h30m: units h, m, s, ms; no d for days, 72h is three)"
	case *cli.IntFlag, *cli.Int64Flag:
		return " (want a whole number such as 8)"
	case *cli.Float64Flag:
		return " (want a number such as 2.5 or 0)"
	case *cli.BoolFlag:
		return " (want true or false)"
	}
	return ""
}
