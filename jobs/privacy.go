package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

// privacy is the privacy policy of a run: its Pseudonymiser (nil when it
// keeps everything) and its digest, recorded in the run summary and in
// every Parquet file's metadata.
type privacy struct {
	pseudonymiser *transform.Pseudonymiser
	digest        string
	keyID         string // transform.Pseudonymiser.KeyID
}

// The Parquet metadata keys of the policy a file was written under.
const (
	metaPrivacyPolicy = "callrecords_etl.privacy_policy"
	metaPrivacyKeyID  = "callrecords_etl.privacy_key_id"
)

// keepDigest is the digest of the policy that keeps everything, that of
// the files written before there were policies.
var keepDigest = transform.Policy{}.Digest()

// privacyOf reads c's privacy policy and key. Every error is a
// configuration error (exit 2): a bad policy file, a policy that hashes
// with no key.
func (c Config) privacyOf() (privacy, error) {
	var policy transform.Policy
	if c.PrivacyPolicyFile != "" {
		data, err := os.ReadFile(c.PrivacyPolicyFile)
		if err != nil {
			return privacy{}, configError(": "+err.Error(), "PrivacyPolicyFile")
		}
		if policy, err = transform.ParsePolicy(c.PrivacyPolicyFile, data); err != nil {
			return privacy{}, configError(": "+err.Error(), "PrivacyPolicyFile")
		}
	}
	key := c.PrivacyKey
	if len(key) == 0 && c.PrivacyKeyFile != "" && policy.Hashes() {
		data, err := os.ReadFile(c.PrivacyKeyFile)
		if err != nil {
			return privacy{}, configError(": "+err.Error(), "PrivacyKeyFile")
		}
		key = bytes.TrimSpace(data) // a file written by echo ends in a newline
	}
	ps, err := transform.NewPseudonymiser(policy, key)
	if errors.Is(err, transform.ErrNoKey) {
		return privacy{}, configError(fmt.Sprintf(": %v (privacy policy %s)", err, c.PrivacyPolicyFile), "PrivacyKey", "PrivacyKeyFile")
	}
	if err != nil {
		return privacy{}, configError(": "+err.Error(), "PrivacyKey", "PrivacyKeyFile")
	}
	return privacy{pseudonymiser: ps, digest: policy.Digest(), keyID: ps.KeyID()}, nil
}

// quarantinePayload is raw as the quarantine keeps it under ps: JSON
// pseudonymised; anything else, which cannot be, only as its digest.
func quarantinePayload(ps *transform.Pseudonymiser, raw []byte) (kept []byte, digest string) {
	if ps == nil || raw == nil { // nil: a payload not kept (too long)
		return raw, ""
	}
	if json.Valid(raw) { // the scanner checks the structure, not every literal
		if out, err := ps.JSON(raw); err == nil {
			return out, ""
		}
	}
	sum := sha256.Sum256(raw)
	return nil, "sha256:" + hex.EncodeToString(sum[:])
}

// wroteFile reports whether the Parquet file at path was written under p
// (same rules, same key), so that its rows are already what p writes.
// Rows of a file written under another policy are brought under p as they
// are carried over or replayed (rowsUnder), except under a policy that
// keeps everything: it cannot undo a pseudonym, and would record a keep
// policy over pseudonymised rows.
func (p privacy) wroteFile(path string) (bool, error) {
	md, err := load.ParquetMetadata(path)
	if err != nil {
		return false, err
	}
	digest := md[metaPrivacyPolicy]
	if digest == "" {
		digest = keepDigest
	}
	if digest == p.digest && md[metaPrivacyKeyID] == p.keyID {
		return true, nil
	}
	if p.pseudonymiser == nil {
		return false, configError(fmt.Sprintf(": %s was written under privacy policy %s (key %s); this run keeps personal data, and would mix it with pseudonyms: run with that policy and key", path, digest, md[metaPrivacyKeyID]), "PrivacyPolicyFile")
	}
	return false, nil
}

// rowsUnder brings rows written under another policy under ps, in place:
// the fact rows column by column, the raw archive's JSON property by
// property.
func rowsUnder[T any](ps *transform.Pseudonymiser, rows []T) error {
	var err error
	switch raw := any(rows).(type) {
	case []schemas.RawCallRecordRow:
		for i := range raw {
			if raw[i].Pieces > 1 {
				return fmt.Errorf("call record %s version %d is archived in pieces, which cannot be pseudonymised one by one: rewrite its day with replay under the policy's previous settings first", raw[i].CallRecordID, raw[i].Version)
			}
			if raw[i].JSON, err = ps.JSON(raw[i].JSON); err != nil {
				return fmt.Errorf("call record %s version %d: %w", raw[i].CallRecordID, raw[i].Version, err)
			}
		}
	case []schemas.RawUsageRow:
		for i := range raw {
			if raw[i].JSON, err = ps.JSON(raw[i].JSON); err != nil {
				return fmt.Errorf("report row %s: %w", raw[i].ID, err)
			}
		}
	default:
		transform.Rows(ps, rows)
	}
	return nil
}
