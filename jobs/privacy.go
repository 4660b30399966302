package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/callrecords-etl/callrecords-etl/transform"
)

// privacy is the privacy policy of a run: its Pseudonymiser (nil when it
// keeps everything) and its digest, recorded in the run summary and in
// every Parquet file's metadata.
type privacy struct {
	pseudonymiser *transform.Pseudonymiser
	digest        string
}

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
	return privacy{pseudonymiser: ps, digest: policy.Digest()}, nil
}

// quarantinePayload is raw as the quarantine keeps it under the policy:
// JSON pseudonymised; anything else, which cannot be, only as its digest.
func (p privacy) quarantinePayload(raw []byte) (kept []byte, digest string) {
	if p.pseudonymiser == nil {
		return raw, ""
	}
	if out, err := p.pseudonymiser.JSON(raw); err == nil {
		return out, ""
	}
	sum := sha256.Sum256(raw)
	return nil, "sha256:" + hex.EncodeToString(sum[:])
}
