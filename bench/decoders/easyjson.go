//go:build decbench_easyjson

package decoders

import (
	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/mailru/easyjson"
)

// easyjson's generated UnmarshalEasyJSON methods for the schemas types are
// added to package schemas by the build overlay that easyjson.sh writes,
// not by editing the project. The type assertion keeps this file compiling
// (go vet, staticcheck) without the overlay; a binary built so refuses to
// start.
func init() {
	if _, ok := any(&schemas.CallRecord{}).(easyjson.Unmarshaler); !ok {
		panic("decbench_easyjson: schemas has no easyjson code; build with easyjson.sh's -overlay (see README.md)")
	}
	Decoders = append(Decoders, Decoder{"easyjson", func(raw []byte) (schemas.CallRecord, error) {
		var rec schemas.CallRecord
		err := easyjson.Unmarshal(raw, any(&rec).(easyjson.Unmarshaler))
		return check(rec, err)
	}})
}
