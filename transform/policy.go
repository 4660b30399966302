package transform

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// Action is what a privacy policy does with a class of personal data.
type Action string

// Actions a policy may name.
const (
	Keep Action = "keep" // written as received
	Hash Action = "hash" // a keyed HMAC-SHA-256 pseudonym (Pseudonymiser)
	Drop Action = "drop" // NULL
)

var actions = []Action{Keep, Hash, Drop}

// Policy says what is written of each class of personal data. Its zero
// value keeps everything.
type Policy struct {
	Classes map[schemas.PersonalClass]Action
	// IPv4Prefix and IPv6Prefix are the network prefix lengths a hashed IP
	// address keeps in clear (per-site quality analysis): 0 hashes it whole.
	IPv4Prefix, IPv6Prefix int
}

// Default network prefixes kept of a hashed IP address.
const (
	DefaultIPv4Prefix = 24
	DefaultIPv6Prefix = 48
)

// policyFile is a policy file as written: YAML or JSON (which is YAML).
type policyFile struct {
	Default  string            `yaml:"default"` // action of the classes not named; keep when empty
	Classes  map[string]string `yaml:"classes"`
	IPPrefix struct {
		IPv4 *int `yaml:"ipv4"`
		IPv6 *int `yaml:"ipv6"`
	} `yaml:"ip_prefix"`
}

// ParsePolicy reads a policy file (YAML or JSON) called name. An unknown
// key, class or action is an error naming name and the key.
func ParsePolicy(name string, data []byte) (Policy, error) {
	var f policyFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return Policy{}, fmt.Errorf("privacy policy %s: %w", name, err)
	}
	def := Keep
	if f.Default != "" {
		var err error
		if def, err = parseAction(f.Default); err != nil {
			return Policy{}, fmt.Errorf("privacy policy %s: default: %w", name, err)
		}
	}
	p := Policy{Classes: map[schemas.PersonalClass]Action{}, IPv4Prefix: DefaultIPv4Prefix, IPv6Prefix: DefaultIPv6Prefix}
	for _, c := range schemas.PersonalClasses {
		p.Classes[c] = def
	}
	for class, action := range f.Classes {
		if !slices.Contains(schemas.PersonalClasses, schemas.PersonalClass(class)) {
			return Policy{}, fmt.Errorf("privacy policy %s: classes: unknown class %q (known: %s)", name, class, classNames())
		}
		a, err := parseAction(action)
		if err != nil {
			return Policy{}, fmt.Errorf("privacy policy %s: classes: %s: %w", name, class, err)
		}
		p.Classes[schemas.PersonalClass(class)] = a
	}
	for _, pre := range []struct {
		key  string
		v    *int
		max  int
		into *int
	}{{"ip_prefix.ipv4", f.IPPrefix.IPv4, 32, &p.IPv4Prefix}, {"ip_prefix.ipv6", f.IPPrefix.IPv6, 128, &p.IPv6Prefix}} {
		if pre.v == nil {
			continue
		}
		if *pre.v < 0 || *pre.v > pre.max {
			return Policy{}, fmt.Errorf("privacy policy %s: %s: %d is not a prefix length from 0 to %d", name, pre.key, *pre.v, pre.max)
		}
		*pre.into = *pre.v
	}
	return p, nil
}

func parseAction(s string) (Action, error) {
	if a := Action(s); slices.Contains(actions, a) {
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q (known: keep, hash, drop)", s)
}

func classNames() string {
	names := make([]string, len(schemas.PersonalClasses))
	for i, c := range schemas.PersonalClasses {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// Action is what p does with class.
func (p Policy) Action(class schemas.PersonalClass) Action {
	if a, ok := p.Classes[class]; ok {
		return a
	}
	return Keep
}

// KeepsAll reports whether p writes everything as received (today's lake).
func (p Policy) KeepsAll() bool {
	for _, c := range schemas.PersonalClasses {
		if p.Action(c) != Keep {
			return false
		}
	}
	return true
}

// Hashes reports whether p hashes a class (and so needs a key).
func (p Policy) Hashes() bool {
	for _, c := range schemas.PersonalClasses {
		if p.Action(c) == Hash {
			return true
		}
	}
	return false
}

// Digest names p's rules (never its key): the SHA-256 of its canonical
// JSON, so that a reader can tell which rules produced a file.
func (p Policy) Digest() string {
	canon := struct {
		Classes    map[schemas.PersonalClass]Action `json:"classes"`
		IPv4Prefix int                              `json:"ipv4_prefix"`
		IPv6Prefix int                              `json:"ipv6_prefix"`
	}{Classes: map[schemas.PersonalClass]Action{}}
	if p.Hashes() { // the prefixes matter to hashed addresses only
		canon.IPv4Prefix, canon.IPv6Prefix = p.IPv4Prefix, p.IPv6Prefix
	}
	for _, c := range schemas.PersonalClasses {
		canon.Classes[c] = p.Action(c)
	}
	data, _ := json.Marshal(canon) // map keys sorted: canonical
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
