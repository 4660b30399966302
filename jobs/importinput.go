package jobs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxImportRecord bounds one record of an import's input: a line, or a value
// of an array.
const maxImportRecord = 256 << 20

// importInput reads the records of an import: JSON lines, as get prints
// them and the raw archive keeps them; or, as other tools write call records
// (PowerShell's ConvertTo-Json, jq without -c), one JSON array of records,
// or records pretty-printed one after another. Any of them may be gzipped
// and may start with a UTF-8 byte order mark (PowerShell 5 writes one).
//
// JSON lines keep a bad record to its line: the lines after it are read. In
// the other forms a syntax error ends the input, as nothing says where the
// next record starts.
type importInput struct {
	lines *bufio.Scanner // JSON lines, else
	dec   *json.Decoder  // an array (array set) or values one after another
	array bool
	n     int          // lines or values read
	value bytes.Buffer // the last value, compacted to one line
}

func newImportInput(src io.Reader) (*importInput, error) {
	br := bufio.NewReaderSize(src, 64<<10)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read gzipped input: %w", err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xef, 0xbb, 0xbf}) {
		br.Discard(3)
	}
	in := &importInput{}
	head, _ := br.Peek(br.Size()) // as much as is there: the form shows at the start
	head = bytes.TrimLeft(head, " \t\r\n")
	first, _, _ := bytes.Cut(head, []byte("\n"))
	switch {
	case len(head) > 0 && head[0] == '[':
		in.dec, in.array = json.NewDecoder(br), true
		if _, err := in.dec.Token(); err != nil {
			return nil, fmt.Errorf("read input: %w", err)
		}
	case string(bytes.TrimSpace(first)) == "{": // a pretty-printed object
		in.dec = json.NewDecoder(br)
	default:
		in.lines = bufio.NewScanner(br)
		in.lines.Buffer(make([]byte, 1<<20), maxImportRecord)
	}
	return in, nil
}

// unit is what a position counts: "line" or "record".
func (in *importInput) unit() string {
	if in.lines != nil {
		return "line"
	}
	return "record"
}

// next returns the next record, trimmed, and its position (in unit()s from
// 1); nil at the end of the input. An empty line is skipped. The record is
// valid until the next call.
func (in *importInput) next() ([]byte, int, error) {
	if in.lines != nil {
		for in.lines.Scan() {
			in.n++
			if raw := bytes.TrimSpace(in.lines.Bytes()); len(raw) > 0 {
				return raw, in.n, nil
			}
		}
		if err := in.lines.Err(); err != nil {
			return nil, in.n + 1, fmt.Errorf("read import line %d: %w", in.n+1, err)
		}
		return nil, in.n, nil
	}
	if !in.dec.More() {
		if in.array {
			// The closing bracket, then nothing but space.
			if _, err := in.dec.Token(); err != nil {
				return nil, in.n + 1, fmt.Errorf("read import record %d (byte %d of the input): %w", in.n+1, in.dec.InputOffset(), err)
			}
			if _, err := in.dec.Token(); err != io.EOF {
				return nil, in.n + 1, fmt.Errorf("read import: something follows the array at byte %d of the input", in.dec.InputOffset())
			}
		}
		return nil, in.n, nil
	}
	in.n++
	start := in.dec.InputOffset()
	var raw json.RawMessage
	if err := in.dec.Decode(&raw); err != nil {
		var syntax *json.SyntaxError
		switch {
		case errors.As(err, &syntax):
			return nil, in.n, fmt.Errorf("read import record %d: byte %d of the input: %w", in.n, syntax.Offset, err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, in.n, fmt.Errorf("read import record %d: the input ends inside it (it starts after byte %d): %w", in.n, start, err)
		}
		return nil, in.n, fmt.Errorf("read import record %d: %w", in.n, err)
	}
	if len(raw) > maxImportRecord {
		return nil, in.n, fmt.Errorf("read import record %d: %d bytes, more than the %d a record may have", in.n, len(raw), maxImportRecord)
	}
	// The spool holds a record per line.
	in.value.Reset()
	if err := json.Compact(&in.value, raw); err != nil {
		return nil, in.n, fmt.Errorf("read import record %d: %w", in.n, err)
	}
	return in.value.Bytes(), in.n, nil
}
