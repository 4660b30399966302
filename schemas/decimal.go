package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// DecimalPrecision and DecimalScale are the lake's type for money (charge,
// connection_charge): DECIMAL(38,18). Graph declares Edm.Decimal with a
// variable scale, and its service is .NET, whose decimal holds up to 28
// fractional digits; no DECIMAL an engine reads holds them all (38 digits is
// the limit of Athena, Spark, DuckDB and BigQuery). Eighteen fractional digits
// keep exactly every charge Graph has been seen to send (2 to 7 digits) and
// any float64 rendered by the shortest round trip for amounts from 0.1 up,
// and still leave 20 integer digits, far beyond any bill; it is also Spark's
// default decimal. A value outside it is stored as NULL and counted, never
// rounded silently.
const (
	DecimalPrecision = 38
	DecimalScale     = 18
)

// Decimal is an Edm.Decimal read from its JSON text without passing through a
// binary float, so that sums in the lake are exact. Unscaled holds the value
// times 10^DecimalScale; it is nil for JSON null.
type Decimal struct {
	Unscaled *big.Int
}

// UnmarshalJSON implements json.Unmarshaler. Numbers and numeric strings are
// accepted; a value with more than DecimalScale fractional digits, or one too
// large for DECIMAL(38,18), is an error rather than a silent rounding.
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

// decimalOne is 10^DecimalScale, and decimalMax the largest unscaled value of
// DECIMAL(DecimalPrecision, s).
var (
	decimalOne = new(big.Int).Exp(big.NewInt(10), big.NewInt(DecimalScale), nil)
	decimalMax = new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(DecimalPrecision), nil), big.NewInt(1))
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
		return Decimal{}, fmt.Errorf("decimal %q: out of range for DECIMAL(%d,%d)", s, DecimalPrecision, DecimalScale)
	}
	return Decimal{Unscaled: n}, nil
}

// Column returns the value as the lake stores it, nil when NULL.
func (d Decimal) Column() *Decimal128 {
	if d.Unscaled == nil {
		return nil
	}
	var c Decimal128
	v := d.Unscaled
	if v.Sign() < 0 {
		v = new(big.Int).Add(v, twoTo128) // two's complement
	}
	v.FillBytes(c[:])
	return &c
}

// String renders the decimal with its scale, e.g. "0.013500000000000000".
func (d Decimal) String() string {
	if d.Unscaled == nil {
		return "NULL"
	}
	return new(big.Rat).SetFrac(d.Unscaled, decimalOne).FloatString(DecimalScale)
}

// Decimal128 is a DECIMAL(38,18) column value as Parquet stores it: the
// unscaled value in 16 bytes of big-endian two's complement
// (FIXED_LEN_BYTE_ARRAY(16), the size Parquet prescribes for precision 38).
type Decimal128 [16]byte

var twoTo128 = new(big.Int).Lsh(big.NewInt(1), 128)

// Decimal returns the value c holds.
func (c Decimal128) Decimal() Decimal {
	v := new(big.Int).SetBytes(c[:])
	if c[0]&0x80 != 0 {
		v.Sub(v, twoTo128)
	}
	return Decimal{Unscaled: v}
}

// String renders the value with its scale, e.g. "0.013500000000000000".
func (c Decimal128) String() string { return c.Decimal().String() }
