//go:build ignore

// This file is not part of any package here: easyjson.sh adds it (without
// the build constraint above) to a copy of package schemas before running
// easyjson, so that easyjson uses it for IdentitySet, and then to package
// schemas itself through the build overlay.

package schemas

import (
	"encoding/json"

	"github.com/mailru/easyjson/jlexer"
)

// UnmarshalEasyJSON keeps a null identity as the raw "null", as
// encoding/json's json.RawMessage does (easyjson's generated map code skips
// nulls and leaves a nil RawMessage).
func (s *IdentitySet) UnmarshalEasyJSON(in *jlexer.Lexer) {
	if in.IsNull() {
		in.Skip()
		*s = nil
		return
	}
	m := IdentitySet{}
	in.Delim('{')
	for !in.IsDelim('}') {
		key := string(in.String())
		in.WantColon()
		m[key] = append(json.RawMessage(nil), in.Raw()...)
		in.WantComma()
	}
	in.Delim('}')
	*s = m
}
