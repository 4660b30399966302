package transform

// Report counts, per JSON path, what decoding a payload could not carry into
// the tables. A path joins the keys from the record down to the value with
// dots, without array indices or the keys of open maps:
// "sessions.segments.media.streams.averageJitter". The zero Report is empty,
// and its maps stay nil until something is counted, so that the common case
// costs nothing.
type Report struct {
	// Invalid counts values that did not convert to their field's type
	// (a duration "P1Y", an integer 12.0, a float 1e400, ...): the record
	// is stored with the column NULL.
	Invalid map[string]int
	// Unknown counts properties the schema does not know (Graph added them
	// after this version was written): they are in the payload as received,
	// not in the tables.
	Unknown map[string]int
}

// Empty reports whether nothing was counted.
func (r Report) Empty() bool { return len(r.Invalid) == 0 && len(r.Unknown) == 0 }

// Add adds o's counts to r.
func (r *Report) Add(o Report) {
	r.Invalid = addCounts(r.Invalid, o.Invalid)
	r.Unknown = addCounts(r.Unknown, o.Unknown)
}

func addCounts(dst, src map[string]int) map[string]int {
	for k, n := range src {
		if dst == nil {
			dst = make(map[string]int, len(src))
		}
		dst[k] += n
	}
	return dst
}

func (r *Report) invalid(path string) {
	if r.Invalid == nil {
		r.Invalid = map[string]int{}
	}
	r.Invalid[path]++
}

func (r *Report) unknown(path string) {
	if r.Unknown == nil {
		r.Unknown = map[string]int{}
	}
	r.Unknown[path]++
}

// joinPath is the path of key inside the value at parent.
func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
