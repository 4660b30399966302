package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// DecimalScale is the number of fractional digits the lake keeps for money
// (charge, connection_charge): DECIMAL(18,6), exact far beyond the cent.
const DecimalScale = 6

// Decimal is an Edm.Decimal read from its JSON text without passing through a
// binary float, so that sums in the lake are exact. Unscaled holds the value times
// 10^DecimalScale.
type Decimal struct {
	Unscaled int64
	Valid    bool
}

// UnmarshalJSON implements json.Unmarshaler. Numbers and numeric strings are
// accepted; a value with more than DecimalScale fractional digits, or one too
// large for DECIMAL(18,6), is an error rather than a silent rounding.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	*d = Decimal{}
	if bytes.Equal(b, jsonNull) {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decimal %s: %w", b, err)
		}
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// decimalOne is 10^DecimalScale, and decimalMax the largest DECIMAL(18, s)
// unscaled value.
var (
	decimalOne = new(big.Int).Exp(big.NewInt(10), big.NewInt(DecimalScale), nil)
	decimalMax = big.NewInt(999_999_999_999_999_999)
)

// ParseDecimal parses a decimal number such as "0.00", "-12.345678" or "1e-3".
func ParseDecimal(s string) (Decimal, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		return Decimal{}, fmt.Errorf("decimal %q: not a number", s)
	}
	r.Mul(r, new(big.Rat).SetInt(decimalOne))
	if !r.IsInt() {
		return Decimal{}, fmt.Errorf("decimal %q: more than %d fractional digits", s, DecimalScale)
	}
	n := r.Num()
	if n.CmpAbs(decimalMax) > 0 {
		return Decimal{}, fmt.Errorf("decimal %q: out of range for DECIMAL(18,%d)", s, DecimalScale)
	}
	return Decimal{Unscaled: n.Int64(), Valid: true}, nil
}

// Ptr returns the unscaled value as a pointer, nil when not valid.
func (d Decimal) Ptr() *int64 {
	if !d.Valid {
		return nil
	}
	v := d.Unscaled
	return &v
}

// String renders the decimal with its scale, e.g. "0.013500".
func (d Decimal) String() string {
	if !d.Valid {
		return "NULL"
	}
	return new(big.Rat).SetFrac(big.NewInt(d.Unscaled), decimalOne).FloatString(DecimalScale)
}
